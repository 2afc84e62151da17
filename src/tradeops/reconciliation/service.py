"""One reconciliation pass: read both sides, diff, record the run and the breaks, publish, measure.

Idempotence: a pass changes nothing at the venue and only upserts breaks by their stable ids, so a
schedule firing delivered twice (or two overlapping passes) records the same breaks and republishes only
what changed; the gateway applies "Fill Discovered" (dedup by trade id) and "Reconciliation Break"
(transitions by evidence) idempotently as well. Safe breaks still open are republished at most every
``republish_after_ms`` so an event lost on the way to the gateway is not lost for good.

In process (the gateway's startup reconciliation) a :class:`SafeActionApplier` applies the safe breaks
directly instead of by event: the breaks found are recorded, the safe ones applied, and a second diff
confirms what remains; only that is published, and the applied breaks are closed as ``applied``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit

from tradeops.aws.events import EventPublisher
from tradeops.config import Settings
from tradeops.domain.events import EventDetail, FillDiscovered, ReconciliationBreak
from tradeops.domain.orders import Fill
from tradeops.domain.reconcile import Grace, ReconciliationResult, Tolerances, diff, safe_actions
from tradeops.domain.reconcile_types import Break, LocalBook, ProposedAction, VenueReport
from tradeops.observability import emit_metric, get_logger, metrics
from tradeops.reconciliation.local_side import LocalReader
from tradeops.reconciliation.metrics import NAMESPACE, OPEN_BREAKS, RUN_DURATION_MS, RUN_FAILURES, SERVICE
from tradeops.reconciliation.venue_side import VenueLimits, collect_venue_report
from tradeops.store.recon import ReconStore, RunOutcome, Upsert
from tradeops.venue.adapter import VenueAdapter

SOURCE = "tradeops.reconcile"
DEFAULT_SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
_PUBLISH = frozenset({Upsert.NEW, Upsert.CHANGED, Upsert.REOPENED})
log = get_logger("tradeops.reconcile")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class ReconcileConfig:
    """What one pass covers: configured symbols (plus any with live orders or positions), the trade
    window, tolerances, grace periods and read bounds."""

    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    window_ms: int = 3_600_000
    tolerances: Tolerances = field(default_factory=Tolerances)
    grace: Grace = field(default_factory=Grace)
    limits: VenueLimits = field(default_factory=VenueLimits)
    republish_after_ms: int = 300_000

    def __post_init__(self) -> None:
        if not 60_000 <= self.window_ms <= 86_400_000:
            raise ValueError("window_ms must be between one minute and 24 hours (Binance myTrades)")


class SafeActionApplier(Protocol):
    """Applies safe actions in process (the gateway's OMS, the only writer of orders)."""

    async def apply(self, breaks: Sequence[Break]) -> frozenset[str]:
        """Apply safe breaks; the ids of those applied."""
        ...

    async def apply_recorded_fills(self, fills: Sequence[Fill]) -> int:
        """Apply fills the fills table holds but their order does not count (a writer died between the
        two writes); how many changed an order."""
        ...


@dataclass(frozen=True)
class _Diffed:
    result: ReconciliationResult
    balances_baselined: bool
    unapplied_fills: tuple[Fill, ...]


@dataclass(frozen=True)
class RunReport:
    """The outcome of one pass: the run's key, the diff (after ``applied`` when an applier ran), and what
    was recorded and published."""

    run_id: str
    started_at: int
    finished_at: int
    result: ReconciliationResult
    open_breaks: tuple[Break, ...]
    published: int
    closed: int
    balances_baselined: bool
    applied: tuple[Break, ...] = ()
    healed_fills: int = 0

    @property
    def clean(self) -> bool:
        return not self.open_breaks


class ReconcileService:
    """Passes for ``settings.account`` with a read-only venue adapter; publishes as ``tradeops.reconcile``."""

    def __init__(
        self,
        settings: Settings,
        adapter: VenueAdapter,
        *,
        config: ReconcileConfig | None = None,
        publisher: EventPublisher | None = None,
        store: ReconStore | None = None,
        clock_ms: Callable[[], int] = _now_ms,
        applier: SafeActionApplier | None = None,
    ) -> None:
        self._settings = settings
        self._adapter = adapter
        self._config = config or ReconcileConfig()
        self._publisher = publisher or EventPublisher(settings, SOURCE)
        self._store = store or ReconStore(settings)
        self._local = LocalReader(settings)
        self._clock = clock_ms
        self._applier = applier
        self._metrics = metrics(namespace=NAMESPACE, service=SERVICE)

    async def run_once(self, trigger: str, correlation_id: str | None = None) -> RunReport:
        """One pass; a failure is recorded on the run (outcome ``failed``), counted, and re-raised."""
        account = self._settings.account
        started_at, run_id = self._clock(), uuid.uuid4().hex
        correlation = correlation_id or run_id
        await asyncio.to_thread(self._store.start_run, account, started_at, run_id, trigger)
        try:
            report = await self._pass(run_id, started_at, correlation)
        except Exception as exc:
            finished = self._clock()
            emit_metric(self._metrics, RUN_FAILURES)  # first: counted even when DynamoDB is the failure
            self._duration(started_at, finished)
            log.exception("reconciliation run failed", extra={"run_id": run_id, "trigger": trigger})
            try:
                self._store.finish_run(
                    account,
                    started_at,
                    outcome=RunOutcome.FAILED,
                    finished_at=finished,
                    summary={"trigger": trigger},
                    error=f"{type(exc).__name__}: {exc}"[:1000],
                )
            except Exception:  # the run's own failure is the one to raise
                log.exception("could not record the failed run", extra={"run_id": run_id})
            raise
        summary: dict[str, Any] = {
            **report.result.summary(),
            "trigger": trigger,
            "open": len(report.open_breaks),
            "published": report.published,
            "closed": report.closed,
            "balances_baselined": report.balances_baselined,
            "applied": len(report.applied),
            "healed_fills": report.healed_fills,
        }
        outcome = RunOutcome.CLEAN if report.clean else RunOutcome.BREAKS
        await asyncio.to_thread(
            partial(self._store.finish_run, account, started_at),
            outcome=outcome,
            finished_at=report.finished_at,
            summary=summary,
        )
        emit_metric(self._metrics, OPEN_BREAKS, value=len(report.open_breaks))
        self._duration(started_at, report.finished_at)
        log.info("reconciliation run finished", extra={"run_id": run_id, "outcome": outcome.value, **summary})
        return report

    def _duration(self, started_at: int, finished_at: int) -> None:
        duration = finished_at - started_at
        emit_metric(self._metrics, RUN_DURATION_MS, value=duration, unit=MetricUnit.Milliseconds)

    async def _pass(self, run_id: str, started_at: int, correlation: str) -> RunReport:
        diffed = await self._diff()
        result = diffed.result
        applied: tuple[Break, ...] = ()
        healed = 0
        seen_at = started_at
        applier = self._applier
        if applier is not None and diffed.unapplied_fills:
            healed = await applier.apply_recorded_fills(diffed.unapplied_fills)
        if applier is not None and (healed or safe_actions(result)):
            for brk in result.breaks:  # the run records what it found, applied or not
                await asyncio.to_thread(self._store.observe, brk, started_at)
            done = await applier.apply(safe_actions(result))
            applied = tuple(b for b in result.breaks if b.break_id in done)
            diffed = await self._diff()  # confirm: what remains after applying
            result = diffed.result
            seen_at = max(self._clock(), started_at + 1)  # later than the first observations: closes them
        published, open_breaks = await asyncio.to_thread(self._record, result.breaks, seen_at, correlation)
        observed = {b.break_id for b in result.breaks}
        closed = await asyncio.to_thread(self._store.close_unobserved, seen_at, observed, self._clock())
        return RunReport(
            run_id=run_id,
            started_at=started_at,
            finished_at=self._clock(),
            result=result,
            open_breaks=tuple(open_breaks),
            published=published,
            closed=len(closed),
            balances_baselined=diffed.balances_baselined,
            applied=applied,
            healed_fills=healed,
        )

    async def _diff(self) -> _Diffed:
        """Read both sides now and diff them; also says whether balances had a local baseline and which
        stored fills their order does not count."""
        config = self._config
        as_of = self._clock()
        since = as_of - config.window_ms
        snapshot = await asyncio.to_thread(self._local.read, config.symbols, since, as_of)
        venue = await collect_venue_report(
            self._adapter,
            symbols=snapshot.symbols,
            local_orders=snapshot.book.orders,
            since=since,
            as_of=as_of,
            clock_ms=self._clock,
            limits=config.limits,
        )
        owners = [t.client_order_id or "" for t in venue.trades]
        book = await asyncio.to_thread(self._local.owners, snapshot.book, owners)
        if not snapshot.balances_baselined:
            venue = _without_balances(venue)
        result = diff(book, venue, tolerances=config.tolerances, grace=config.grace)
        return _Diffed(result, snapshot.balances_baselined, _unapplied_fills(book))

    def _record(self, breaks: Iterable[Break], seen_at: int, correlation: str) -> tuple[int, list[Break]]:
        """Upsert every observed break; publish what the gateway or an operator has not seen yet.

        Published: new, changed and reopened breaks, any break whose current version was never published
        (an earlier publish failed), and safe breaks still open after ``republish_after_ms``.
        """
        events: list[EventDetail] = []
        to_mark: list[tuple[str, str]] = []
        open_breaks: list[Break] = []
        for brk in breaks:
            upsert = self._store.observe(brk, seen_at)
            if upsert is Upsert.ACKNOWLEDGED:
                continue
            open_breaks.append(brk)
            record = self._store.get_break(brk.break_id)
            if record is None:
                raise RuntimeError(f"break {brk.break_id} vanished after it was recorded")
            last = record.published_at
            unpublished = last is None or record.published_fingerprint != record.fingerprint
            stale = brk.safe and last is not None and seen_at - last >= self._config.republish_after_ms
            if upsert in _PUBLISH or unpublished or stale:
                events += _events_for(brk, correlation)
                to_mark.append((brk.break_id, record.fingerprint))
        if events:
            self._publisher.publish_many(events)
            now = self._clock()
            for break_id, printed in to_mark:
                self._store.mark_published(break_id, printed, now)
        return len(events), open_breaks


def _events_for(brk: Break, correlation: str) -> list[EventDetail]:
    events: list[EventDetail] = [
        ReconciliationBreak.model_validate({**brk.event_fields(), "correlation_id": correlation})
    ]
    if brk.proposed_action is ProposedAction.IMPORT_FILL and brk.fill is not None:
        events.append(FillDiscovered.from_fill(brk.fill, break_id=brk.break_id, correlation_id=correlation))
    return events


def _unapplied_fills(book: LocalBook) -> tuple[Fill, ...]:
    """Stored fills whose (stored) order does not count their trade id."""
    orders = {order.client_order_id: order for order in book.orders}
    return tuple(
        fill
        for fill in book.fills
        if (order := orders.get(fill.client_order_id)) is not None and fill.trade_id not in order.trade_ids
    )


def _without_balances(venue: VenueReport) -> VenueReport:
    """The report with no balances: without a local baseline there is nothing to compare them with."""
    return replace(venue, balances={})
