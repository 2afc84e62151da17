"""Four-eyes change management of the control plane (limits, strategies, resuming after a kill switch).

Used by the ``tradeops limits`` CLI now and by the operator API later; see :mod:`.service`.
"""

from __future__ import annotations

from tradeops.change_management.identity import APPROVER_ROLES, AuthenticationFailed, Operator, login
from tradeops.change_management.service import (
    CONTROL_STREAM,
    EVENT_SOURCE,
    RESUME_SCOPE,
    ChangeConflict,
    ChangeService,
    EventSink,
    InvalidChange,
    NotAnApprover,
)

__all__ = [
    "APPROVER_ROLES",
    "CONTROL_STREAM",
    "EVENT_SOURCE",
    "RESUME_SCOPE",
    "AuthenticationFailed",
    "ChangeConflict",
    "ChangeService",
    "EventSink",
    "InvalidChange",
    "NotAnApprover",
    "Operator",
    "login",
]
