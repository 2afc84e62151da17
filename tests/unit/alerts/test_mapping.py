"""Every alert-feeding event kind maps to the right key, severity, title and raise/resolve action."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tradeops.domain.alerts import (
    ALARM_DETAIL_TYPE,
    ALERT_DETAIL_TYPES,
    ActionKind,
    MalformedEvent,
    UnsupportedEvent,
    alarm_severity,
    alert_from_envelope,
    alert_from_event,
    alert_id_for,
)
from tradeops.domain.events import EventSchemaError
from tradeops.domain.values import Severity
from tradeops.routes import ALERT_SOURCE_EVENTS

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def _base(**fields: Any) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "event_id": fields.pop("event_id", "ev-1"),
        "occurred_at": "2025-01-02T03:04:05Z",
        "correlation_id": "corr-1",
        **fields,
    }


def _map(detail_type: str, detail: dict[str, Any], source: str = "tradeops.gateway") -> Any:
    return alert_from_event(source, detail_type, detail, event_id="env-1", received_at=T0)


def test_alert_detail_types_match_the_routing_rule() -> None:
    assert frozenset(ALERT_SOURCE_EVENTS) == ALERT_DETAIL_TYPES


def test_risk_breach_raises_keyed_by_rule_and_symbol_with_its_severity() -> None:
    detail = _base(
        rule="max_notional",
        symbol="BTC/USDT",
        limit="1000",
        value="1500.5",
        severity="critical",
        message="too big",
    )
    action = _map("Risk Breach", detail)
    assert action.kind is ActionKind.RAISE
    assert (action.key, action.severity) == ("risk:max_notional:BTC/USDT", Severity.CRITICAL)
    assert action.alert_id == alert_id_for("tradeops.gateway", "risk:max_notional:BTC/USDT")
    assert "1500.5" in action.title and "1000" in action.title
    assert action.event_id == "ev-1" and action.occurred_at == T0
    assert action.details["value"] == "1500.5"  # Decimals stay exact strings in the stored details


def test_account_level_risk_breach_uses_a_wildcard_symbol() -> None:
    detail = _base(rule="max_drawdown", symbol=None, limit="5", value="6", severity="warning", message="dd")
    assert _map("Risk Breach", detail).key == "risk:max_drawdown:*"


def test_reconciliation_break_is_keyed_by_break_id() -> None:
    detail = _base(
        break_id="brk-9",
        break_class="missing_fill",
        symbol="ETH/USDT",
        client_order_id="c1",
        evidence={"venue_qty": "1"},
        proposed_action="book fill",
        severity="warning",
    )
    action = _map("Reconciliation Break", detail, source="tradeops.reconcile")
    assert (action.kind, action.key, action.severity) == (ActionKind.RAISE, "recon:brk-9", Severity.WARNING)
    assert action.source == "tradeops.reconcile"


@pytest.mark.parametrize(
    ("condition", "kind"),
    [("stale", ActionKind.RAISE), ("crossed_book", ActionKind.RAISE), ("recovered", ActionKind.RESOLVE)],
)
def test_market_data_degraded_raises_and_recovered_resolves_the_same_key(
    condition: str, kind: ActionKind
) -> None:
    detail = _base(
        symbol="BTC/USDT", feed="binance-ws", condition=condition, staleness_ms=4200, severity="warning"
    )
    action = _map("Market Data Degraded", detail)
    assert (action.kind, action.key) == (kind, "market-data:BTC/USDT:binance-ws")


@pytest.mark.parametrize(
    ("state", "kind", "severity"),
    [
        ("disconnected", ActionKind.RAISE, Severity.CRITICAL),
        ("degraded", ActionKind.RAISE, Severity.WARNING),
        ("connected", ActionKind.RESOLVE, Severity.INFO),
    ],
)
def test_broker_connectivity_maps_state_to_action_and_severity(
    state: str, kind: ActionKind, severity: Severity
) -> None:
    action = _map("Broker Connectivity Changed", _base(venue="binance", state=state, reason="ws closed"))
    assert (action.kind, action.key, action.severity) == (kind, "broker:binance", severity)


def test_kill_switch_is_always_critical() -> None:
    detail = _base(reason="manual", actor="alice", flatten=True, cancelled_orders=3)
    action = _map("Kill Switch Engaged", detail)
    assert (action.kind, action.key, action.severity) == (ActionKind.RAISE, "kill-switch", Severity.CRITICAL)
    assert "alice" in action.title


def test_schema_failure_names_the_field_and_correlation_id() -> None:
    detail = _base(
        rule="max_notional", symbol="BTC/USDT", limit=1000.5, value="1", severity="critical", message="x"
    )
    with pytest.raises(EventSchemaError) as caught:
        _map("Risk Breach", detail)
    assert "limit" in caught.value.fields and "corr-1" in str(caught.value)


def test_events_that_are_not_alerts_or_not_from_tradeops_are_refused() -> None:
    with pytest.raises(UnsupportedEvent):
        _map("Secret Rotated", _base(secret_id="s", version_id="v"))
    with pytest.raises(UnsupportedEvent):
        _map("Kill Switch Engaged", _base(reason="r", actor="a", flatten=False), source="evil.source")
    with pytest.raises(UnsupportedEvent):
        alert_from_event("tradeops.gateway", ALARM_DETAIL_TYPE, {}, event_id="e", received_at=T0)


def _alarm(value: str, previous: str = "OK", description: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "alarmName": "tradeops-alerts-errors",
        "state": {"value": value, "reason": "Threshold Crossed", "timestamp": "2025-01-02T03:04:06.500+0000"},
        "previousState": {"value": previous, "reason": "", "timestamp": "2025-01-02T03:00:00.000+0000"},
        "configuration": {"description": description, "metrics": []},
        **extra,
    }


def _map_alarm(detail: dict[str, Any]) -> Any:
    return alert_from_event("aws.cloudwatch", ALARM_DETAIL_TYPE, detail, event_id="env-7", received_at=T0)


def test_alarm_state_changes_follow_the_documented_convention() -> None:
    raised = _map_alarm(_alarm("ALARM"))
    assert (raised.kind, raised.key, raised.severity) == (
        ActionKind.RAISE,
        "alarm:tradeops-alerts-errors",
        Severity.WARNING,
    )
    assert raised.event_id == "env-7" and raised.occurred_at == datetime(
        2025, 1, 2, 3, 4, 6, 500000, tzinfo=UTC
    )
    assert _map_alarm(_alarm("OK", previous="ALARM")).kind is ActionKind.RESOLVE
    from_alarm = _map_alarm(_alarm("INSUFFICIENT_DATA", previous="ALARM"))
    assert (from_alarm.kind, from_alarm.severity) == (ActionKind.RAISE, Severity.WARNING)
    assert _map_alarm(_alarm("INSUFFICIENT_DATA", previous="OK")).kind is ActionKind.IGNORE


def test_alarm_severity_comes_from_tag_then_description_then_defaults_to_warning() -> None:
    assert (
        alarm_severity(_alarm("ALARM", description="Lambda errors. severity=critical")) is Severity.CRITICAL
    )
    assert alarm_severity(_alarm("ALARM", description="severity: INFO")) is Severity.INFO
    tagged = _alarm("ALARM", description="severity=info", alarmTags={"severity": "critical"})
    assert alarm_severity(tagged) is Severity.CRITICAL
    assert alarm_severity(_alarm("ALARM", description="severity=urgent")) is Severity.WARNING
    assert alarm_severity({"alarmName": "x"}) is Severity.WARNING


def test_alarm_without_a_usable_timestamp_uses_the_envelope_time() -> None:
    detail = _alarm("ALARM")
    del detail["state"]["timestamp"]
    assert _map_alarm(detail).occurred_at == T0


@pytest.mark.parametrize(
    "detail",
    [{"state": {"value": "ALARM"}}, {"alarmName": "a", "state": {"value": "RED"}}, {"alarmName": "a"}],
)
def test_malformed_alarm_details_are_refused(detail: dict[str, Any]) -> None:
    with pytest.raises(MalformedEvent):
        _map_alarm(detail)


def test_envelope_mapping_reads_id_source_type_time_and_detail() -> None:
    envelope = {
        "version": "0",
        "id": "11111111-2222-3333-4444-555555555555",
        "detail-type": ALARM_DETAIL_TYPE,
        "source": "aws.cloudwatch",
        "time": "2025-01-02T03:04:05Z",
        "detail": _alarm("ALARM"),
    }
    action = alert_from_envelope(envelope)
    assert action.event_id == envelope["id"] and action.kind is ActionKind.RAISE
    with pytest.raises(MalformedEvent, match="time"):
        alert_from_envelope({k: v for k, v in envelope.items() if k != "time"})
    with pytest.raises(MalformedEvent):
        alert_from_envelope({**envelope, "detail": "not a dict"})
