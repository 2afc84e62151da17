"""Submit / cancel / fetch / trades / balances / OCO round trips against the in-process simulator."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from tradeops.domain.orders import Order
from tradeops.domain.values import OrderType, Side, TimeInForce
from tradeops.venue.adapter import Accepted, NotFound, Rejected
from tradeops.venue.mapping import VenueOrder

from .conftest import AdapterFactory, Admin

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def _accepted_order(outcome: object) -> VenueOrder:
    assert isinstance(outcome, Accepted), outcome
    assert isinstance(outcome.value, VenueOrder), outcome.value
    return outcome.value


async def test_limit_submit_fetch_cancel_round_trip(
    make_adapter: AdapterFactory, limit: Callable[..., Order], admin: Admin
) -> None:
    adapter = await make_adapter()
    order = limit("50000.10", "0.012")
    placed = _accepted_order(await adapter.submit(order))
    assert (placed.client_order_id, placed.status, placed.type) == (order.client_order_id, "NEW", "LIMIT")
    assert placed.quantity == Decimal("0.012") and placed.price == Decimal("50000.10")
    assert placed.filled == 0 and placed.average_price is None

    fetched = _accepted_order(await adapter.fetch_order("BTC/USDT", order.client_order_id))
    assert (fetched.venue_order_id, fetched.status) == (placed.venue_order_id, "NEW")

    open_orders = await adapter.fetch_open_orders("BTC/USDT")
    everywhere = await adapter.fetch_open_orders(None)
    assert isinstance(open_orders, Accepted) and isinstance(everywhere, Accepted)
    assert [o.client_order_id for o in open_orders.value] == [order.client_order_id]
    assert [o.client_order_id for o in everywhere.value] == [order.client_order_id]

    canceled = _accepted_order(await adapter.cancel("BTC/USDT", order.client_order_id))
    assert canceled.status == "CANCELED"
    # the answer names the cancelled order (Binance's clientOrderId there is the cancel request's id)
    assert canceled.client_order_id == order.client_order_id
    after = _accepted_order(await adapter.fetch_order("BTC/USDT", order.client_order_id))
    assert after.status == "CANCELED" and after.venue_order_id == canceled.venue_order_id

    again = await adapter.cancel("BTC/USDT", order.client_order_id)
    assert isinstance(again, Rejected) and again.code in (-2011, -2013), again
    state = await admin.state()
    assert [o["status"] for o in state["orders"]] == ["CANCELED"]


async def test_fetch_order_of_unknown_client_id_is_not_found(make_adapter: AdapterFactory) -> None:
    adapter = await make_adapter()
    outcome = await adapter.fetch_order("BTC/USDT", "never-sent-0001")
    assert outcome == Accepted(NotFound("BTC/USDT", "never-sent-0001"))


async def test_market_fill_trades_and_balances_are_exact_decimals(
    make_adapter: AdapterFactory, market: Callable[..., Order]
) -> None:
    adapter = await make_adapter()
    before = await adapter.fetch_balances()
    assert isinstance(before, Accepted)
    assert before.value["USDT"] == (Decimal("100000"), Decimal(0))

    order = market("0.01")
    filled = _accepted_order(await adapter.submit(order))
    assert filled.status == "FILLED" and filled.filled == Decimal("0.01")
    assert filled.fills and all(isinstance(f.price, Decimal) and not f.is_maker for f in filled.fills)
    assert sum(f.quantity for f in filled.fills) == Decimal("0.01")
    assert filled.average_price is not None and filled.average_price > 0

    trades = await adapter.fetch_my_trades("BTC/USDT", since=0)
    assert isinstance(trades, Accepted)
    assert {f.trade_id for f in trades.value} == {f.trade_id for f in filled.fills}
    for fill in trades.value:
        assert fill.client_order_id == order.client_order_id and fill.side is Side.BUY
        assert fill.fee > 0 and fill.fee_asset == "BTC" and isinstance(fill.fee, Decimal)

    after = await adapter.fetch_balances()
    assert isinstance(after, Accepted)
    fee = sum(f.fee for f in trades.value)
    assert after.value["BTC"][0] == before.value["BTC"][0] + Decimal("0.01") - fee
    time = await adapter.server_time()
    assert isinstance(time, Accepted) and time.value > 1_700_000_000_000


async def test_trades_of_orders_the_adapter_never_saw_resolve_client_ids(
    make_adapter: AdapterFactory, market: Callable[..., Order]
) -> None:
    first = await make_adapter()
    order = market("0.02")
    _accepted_order(await first.submit(order))
    fresh = await make_adapter()  # empty order-id cache: must look the client id up via allOrders
    trades = await fresh.fetch_my_trades("BTC/USDT")
    assert isinstance(trades, Accepted) and trades.value
    assert {f.client_order_id for f in trades.value} == {order.client_order_id}


async def test_duplicate_client_order_id_is_rejected(
    make_adapter: AdapterFactory, limit: Callable[..., Order]
) -> None:
    adapter = await make_adapter()
    _accepted_order(await adapter.submit(limit("40000.00", client_order_id="dup-0001")))
    outcome = await adapter.submit(limit("40001.00", client_order_id="dup-0001"))
    assert isinstance(outcome, Rejected) and outcome.code == -2010, outcome


async def test_insufficient_funds_is_rejected_with_2010(
    make_adapter: AdapterFactory, limit: Callable[..., Order], admin: Admin
) -> None:
    adapter = await make_adapter()
    outcome = await adapter.submit(limit("50000.00", "5"))  # 250k USDT > 100k
    assert isinstance(outcome, Rejected), outcome
    assert (outcome.code, outcome.error_type) == (-2010, "InsufficientFunds")
    assert (await admin.state())["orders"] == []


async def test_off_grid_quantity_is_refused_before_sending(
    make_adapter: AdapterFactory, limit: Callable[..., Order], admin: Admin
) -> None:
    adapter = await make_adapter()
    outcome = await adapter.submit(limit("50000.00", "0.0123456"))
    assert isinstance(outcome, Rejected) and "lot grid" in outcome.message, outcome
    off_tick = await adapter.submit(limit("50000.001", "0.01"))
    assert isinstance(off_tick, Rejected) and "tick grid" in off_tick.message, off_tick
    assert (await admin.state())["orders"] == []


async def test_stop_loss_limit_carries_stop_price(make_adapter: AdapterFactory) -> None:
    adapter = await make_adapter()
    order = Order.new(
        client_order_id="sl-0001",
        intent_id="i-sl",
        strategy="test",
        symbol="BTC/USDT",
        side=Side.SELL,
        type=OrderType.STOP_LOSS_LIMIT,
        quantity=Decimal("0.01"),
        limit_price=Decimal("50000.00"),
        stop_price=Decimal("50010.00"),
        time_in_force=TimeInForce.GTC,
        created_at=1,
    )
    placed = _accepted_order(await adapter.submit(order))
    assert (placed.type, placed.status) == ("STOP_LOSS_LIMIT", "NEW")
    fetched = _accepted_order(await adapter.fetch_order("BTC/USDT", "sl-0001"))
    assert fetched.stop_price == Decimal("50010.00")


async def test_oco_protects_a_long_position(
    make_adapter: AdapterFactory, market: Callable[..., Order], admin: Admin
) -> None:
    adapter = await make_adapter()
    _accepted_order(await adapter.submit(market("0.01")))
    outcome = await adapter.create_oco(
        "BTC/USDT",
        Side.SELL,
        Decimal("0.01"),
        take_profit_price=Decimal("66000.00"),
        stop_price=Decimal("54000.00"),
        stop_limit_price=Decimal("53900.00"),
        list_client_order_id="oco-0001",
    )
    assert isinstance(outcome, Accepted), outcome
    result = outcome.value
    assert result.list_client_order_id == "oco-0001"
    assert {leg.client_order_id: leg.type for leg in result.legs} == {
        "oco-0001-tp": "LIMIT_MAKER",
        "oco-0001-sl": "STOP_LOSS_LIMIT",
    }
    assert all(leg.list_id == result.list_id for leg in result.legs)
    lists = (await admin.state())["orderLists"]
    assert [ol["listClientOrderId"] for ol in lists] == ["oco-0001"]


async def test_oco_with_prices_on_the_wrong_side_is_rejected(make_adapter: AdapterFactory) -> None:
    adapter = await make_adapter()
    outcome = await adapter.create_oco(
        "BTC/USDT",
        Side.SELL,
        Decimal("0.01"),
        take_profit_price=Decimal("54000.00"),
        stop_price=Decimal("66000.00"),
        stop_limit_price=None,
        list_client_order_id="oco-bad-1",
    )
    assert isinstance(outcome, Rejected) and outcome.code is not None, outcome


async def test_weight_limit_is_sized_from_exchange_info(make_adapter: AdapterFactory) -> None:
    learned = await make_adapter(limit=100)
    assert learned.budget.limit == 6000  # the simulator's exchangeInfo rateLimits REQUEST_WEIGHT
    configured = await make_adapter(limit=100, use_exchange_info_limit=False)
    assert configured.budget.limit == 100
    assert configured.budget.used >= 20  # exchangeInfo was charged (and reconciled) before the call
