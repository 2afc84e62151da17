"""The gateway's startup reconciliation (issue 4 item 6, issue 7 item 2): the same diff, before trading.

After :meth:`~tradeops.gateway.oms.OrderManager.recover` and before the session trades, the leader runs
one :class:`~tradeops.reconciliation.service.ReconcileService` pass (trigger ``gateway-startup``): the
venue's open orders, recent orders and trades since the window and balances, read with the reconcile
function's own venue side, against the projections, through ``domain.reconcile.diff``. Safe breaks are
applied in process by :class:`OmsBreakApplier` through the OMS (fills imported by venue trade id,
terminal states the venue proves, single-order queries), and so are fills the fills table holds but their
order does not count (a crash between those two writes); a second diff confirms what remains. The run
and its breaks are recorded in the ReconStore; what needs an operator is published as the reconcile
function publishes it ("Reconciliation Break", source ``tradeops.reconcile``).

Venue orders unknown locally are adopted as EXTERNAL: recorded and raised for an operator, left working
on the venue, never cancelled. A failed pass (venue unreachable, store error) is retried with backoff
for as long as this gateway leads: it never trades blind. Losing the lease meanwhile ends it at once.
Afterwards the balances baseline is written (:class:`~tradeops.gateway.balance_baseline.BalanceBaseline`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tradeops.aws.events import EventPublisher
from tradeops.config import Settings
from tradeops.domain.orders import Fill, OrderState
from tradeops.domain.reconcile_types import Break, ProposedAction, VenueOrderReport
from tradeops.gateway.balance_baseline import BalanceBaseline
from tradeops.gateway.lease import NotLeader
from tradeops.gateway.oms import OrderManager, UnknownOrder
from tradeops.gateway.oms_resolver import Evidence
from tradeops.observability import get_logger
from tradeops.reconciliation.service import SOURCE, ReconcileConfig, ReconcileService, RunReport
from tradeops.store.balances import BalanceStore
from tradeops.store.journal import FencedOut
from tradeops.venue.adapter import VenueAdapter
from tradeops.venue.mapping import VenueOrder

__all__ = [
    "STARTUP_TRIGGER",
    "OmsBreakApplier",
    "StartupReconciler",
    "StartupRetry",
    "external_orders",
    "reconcile_at_startup",
    "venue_order_from_report",
]

log = get_logger("tradeops.gateway")
STARTUP_TRIGGER = "gateway-startup"
_FENCED = (FencedOut, NotLeader)
_A = ProposedAction


def _local_ms() -> int:
    return time.time_ns() // 1_000_000


def venue_order_from_report(report: VenueOrderReport) -> VenueOrder:
    """The OMS's input for a venue state the diff proved (no fills: the OMS fetches missing trades)."""
    return VenueOrder(
        client_order_id=report.client_order_id,
        venue_order_id=report.venue_order_id,
        symbol=report.symbol,
        side=report.side,
        type=report.type,
        status=report.status,
        quantity=report.orig_qty,
        filled=report.executed_qty,
        average_price=None,
        price=report.price or None,
        stop_price=None,
        fills=(),
        created_at=None,
        updated_at=report.update_time,
        list_id=None,
    )


def external_orders(report: RunReport) -> tuple[Break, ...]:
    """The venue orders the run adopted as EXTERNAL (left working, raised for an operator)."""
    return tuple(b for b in report.open_breaks if b.proposed_action is _A.ADOPT_EXTERNAL)


class OmsBreakApplier:
    """Applies safe breaks through the OMS, the only writer of orders (a ``SafeActionApplier``)."""

    def __init__(self, oms: OrderManager) -> None:
        self._oms = oms

    async def apply(self, breaks: Sequence[Break]) -> frozenset[str]:
        applied: set[str] = set()
        for brk in breaks:
            try:
                done = await self._apply(brk)
            except _FENCED:
                raise
            except UnknownOrder:
                done = False
            except Exception:  # one break failing must not hide the others; the confirm diff keeps it
                log.exception("reconciliation break not applied", extra={"break_id": brk.break_id})
                done = False
            if done:
                applied.add(brk.break_id)
        return frozenset(applied)

    async def apply_recorded_fills(self, fills: Sequence[Fill]) -> int:
        """Re-apply stored fills their order does not count (a crash between the fill and order writes)."""
        changed = 0
        for fill in fills:
            before = await self._oms.get(fill.client_order_id)
            after = await self._oms.apply_fill(fill)
            if after is not None and after.version > before.version:
                changed += 1
        if fills:
            log.warning(
                "stored fills their order did not count were applied",
                extra={"trade_ids": [f.trade_id for f in fills], "changed": changed},
            )
        return changed

    async def _apply(self, brk: Break) -> bool:
        oms, cid = self._oms, brk.subject.client_order_id
        if brk.proposed_action is _A.IMPORT_FILL and brk.fill is not None:
            return await oms.apply_fill(brk.fill) is not None
        if brk.proposed_action is _A.APPLY_VENUE_STATE and brk.venue_order is not None:
            order = await oms.apply_venue_order(
                venue_order_from_report(brk.venue_order), fetch_missing_trades=True
            )
            return order is not None and order.state is brk.proposed_state
        if brk.proposed_action is _A.APPLY_VENUE_STATE and brk.proposed_state is OrderState.REJECTED and cid:
            return (await oms.conclude_not_found(cid)).state is OrderState.REJECTED
        if brk.proposed_action is _A.QUERY_ORDER and cid:
            return await oms.resolver.check(cid) is Evidence.FOUND
        return False


@dataclass(frozen=True)
class StartupRetry:
    """Backoff between failed startup passes (seconds), doubling from ``first_s`` up to ``max_s``."""

    first_s: float = 0.5
    max_s: float = 10.0

    def __post_init__(self) -> None:
        if not 0 < self.first_s <= self.max_s:
            raise ValueError("0 < first_s <= max_s is required")


class StartupReconciler:
    """Runs the startup pass until one succeeds; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        adapter: VenueAdapter,
        oms: OrderManager,
        *,
        config: ReconcileConfig | None = None,
        publisher: EventPublisher | None = None,
        retry: StartupRetry | None = None,
        clock_ms: Callable[[], int] = _local_ms,
    ) -> None:
        self.service = ReconcileService(
            settings,
            adapter,
            config=config,
            publisher=publisher or EventPublisher(settings, SOURCE),
            clock_ms=clock_ms,
            applier=OmsBreakApplier(oms),
        )
        self._retry = retry or StartupRetry()
        self.attempts = 0

    async def run(self) -> RunReport:
        """One successful pass (failed ones are recorded as failed runs and retried with backoff)."""
        delay = self._retry.first_s
        while True:
            self.attempts += 1
            try:
                report = await self.service.run_once(STARTUP_TRIGGER)
            except _FENCED:
                raise
            except Exception as exc:
                log.warning(
                    "startup reconciliation failed: retrying, not trading meanwhile",
                    extra={"attempt": self.attempts, "retry_in_s": delay, "error": repr(exc)},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry.max_s)
                continue
            _log_report(report, self.attempts)
            return report


def _log_report(report: RunReport, attempts: int) -> None:
    for brk in external_orders(report):
        log.warning(
            "venue order adopted as EXTERNAL: left working, never cancelled; an operator decides",
            extra={"break_id": brk.break_id, "symbol": brk.subject.symbol, "evidence": dict(brk.evidence)},
        )
    log.info(
        "startup reconciliation done",
        extra={
            "run_id": report.run_id,
            "attempts": attempts,
            "applied": [b.break_id for b in report.applied],
            "open_breaks": [b.break_id for b in report.open_breaks],
            "balances_baselined": report.balances_baselined,
            "duration_ms": report.finished_at - report.started_at,
        },
    )


async def reconcile_at_startup(
    settings: Settings,
    adapter: VenueAdapter,
    oms: OrderManager,
    symbols: Sequence[str],
    *,
    exchange_offset_ms: Callable[[], int] = lambda: 0,
    retry: StartupRetry | None = None,
) -> BalanceBaseline:
    """The session's step between OMS recovery and trading: reconcile, then write the balances baseline.

    Returns the baseline writer for the session to run (``run()``) and to tell about fills. The baseline
    is stamped on the exchange's clock (local time plus ``exchange_offset_ms``), as the fills it meets are.
    """

    def exchange_ms() -> int:
        return _local_ms() + exchange_offset_ms()

    config = ReconcileConfig(symbols=tuple(symbols))
    await StartupReconciler(settings, adapter, oms, config=config, retry=retry).run()
    baseline = BalanceBaseline(
        adapter.fetch_balances, BalanceStore(settings), settings.account, clock_ms=exchange_ms
    )
    await baseline.write_now()
    return baseline
