"""What reaches the intents intake and what it answers: envelope decoding, outcomes, rejection ids.

Pure of I/O: a message body in, a validated ``TradeIntent`` (or ``InvalidIntent`` naming the problem)
out; the queue consumer in :mod:`tradeops.gateway.intake` acts on the result.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from tradeops.domain.events import EventSchemaError, TradeIntent, parse_detail
from tradeops.routes import SOURCE_PREFIX

_IDENTIFIER = re.compile(r"^[!-~]{1,128}$")
_REJECTION_NAMESPACE = uuid.UUID("6f1d4a53-1c0e-4f7e-9a55-0c8e2f1b7d21")


class IntakeStatus(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class RejectReason(StrEnum):
    """Reason codes the intake itself gives; ``on_intent`` may give its own codes."""

    INVALID_ENVELOPE = "invalid_envelope"
    INVALID_INTENT = "invalid_intent"
    INTENT_EXPIRED = "intent_expired"


@dataclass(frozen=True)
class IntakeOutcome:
    """What happened to an intent; ``reason`` (a code) and ``message`` describe a rejection."""

    status: IntakeStatus
    reason: str | None = None
    message: str = ""

    def __post_init__(self) -> None:
        if (self.status is IntakeStatus.REJECTED) != (self.reason is not None):
            raise ValueError("a reason is required for a rejection and only for a rejection")
        if self.reason is not None and not _IDENTIFIER.match(self.reason):
            raise ValueError(f"reason must be a code (printable ASCII, no spaces), got {self.reason!r}")

    @classmethod
    def accepted(cls) -> IntakeOutcome:
        return cls(IntakeStatus.ACCEPTED)

    @classmethod
    def duplicate(cls) -> IntakeOutcome:
        return cls(IntakeStatus.DUPLICATE)

    @classmethod
    def rejected(cls, reason: str, message: str) -> IntakeOutcome:
        return cls(IntakeStatus.REJECTED, reason, message)


@dataclass(frozen=True)
class EnvelopeMeta:
    """Where an intent came from: the EventBridge envelope and SQS message, or an in-process strategy."""

    channel: Literal["sqs", "local"]
    source: str
    received_at: datetime
    event_id: str | None = None
    message_id: str | None = None
    receive_count: int = 1


class InvalidIntent(ValueError):
    """A message that is not a valid Trade Intent envelope; ``intent_id`` may be a surrogate."""

    def __init__(self, reason: RejectReason, message: str, intent_id: str, correlation_id: str) -> None:
        super().__init__(message)
        self.outcome = IntakeOutcome.rejected(reason, message)
        self.intent_id = intent_id
        self.correlation_id = correlation_id


def rejection_event_id(intent_id: str) -> str:
    """The ``event_id`` of the Order Rejected event of ``intent_id`` (the same on every attempt)."""
    return uuid.uuid5(_REJECTION_NAMESPACE, intent_id).hex


def decode_message(body: str, message_id: str) -> tuple[TradeIntent, dict[str, Any]]:
    """The intent and envelope of an SQS message body; raises :class:`InvalidIntent` naming the problem."""
    fallback_id = f"unparsed-{message_id}"
    try:
        envelope = json.loads(body)
    except ValueError as exc:
        text = f"body is not JSON: {exc}"
        raise InvalidIntent(RejectReason.INVALID_ENVELOPE, text, fallback_id, fallback_id) from exc
    if not isinstance(envelope, dict):
        raise InvalidIntent(RejectReason.INVALID_ENVELOPE, "body is not an object", fallback_id, fallback_id)
    detail = envelope.get("detail")
    fields = detail if isinstance(detail, dict) else {}
    intent_id = _identifier(fields.get("intent_id")) or fallback_id
    correlation_id = _identifier(fields.get("correlation_id")) or intent_id
    source, detail_type = envelope.get("source"), envelope.get("detail-type")
    problem: str | None = None
    if not isinstance(source, str) or not source.startswith(SOURCE_PREFIX):
        problem = f"source {source!r} is not a {SOURCE_PREFIX}* source"
    elif detail_type != TradeIntent.DETAIL_TYPE:
        problem = f"detail-type {detail_type!r} is not {TradeIntent.DETAIL_TYPE!r}"
    elif not isinstance(detail, dict):
        problem = "detail is not an object"
    if problem is not None:
        raise InvalidIntent(RejectReason.INVALID_ENVELOPE, problem, intent_id, correlation_id)
    try:
        intent = parse_detail(TradeIntent.DETAIL_TYPE, fields)
    except EventSchemaError as exc:
        raise InvalidIntent(RejectReason.INVALID_INTENT, str(exc), intent_id, correlation_id) from exc
    if not isinstance(intent, TradeIntent):  # parse_detail maps "Trade Intent" to TradeIntent
        raise TypeError(f"parse_detail returned {type(intent).__name__}")
    return intent, envelope


def _identifier(value: object) -> str | None:
    return value if isinstance(value, str) and _IDENTIFIER.match(value) else None
