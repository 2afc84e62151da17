"""OrderStore and FillStore against moto: optimistic concurrency, exact decimals, GSIs, idempotent fills."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradeops.config import Settings
from tradeops.domain.orders import Fill, Order, OrderState
from tradeops.domain.values import OrderType, Side
from tradeops.store.base import InvalidCursor, StaleWrite
from tradeops.store.fills import ConflictingFill, FillStore
from tradeops.store.orders import OrderStore

pytestmark = pytest.mark.integration


def _order(coid: str, symbol: str = "BTCUSDT", created_at: int = 1_000) -> Order:
    return Order.new(
        client_order_id=coid,
        intent_id=f"intent-{coid}",
        strategy="demo",
        symbol=symbol,
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("0.00000003"),
        limit_price=Decimal("12345678.12345678"),
        created_at=created_at,
    )


def _fill(order: Order, trade_id: str, qty: str = "0.00000001", ts: int = 2_000) -> Fill:
    return Fill(order.client_order_id, trade_id, order.symbol, order.side, Decimal("12345678.12"),
                Decimal(qty), Decimal("0.00000000"), "BNB", ts, is_maker=True)  # fmt: skip


def test_order_round_trips_exactly_through_its_life(store_settings: Settings) -> None:
    orders = OrderStore(store_settings)
    new = _order("o1")
    orders.put(new, expected_version=None)
    assert orders.get("o1") == new
    open_ = new.transition(OrderState.SUBMITTING, 1_001).transition(OrderState.OPEN, 1_002)
    orders.put(open_, expected_version=new.version)
    filled, applied = open_.apply_fill(_fill(open_, "t1"))
    assert applied
    orders.put(filled, expected_version=open_.version)
    stored = orders.get("o1")
    assert stored == filled and stored is not None
    assert str(stored.limit_price) == "12345678.12345678" and stored.trade_ids == frozenset({"t1"})
    assert orders.get("missing") is None


def test_stale_or_duplicate_writes_are_refused(store_settings: Settings) -> None:
    orders = OrderStore(store_settings)
    new = _order("o1")
    orders.put(new, expected_version=None)
    with pytest.raises(StaleWrite):
        orders.put(new, expected_version=None)  # a replayed create
    a = new.transition(OrderState.SUBMITTING, 1_001)
    b = new.transition(OrderState.DENIED, 1_001, reason="max notional")
    orders.put(a, expected_version=0)
    with pytest.raises(StaleWrite):
        orders.put(b, expected_version=0)  # lost the race: must re-read
    with pytest.raises(ValueError, match="does not follow"):
        orders.put(a, expected_version=a.version)
    assert orders.get("o1") == a


def test_queries_by_status_and_symbol_with_time_ranges_and_cursors(store_settings: Settings) -> None:
    orders = OrderStore(store_settings)
    for i in range(7):
        order = _order(f"o{i}", symbol="ETHUSDT" if i % 2 else "BTCUSDT", created_at=1_000 + i)
        orders.put(order, expected_version=None)
        if i < 3:
            orders.put(order.transition(OrderState.SUBMITTING, 5_000 + i), expected_version=0)
    new = orders.by_status(OrderState.NEW)
    assert [o.client_order_id for o in new.items] == ["o3", "o4", "o5", "o6"] and new.cursor is None
    pages, cursor = [], None
    while True:
        page = orders.by_symbol("BTCUSDT", limit=2, cursor=cursor)
        pages.append([o.client_order_id for o in page.items])
        if (cursor := page.cursor) is None:
            break
    assert [coid for page_ in pages for coid in page_] == ["o0", "o2", "o4", "o6"]
    assert pages[0] == ["o0", "o2"]
    ranged = orders.by_status(OrderState.SUBMITTING, updated_from=5_001, updated_to=5_002, newest_first=True)
    assert [o.client_order_id for o in ranged.items] == ["o2", "o1"]
    assert [o.client_order_id for o in orders.by_symbol("ETHUSDT", created_from=1_002).items] == ["o3", "o5"]
    with pytest.raises(InvalidCursor):
        orders.by_symbol("BTCUSDT", cursor="not-a-cursor")
    with pytest.raises(ValueError):
        orders.by_status(OrderState.NEW, updated_from=10, updated_to=5)


def test_fills_are_idempotent_by_trade_key(store_settings: Settings) -> None:
    fills = FillStore(store_settings)
    order = _order("o1")
    first, second = _fill(order, "t1", ts=2_000), _fill(order, "t2", qty="0.00000002", ts=2_001)
    assert fills.put(first) is True
    assert fills.put(first) is False  # redelivery
    assert fills.put(second) is True
    assert fills.for_order("o1") == [first, second]
    assert fills.get("o1", "BTCUSDT", "t1") == first
    assert str(fills.for_order("o1")[0].fee) == "0E-8"


def test_a_conflicting_duplicate_is_an_error_not_a_silent_drop(store_settings: Settings) -> None:
    fills = FillStore(store_settings)
    order = _order("o1")
    fills.put(_fill(order, "t1"))
    with pytest.raises(ConflictingFill, match="t1"):
        fills.put(_fill(order, "t1", qty="0.00000002"))
    assert [f.quantity for f in fills.for_order("o1")] == [Decimal("0.00000001")]


def test_fills_by_symbol_and_time(store_settings: Settings) -> None:
    fills = FillStore(store_settings)
    btc, eth = _order("o1"), _order("o2", symbol="ETHUSDT")
    for i in range(5):
        fills.put(_fill(btc, f"b{i}", ts=3_000 + i))
    fills.put(_fill(eth, "e0", ts=3_002))
    page = fills.by_symbol("BTCUSDT", ts_from=3_001, ts_to=3_003)
    assert [f.trade_id for f in page.items] == ["b1", "b2", "b3"]
    first = fills.by_symbol("BTCUSDT", limit=3, newest_first=True)
    assert [f.trade_id for f in first.items] == ["b4", "b3", "b2"] and first.cursor is not None
    rest = fills.by_symbol("BTCUSDT", limit=3, newest_first=True, cursor=first.cursor)
    assert [f.trade_id for f in rest.items] == ["b1", "b0"] and rest.cursor is None
