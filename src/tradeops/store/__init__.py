"""Persistence: table definitions (shared with CDK and the embedded stack), pynamodb models, repositories."""
