"""ccxt dicts full of floats map to exact Decimals; malformed payloads give a clear MappingError."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeops.domain.values import Side
from tradeops.venue.mapping import (
    MappingError,
    balances_from_ccxt,
    cancel_from_ccxt,
    fill_from_ccxt_trade,
    oco_from_ccxt,
    order_from_ccxt,
    venue_decimal,
)


def ccxt_order(**overrides: Any) -> dict[str, Any]:
    """A ccxt unified order as binance.parse_order builds it from a FULL response (floats everywhere)."""
    order: dict[str, Any] = {
        "id": "12345",
        "clientOrderId": "cid-0001",
        "symbol": "BTC/USDT",
        "side": "buy",
        "amount": 0.003,
        "filled": 0.003,
        "price": 60000.1,
        "average": 60000.07,
        "cost": 180.00021,
        "triggerPrice": None,
        "timestamp": 1_700_000_000_123,
        "lastUpdateTimestamp": 1_700_000_000_456,
        "trades": [
            {"id": "77", "price": 60000.05, "amount": 0.001, "fee": {"cost": 1e-06, "currency": "BTC"}},
            {"id": "78", "price": 60000.08, "amount": 0.002, "fee": {"cost": 2e-06, "currency": "BTC"}},
        ],
        "info": {"type": "LIMIT", "status": "FILLED", "orderListId": -1},
    }
    order.update(overrides)
    return order


def test_order_floats_become_the_exact_decimals_the_venue_sent() -> None:
    order = order_from_ccxt(ccxt_order())
    assert order.quantity == Decimal("0.003") and str(order.quantity) == "0.003"
    assert str(order.price) == "60000.1" and str(order.average_price) == "60000.07"
    assert (order.status, order.type, order.side, order.list_id) == ("FILLED", "LIMIT", Side.BUY, None)
    assert [str(f.fee) for f in order.fills] == ["0.000001", "0.000002"]
    assert [str(f.price) for f in order.fills] == ["60000.05", "60000.08"]
    # Fills of a FULL response inherit the order's time, side and symbol; taker by construction.
    assert all(
        (f.ts, f.side, f.symbol, f.is_maker, f.client_order_id)
        == (1_700_000_000_123, Side.BUY, "BTC/USDT", False, "cid-0001")
        for f in order.fills
    )
    assert sum(f.quantity for f in order.fills) == order.filled


def test_average_falls_back_to_cost_over_filled_and_is_none_when_unfilled() -> None:
    order = order_from_ccxt(ccxt_order(average=None, cost=120.5, filled=0.002, trades=[]))
    assert order.average_price == Decimal("60250")
    open_order = order_from_ccxt(ccxt_order(filled=0.0, average=None, cost=0.0, trades=[]))
    assert open_order.average_price is None and open_order.filled == 0


def test_market_order_zero_price_is_none_and_stop_price_is_mapped() -> None:
    order = order_from_ccxt(
        ccxt_order(
            price=0.0,
            triggerPrice=59000.5,
            info={"type": "STOP_LOSS_LIMIT", "status": "NEW", "orderListId": 3},
        )
    )
    assert order.price is None and order.stop_price == Decimal("59000.5") and order.list_id == 3


@given(st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("1000000"), places=8))
def test_any_eight_place_venue_number_round_trips_through_a_float(value: Decimal) -> None:
    """ccxt parses the venue's text to float; str() gives the shortest round-trip text back."""
    assert venue_decimal(float(str(value)), "x") == value


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"info": None}, "info"),
        ({"id": None}, "id is missing"),
        ({"clientOrderId": ""}, "clientOrderId is missing"),
        ({"side": "short"}, "neither buy nor sell"),
        ({"amount": None}, "amount: expected a number"),
        ({"amount": True}, "expected a number"),
        ({"amount": float("nan")}, "not finite"),
        ({"amount": "abc"}, "not a number"),
        ({"amount": [1]}, "expected a number"),
        ({"timestamp": 1.5}, "not an integer"),
        ({"info": {"type": "LIMIT"}}, "status is missing"),
        ({"trades": [{"id": "1", "price": -1.0, "amount": 0.1}]}, "fill price"),
    ],
)
def test_malformed_orders_raise_mapping_error(change: dict[str, Any], message: str) -> None:
    with pytest.raises(MappingError, match=message):
        order_from_ccxt(ccxt_order(**change))


def test_my_trade_maps_fee_and_maker_flag() -> None:
    trade = {
        "id": "991",
        "order": "12345",
        "symbol": "ETH/USDT",
        "side": "sell",
        "price": 3000.12,
        "amount": 0.0456,
        "fee": {"cost": 0.13680547, "currency": "USDT"},
        "timestamp": 1_700_000_001_000,
        "takerOrMaker": "maker",
    }
    fill = fill_from_ccxt_trade(trade, "cid-9")
    assert (fill.trade_id, fill.side, fill.is_maker, fill.fee_asset) == ("991", Side.SELL, True, "USDT")
    assert str(fill.fee) == "0.13680547" and str(fill.quantity) == "0.0456"
    assert fill_from_ccxt_trade({**trade, "fee": None, "takerOrMaker": "taker"}, "cid-9").fee == 0
    with pytest.raises(MappingError, match="timestamp is missing"):
        fill_from_ccxt_trade({**trade, "timestamp": None}, "cid-9")


def test_balances_map_free_and_locked_exactly() -> None:
    balance = {
        "info": {},
        "free": {"BTC": 0.99899, "USDT": 99819.9999},
        "used": {"BTC": 0.0, "USDT": 180.0001},
        "total": {"BTC": 0.99899, "USDT": 100000.0},
    }
    assert balances_from_ccxt(balance) == {
        "BTC": (Decimal("0.99899"), Decimal("0")),
        "USDT": (Decimal("99819.9999"), Decimal("180.0001")),
    }
    with pytest.raises(MappingError, match="free/used"):
        balances_from_ccxt({"info": {}})


def test_oco_result_maps_the_list_and_its_legs() -> None:
    legs = [
        ccxt_order(
            id="1",
            clientOrderId="o-tp",
            filled=0.0,
            average=None,
            trades=[],
            info={"type": "LIMIT_MAKER", "status": "NEW", "orderListId": 9},
        ),
        ccxt_order(
            id="2",
            clientOrderId="o-sl",
            filled=0.0,
            average=None,
            trades=[],
            info={"type": "STOP_LOSS", "status": "NEW", "orderListId": 9},
        ),
    ]
    response = {"orderListId": 9, "listClientOrderId": "o", "listOrderStatus": "EXECUTING"}
    result = oco_from_ccxt(response, legs)
    assert (result.list_id, result.list_client_order_id, result.list_order_status) == (9, "o", "EXECUTING")
    assert [leg.client_order_id for leg in result.legs] == ["o-tp", "o-sl"]
    with pytest.raises(MappingError, match="orderListId"):
        oco_from_ccxt({"listClientOrderId": "o"}, legs)


def test_a_cancel_answer_is_the_cancelled_order_not_the_cancel_request() -> None:
    """Binance answers DELETE /api/v3/order with the cancel's own id in clientOrderId (ccxt reads that)."""
    info = {"type": "LIMIT", "status": "CANCELED", "orderListId": -1, "origClientOrderId": "cid-0001"}
    answer = ccxt_order(clientOrderId="c4KBVeNl4ELvuJfZtnNAZ5", filled=0.0, trades=[], info=info)
    cancelled = cancel_from_ccxt(answer, "cid-0001")
    assert (cancelled.client_order_id, cancelled.venue_order_id, cancelled.status) == (
        "cid-0001",
        "12345",
        "CANCELED",
    )
    with pytest.raises(MappingError, match="answered for cid-0001"):
        cancel_from_ccxt(answer, "cid-0002")
