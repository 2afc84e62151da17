"""Event schemas: round trips, refusals (floats, unknown fields, missing fields), entries, JSON Schemas."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from tradeops.domain.events import (
    EVENT_TYPES,
    BrokerConnectivityChanged,
    CancelRequested,
    ControlChanged,
    EventDetail,
    EventSchemaError,
    FillDiscovered,
    KillSwitchEngaged,
    MarketDataDegraded,
    OrderFilled,
    OrderRejected,
    OrderUpdated,
    ReconciliationBreak,
    ReconciliationRequested,
    RiskBreach,
    SecretRotated,
    Severity,
    TradeIntent,
    json_schemas,
    parse_detail,
    to_entry,
)
from tradeops.domain.orders import Fill, Order, OrderState
from tradeops.domain.values import OrderType, Side, TimeInForce

D = Decimal
WHEN = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def intent(**overrides: Any) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "correlation_id": "corr-1",
        "occurred_at": "2024-03-01T12:00:00Z",
        "intent_id": "intent-1",
        "strategy": "momentum",
        "symbol": "BTC/USDT",
        "side": "buy",
        "type": "limit",
        "quantity": "0.015",
        "limit_price": "30000.10",
        "time_in_force": "GTC",
        "stop_loss": "29000",
        "take_profit": "32000",
    }
    detail.update(overrides)
    return {k: v for k, v in detail.items() if v is not None}


def sample_order() -> Order:
    return Order.new(
        client_order_id="toen-abc",
        intent_id="intent-1",
        strategy="momentum",
        symbol="BTC/USDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=D("0.5"),
        limit_price=D("30000.10"),
        created_at=1_000,
    ).transition(OrderState.SUBMITTING, at=1_001)


SAMPLE_FILL = Fill(
    "toen-abc", "77", "BTC/USDT", Side.BUY, D("30000.1"), D("0.2"), D("0.0002"), "BNB", 1_500, True
)

SAMPLES: list[EventDetail] = [
    TradeIntent.model_validate(intent()),
    OrderUpdated.from_order(sample_order(), correlation_id="corr-1"),
    OrderFilled.from_fill(SAMPLE_FILL, correlation_id="corr-1"),
    OrderRejected(
        correlation_id="c",
        intent_id="i",
        client_order_id=None,
        reason="MAX_NOTIONAL",
        message="too big",
        limit=D("1000"),
        value=D("1500.5"),
    ),
    ControlChanged(
        correlation_id="c",
        key="trading_state",
        value={"state": "halted", "max": "10.5"},
        actor="alice",
        reason="maintenance",
    ),
    RiskBreach(
        correlation_id="c",
        rule="max_drawdown",
        symbol=None,
        limit=D("0.05"),
        value=D("0.061"),
        severity=Severity.CRITICAL,
        message="drawdown",
    ),
    KillSwitchEngaged(correlation_id="c", reason="manual", actor="bob", flatten=True, cancelled_orders=3),
    MarketDataDegraded(
        correlation_id="c",
        symbol="BTC/USDT",
        feed="ws-primary",
        condition="stale",
        staleness_ms=4200,
        severity=Severity.WARNING,
    ),
    BrokerConnectivityChanged(
        correlation_id="c", venue="binance", state="disconnected", reason="ws closed 1006"
    ),
    ReconciliationBreak(
        correlation_id="c",
        break_id="b-1",
        break_class="missing_fill",
        symbol="BTC/USDT",
        client_order_id="toen-abc",
        evidence={"venue_qty": "0.5", "ours": "0.3", "trades": [1, 2]},
        proposed_action="fetch trades",
        severity=Severity.CRITICAL,
    ),
    SecretRotated(correlation_id="c", secret_id="tradeops/exchange", version_id="v2"),
    ReconciliationRequested(correlation_id="c", reason="gateway takeover", requested_by="gateway"),
    FillDiscovered(
        correlation_id="c",
        break_id="rb-1",
        client_order_id="toen-abc",
        trade_id="77",
        symbol="BTC/USDT",
        side=Side.BUY,
        price=D("30000.10"),
        quantity=D("0.015"),
        fee=D("0.00001"),
        fee_asset="BNB",
        ts=1_700_000_000_000,
        is_maker=False,
    ),
    CancelRequested(
        correlation_id="c",
        client_order_id="toen-abc",
        requested_by="trader@tradeops.example",
        reason="manual",
    ),
]


def test_samples_cover_every_event_type_and_names_are_title_case() -> None:
    assert {type(s) for s in SAMPLES} == set(EVENT_TYPES.values())
    assert len(EVENT_TYPES) >= 11
    for detail_type, model in EVENT_TYPES.items():
        assert detail_type == model.DETAIL_TYPE and detail_type == detail_type.title()


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.DETAIL_TYPE)
def test_round_trip_through_a_put_events_entry(event: EventDetail) -> None:
    entry = to_entry(event, source="tradeops.gateway", bus="tradeops")
    assert (entry["Source"], entry["DetailType"], entry["EventBusName"]) == (
        "tradeops.gateway",
        event.DETAIL_TYPE,
        "tradeops",
    )
    wire = json.loads(entry["Detail"])  # what a consumer sees: floats would show up here as float
    assert not any(isinstance(v, float) for v in wire.values())
    assert parse_detail(entry["DetailType"], wire) == event


def test_decimals_are_strings_on_the_wire_and_exact() -> None:
    wire = json.loads(to_entry(SAMPLES[0], "tradeops.intake", "tradeops")["Detail"])
    assert wire["quantity"] == "0.015" and wire["limit_price"] == "30000.10"
    tiny = OrderRejected(
        correlation_id="c", intent_id="i", client_order_id=None, reason="R", message="m", value=D("1E-7")
    )
    assert json.loads(tiny.model_dump_json())["value"] == "0.0000001"


def test_order_and_fill_survive_their_events() -> None:
    order = sample_order()
    assert OrderUpdated.from_order(order, correlation_id="c").to_order() == order
    assert OrderFilled.from_fill(SAMPLE_FILL, correlation_id="c").to_fill() == SAMPLE_FILL


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"quantity": 0.015}, "quantity"),
        ({"limit_price": 30000.1}, "limit_price"),
        ({"quantity": "1e-3"}, "quantity"),
        ({"quantity": "0"}, "quantity"),
        ({"symbol": "BTCUSDT"}, "symbol"),
        ({"side": "long"}, "side"),
        ({"type": "stop_loss_limit"}, "type"),
        ({"occurred_at": "2024-03-01T12:00:00"}, "occurred_at"),
        ({"unexpected": 1}, "unexpected"),
        ({"schema_version": 2}, "schema_version"),
    ],
)
def test_bad_intents_name_the_field_and_correlation_id(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(EventSchemaError) as info:
        parse_detail("Trade Intent", intent(**overrides))
    assert field in info.value.fields
    assert "Trade Intent" in str(info.value) and "corr-1" in str(info.value) and field in str(info.value)
    assert info.value.correlation_id == "corr-1"


def test_missing_fields_are_all_named() -> None:
    detail = intent()
    del detail["intent_id"], detail["quantity"]
    with pytest.raises(EventSchemaError) as info:
        parse_detail("Trade Intent", detail)
    assert set(info.value.fields) == {"intent_id", "quantity"}
    assert "Field required" in str(info.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"limit_price": None}, "limit_price is required"),
        ({"type": "market"}, "forbidden for a market"),
        ({"type": "market", "limit_price": None}, "time_in_force is forbidden"),
        ({"stop_loss": "31000"}, "inconsistent with a buy"),
        ({"side": "sell"}, "inconsistent with a sell"),
        ({"expires_at": "2024-03-01T11:00:00Z"}, "expires_at"),
    ],
)
def test_intent_consistency_rules(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(EventSchemaError, match=message):
        parse_detail("Trade Intent", intent(**overrides))


def test_valid_intent_shapes() -> None:
    sell = parse_detail("Trade Intent", intent(side="sell", stop_loss="31000", take_profit="29000"))
    assert isinstance(sell, TradeIntent) and sell.side is Side.SELL
    market = parse_detail("Trade Intent", intent(type="market", limit_price=None, time_in_force=None))
    assert isinstance(market, TradeIntent) and market.effective_time_in_force is None
    no_tif = parse_detail("Trade Intent", intent(time_in_force=None, quantity=2))
    assert isinstance(no_tif, TradeIntent) and no_tif.effective_time_in_force is TimeInForce.GTC
    assert no_tif.quantity == D(2)


def test_occurred_at_is_normalized_to_utc_and_defaults_are_filled() -> None:
    event = parse_detail("Trade Intent", intent(occurred_at="2024-03-01T14:00:00+02:00"))
    assert event.occurred_at == WHEN and event.occurred_at.tzinfo is UTC
    fresh = SecretRotated(correlation_id="c", secret_id="s", version_id="v")
    assert len(fresh.event_id) == 32 and fresh.occurred_at.tzinfo is not None
    assert datetime.now(UTC) - fresh.occurred_at < timedelta(minutes=1)
    assert SecretRotated(correlation_id="c", secret_id="s", version_id="v").event_id != fresh.event_id
    with pytest.raises(ValueError):
        SecretRotated(correlation_id="c", secret_id="s", version_id="v", occurred_at=datetime(2024, 1, 1))
    local = datetime(2024, 3, 1, 7, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert (
        SecretRotated(correlation_id="c", secret_id="s", version_id="v", occurred_at=local).occurred_at
        == WHEN
    )


def test_floats_are_refused_inside_free_form_objects() -> None:
    with pytest.raises(EventSchemaError) as info:
        parse_detail(
            "Control Changed",
            {
                "correlation_id": "c9",
                "key": "limits",
                "value": {"max": {"btc": 1.5}},
                "actor": "a",
                "reason": "r",
            },
        )
    assert info.value.fields == ("value",) and "max.btc" in str(info.value) and "c9" in str(info.value)


def test_strict_booleans_and_counts() -> None:
    base = {"correlation_id": "c", "reason": "r", "actor": "a"}
    with pytest.raises(EventSchemaError, match="flatten"):
        parse_detail("Kill Switch Engaged", {**base, "flatten": "yes"})
    with pytest.raises(EventSchemaError, match="cancelled_orders"):
        parse_detail("Kill Switch Engaged", {**base, "flatten": False, "cancelled_orders": -1})


def test_unknown_detail_type_is_an_error() -> None:
    with pytest.raises(EventSchemaError, match="unknown detail type") as info:
        parse_detail("Order Teleported", {"correlation_id": "c7"})
    assert info.value.correlation_id == "c7" and "c7" in str(info.value)


@pytest.mark.parametrize("source", ["gateway", "tradeops", "tradeops.", "aws.events", "tradeops.Gateway"])
def test_entry_source_must_be_a_tradeops_component(source: str) -> None:
    with pytest.raises(ValueError, match="source"):
        to_entry(SAMPLES[-1], source=source, bus="tradeops")


def test_entry_refuses_oversized_details() -> None:
    big = ReconciliationBreak(
        correlation_id="c",
        break_id="b",
        break_class="x",
        symbol=None,
        client_order_id=None,
        evidence={"blob": "x" * 300_000},
        proposed_action="none",
        severity=Severity.INFO,
    )
    with pytest.raises(ValueError, match="exceeds"):
        to_entry(big, source="tradeops.reconcile", bus="tradeops")


def test_json_schemas_cover_every_type_and_refuse_extra_fields() -> None:
    schemas = json_schemas()
    assert set(schemas) == set(EVENT_TYPES)
    for detail_type, schema in schemas.items():
        assert schema["x-detail-type"] == detail_type and schema["additionalProperties"] is False
        assert "correlation_id" in schema["required"]
        assert {"schema_version", "event_id", "occurred_at"} <= set(schema["properties"])
        json.dumps(schema)  # serializable as written by `tradeops schemas`
    quantity = schemas["Trade Intent"]["properties"]["quantity"]
    assert {"type": "number"} not in quantity["anyOf"] and quantity["anyOf"][0]["type"] == "string"
