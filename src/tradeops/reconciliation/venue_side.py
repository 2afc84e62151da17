"""The venue's side of a reconciliation: read-only queries through the VenueAdapter -> VenueReport.

Only read methods of the adapter are called (balances, open orders, my trades, single-order queries);
nothing here can place or cancel an order. Reads happen in an order that keeps the report consistent:
balances first, then open orders, then trades, so every trade that moved a balance we read is in the
trade list (the diff adds the effect of trades it imports before comparing balances). The report says
when the balances were read, so trades made after that (also in the list) are not expected in them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from tradeops.domain.orders import TERMINAL_STATES, Fill, Order, OrderState
from tradeops.domain.reconcile_types import (
    OrderQuery,
    VenueBalance,
    VenueOrderReport,
    VenueReport,
    VenueTrade,
)
from tradeops.venue.adapter import NotFound, VenueAdapter
from tradeops.venue.mapping import VenueOrder
from tradeops.venue.outcomes import Accepted, Failure

T = TypeVar("T")
_NOT_SENT = frozenset({OrderState.NEW, OrderState.DENIED})


class VenueReadError(RuntimeError):
    """A venue read failed (or could not be completed within its bounds): the run fails, nothing recorded."""


@dataclass(frozen=True)
class VenueLimits:
    """Bounds of one run's reads: trade pages per symbol and single-order queries in total."""

    max_trade_pages: int = 20
    max_queries: int = 200


def _value(outcome: Accepted[T] | Failure, what: str) -> T:
    if isinstance(outcome, Accepted):
        return outcome.value
    raise VenueReadError(f"{what}: {type(outcome).__name__} {outcome}")


def to_report(order: VenueOrder, as_of: int) -> VenueOrderReport:
    """A diff input from the adapter's order (a market order has no price: 0)."""
    return VenueOrderReport(
        client_order_id=order.client_order_id,
        venue_order_id=order.venue_order_id,
        symbol=order.symbol,
        side=order.side,
        type=order.type,
        status=order.status,
        orig_qty=order.quantity,
        executed_qty=order.filled,
        price=order.price or Decimal(0),
        update_time=order.updated_at or order.created_at or as_of,
    )


def to_trade(fill: Fill, venue_order_id: str) -> VenueTrade:
    return VenueTrade(
        trade_id=fill.trade_id,
        client_order_id=fill.client_order_id,
        venue_order_id=venue_order_id,
        symbol=fill.symbol,
        side=fill.side,
        price=fill.price,
        qty=fill.quantity,
        fee=fill.fee,
        fee_asset=fill.fee_asset,
        maker=fill.is_maker,
        time=fill.ts,
    )


async def _trades(adapter: VenueAdapter, symbol: str, since: int, max_pages: int) -> list[Fill]:
    """Every trade of ours on ``symbol`` from ``since``, paging forward by time (pages overlap by 1 ms)."""
    seen: dict[str, Fill] = {}
    cursor = since
    for _ in range(max_pages):
        page = _value(await adapter.fetch_my_trades(symbol, cursor), f"myTrades {symbol}")
        fresh = [fill for fill in page if fill.trade_id not in seen]
        if not fresh:
            return sorted(seen.values(), key=lambda fill: (fill.ts, fill.trade_id))
        seen.update((fill.trade_id, fill) for fill in fresh)
        cursor = max(fill.ts for fill in page)
    raise VenueReadError(f"myTrades {symbol}: more than {max_pages} pages since {since}")


async def collect_venue_report(
    adapter: VenueAdapter,
    *,
    symbols: Iterable[str],
    local_orders: Iterable[Order],
    since: int,
    as_of: int,
    clock_ms: Callable[[], int],
    limits: VenueLimits = VenueLimits(),
) -> VenueReport:
    """Read the venue for ``symbols`` over ``[since, as_of]`` and answer for each live local order.

    Single-order queries are made for live local orders the open orders do not show, and for traded
    orders whose venue id we do not know (external ones included), so every trade carries its venue id.
    """
    covered = frozenset(symbols)
    local = {order.client_order_id: order for order in local_orders}
    requested = clock_ms()
    balances = {
        asset: VenueBalance(free, locked)
        for asset, (free, locked) in _value(await adapter.fetch_balances(), "account").items()
    }
    balances_read = (requested, clock_ms())
    open_orders = [to_report(o, as_of) for o in _value(await adapter.fetch_open_orders(), "openOrders")]
    fills: list[Fill] = []
    for symbol in sorted(covered):
        fills += await _trades(adapter, symbol, since, limits.max_trade_pages)

    venue_ids = {(r.symbol, r.client_order_id): r.venue_order_id for r in open_orders}
    for order in local.values():
        if order.venue_order_id is not None:
            venue_ids.setdefault((order.symbol, order.client_order_id), order.venue_order_id)
    shown = {(r.symbol, r.client_order_id) for r in open_orders}
    to_query = sorted(
        {
            (order.symbol, order.client_order_id)
            for order in local.values()
            if order.symbol in covered
            and order.state not in TERMINAL_STATES | _NOT_SENT
            and (order.symbol, order.client_order_id) not in shown
        }
        | {(f.symbol, f.client_order_id) for f in fills if (f.symbol, f.client_order_id) not in venue_ids}
    )
    if len(to_query) > limits.max_queries:
        raise VenueReadError(f"{len(to_query)} single-order queries needed, over {limits.max_queries}")
    recent: list[VenueOrderReport] = []
    queries: list[OrderQuery] = []
    for symbol, client_order_id in to_query:
        answer = _value(await adapter.fetch_order(symbol, client_order_id), f"order {client_order_id}")
        queried_at = clock_ms()
        if isinstance(answer, NotFound):
            queries.append(OrderQuery(client_order_id, queried_at))
            continue
        report = to_report(answer, as_of)
        venue_ids[(symbol, client_order_id)] = report.venue_order_id
        if client_order_id in local:
            queries.append(OrderQuery(client_order_id, queried_at, report))
        else:
            recent.append(report)

    trades = []
    for fill in fills:
        venue_order_id = venue_ids.get((fill.symbol, fill.client_order_id))
        if venue_order_id is None:
            raise VenueReadError(f"trade {fill.trade_id}: no venue order id for {fill.client_order_id}")
        trades.append(to_trade(fill, venue_order_id))
    return VenueReport(
        as_of=as_of,
        since=since,
        symbols=covered,
        open_orders=tuple(open_orders),
        recent_orders=tuple(recent),
        trades=tuple(trades),
        balances=balances,
        queries=tuple(queries),
        balances_read=balances_read,
    )
