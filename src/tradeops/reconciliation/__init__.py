"""Reconciliation against the venue (issue 7): read both sides, diff, record, publish."""
