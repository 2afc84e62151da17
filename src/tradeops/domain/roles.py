"""Operator roles: the Cognito groups of DESIGN §4.5, shared by the user pool (CDK, embedded) and the API."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    TRADER = "trader"
    RISK = "risk"
    ADMIN = "admin"
    AUDITOR = "auditor"


ROLES: tuple[str, ...] = tuple(role.value for role in Role)
"""Every role, as the Cognito group names, in a stable order."""
