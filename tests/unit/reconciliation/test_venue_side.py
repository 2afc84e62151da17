"""The venue side of a pass against a scripted read-only adapter: paging, queries, bounds, failures."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

import pytest

from tradeops.domain.ids import client_order_id
from tradeops.domain.orders import Fill, Order, OrderState
from tradeops.domain.values import OrderType, Side
from tradeops.reconciliation.venue_side import VenueLimits, VenueReadError, collect_venue_report
from tradeops.venue.adapter import NotFound, VenueAdapter
from tradeops.venue.mapping import VenueOrder
from tradeops.venue.outcomes import Accepted, Retryable

D = Decimal
T0 = 1_700_000_000_000
SYMBOL = "BTC/USDT"


def venue_order(coid: str, venue_id: str, status: str = "NEW", filled: str = "0") -> VenueOrder:
    return VenueOrder(
        coid,
        venue_id,
        SYMBOL,
        Side.BUY,
        "LIMIT",
        status,
        D("1"),
        D(filled),
        None,
        D("100"),
        None,
        (),
        T0,
        None,
        None,
    )


def fill(coid: str, trade_id: str, ts: int) -> Fill:
    return Fill(coid, trade_id, SYMBOL, Side.BUY, D("100"), D("0.5"), D("0"), "BNB", ts, False)


def local_open(intent: str, venue_id: str | None) -> Order:
    order = Order.new(
        client_order_id=client_order_id(intent),
        intent_id=intent,
        strategy="demo",
        symbol=SYMBOL,
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=D("1"),
        limit_price=D("100"),
        created_at=T0,
    ).transition(OrderState.SUBMITTING, T0)
    if venue_id is None:
        return order.transition(OrderState.UNKNOWN, T0)
    return order.with_venue_order_id(venue_id, T0).transition(OrderState.OPEN, T0)


class ScriptedVenue:
    """Only the read calls the reconciler makes; every call is recorded."""

    def __init__(
        self, *, trades: list[Fill], open_orders: list[VenueOrder], orders: dict[str, VenueOrder]
    ) -> None:
        self.trades, self.open_orders, self.orders = trades, open_orders, orders
        self.calls: list[tuple[str, Any]] = []
        self.fail_balances = False

    async def fetch_balances(self) -> Any:
        self.calls.append(("balances", None))
        if self.fail_balances:
            return Retryable("timeout", "RequestTimeout")
        return Accepted({"BTC": (D("1"), D("0")), "USDT": (D("900"), D("100"))})

    async def fetch_open_orders(self, symbol: str | None = None) -> Any:
        self.calls.append(("open", symbol))
        return Accepted(list(self.open_orders))

    async def fetch_my_trades(self, symbol: str, since: int | None = None) -> Any:
        self.calls.append(("trades", since))
        page = [t for t in self.trades if t.symbol == symbol and t.ts >= (since or 0)]
        return Accepted(sorted(page, key=lambda t: t.ts)[:2])  # a venue page of two trades

    async def fetch_order(self, symbol: str, coid: str) -> Any:
        self.calls.append(("order", coid))
        found = self.orders.get(coid)
        return Accepted(found if found is not None else NotFound(symbol, coid))


async def collect(venue: ScriptedVenue, local: list[Order], **kwargs: Any) -> Any:
    return await collect_venue_report(
        cast(VenueAdapter, venue),
        symbols={SYMBOL},
        local_orders=local,
        since=T0,
        as_of=T0 + 60_000,
        clock_ms=lambda: T0 + 61_000,
        **kwargs,
    )


async def test_trades_are_paged_to_the_end_and_each_carries_its_venue_order_id() -> None:
    ours = local_open("i-1", "11")
    trades = [fill(ours.client_order_id, str(n), T0 + n) for n in range(1, 6)] + [fill("ext-1", "9", T0 + 9)]
    venue = ScriptedVenue(
        trades=trades, open_orders=[], orders={"ext-1": venue_order("ext-1", "99", "FILLED", "0.5")}
    )
    venue.orders[ours.client_order_id] = venue_order(ours.client_order_id, "11", "FILLED", "1")
    report = await collect(venue, [ours])
    assert [t.trade_id for t in report.trades] == ["1", "2", "3", "4", "5", "9"]
    assert {t.trade_id: t.venue_order_id for t in report.trades}["9"] == "99"
    assert [r.venue_order_id for r in report.recent_orders] == ["99"]  # the external order's report
    (query,) = report.queries  # our live order absent from open orders is queried by client id
    assert query.client_order_id == ours.client_order_id and query.report is not None
    assert report.balances["USDT"].total == D("1000") and report.symbols == frozenset({SYMBOL})
    assert ("open", None) in venue.calls


async def test_a_local_order_the_venue_does_not_know_is_a_not_found_query() -> None:
    lost = local_open("i-2", None)  # UNKNOWN after a submit timeout
    report = await collect(ScriptedVenue(trades=[], open_orders=[], orders={}), [lost])
    (query,) = report.queries
    assert query.report is None and query.queried_at == T0 + 61_000


async def test_orders_shown_open_are_not_queried() -> None:
    ours = local_open("i-3", "12")
    venue = ScriptedVenue(trades=[], open_orders=[venue_order(ours.client_order_id, "12")], orders={})
    report = await collect(venue, [ours])
    assert report.queries == () and [r.venue_order_id for r in report.open_orders] == ["12"]
    assert not any(kind == "order" for kind, _ in venue.calls)


async def test_bounds_and_failures_fail_the_run() -> None:
    orders = [local_open(f"i-{n}", str(100 + n)) for n in range(3)]
    with pytest.raises(VenueReadError, match="over 2"):
        await collect(
            ScriptedVenue(trades=[], open_orders=[], orders={}), orders, limits=VenueLimits(max_queries=2)
        )
    many = [fill("x", str(n), T0 + n) for n in range(10)]
    with pytest.raises(VenueReadError, match="more than 2 pages"):
        await collect(
            ScriptedVenue(trades=many, open_orders=[], orders={}), [], limits=VenueLimits(max_trade_pages=2)
        )
    failing = ScriptedVenue(trades=[], open_orders=[], orders={})
    failing.fail_balances = True
    with pytest.raises(VenueReadError, match="account: Retryable"):
        await collect(failing, [])
