"""Every error path answers Binance's code and message; arbitrary input never escapes as another exception."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeops.sim import SimConfig, SimError, SimVenue, VenueEvent

Fixture = tuple[SimVenue, list[VenueEvent]]
LIMIT = {
    "symbol": "BTCUSDT",
    "side": "BUY",
    "type": "LIMIT",
    "timeInForce": "GTC",
    "quantity": "0.01000",
    "price": "50000",
}
MANDATORY = "Mandatory parameter '{}' was not sent, was empty/null, or malformed."


def without(params: dict[str, str], *names: str) -> dict[str, str]:
    return {k: v for k, v in params.items() if k not in names}


CASES: list[tuple[dict[str, str], int, str]] = [
    (without(LIMIT, "symbol"), -1102, MANDATORY.format("symbol")),
    (without(LIMIT, "side"), -1102, MANDATORY.format("side")),
    (without(LIMIT, "type"), -1102, MANDATORY.format("type")),
    (without(LIMIT, "quantity"), -1102, MANDATORY.format("quantity")),
    (without(LIMIT, "price"), -1102, MANDATORY.format("price")),
    (without(LIMIT, "timeInForce"), -1102, MANDATORY.format("timeInForce")),
    ({**LIMIT, "quantity": ""}, -1102, MANDATORY.format("quantity")),
    ({**LIMIT, "symbol": "XYZUSDT"}, -1121, "Invalid symbol."),
    (
        {**LIMIT, "symbol": "BTC/USDT"},
        -1100,
        "Illegal characters found in parameter 'symbol'; legal range is '^[A-Z0-9-_.]{1,20}$'.",
    ),
    ({**LIMIT, "side": "LONG"}, -1117, "Invalid side."),
    ({**LIMIT, "type": "ICEBERG"}, -1116, "Invalid orderType."),
    ({**LIMIT, "timeInForce": "GTD"}, -1115, "Invalid timeInForce."),
    (
        {**LIMIT, "quantity": "abc"},
        -1100,
        "Illegal characters found in parameter 'quantity'; legal range is "
        "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
    ),
    (
        {**LIMIT, "price": "-5"},
        -1100,
        "Illegal characters found in parameter 'price'; legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
    ),
    (
        {**LIMIT, "price": "1e5"},
        -1100,
        "Illegal characters found in parameter 'price'; legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
    ),
    ({**LIMIT, "quantity": "0.000000001"}, -1111, "Parameter 'quantity' has too much precision."),
    ({**LIMIT, "price": "50000.001"}, -1013, "Filter failure: PRICE_FILTER"),
    ({**LIMIT, "price": "0"}, -1013, "Filter failure: PRICE_FILTER"),
    ({**LIMIT, "price": "2000000"}, -1013, "Filter failure: PRICE_FILTER"),
    ({**LIMIT, "quantity": "0.000001"}, -1013, "Filter failure: LOT_SIZE"),
    ({**LIMIT, "quantity": "0.000015"}, -1013, "Filter failure: LOT_SIZE"),
    ({**LIMIT, "quantity": "10000"}, -1013, "Filter failure: LOT_SIZE"),
    ({**LIMIT, "quantity": "0.00001"}, -1013, "Filter failure: NOTIONAL"),
    ({**LIMIT, "quantity": "5"}, -2010, "Account has insufficient balance for requested action."),
    ({**LIMIT, "stopPrice": "40000"}, -1106, "Parameter 'stopPrice' sent when not required."),
    ({**LIMIT, "quoteOrderQty": "100"}, -1106, "Parameter 'quoteOrderQty' sent when not required."),
    (
        {**LIMIT, "newClientOrderId": "bad id!"},
        -1100,
        "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[a-zA-Z0-9-_.]{1,36}$'.",
    ),
    ({**LIMIT, "newOrderRespType": "MAX"}, -1130, "Invalid data sent for a parameter."),
    (
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET"},
        -1102,
        "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
    ),
    (
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "1", "quoteOrderQty": "5"},
        -1106,
        "Parameter 'quoteOrderQty' sent when not required.",
    ),
    (
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.1", "price": "1"},
        -1106,
        "Parameter 'price' sent when not required.",
    ),
    (
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.1", "timeInForce": "GTC"},
        -1106,
        "Parameter 'timeInForce' sent when not required.",
    ),
    (
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "3"},
        -2010,
        "Account has insufficient balance for requested action.",
    ),
    (
        {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "3"},
        -2010,
        "Account has insufficient balance for requested action.",
    ),
    (
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "1"},
        -1013,
        "Filter failure: NOTIONAL",
    ),
    (
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "STOP_LOSS_LIMIT",
            "quantity": "0.01",
            "price": "50000",
            "timeInForce": "GTC",
        },
        -1102,
        MANDATORY.format("stopPrice"),
    ),
]


@pytest.mark.parametrize(("params", "code", "msg"), CASES)
def test_new_order_rejections(venue_events: Fixture, params: dict[str, str], code: int, msg: str) -> None:
    venue, events = venue_events
    before = venue.account("k1")
    with pytest.raises(SimError) as err:
        venue.new_order("k1", params)
    assert (err.value.code, err.value.msg) == (code, msg)
    assert err.value.to_json() == {"code": code, "msg": msg} and err.value.http_status == 400
    assert venue.account("k1") == before and venue.open_orders("k1", {}) == []
    assert not [e for e in events if e.channel == "user"]


def test_duplicate_client_order_id_among_open_orders(venue_events: Fixture, h: SimpleNamespace) -> None:
    venue, _ = venue_events
    venue.new_order("k1", {**LIMIT, "newClientOrderId": "dup"})
    with pytest.raises(SimError) as err:
        venue.new_order("k1", {**LIMIT, "newClientOrderId": "dup"})
    assert (err.value.code, err.value.msg) == (-2010, "Duplicate order sent.")
    venue.add_key("other", "s")
    assert venue.new_order("other", {**LIMIT, "newClientOrderId": "dup"})["status"] == "NEW"


def test_unknown_orders_and_lookups(venue_events: Fixture) -> None:
    venue, _ = venue_events
    sym = {"symbol": "BTCUSDT"}
    cases: list[tuple[Any, dict[str, str], int, str]] = [
        (venue.cancel_order, {**sym, "orderId": "424242"}, -2011, "Unknown order sent."),
        (venue.cancel_order, {**sym, "origClientOrderId": "nope"}, -2011, "Unknown order sent."),
        (venue.query_order, {**sym, "orderId": "424242"}, -2013, "Order does not exist."),
        (venue.query_order, {**sym, "origClientOrderId": "nope"}, -2013, "Order does not exist."),
        (
            venue.query_order,
            sym,
            -1102,
            "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
        ),
        (
            venue.query_order,
            {**sym, "orderId": "12a"},
            -1100,
            "Illegal characters found in parameter 'orderId'; legal range is '^[0-9]{1,20}$'.",
        ),
        (venue.cancel_open_orders, sym, -2011, "Unknown order sent."),
        (venue.all_orders, {}, -1102, MANDATORY.format("symbol")),
        (
            venue.my_trades,
            {**sym, "fromId": "1", "startTime": "5"},
            -1128,
            "Combination of optional parameters invalid.",
        ),
        (venue.my_trades, {**sym, "limit": "0"}, -1130, "Invalid data sent for a parameter."),
        (venue.open_orders, {"symbol": "NOPE"}, -1121, "Invalid symbol."),
        (venue.cancel_order_list, {**sym, "orderListId": "3"}, -2011, "Order list does not exist."),
        (
            venue.query_order_list,
            {},
            -1102,
            "Param 'origClientOrderId' or 'orderListId' must be sent, but both were empty/null!",
        ),
    ]
    for method, params, code, msg in cases:
        with pytest.raises(SimError) as err:
            method("k1", params)
        assert (err.value.code, err.value.msg) == (code, msg), method.__name__
    bid = venue.depth("BTCUSDT", 1)["bids"][0][0]
    done = venue.new_order("k1", {**LIMIT, "price": bid, "type": "LIMIT", "timeInForce": "IOC"})
    with pytest.raises(SimError) as err:
        venue.cancel_order("k1", {**sym, "orderId": str(done["orderId"])})
    assert err.value.code == -2011


def test_unknown_key_and_market_data_errors(venue_events: Fixture) -> None:
    venue, _ = venue_events
    with pytest.raises(SimError) as err:
        venue.new_order("ghost", LIMIT)
    assert err.value.code == -2015 and err.value.http_status == 401
    calls: list[tuple[Callable[[], object], int]] = [
        (lambda: venue.depth("BTCUSDT", "abc"), -1100),
        (lambda: venue.depth("BTCUSDT", 0), -1130),
        (lambda: venue.depth("ETHBTC", 5), -1121),
        (lambda: venue.recent_trades("BTCUSDT", "-1"), -1100),
        (lambda: venue.klines("BTCUSDT", ""), -1102),
        (lambda: venue.klines("BTCUSDT", "1m", start_time="10", end_time="5"), -1130),
        (lambda: venue.exchange_info("btcusdt"), -1100),
        (lambda: venue.ticker_24h("NOPE"), -1121),
        (lambda: venue.add_key("k1", "again"), -1130),
        (lambda: venue.add_key("k9", "s", account_of="ghost"), -2015),
        (lambda: venue.add_key("k9", "s", {"USDT": Decimal(-1)}), -1130),
        (lambda: venue.revoke_key("ghost"), -2015),
    ]
    for call, code in calls:
        with pytest.raises(SimError) as err:
            call()
        assert err.value.code == code
    assert len(venue.depth("BTCUSDT", "99999")["bids"]) == 20  # capped like Binance, not refused


def test_config_is_validated() -> None:
    for bad in (
        SimConfig(symbols=()),
        SimConfig(symbols=("BTCUSDT",)),
        SimConfig(book_depth=0),
        SimConfig(maker_fee=Decimal(2)),
        SimConfig(initial_prices={"BTC/USDT": Decimal(0)}),
    ):
        with pytest.raises(SimError):
            SimVenue(bad, lambda: 0)


KEYS = [
    "symbol",
    "side",
    "type",
    "timeInForce",
    "quantity",
    "price",
    "stopPrice",
    "quoteOrderQty",
    "newClientOrderId",
    "newOrderRespType",
    "orderId",
    "origClientOrderId",
    "limit",
    "fromId",
    "startTime",
    "aboveType",
    "belowType",
    "abovePrice",
    "belowStopPrice",
    "stopLimitPrice",
    "stopLimitTimeInForce",
    "orderListId",
    "listClientOrderId",
]
VALUES = st.one_of(
    st.sampled_from(
        [
            "BTCUSDT",
            "BUY",
            "SELL",
            "LIMIT",
            "MARKET",
            "LIMIT_MAKER",
            "STOP_LOSS_LIMIT",
            "GTC",
            "IOC",
            "FOK",
            "STOP_LOSS",
            "TAKE_PROFIT_LIMIT",
            "0.01",
            "60000",
            "59000.5",
            "1",
            "0",
            "",
            "FULL",
            "-1",
            "1e3",
            "NaN",
            "99999999999999999999999",
            "0.00000000001",
        ]
    ),
    st.text(max_size=8),
    st.integers(-5, 10**6).map(str),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=9), which=st.integers(0, 9))
def test_arbitrary_params_only_ever_raise_sim_errors(
    venue_events: Fixture, h: SimpleNamespace, params: dict[str, str], which: int
) -> None:
    venue, _ = venue_events
    methods = [
        venue.new_order,
        venue.cancel_order,
        venue.query_order,
        venue.open_orders,
        venue.all_orders,
        venue.my_trades,
        venue.new_oco,
        venue.query_order_list,
        venue.cancel_order_list,
        venue.cancel_open_orders,
    ]
    try:
        methods[which]("k1", params)
    except SimError as err:
        assert err.code < 0 and err.msg
    h.check_invariants(venue)
