"""Shared building blocks of the stacks (grants, queues, functions, event patterns)."""
