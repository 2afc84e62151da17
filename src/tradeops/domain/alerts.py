"""Operator alerts: what an event means for the alert list, and the open -> acked -> resolved lifecycle.

An alert is identified by (source, key): ``alert_id`` is a sha256 prefix of both, so every delivery of
the same problem lands on the same record. Keys are namespaced by kind (``risk:``, ``recon:``,
``market-data:``, ``broker:``, ``kill-switch``, ``alarm:``) so two kinds never collide.

Lifecycle rules (:func:`apply_action`):

* a raise for an unknown or resolved alert opens a new episode (count 1, ack cleared);
* a raise for an open or acked alert bumps ``count`` and ``last_seen``, keeps the ack, and keeps the
  highest severity seen in the episode (an alert never silently de-escalates while it is active);
* a resolve closes an open or acked alert; a later resolve of a resolved alert only moves
  ``resolved_at`` forward (REFRESHED); resolving an unknown alert is ignored;
* stale deliveries are ignored, because EventBridge does not keep order: a raise that occurred before the
  alert was resolved does not re-open it, a resolve that occurred before the latest raise does not close
  it, and an event id already applied last is not counted twice.

CloudWatch alarm convention (``CloudWatch Alarm State Change``): key ``alarm:<alarmName>``. ``ALARM``
raises, ``OK`` resolves, ``INSUFFICIENT_DATA`` raises a warning only when the previous state was
``ALARM`` (the metric vanished mid-incident) and is ignored otherwise. Severity is the alarm tag
``severity`` when tags are propagated, else a ``severity=<info|warning|critical>`` token in the alarm
description, else ``warning``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from tradeops.domain.events import (
    BrokerConnectivityChanged,
    ConnectivityState,
    KillSwitchEngaged,
    MarketDataCondition,
    MarketDataDegraded,
    ReconciliationBreak,
    RiskBreach,
    parse_detail,
)
from tradeops.domain.values import Severity

ALARM_SOURCE = "aws.cloudwatch"
ALARM_DETAIL_TYPE = "CloudWatch Alarm State Change"
ALERT_DETAIL_TYPES = frozenset(
    {
        RiskBreach.DETAIL_TYPE,
        ReconciliationBreak.DETAIL_TYPE,
        MarketDataDegraded.DETAIL_TYPE,
        BrokerConnectivityChanged.DETAIL_TYPE,
        KillSwitchEngaged.DETAIL_TYPE,
    }
)
"""The tradeops detail types that map to alerts (the routing rule ``alerts-from-events`` sends these)."""
_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
_SEVERITY_TOKEN = re.compile(r"(?i)\bseverity\s*[=:]\s*(info|warning|critical)\b")


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKED = "acked"
    RESOLVED = "resolved"


class ActionKind(StrEnum):
    RAISE = "raise"
    RESOLVE = "resolve"
    IGNORE = "ignore"


class Outcome(StrEnum):
    """What :func:`apply_action` did: only RAISED, REFRESHED and RESOLVED change the record."""

    RAISED = "raised"
    REFRESHED = "refreshed"
    RESOLVED = "resolved"
    IGNORED = "ignored"


class AlertTransitionError(ValueError):
    """An illegal lifecycle move (e.g. acking a resolved alert)."""


class UnsupportedEvent(ValueError):
    """An event kind that does not map to alerts (routing should never deliver it)."""


class MalformedEvent(ValueError):
    """An envelope or CloudWatch alarm detail without the fields the alert mapping needs."""


def alert_id_for(source: str, key: str) -> str:
    """The deterministic id of the alert for (``source``, ``key``): 32 hex chars of sha256."""
    return hashlib.sha256(f"{source}\x1f{key}".encode()).hexdigest()[:32]


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"timestamps must be timezone-aware, got {value!r}")
    return value.astimezone(UTC)


def _frozen(details: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(details))


def max_severity(a: Severity, b: Severity) -> Severity:
    return a if _SEVERITY_RANK[a] >= _SEVERITY_RANK[b] else b


@dataclass(frozen=True)
class AlertAction:
    """What one event asks of the alert list."""

    kind: ActionKind
    source: str
    key: str
    title: str
    severity: Severity
    occurred_at: datetime
    event_id: str
    reason: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def alert_id(self) -> str:
        return alert_id_for(self.source, self.key)


@dataclass(frozen=True)
class Alert:
    """One alert record. Timestamps are aware UTC datetimes; ``details`` is JSON-ready data."""

    alert_id: str
    source: str
    key: str
    title: str
    severity: Severity
    status: AlertStatus
    first_seen: datetime
    last_seen: datetime
    count: int
    last_event_id: str | None = None
    acked_by: str | None = None
    acked_at: datetime | None = None
    resolved_at: datetime | None = None
    resolution: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.alert_id != alert_id_for(self.source, self.key):
            raise ValueError(
                f"alert_id {self.alert_id} does not match source {self.source!r} key {self.key!r}"
            )
        if self.count < 1:
            raise ValueError("an alert has been seen at least once")
        if (self.status is AlertStatus.RESOLVED) != (self.resolved_at is not None):
            raise ValueError("resolved_at is set exactly when the alert is resolved")
        if self.status is AlertStatus.ACKED and (self.acked_by is None or self.acked_at is None):
            raise ValueError("an acked alert names who acked it and when")
        object.__setattr__(self, "details", _frozen(self.details))

    @classmethod
    def opened(cls, action: AlertAction) -> Alert:
        """A new open alert from a raise ``action``."""
        at = _utc(action.occurred_at)
        return cls(
            alert_id=action.alert_id,
            source=action.source,
            key=action.key,
            title=action.title,
            severity=action.severity,
            status=AlertStatus.OPEN,
            first_seen=at,
            last_seen=at,
            count=1,
            last_event_id=action.event_id,
            details=action.details,
        )

    @property
    def updated_at(self) -> datetime:
        """The time of the latest change: the last occurrence, ack or resolution."""
        return max(at for at in (self.last_seen, self.acked_at, self.resolved_at) if at is not None)

    @property
    def active(self) -> bool:
        return self.status is not AlertStatus.RESOLVED

    def refreshed(self, action: AlertAction) -> Alert:
        """Another occurrence of an active alert: count+1, latest title/details, ack kept."""
        if not self.active:
            raise AlertTransitionError(f"alert {self.alert_id} is resolved: re-open it instead")
        at = _utc(action.occurred_at)
        return replace(
            self,
            title=action.title,
            severity=max_severity(self.severity, action.severity),
            last_seen=max(self.last_seen, at),
            count=self.count + 1,
            last_event_id=action.event_id,
            details=action.details,
        )

    def reopened(self, action: AlertAction) -> Alert:
        """A resolved alert seen again: a new episode under the same id."""
        if self.active:
            raise AlertTransitionError(f"alert {self.alert_id} is {self.status}: refresh it instead")
        return Alert.opened(action)

    def ack(self, user: str, at: datetime) -> Alert:
        """Acknowledge an open alert (only open -> acked)."""
        if self.status is not AlertStatus.OPEN:
            raise AlertTransitionError(f"cannot ack alert {self.alert_id}: it is {self.status}")
        if not user:
            raise ValueError("an ack needs the acknowledging user")
        at = _utc(at)
        return replace(self, status=AlertStatus.ACKED, acked_by=user, acked_at=at)

    def resolve(self, at: datetime, reason: str) -> Alert:
        """Resolve an open or acked alert."""
        if not self.active:
            raise AlertTransitionError(f"cannot resolve alert {self.alert_id}: it is already resolved")
        at = _utc(at)
        return replace(self, status=AlertStatus.RESOLVED, resolved_at=at, resolution=reason)


def raise_or_refresh(existing: Alert | None, action: AlertAction) -> Alert:
    """The alert after a raise ``action``: opened, refreshed (open/acked) or re-opened (resolved)."""
    if existing is None:
        return Alert.opened(action)
    return existing.refreshed(action) if existing.active else existing.reopened(action)


def apply_action(existing: Alert | None, action: AlertAction) -> tuple[Outcome, Alert | None]:
    """Apply ``action`` to the current record (None if absent) following the lifecycle rules above."""
    if action.kind is ActionKind.IGNORE:
        return Outcome.IGNORED, existing
    if existing is not None and existing.alert_id != action.alert_id:
        raise ValueError(f"action for {action.alert_id} applied to alert {existing.alert_id}")
    at = _utc(action.occurred_at)
    if existing is not None and existing.last_event_id == action.event_id:
        return Outcome.IGNORED, existing
    if action.kind is ActionKind.RAISE:
        if existing is None:
            return Outcome.RAISED, Alert.opened(action)
        if existing.active:
            return Outcome.REFRESHED, existing.refreshed(action)
        if existing.resolved_at is not None and at <= existing.resolved_at:
            return Outcome.IGNORED, existing
        return Outcome.RAISED, existing.reopened(action)
    if existing is None or at < existing.last_seen:
        return Outcome.IGNORED, existing
    if not existing.active:
        if existing.resolved_at is not None and at <= existing.resolved_at:
            return Outcome.IGNORED, existing
        # A later confirmation of the resolution: occurrences older than it must not re-open the alert.
        return Outcome.REFRESHED, replace(existing, resolved_at=at, last_event_id=action.event_id)
    resolved = existing.resolve(at, action.reason or action.title)
    return Outcome.RESOLVED, replace(resolved, last_event_id=action.event_id)


# --- mapping events to actions ---------------------------------------------------------------------


def _tradeops_action(source: str, detail_type: str, raw: Mapping[str, Any]) -> AlertAction:
    if detail_type not in ALERT_DETAIL_TYPES:
        raise UnsupportedEvent(f"detail-type {detail_type!r} does not map to an alert")
    event = parse_detail(detail_type, raw)
    base: dict[str, Any] = {
        "source": source,
        "occurred_at": event.occurred_at,
        "event_id": event.event_id,
        "details": event.model_dump(mode="json"),
    }
    raise_, resolve = ActionKind.RAISE, ActionKind.RESOLVE
    if isinstance(event, RiskBreach):
        symbol = event.symbol or "*"
        title = f"Risk breach {event.rule} on {symbol}: {event.value} vs limit {event.limit}"
        return AlertAction(
            raise_, key=f"risk:{event.rule}:{symbol}", title=title, severity=event.severity, **base
        )
    if isinstance(event, ReconciliationBreak):
        title = f"Reconciliation break {event.break_class} on {event.symbol or '*'}: {event.proposed_action}"
        return AlertAction(
            raise_, key=f"recon:{event.break_id}", title=title, severity=event.severity, **base
        )
    if isinstance(event, MarketDataDegraded):
        key = f"market-data:{event.symbol}:{event.feed}"
        if event.condition is MarketDataCondition.RECOVERED:
            title = f"Market data recovered: {event.symbol} on {event.feed}"
            return AlertAction(resolve, key=key, title=title, severity=event.severity, reason=title, **base)
        stale = f" ({event.staleness_ms} ms stale)" if event.staleness_ms is not None else ""
        title = f"Market data {event.condition.value}: {event.symbol} on {event.feed}{stale}"
        return AlertAction(raise_, key=key, title=title, severity=event.severity, **base)
    if isinstance(event, BrokerConnectivityChanged):
        key, title = f"broker:{event.venue}", f"Broker {event.venue} {event.state.value}: {event.reason}"
        if event.state is ConnectivityState.CONNECTED:
            return AlertAction(resolve, key=key, title=title, severity=Severity.INFO, reason=title, **base)
        severity = Severity.CRITICAL if event.state is ConnectivityState.DISCONNECTED else Severity.WARNING
        return AlertAction(raise_, key=key, title=title, severity=severity, **base)
    if isinstance(event, KillSwitchEngaged):
        title = f"Kill switch engaged by {event.actor}: {event.reason}"
        return AlertAction(raise_, key="kill-switch", title=title, severity=Severity.CRITICAL, **base)
    raise UnsupportedEvent(f"detail-type {detail_type!r} does not map to an alert")


def alarm_severity(detail: Mapping[str, Any]) -> Severity:
    """The severity convention for CloudWatch alarms (tag, then description token, then warning)."""
    tags = detail.get("alarmTags")
    tagged = str(tags.get("severity", "")).lower() if isinstance(tags, Mapping) else ""
    if tagged in {s.value for s in Severity}:
        return Severity(tagged)
    configuration = detail.get("configuration")
    description = configuration.get("description") if isinstance(configuration, Mapping) else None
    match = _SEVERITY_TOKEN.search(description) if isinstance(description, str) else None
    return Severity(match.group(1).lower()) if match else Severity.WARNING


def _alarm_action(detail: Mapping[str, Any], event_id: str, received_at: datetime) -> AlertAction:
    name, state = detail.get("alarmName"), detail.get("state")
    if not isinstance(name, str) or not name:
        raise MalformedEvent(f"{ALARM_DETAIL_TYPE}: field 'alarmName' is missing or not a string")
    if not isinstance(state, Mapping) or state.get("value") not in ("ALARM", "OK", "INSUFFICIENT_DATA"):
        raise MalformedEvent(
            f"{ALARM_DETAIL_TYPE}: field 'state.value' must be ALARM, OK or INSUFFICIENT_DATA"
        )
    previous = detail.get("previousState")
    previous_value = previous.get("value") if isinstance(previous, Mapping) else None
    try:
        at = _utc(datetime.fromisoformat(str(state["timestamp"])))
    except (KeyError, ValueError):
        at = _utc(received_at)
    reason = str(state.get("reason", ""))
    common: dict[str, Any] = {
        "source": ALARM_SOURCE,
        "key": f"alarm:{name}",
        "occurred_at": at,
        "event_id": event_id,
        "reason": reason,
        "details": dict(detail),
    }
    value = state["value"]
    if value == "ALARM":
        return AlertAction(
            ActionKind.RAISE, title=f"Alarm {name}: {reason}", severity=alarm_severity(detail), **common
        )
    if value == "OK":
        return AlertAction(ActionKind.RESOLVE, title=f"Alarm {name} OK", severity=Severity.INFO, **common)
    if previous_value == "ALARM":
        title = f"Alarm {name}: insufficient data while in alarm"
        return AlertAction(ActionKind.RAISE, title=title, severity=Severity.WARNING, **common)
    title = f"Alarm {name}: insufficient data"
    return AlertAction(ActionKind.IGNORE, title=title, severity=Severity.INFO, **common)


def alert_from_event(
    source: str, detail_type: str, detail: Mapping[str, Any], *, event_id: str, received_at: datetime
) -> AlertAction:
    """The alert action for one event (``event_id``/``received_at`` of the envelope, used for alarms).

    tradeops details are validated with their schema (:class:`EventSchemaError` names the bad field);
    kinds that do not map to alerts raise :class:`UnsupportedEvent`.
    """
    if detail_type == ALARM_DETAIL_TYPE:
        if source != ALARM_SOURCE:
            raise UnsupportedEvent(f"{ALARM_DETAIL_TYPE} must come from {ALARM_SOURCE}, not {source!r}")
        return _alarm_action(detail, event_id, received_at)
    if not source.startswith("tradeops."):
        raise UnsupportedEvent(f"source {source!r} is not a tradeops component")
    return _tradeops_action(source, detail_type, detail)


def alert_from_envelope(envelope: Mapping[str, Any]) -> AlertAction:
    """:func:`alert_from_event` for a whole EventBridge envelope (id, source, detail-type, time, detail)."""
    missing = [name for name in ("id", "source", "detail-type", "detail", "time") if name not in envelope]
    if missing or not isinstance(envelope["detail"], Mapping):
        raise MalformedEvent(f"not an EventBridge envelope: missing or invalid {missing or ['detail']}")
    try:
        received_at = _utc(datetime.fromisoformat(str(envelope["time"]).replace("Z", "+00:00")))
    except ValueError as exc:
        raise MalformedEvent(f"envelope time {envelope['time']!r} is not an ISO-8601 UTC time") from exc
    return alert_from_event(
        str(envelope["source"]),
        str(envelope["detail-type"]),
        envelope["detail"],
        event_id=str(envelope["id"]),
        received_at=received_at,
    )
