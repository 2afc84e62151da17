"""The alerts table: one item per alert id, written with optimistic concurrency (a ``version`` counter).

Every write is conditioned on the version read, so two deliveries racing on the same alert never lose
an update: the loser re-reads and re-applies (:meth:`AlertStore.apply`). Lists by status use the
``by_status`` GSI (newest ``updated_at`` first); ``updated_at`` is stored in epoch milliseconds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import PutError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from tradeops.config import Settings
from tradeops.domain.alerts import (
    Alert,
    AlertAction,
    AlertStatus,
    AlertTransitionError,
    Outcome,
    apply_action,
)
from tradeops.domain.values import Severity
from tradeops.store.base import (
    IntAttribute,
    Page,
    StaleWrite,
    StoreError,
    TableModel,
    bind_model,
    collect_page,
    decode_cursor,
    is_condition_failure,
    page_size_or_error,
)
from tradeops.store.tables import ALERTS, TableSpec


class AlertNotFound(StoreError, KeyError):
    """No alert with that id."""


class AlertByStatus(GlobalSecondaryIndex["AlertItem"]):  # type: ignore[no-untyped-call]  # pynamodb hook
    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    updated_at = IntAttribute(range_key=True)


class AlertItem(TableModel):
    """One alert as stored; ``details`` is a JSON string, ``version`` counts successful writes."""

    SPEC: ClassVar[TableSpec] = ALERTS

    alert_id = UnicodeAttribute(hash_key=True)
    source = UnicodeAttribute()
    key = UnicodeAttribute()
    title = UnicodeAttribute()
    severity = UnicodeAttribute()
    status = UnicodeAttribute()
    first_seen = UTCDateTimeAttribute()
    last_seen = UTCDateTimeAttribute()
    occurrences = IntAttribute()  # not ``count``: that name is Model.count()
    updated_at = IntAttribute()
    last_event_id = UnicodeAttribute(null=True)
    acked_by = UnicodeAttribute(null=True)
    acked_at = UTCDateTimeAttribute(null=True)
    resolved_at = UTCDateTimeAttribute(null=True)
    resolution = UnicodeAttribute(null=True)
    details = UnicodeAttribute()
    version = IntAttribute()
    by_status = AlertByStatus()


@dataclass(frozen=True)
class StoredAlert:
    """An alert with the version to pass as ``expected_version`` when writing it back."""

    alert: Alert
    version: int


def _epoch_ms(at: datetime) -> int:
    return int(at.astimezone(UTC).timestamp() * 1000)


def _to_item_values(alert: Alert, version: int) -> dict[str, Any]:
    return {
        "alert_id": alert.alert_id,
        "source": alert.source,
        "key": alert.key,
        "title": alert.title,
        "severity": alert.severity.value,
        "status": alert.status.value,
        "first_seen": alert.first_seen,
        "last_seen": alert.last_seen,
        "occurrences": alert.count,
        "updated_at": _epoch_ms(alert.updated_at),
        "last_event_id": alert.last_event_id,
        "acked_by": alert.acked_by,
        "acked_at": alert.acked_at,
        "resolved_at": alert.resolved_at,
        "resolution": alert.resolution,
        "details": json.dumps(dict(alert.details), sort_keys=True, separators=(",", ":")),
        "version": version,
    }


def _from_item(item: AlertItem) -> StoredAlert:
    alert = Alert(
        alert_id=item.alert_id,
        source=item.source,
        key=item.key,
        title=item.title,
        severity=Severity(item.severity),
        status=AlertStatus(item.status),
        first_seen=item.first_seen,
        last_seen=item.last_seen,
        count=item.occurrences,
        last_event_id=item.last_event_id,
        acked_by=item.acked_by,
        acked_at=item.acked_at,
        resolved_at=item.resolved_at,
        resolution=item.resolution,
        details=json.loads(item.details),
    )
    return StoredAlert(alert, item.version)


def _now() -> datetime:
    return datetime.now(UTC)


class AlertStore:
    """Read and write alerts in the table bound by ``settings``."""

    def __init__(self, settings: Settings, *, max_attempts: int = 8) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self._model = bind_model(AlertItem, settings)
        self._max_attempts = max_attempts

    def get(self, alert_id: str) -> StoredAlert | None:
        """The alert and its version (strongly consistent read), or None."""
        try:
            return _from_item(self._model.get(alert_id, consistent_read=True))
        except self._model.DoesNotExist:
            return None

    def upsert(self, alert: Alert, expected_version: int | None) -> int:
        """Write ``alert`` if its stored version is still ``expected_version`` (None: must not exist).

        Returns the new version; raises :class:`StaleWrite` if another writer got there first.
        """
        item = self._model(**_to_item_values(alert, 1 if expected_version is None else expected_version + 1))
        condition = (
            self._model.alert_id.does_not_exist()
            if expected_version is None
            else self._model.version == expected_version
        )
        try:
            item.save(condition=condition)
        except PutError as exc:
            if is_condition_failure(exc):
                raise StaleWrite(
                    f"alert {alert.alert_id} changed since version {expected_version} was read"
                ) from exc
            raise
        return int(item.version)

    def apply(self, action: AlertAction) -> tuple[Outcome, Alert | None]:
        """Apply an event's action with the lifecycle rules, re-reading and retrying on a lost race."""
        return self._update(action.alert_id, lambda current: apply_action(current, action))

    def ack(self, alert_id: str, user: str, at: datetime | None = None) -> Alert:
        """Acknowledge an open alert; :class:`AlertNotFound` or ``AlertTransitionError`` otherwise."""
        when = at or _now()

        def acked(current: Alert | None) -> tuple[Outcome, Alert | None]:
            if current is None:
                raise AlertNotFound(alert_id)
            return Outcome.REFRESHED, current.ack(user, when)

        _, alert = self._update(alert_id, acked)
        if alert is None:  # unreachable: acked() always returns the alert
            raise AlertTransitionError(f"ack of {alert_id} produced no alert")
        return alert

    def resolve(self, alert_id: str, reason: str, at: datetime | None = None) -> Alert:
        """Resolve an open or acked alert by hand (operator action)."""
        when = at or _now()

        def resolved(current: Alert | None) -> tuple[Outcome, Alert | None]:
            if current is None:
                raise AlertNotFound(alert_id)
            return Outcome.RESOLVED, current.resolve(when, reason)

        _, alert = self._update(alert_id, resolved)
        if alert is None:  # unreachable: resolved() always returns the alert
            raise AlertTransitionError(f"resolve of {alert_id} produced no alert")
        return alert

    def list(
        self, status: AlertStatus | None = None, limit: int = 50, cursor: str | None = None
    ) -> Page[Alert]:
        """One page of alerts: by status newest first (GSI), or every alert in table order if None."""
        limit = page_size_or_error(limit)
        start = decode_cursor(cursor)
        if status is None:
            results = self._model.scan(limit=limit, last_evaluated_key=start)
        else:
            results = self._model.query(
                AlertStatus(status).value,
                index_name=AlertByStatus.Meta.index_name,
                scan_index_forward=False,
                limit=limit,
                last_evaluated_key=start,
            )
        return collect_page(results, lambda item: _from_item(item).alert)

    def _update(
        self, alert_id: str, change: Callable[[Alert | None], tuple[Outcome, Alert | None]]
    ) -> tuple[Outcome, Alert | None]:
        for _ in range(self._max_attempts):
            stored = self.get(alert_id)
            current = stored.alert if stored else None
            outcome, updated = change(current)
            if outcome is Outcome.IGNORED or updated is None or updated == current:
                return outcome, updated
            try:
                self.upsert(updated, stored.version if stored else None)
            except StaleWrite:
                continue
            return outcome, updated
        raise StaleWrite(f"alert {alert_id}: {self._max_attempts} writes lost their race")
