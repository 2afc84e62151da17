"""The alert lifecycle: open -> acked -> resolved, refresh, re-open, stale and duplicate deliveries."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeops.domain.alerts import (
    ActionKind,
    Alert,
    AlertAction,
    AlertStatus,
    AlertTransitionError,
    Outcome,
    alert_id_for,
    apply_action,
    raise_or_refresh,
)
from tradeops.domain.values import Severity

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _action(
    kind: ActionKind = ActionKind.RAISE,
    seconds: float = 0,
    event_id: str = "e1",
    severity: Severity = Severity.WARNING,
    key: str = "broker:binance",
) -> AlertAction:
    return AlertAction(
        kind=kind,
        source="tradeops.gateway",
        key=key,
        title=f"{kind} at {seconds}",
        severity=severity,
        occurred_at=T0 + timedelta(seconds=seconds),
        event_id=event_id,
        reason="because",
        details={"n": seconds},
    )


def test_alert_id_is_deterministic_and_separates_source_and_key() -> None:
    assert alert_id_for("tradeops.gateway", "k") == alert_id_for("tradeops.gateway", "k")
    assert len(alert_id_for("a", "b")) == 32
    assert alert_id_for("a", "bc") != alert_id_for("ab", "c")


def test_first_raise_opens_an_alert() -> None:
    outcome, alert = apply_action(None, _action())
    assert outcome is Outcome.RAISED and alert is not None
    assert (alert.status, alert.count, alert.first_seen, alert.last_seen) == (AlertStatus.OPEN, 1, T0, T0)
    assert alert.alert_id == alert_id_for("tradeops.gateway", "broker:binance")
    assert alert.updated_at == T0 and alert.last_event_id == "e1"


def test_repeat_of_acked_alert_bumps_count_and_keeps_the_ack() -> None:
    opened = Alert.opened(_action())
    acked = opened.ack("alice", T0 + timedelta(seconds=1))
    outcome, again = apply_action(acked, _action(seconds=5, event_id="e2", severity=Severity.CRITICAL))
    assert outcome is Outcome.REFRESHED and again is not None
    assert (again.status, again.acked_by, again.count) == (AlertStatus.ACKED, "alice", 2)
    assert again.last_seen == T0 + timedelta(seconds=5) and again.first_seen == T0
    assert again.severity is Severity.CRITICAL and again.title == "raise at 5"


def test_severity_never_drops_while_the_alert_is_active() -> None:
    opened = Alert.opened(_action(severity=Severity.CRITICAL))
    _, again = apply_action(opened, _action(seconds=1, event_id="e2", severity=Severity.INFO))
    assert again is not None and again.severity is Severity.CRITICAL


def test_resolve_then_repeat_reopens_a_new_episode() -> None:
    acked = Alert.opened(_action()).ack("alice", T0 + timedelta(seconds=1))
    outcome, resolved = apply_action(acked, _action(ActionKind.RESOLVE, seconds=2, event_id="e2"))
    assert outcome is Outcome.RESOLVED and resolved is not None
    assert resolved.status is AlertStatus.RESOLVED and resolved.resolution == "because"
    outcome, reopened = apply_action(resolved, _action(seconds=3, event_id="e3"))
    assert outcome is Outcome.RAISED and reopened is not None
    assert (reopened.status, reopened.count, reopened.acked_by, reopened.resolved_at) == (
        AlertStatus.OPEN,
        1,
        None,
        None,
    )
    assert reopened.first_seen == T0 + timedelta(seconds=3)


def test_only_open_alerts_can_be_acked_and_resolved_alerts_cannot_be_resolved_again() -> None:
    opened = Alert.opened(_action())
    acked = opened.ack("alice", T0)
    with pytest.raises(AlertTransitionError):
        acked.ack("bob", T0)
    resolved = acked.resolve(T0 + timedelta(seconds=1), "fixed")
    with pytest.raises(AlertTransitionError):
        resolved.ack("bob", T0)
    with pytest.raises(AlertTransitionError):
        resolved.resolve(T0, "again")
    with pytest.raises(AlertTransitionError):
        resolved.refreshed(_action(event_id="e9"))
    with pytest.raises(AlertTransitionError):
        opened.reopened(_action(event_id="e9"))
    with pytest.raises(ValueError, match="user"):
        opened.ack("", T0)
    with pytest.raises(ValueError, match="aware"):
        opened.ack("alice", datetime(2025, 1, 1))


def test_resolve_of_nothing_duplicates_and_stale_events_are_ignored() -> None:
    assert apply_action(None, _action(ActionKind.RESOLVE)) == (Outcome.IGNORED, None)
    opened = Alert.opened(_action(seconds=10))
    assert apply_action(opened, _action(seconds=10)) == (Outcome.IGNORED, opened)  # same event id
    assert apply_action(opened, _action(ActionKind.RESOLVE, seconds=5, event_id="old")) == (
        Outcome.IGNORED,
        opened,
    )
    resolved = opened.resolve(T0 + timedelta(seconds=20), "ok")
    assert apply_action(resolved, _action(seconds=15, event_id="late")) == (Outcome.IGNORED, resolved)
    assert apply_action(resolved, _action(ActionKind.RESOLVE, seconds=19, event_id="r1")) == (
        Outcome.IGNORED,
        resolved,
    )


def test_a_later_resolve_of_a_resolved_alert_moves_the_resolution_forward() -> None:
    resolved = Alert.opened(_action()).resolve(T0 + timedelta(seconds=20), "ok")
    outcome, confirmed = apply_action(resolved, _action(ActionKind.RESOLVE, seconds=30, event_id="r2"))
    assert outcome is Outcome.REFRESHED and confirmed is not None
    assert confirmed.resolved_at == T0 + timedelta(seconds=30) and confirmed.status is AlertStatus.RESOLVED
    # so an occurrence from before that confirmation, delivered late, does not re-open it
    assert apply_action(confirmed, _action(seconds=25, event_id="late"))[0] is Outcome.IGNORED


def test_an_ignore_action_changes_nothing() -> None:
    opened = Alert.opened(_action())
    ignore = replace(_action(seconds=10, event_id="x"), kind=ActionKind.IGNORE)
    assert apply_action(opened, ignore) == (Outcome.IGNORED, opened)
    assert apply_action(None, ignore) == (Outcome.IGNORED, None)


def test_actions_for_another_alert_or_bad_alerts_are_refused() -> None:
    opened = Alert.opened(_action())
    with pytest.raises(ValueError, match="applied to"):
        apply_action(opened, _action(key="broker:other", event_id="e2"))
    with pytest.raises(ValueError, match="does not match"):
        replace(opened, alert_id="0" * 32)
    with pytest.raises(ValueError, match="at least once"):
        replace(opened, count=0)
    with pytest.raises(ValueError, match="resolved_at"):
        replace(opened, status=AlertStatus.RESOLVED)
    with pytest.raises(ValueError, match="acked"):
        replace(opened, status=AlertStatus.ACKED)
    assert raise_or_refresh(None, _action()) == opened


# --- properties --------------------------------------------------------------------------------------

events = st.lists(
    st.tuples(st.sampled_from([ActionKind.RAISE, ActionKind.RESOLVE]), st.sampled_from(list(Severity))),
    min_size=1,
    max_size=25,
)


def _reference(sequence: list[tuple[ActionKind, Severity]]) -> tuple[AlertStatus | None, int]:
    """The status and episode count after applying ``sequence`` in time order, by the documented rules."""
    status: AlertStatus | None = None
    count = 0
    for kind, _ in sequence:
        if kind is ActionKind.RAISE:
            count = count + 1 if status is AlertStatus.OPEN else 1
            status = AlertStatus.OPEN
        elif status is AlertStatus.OPEN:
            status = AlertStatus.RESOLVED
    return status, count


def _actions(sequence: list[tuple[ActionKind, Severity]]) -> list[AlertAction]:
    return [
        _action(kind, seconds=i, event_id=f"e{i}", severity=severity)
        for i, (kind, severity) in enumerate(sequence)
    ]


@given(events, st.data())
def test_in_order_delivery_with_redeliveries_matches_the_reference(
    sequence: list[tuple[ActionKind, Severity]], data: st.DataObject
) -> None:
    alert: Alert | None = None
    for action in _actions(sequence):
        for _ in range(data.draw(st.integers(1, 3))):  # at-least-once: some deliveries repeat
            _, alert = apply_action(alert, action)
    status, count = _reference(sequence)
    assert (alert.status if alert else None, alert.count if alert else 0) == (status, count)
    if alert is not None:
        assert alert.first_seen <= alert.last_seen <= alert.updated_at
        assert alert.status is not AlertStatus.RESOLVED or alert.resolved_at is not None


@given(events, st.randoms(use_true_random=False))
def test_out_of_order_delivery_converges_once_the_first_occurrence_is_known(
    sequence: list[tuple[ActionKind, Severity]], rnd: object
) -> None:
    full = [(ActionKind.RAISE, Severity.WARNING), *sequence]
    first, *rest = _actions(full)
    shuffled = list(rest)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    _, alert = apply_action(None, first)
    for action in shuffled:
        _, alert = apply_action(alert, action)
    assert alert is not None
    assert alert.active == (full[-1][0] is ActionKind.RAISE)  # the latest occurrence decides
