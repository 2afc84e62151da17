"""AlertStore against moto: exact round trip, conditional writes, racing deliveries, status pages, acks."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from tradeops.config import Settings
from tradeops.domain.alerts import ActionKind, Alert, AlertAction, AlertStatus, AlertTransitionError, Outcome
from tradeops.domain.values import Severity
from tradeops.store.alerts import AlertNotFound, AlertStore
from tradeops.store.base import StaleWrite

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)


def _action(
    key: str = "broker:binance", seconds: float = 0, event_id: str = "e0", **kw: object
) -> AlertAction:
    fields: dict[str, object] = {
        "kind": ActionKind.RAISE,
        "source": "tradeops.gateway",
        "key": key,
        "title": f"problem {key}",
        "severity": Severity.WARNING,
        "occurred_at": T0 + timedelta(seconds=seconds),
        "event_id": event_id,
        "details": {"venue": "binance", "px": "1.10", "nested": {"ok": True}},
    }
    fields.update(kw)
    return AlertAction(**fields)  # type: ignore[arg-type]


def test_upsert_then_get_round_trips_exactly_and_versions_count_writes(alerts_settings: Settings) -> None:
    store = AlertStore(alerts_settings)
    alert = Alert.opened(_action())
    assert store.get(alert.alert_id) is None
    assert store.upsert(alert, None) == 1
    stored = store.get(alert.alert_id)
    assert stored is not None and stored.alert == alert and stored.version == 1
    acked = alert.ack("alice", T0 + timedelta(seconds=1))
    assert store.upsert(acked, 1) == 2
    assert store.get(alert.alert_id) == type(stored)(acked, 2)


def test_writes_based_on_a_stale_version_are_refused(alerts_settings: Settings) -> None:
    store = AlertStore(alerts_settings)
    alert = Alert.opened(_action())
    store.upsert(alert, None)
    with pytest.raises(StaleWrite):
        store.upsert(alert, None)  # someone created it first
    store.upsert(alert.ack("alice", T0), 1)
    with pytest.raises(StaleWrite):
        store.upsert(alert.resolve(T0, "late writer"), 1)
    current = store.get(alert.alert_id)
    assert current is not None and current.alert.status is AlertStatus.ACKED


def test_racing_deliveries_of_distinct_events_lose_no_update(alerts_settings: Settings) -> None:
    store = AlertStore(alerts_settings, max_attempts=50)
    actions = [_action(seconds=i, event_id=f"e{i}") for i in range(8)]
    outcomes: list[Outcome] = []
    start = threading.Barrier(len(actions))

    def deliver(action: AlertAction) -> None:
        start.wait()
        outcomes.append(store.apply(action)[0])

    threads = [threading.Thread(target=deliver, args=(a,)) for a in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = store.get(actions[0].alert_id)
    assert stored is not None
    assert stored.alert.count == len(actions) and stored.version == len(actions)
    assert sorted(outcomes) == sorted([Outcome.RAISED] + [Outcome.REFRESHED] * (len(actions) - 1))
    assert stored.alert.last_seen == T0 + timedelta(seconds=7)


def test_list_by_status_pages_newest_first(alerts_settings: Settings) -> None:
    store = AlertStore(alerts_settings)
    for i in range(5):
        store.apply(_action(key=f"broker:venue{i}", seconds=i, event_id=f"e{i}"))
    store.ack(_action(key="broker:venue0").alert_id, "alice", T0 + timedelta(seconds=10))
    first = store.list(AlertStatus.OPEN, limit=3)
    assert [a.key for a in first.items] == ["broker:venue4", "broker:venue3", "broker:venue2"]
    assert first.cursor is not None
    second = store.list(AlertStatus.OPEN, limit=3, cursor=first.cursor)
    assert [a.key for a in second.items] == ["broker:venue1"] and second.cursor is None
    assert [a.acked_by for a in store.list(AlertStatus.ACKED).items] == ["alice"]
    assert store.list(AlertStatus.RESOLVED).items == ()
    everything = store.list(limit=10)
    assert len(everything.items) == 5
    with pytest.raises(ValueError):
        store.list(limit=0)


def test_ack_and_manual_resolve_follow_the_lifecycle(alerts_settings: Settings) -> None:
    store = AlertStore(alerts_settings)
    _, opened = store.apply(_action())
    assert opened is not None
    acked = store.ack(opened.alert_id, "alice", T0 + timedelta(seconds=1))
    assert (acked.status, acked.acked_by) == (AlertStatus.ACKED, "alice")
    with pytest.raises(AlertTransitionError):
        store.ack(opened.alert_id, "bob")
    resolved = store.resolve(opened.alert_id, "venue back", T0 + timedelta(seconds=2))
    assert resolved.status is AlertStatus.RESOLVED and resolved.resolution == "venue back"
    stored = store.get(opened.alert_id)
    assert stored is not None and stored.alert == resolved and stored.version == 3
    with pytest.raises(AlertNotFound):
        store.ack("0" * 32, "alice")


def test_ignored_actions_write_nothing(alerts_settings: Settings) -> None:
    store = AlertStore(alerts_settings)
    assert store.apply(_action(kind=ActionKind.RESOLVE)) == (Outcome.IGNORED, None)
    assert store.get(_action().alert_id) is None
