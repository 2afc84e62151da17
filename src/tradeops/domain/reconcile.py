"""The reconciliation diff (issue 7, DESIGN §4.4): the journal's book against the venue's report. Pure.

One diff serves the reconcile function, the gateway's startup reconciliation and the CLI. Rules:

* A venue order we do not know is adopted as EXTERNAL by an operator, never cancelled by default.
* A live local order the venue does not show is queried (QUERY_ORDER); it becomes terminal only on a
  NOT-FOUND answer obtained after the grace period, and only if the venue never acknowledged it.
* A venue state is applied only when the transitions table allows it from our state after the fills
  to import; a terminal local order is never moved (STATE_MISMATCH, ALERT_ONLY).
* Positions and balances are compared after the fills to import, so a missing fill is one break.
  Spot venues have no positions: a position break means our projection disagrees with our fills;
  disagreements between our fills and the venue's trades are reported per fill, not again per symbol.
  The projection is written behind the fills: a difference that some fills younger than the settle
  period explain (the projection lacks them) is not yet a break.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal

from tradeops.domain.ids import leg_of
from tradeops.domain.orders import TERMINAL_STATES, TRANSITIONS, Fill, IllegalTransition, Order, OrderState
from tradeops.domain.reconcile_balances import balance_mismatches, subset_sums
from tradeops.domain.reconcile_types import (
    BalanceTolerance,
    Break,
    BreakClass,
    BreakSubject,
    Grace,
    LocalBook,
    OrderQuery,
    ProposedAction,
    ReconciliationResult,
    Tolerances,
    VenueBalance,
    VenueOrderReport,
    VenueReport,
    VenueTrade,
    balance_delta,
    break_id,
    net_positions,
)
from tradeops.domain.values import Severity

__all__ = [
    "BalanceTolerance",
    "Break",
    "BreakClass",
    "BreakSubject",
    "Grace",
    "LocalBook",
    "OrderQuery",
    "ProposedAction",
    "ReconciliationResult",
    "Tolerances",
    "VenueBalance",
    "VenueOrderReport",
    "VenueReport",
    "VenueTrade",
    "alerts",
    "balance_delta",
    "break_id",
    "diff",
    "net_positions",
    "safe_actions",
]

_ZERO = Decimal(0)
_NOT_SENT = frozenset({OrderState.NEW, OrderState.DENIED})
_C, _A = BreakClass, ProposedAction


class _Diff:
    """One diff run: indexes both sides, then emits breaks per order, per trade, per symbol, per asset."""

    def __init__(self, local: LocalBook, venue: VenueReport, tolerances: Tolerances, grace: Grace) -> None:
        self.local, self.venue, self.tolerances, self.grace = local, venue, tolerances, grace
        self.breaks: list[Break] = []
        self.orders = {order.client_order_id: order for order in local.orders}
        self.by_venue_id = {
            (order.symbol, order.venue_order_id): order for order in local.orders if order.venue_order_id
        }
        self.reports = venue.latest_order_reports()
        self.reports_by_client_id: dict[str, VenueOrderReport] = {}
        for report in self.reports.values():  # a reused client id: the latest venue order answers
            current = self.reports_by_client_id.get(report.client_order_id)
            if current is None or (report.update_time, report.venue_order_id) > (
                current.update_time,
                current.venue_order_id,
            ):
                self.reports_by_client_id[report.client_order_id] = report
        self.local_fills = {(fill.symbol, fill.trade_id): fill for fill in local.fills}
        self.projected: dict[str, Order] = dict(self.orders)
        self.imports: list[Fill] = []  # venue trades we lack, proposed or still settling
        self.fill_broken: set[str] = set()  # client order ids with a fill-level break
        self.venue_trade_keys: set[tuple[str, str]] = set()
        self.external: dict[tuple[str, str], list[VenueTrade]] = defaultdict(list)

    def add(
        self,
        cls: BreakClass,
        subject: BreakSubject,
        severity: Severity,
        action: ProposedAction,
        evidence: Mapping[str, object],
        *,
        proposed_state: OrderState | None = None,
        proven: bool = False,
        fill: Fill | None = None,
        venue_order: VenueOrderReport | None = None,
    ) -> None:
        text = {key: str(value) for key, value in evidence.items() if value is not None}
        self.breaks.append(
            Break(cls, subject, text, severity, action, proposed_state, proven, fill, venue_order)
        )

    def owner(self, symbol: str, client_order_id: str | None, venue_order_id: str) -> Order | None:
        if client_order_id is not None and client_order_id in self.orders:
            return self.orders[client_order_id]
        if (symbol, venue_order_id) in self.by_venue_id:
            return self.by_venue_id[(symbol, venue_order_id)]
        report = self.reports.get((symbol, venue_order_id))
        return None if report is None else self.orders.get(report.client_order_id)

    def run(self) -> ReconciliationResult:
        for trade in sorted(self.venue.trades, key=lambda t: (t.time, t.symbol, t.trade_id)):
            self.trade(trade)
        self.local_fills_unknown_to_venue()
        for order in self.orders.values():  # the result orders breaks; input order does not matter
            report = self.report_for(order)
            if order.updated_at > self.venue.as_of:
                continue  # we know something newer than the report; the next run compares
            if report is not None:
                self.compare(order, self.projected[order.client_order_id], report)
            elif order.symbol in self.venue.symbols:
                self.absent(order, self.projected[order.client_order_id])
        self.unknown_venue_orders()
        self.positions()
        self.balances()
        return ReconciliationResult(as_of=self.venue.as_of, breaks=tuple(self.breaks))

    def report_for(self, order: Order) -> VenueOrderReport | None:
        if order.venue_order_id is not None and (order.symbol, order.venue_order_id) in self.reports:
            return self.reports[(order.symbol, order.venue_order_id)]
        return self.reports_by_client_id.get(order.client_order_id)

    # -- fills -----------------------------------------------------------------------------------
    def trade(self, trade: VenueTrade) -> None:
        key = (trade.symbol, trade.trade_id)
        if key in self.venue_trade_keys:
            return
        self.venue_trade_keys.add(key)
        order = self.owner(trade.symbol, trade.client_order_id, trade.venue_order_id)
        if order is None:
            self.external[(trade.symbol, trade.venue_order_id)].append(trade)
            return
        coid = order.client_order_id
        subject = BreakSubject(symbol=trade.symbol, client_order_id=coid, trade_id=trade.trade_id)
        evidence: dict[str, object] = {
            "local_state": self.projected[coid].state.value,
            "venue_qty": trade.qty,
            "venue_price": trade.price,
            "venue_side": trade.side.value,
            "venue_time": trade.time,
        }
        local = self.local_fills.get(key)
        if local is not None:
            ours = (local.quantity, local.price, local.side, local.client_order_id)
            if ours != (trade.qty, trade.price, trade.side, coid):
                self.fill_broken.add(coid)
                evidence |= {
                    "local_qty": local.quantity,
                    "local_price": local.price,
                    "local_side": local.side,
                }
                self.add(_C.FILL_QUANTITY_MISMATCH, subject, Severity.CRITICAL, _A.ALERT_ONLY, evidence)
            return
        fill = trade.to_fill(coid)
        settling = self.venue.as_of - trade.time < self.grace.settle_ms
        try:
            self.projected[coid], _ = self.projected[coid].apply_fill(fill)
        except IllegalTransition:  # e.g. a trade on an order we hold as REJECTED
            if settling:  # our snapshot predates the order's acknowledgement: counted, not yet a break
                self.imports.append(fill)
                return
            self.fill_broken.add(coid)
            self.add(_C.STATE_MISMATCH, subject, Severity.CRITICAL, _A.ALERT_ONLY, evidence)
            return
        except ValueError as exc:  # an overfill, or a trade on the other side of our order
            self.fill_broken.add(coid)
            evidence |= {"local_filled": self.projected[coid].filled_quantity, "error": exc}
            self.add(_C.FILL_QUANTITY_MISMATCH, subject, Severity.CRITICAL, _A.ALERT_ONLY, evidence)
            return
        self.imports.append(fill)
        if settling:
            return  # the user stream has not had time to deliver it: counted, not yet a break
        self.add(_C.MISSING_FILL, subject, Severity.WARNING, _A.IMPORT_FILL, evidence, fill=fill)

    def local_fills_unknown_to_venue(self) -> None:
        """Our fills inside the report's window on a covered symbol that the venue's trade list lacks."""
        for key, fill in self.local_fills.items():
            in_window = self.venue.since <= fill.ts <= self.venue.as_of
            if in_window and fill.symbol in self.venue.symbols and key not in self.venue_trade_keys:
                self.fill_broken.add(fill.client_order_id)
                subject = BreakSubject(fill.symbol, fill.client_order_id, trade_id=fill.trade_id)
                evidence = {"local_qty": fill.quantity, "local_time": fill.ts, "venue_trade": "absent"}
                self.add(_C.FILL_QUANTITY_MISMATCH, subject, Severity.CRITICAL, _A.ALERT_ONLY, evidence)

    # -- orders ----------------------------------------------------------------------------------
    def compare(self, order: Order, projected: Order, report: VenueOrderReport) -> None:
        if self.venue.as_of - max(order.updated_at, report.update_time) < self.grace.settle_ms:
            return  # a change on either side younger than the settle period is not compared yet
        ours, theirs = projected.state, report.state
        quantity_differs = report.executed_qty != projected.filled_quantity
        if theirs is ours and not quantity_differs:
            return
        subject = BreakSubject(symbol=order.symbol, client_order_id=order.client_order_id)
        evidence = {
            "local_state": order.state.value,
            "local_state_after_imports": ours.value,
            "local_filled_after_imports": projected.filled_quantity,
            "venue_status": report.status,
            "venue_executed": report.executed_qty,
            "venue_order_id": report.venue_order_id,
            "venue_update_time": report.update_time,
        }
        if quantity_differs and order.client_order_id not in self.fill_broken:
            self.add(_C.FILL_QUANTITY_MISMATCH, subject, Severity.CRITICAL, _A.ALERT_ONLY, evidence)
        if theirs is ours:
            return
        if ours in TERMINAL_STATES or theirs not in TRANSITIONS[ours]:
            if order.client_order_id in self.fill_broken:
                return  # the fill-level break already names this disagreement
            self.add(_C.STATE_MISMATCH, subject, Severity.CRITICAL, _A.ALERT_ONLY, evidence)
            return
        if order.state is OrderState.UNKNOWN:
            cls, severity = _C.UNKNOWN_ORDER_RESOLVABLE, Severity.INFO
        else:
            cls, severity = _C.STATE_MISMATCH, Severity.WARNING
        self.add(
            cls,
            subject,
            severity,
            _A.APPLY_VENUE_STATE,
            evidence,
            proposed_state=theirs,
            proven=True,
            venue_order=report,
        )

    def absent(self, order: Order, projected: Order) -> None:
        """A live order of ours that no venue report shows: query it; terminal only on proven NOT-FOUND."""
        if order.state in TERMINAL_STATES or order.state in _NOT_SENT:
            return
        if self.venue.as_of - order.updated_at < self.grace.settle_ms:
            return  # a request younger than the settle period need not be visible yet
        grace_ends = order.created_at + self.grace.not_found_ms
        not_found = sorted(
            q.queried_at
            for q in self.venue.queries
            if q.report is None and q.client_order_id == order.client_order_id
        )
        proven = bool(not_found) and not_found[-1] >= grace_ends
        subject = BreakSubject(symbol=order.symbol, client_order_id=order.client_order_id)
        evidence = {
            "local_state": order.state.value,
            "local_state_after_imports": projected.state.value,
            "venue": "not in open or recent orders",
            "not_found_at": ",".join(str(t) for t in not_found) or None,
            "grace_ends_at": grace_ends,
        }
        # Acknowledged orders have a venue id; an UNKNOWN left by a cancel timeout is not "never received".
        never_acknowledged = (
            order.venue_order_id is None
            and projected.filled_quantity == 0
            and OrderState.REJECTED in TRANSITIONS[projected.state]
        )
        if proven and never_acknowledged:
            self.add(
                _C.UNKNOWN_ORDER_RESOLVABLE,
                subject,
                Severity.WARNING,
                _A.APPLY_VENUE_STATE,
                evidence,
                proposed_state=OrderState.REJECTED,
                proven=True,
            )
        elif proven:  # the venue acknowledged it once and now cannot find it: nothing proves an end
            self.add(
                _C.LOCAL_OPEN_ORDER_UNKNOWN_TO_VENUE, subject, Severity.CRITICAL, _A.ALERT_ONLY, evidence
            )
        else:
            past_grace = self.venue.as_of >= grace_ends
            unproven = OrderState.REJECTED if never_acknowledged else OrderState.EXPIRED
            self.add(
                _C.LOCAL_OPEN_ORDER_UNKNOWN_TO_VENUE,
                subject,
                Severity.WARNING if past_grace else Severity.INFO,
                _A.QUERY_ORDER,
                evidence,
                proposed_state=unproven if past_grace else None,
                proven=False,
            )

    def unknown_venue_orders(self) -> None:
        """Venue orders (and trades) no local order accounts for: adopt as EXTERNAL, never cancel."""
        keys = {
            key for key, r in self.reports.items() if self.owner(r.symbol, r.client_order_id, key[1]) is None
        }
        for key in sorted(keys | set(self.external)):
            report, trades = self.reports.get(key), self.external.get(key, [])
            client_id = report.client_order_id if report else next((t.client_order_id for t in trades), None)
            ours = client_id is not None and leg_of(client_id) is not None
            executed = sum((t.qty for t in trades), _ZERO)
            traded = executed > 0 or (report is not None and report.executed_qty > 0)
            working = report is not None and report.state not in TERMINAL_STATES
            if not (ours or traded or working or report is None):
                continue  # an external order that ended without trading changes nothing of ours
            changed = max([t.time for t in trades] + ([report.update_time] if report else []))
            if ours and self.venue.as_of - changed < self.grace.settle_ms:
                continue  # our id, younger than our snapshot can know: sent by the gateway after we read
            evidence: dict[str, object] = {
                "local": "absent",
                "matches_our_id_pattern": str(ours).lower(),
                "venue_trades": len(trades),
                "venue_traded_qty": executed,
            }
            if report is not None:
                evidence |= {
                    "venue_status": report.status,
                    "venue_side": report.side.value,
                    "venue_type": report.type,
                    "venue_orig_qty": report.orig_qty,
                    "venue_executed": report.executed_qty,
                    "venue_price": report.price,
                }
            severity = Severity.CRITICAL if ours or traded else Severity.WARNING
            subject = BreakSubject(symbol=key[0], client_order_id=client_id, venue_order_id=key[1])
            self.add(_C.VENUE_ORDER_UNKNOWN_LOCALLY, subject, severity, _A.ADOPT_EXTERNAL, evidence)

    # -- positions and balances ------------------------------------------------------------------
    def positions(self) -> None:
        from_fills_by_symbol, to_import_by_symbol = (
            net_positions(self.local.fills),
            net_positions(self.imports),
        )
        young: dict[str, list[Decimal]] = defaultdict(list)  # fills the projection may not count yet
        for fill in self.local.fills:
            if self.venue.as_of - fill.ts < self.grace.settle_ms:
                young[fill.symbol].append(net_positions((fill,))[fill.symbol])
        symbols = (set(self.local.positions) | set(from_fills_by_symbol)) & self.venue.symbols
        for symbol in sorted(symbols):
            from_fills = from_fills_by_symbol.get(symbol, _ZERO)
            to_import = to_import_by_symbol.get(symbol, _ZERO)
            projection = self.local.positions.get(symbol, _ZERO)
            if abs(projection - from_fills) <= self.tolerances.position:
                continue
            if self.not_yet_projected(from_fills - projection, young[symbol]):
                continue
            evidence = {
                "local_position": projection,
                "position_from_local_fills": from_fills,
                "fills_to_import": to_import,
                "expected_after_import": from_fills + to_import,
                "difference": projection - from_fills,
            }
            subject = BreakSubject(symbol=symbol)
            self.add(_C.POSITION_MISMATCH, subject, Severity.CRITICAL, _A.ALERT_ONLY, evidence)

    def not_yet_projected(self, missing: Decimal, young: list[Decimal]) -> bool:
        """Whether ``missing`` (fills' net minus the projection) is what some of the fills younger than
        the settle period add: the projection is written behind the fills and may lack exactly those."""
        return any(abs(missing - total) <= self.tolerances.position for total in subset_sums(young))

    def balances(self) -> None:
        """Venue totals against ours after the fills to import (:mod:`reconcile_balances`)."""
        for mismatch in balance_mismatches(self.local, self.venue, self.imports, self.tolerances, self.grace):
            subject = BreakSubject(asset=mismatch.asset)
            self.add(_C.BALANCE_MISMATCH, subject, mismatch.severity, _A.ALERT_ONLY, mismatch.evidence)


def diff(
    local: LocalBook,
    venue: VenueReport,
    *,
    tolerances: Tolerances | None = None,
    grace: Grace | None = None,
) -> ReconciliationResult:
    """Compare the journal's book with the venue's report; pure and deterministic."""
    return _Diff(local, venue, tolerances or Tolerances(), grace or Grace()).run()


def safe_actions(result: ReconciliationResult) -> tuple[Break, ...]:
    """Breaks the gateway applies without an operator: imports, proven venue states, read-only queries."""
    return tuple(b for b in result.breaks if b.safe)


def alerts(result: ReconciliationResult) -> tuple[Break, ...]:
    """Breaks that need an operator (adoption, unexplained quantities, positions, balances)."""
    return tuple(b for b in result.breaks if not b.safe)
