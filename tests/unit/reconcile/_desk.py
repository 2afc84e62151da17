"""A tiny consistent trading desk: every action updates the journal's book and the venue's view alike.

Scenarios then perturb one side (a dropped executionReport, a venue-side cancel, a deposit...) and the
diff must name exactly that perturbation. ``apply_safe`` plays the gateway applying safe breaks.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from decimal import Decimal

from tradeops.domain.ids import client_order_id
from tradeops.domain.orders import TERMINAL_STATES, Fill, Order, OrderState
from tradeops.domain.reconcile import (
    Break,
    LocalBook,
    OrderQuery,
    ProposedAction,
    VenueBalance,
    VenueOrderReport,
    VenueReport,
    VenueTrade,
    balance_delta,
    net_positions,
)
from tradeops.domain.values import OrderType, Side

D = Decimal
T0 = 1_700_000_000_000
SYMBOL = "BTC/USDT"


class Desk:
    def __init__(self, balances: dict[str, str] | None = None) -> None:
        start = {"BTC": D("10"), "USDT": D("1000000"), "BNB": D("5")}
        if balances is not None:
            start = {asset: D(amount) for asset, amount in balances.items()}
        self.orders: dict[str, Order] = {}
        self.venue_orders: dict[str, VenueOrderReport] = {}
        self.fills: list[Fill] = []
        self.trades: list[VenueTrade] = []
        self.local_balances: dict[str, Decimal] = defaultdict(Decimal, start)
        self.venue_balances: dict[str, Decimal] = defaultdict(Decimal, start)
        self.queries: list[OrderQuery] = []
        self.clock = T0
        self._ids = 0

    def tick(self, ms: int = 1_000) -> int:
        self.clock += ms
        return self.clock

    def _next_id(self) -> str:
        self._ids += 1
        return str(10_000 + self._ids)

    def submit(self, intent: str, side: Side = Side.BUY, qty: str = "1", price: str = "30000") -> str:
        """Journal and send a limit order; the venue acknowledges it."""
        coid = client_order_id(intent)
        at = self.tick()
        order = Order.new(
            client_order_id=coid,
            intent_id=intent,
            strategy="demo",
            symbol=SYMBOL,
            side=side,
            type=OrderType.LIMIT,
            quantity=D(qty),
            limit_price=D(price),
            created_at=at,
        ).transition(OrderState.SUBMITTING, at)
        venue_id = self._next_id()
        self.orders[coid] = order.with_venue_order_id(venue_id, at).transition(OrderState.OPEN, at)
        self.venue_orders[coid] = VenueOrderReport(
            coid, venue_id, SYMBOL, side, "LIMIT", "NEW", D(qty), D(0), D(price), at
        )
        return coid

    def trade(
        self, coid: str, qty: str, *, fee: str = "0.0001", fee_asset: str = "BNB", local: bool = True
    ) -> Fill:
        """A venue trade on ``coid``; ``local=False`` drops its executionReport."""
        at = self.tick()
        report = self.venue_orders[coid]
        executed = report.executed_qty + D(qty)
        status = "FILLED" if executed == report.orig_qty else "PARTIALLY_FILLED"
        trade_id = self._next_id()
        price, side = report.price, report.side
        trade = VenueTrade(
            trade_id, coid, report.venue_order_id, SYMBOL, side, price, D(qty), D(fee), fee_asset, True, at
        )
        self.trades.append(trade)
        self.venue_orders[coid] = replace(report, status=status, executed_qty=executed, update_time=at)
        fill = Fill(coid, trade_id, SYMBOL, report.side, report.price, D(qty), D(fee), fee_asset, at, True)
        for asset, amount in balance_delta(fill).items():
            self.venue_balances[asset] += amount
        if local:
            self.record(fill)
        return fill

    def record(self, fill: Fill) -> None:
        """The journal accounts a fill: order, fills (positions derive from them) and balances."""
        self.orders[fill.client_order_id], applied = self.orders[fill.client_order_id].apply_fill(fill)
        assert applied
        self.fills.append(fill)
        for asset, amount in balance_delta(fill).items():
            self.local_balances[asset] += amount

    def cancel(self, coid: str, *, local: bool = True) -> None:
        """Cancel on the venue; ``local=False`` means someone else cancelled it and we missed it."""
        at = self.tick()
        self.venue_orders[coid] = replace(self.venue_orders[coid], status="CANCELED", update_time=at)
        if local:
            order = self.orders[coid].transition(OrderState.CANCELING, at)
            self.orders[coid] = order.transition(OrderState.CANCELED, at)

    def book(self) -> LocalBook:
        return LocalBook(
            orders=tuple(self.orders.values()),
            fills=tuple(self.fills),
            positions=net_positions(self.fills),
            balances=dict(self.local_balances),
        )

    def report(self, *, after: int = 60_000, since: int = T0) -> VenueReport:
        """The venue's view ``after`` ms past the last action (well beyond the settle period)."""
        reports = tuple(self.venue_orders.values())
        locked: dict[str, Decimal] = defaultdict(Decimal)
        open_orders = tuple(r for r in reports if r.state not in TERMINAL_STATES)
        for r in open_orders:
            remaining = r.orig_qty - r.executed_qty
            asset, amount = ("USDT", remaining * r.price) if r.side is Side.BUY else ("BTC", remaining)
            locked[asset] += amount
        balances = {
            asset: VenueBalance(total - locked[asset], locked[asset])
            for asset, total in self.venue_balances.items()
        }
        return VenueReport(
            as_of=self.clock + after,
            since=since,
            symbols=frozenset({SYMBOL}),
            open_orders=open_orders,
            recent_orders=reports,
            trades=tuple(self.trades),
            balances=balances,
            queries=tuple(self.queries),
        )


def apply_safe(book: LocalBook, breaks: tuple[Break, ...]) -> LocalBook:
    """Apply safe breaks the way the gateway does: import fills, apply proven venue states."""
    orders = {o.client_order_id: o for o in book.orders}
    fills, balances = list(book.fills), defaultdict(Decimal, book.balances)
    for brk in breaks:
        coid = brk.subject.client_order_id
        assert coid is not None
        if brk.proposed_action is ProposedAction.IMPORT_FILL and brk.fill is not None:
            orders[coid], _ = orders[coid].apply_fill(brk.fill)
            fills.append(brk.fill)
            for asset, amount in balance_delta(brk.fill).items():
                balances[asset] += amount
        elif brk.proposed_action is ProposedAction.APPLY_VENUE_STATE and brk.venue_order is not None:
            report = brk.venue_order
            if orders[coid].state is not report.state:
                orders[coid] = orders[coid].apply_venue_status(
                    report.status, report.executed_qty, report.update_time
                )
        elif brk.proposed_action is ProposedAction.APPLY_VENUE_STATE and brk.proposed_state is not None:
            orders[coid] = orders[coid].transition(brk.proposed_state, orders[coid].updated_at, "not found")
    return LocalBook(tuple(orders.values()), tuple(fills), net_positions(fills), dict(balances))
