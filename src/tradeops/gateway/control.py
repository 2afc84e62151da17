"""The gateway's view of the control table: trading state, strategy flags and allocations (issue 4, item 7).

The control table is the truth; a "Control Changed" event is only a hint. :class:`ControlApplier`
re-reads the table at once when :meth:`~ControlApplier.notify` is called with such an event, and every
``refresh_interval_s`` anyway, so a lost event delays a change by at most one interval. Records are
versioned: a read older than the version already applied is ignored.

Effective trading state: HALTED until the table was read once (``loaded``); then the table's state
(``missing_state`` when the record was never written), overridden to HALTED while the control plane is
lost: the table unreadable for ``lost_after_s`` (cleared by the next successful read), or the app's
:meth:`~ControlApplier.on_control_plane_lost` (lease lost; cleared by
:meth:`~ControlApplier.on_control_plane_restored`). Every change of the effective state is reported to
subscribers as a :class:`Transition`. On entering HALTED, ``cancel_all_open_orders`` is awaited exactly
once per transition (retried on the next refresh only if it raised or exceeded ``cancel_timeout_s``)
and its count reported. A read is bounded by ``read_timeout_s`` (a hung read counts as a failure, so
the dead-man's switch still fires), and a hung read is never doubled up by later refreshes.

Kill-switch flatten requests arrive with "Control Changed" events and run once the halt shows and the
cancel-all is done (:mod:`tradeops.gateway.flatten_requests`).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from aws_lambda_powertools import Metrics

from tradeops.aio import cancel_and_wait, wait_event
from tradeops.domain.control import TradingState
from tradeops.domain.events import ControlChanged
from tradeops.gateway.clock import wall_ms
from tradeops.gateway.flatten_requests import FlattenPositions, FlattenRequests, flattening
from tradeops.observability import MetricUnit, emit_metric, get_logger
from tradeops.store.control import StrategyControl, TradingControl

__all__ = ["CancelAll", "ControlApplier", "ControlSource", "FlattenPositions", "Transition"]

log = get_logger("tradeops.gateway")

CancelAll = Callable[[], Awaitable[int]]
Subscriber = Callable[["Transition"], "Awaitable[None] | None"]

_TABLE_LOSS = "control_table"
_EXTERNAL_LOSS = "control_plane"


class ControlSource(Protocol):
    """What the applier reads (blocking calls; :class:`tradeops.store.control.ControlStore` fits)."""

    def trading(self) -> TradingControl | None: ...

    def strategies(self) -> list[StrategyControl]: ...


@dataclass(frozen=True)
class Transition:
    """A change of the effective trading state; ``cancelled_orders`` is set on a successful halt."""

    previous: TradingState | None
    current: TradingState
    reason: str
    version: int | None
    at_ms: int
    cancelled_orders: int | None = None


class ControlApplier:
    """Keeps the trading state and strategy controls current and acts on transitions."""

    def __init__(
        self,
        source: ControlSource,
        cancel_all_open_orders: CancelAll,
        *,
        refresh_interval_s: float = 1.0,
        lost_after_s: float = 5.0,
        read_timeout_s: float = 2.0,
        cancel_timeout_s: float = 30.0,
        missing_state: TradingState = TradingState.ACTIVE,
        strategies_enabled_by_default: bool = True,
        flatten_positions: FlattenPositions | None = None,
        flatten_attempts: int = 3,
        monotonic: Callable[[], float] = time.monotonic,
        now_ms: Callable[[], int] = wall_ms,
        metrics: Metrics | None = None,
    ) -> None:
        if refresh_interval_s <= 0 or lost_after_s <= refresh_interval_s:
            raise ValueError("refresh_interval_s must be positive and shorter than lost_after_s")
        if read_timeout_s <= 0 or cancel_timeout_s <= 0:
            raise ValueError("read_timeout_s and cancel_timeout_s must be positive")
        self._source = source
        self._cancel_all = cancel_all_open_orders
        self._interval = refresh_interval_s
        self._lost_after = lost_after_s
        self._read_timeout = read_timeout_s
        self._cancel_timeout = cancel_timeout_s
        self._pending_read: asyncio.Future[tuple[TradingControl | None, list[StrategyControl]]] | None = None
        self._missing_state = TradingState(missing_state)
        self._default_enabled = strategies_enabled_by_default
        self._monotonic = monotonic
        self._now_ms = now_ms
        self._metrics = metrics
        self._subscribers: list[Subscriber] = []
        self._table: TradingControl | None = None
        self._strategies: dict[str, StrategyControl] = {}
        self._loaded = False
        self._last_ok = monotonic()
        self._losses: dict[str, str] = {}
        self._effective: TradingState | None = None
        self._cancel_pending = False
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.flattens = FlattenRequests(
            flatten_positions, attempts=flatten_attempts, on_attempt_end=self._wake.set, metrics=metrics
        )
        self.halts = 0
        self.last_cancelled: int | None = None

    # -- what the risk context reads -----------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        """True once the control table was read successfully (a readiness check)."""
        return self._loaded

    @property
    def trading_state(self) -> TradingState:
        """HALTED from the instant the control plane is declared lost, even before the cancel ran; inside
        :func:`~tradeops.gateway.flatten_requests.flatten_scope` a table HALTED reads as REDUCING (only
        the flatten's own orders)."""
        if self._losses or self._effective is None:
            return TradingState.HALTED
        if self._effective is TradingState.HALTED and flattening():
            return TradingState.REDUCING
        return self._effective

    @property
    def flattened(self) -> dict[str, int]:
        """Flatten request id -> orders it sent (requests done)."""
        return self.flattens.flattened

    @property
    def reason(self) -> str:
        """Why the state is what it is (the local loss reason, or the table record's reason)."""
        if not self._loaded:
            return "control table not read yet"
        if self._losses:
            return "; ".join(self._losses.values())
        return "" if self._table is None else self._table.reason

    def strategy_enabled(self, name: str) -> bool:
        control = self._strategies.get(name)
        return self._default_enabled if control is None else control.enabled

    def strategy_allocation(self, name: str) -> Decimal | None:
        """The strategy's allocation from the control table; None when none is set there."""
        control = self._strategies.get(name)
        return None if control is None else control.allocation

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call ``subscriber(transition)`` (sync or async) on every change of the effective state."""
        self._subscribers.append(subscriber)

    # -- inputs --------------------------------------------------------------------------------------

    def notify(self, event: ControlChanged | None = None) -> None:
        """A "Control Changed" event arrived (or any hint): re-read the table now. Never blocks; call it
        on the applier's event loop (from another thread use ``loop.call_soon_threadsafe``)."""
        if event is not None:
            log.info("control changed event", extra={"key": event.key, "actor": event.actor})
            self.flattens.note(event)
        self._wake.set()

    async def on_control_plane_lost(self, reason: str) -> None:
        """Dead-man's switch: halt locally (cancelling every open order) until restored."""
        log.error("control plane lost: halting", extra={"reason": reason})
        self._losses[_EXTERNAL_LOSS] = f"control plane lost: {reason}"
        async with self._lock:
            await self._apply()

    async def on_control_plane_restored(self) -> None:
        """Lift the halt of :meth:`on_control_plane_lost`; the table's state applies again."""
        if self._losses.pop(_EXTERNAL_LOSS, None) is not None:
            log.info("control plane restored")
        await self.refresh()

    async def cancel_if_halted(self) -> None:
        """A new leader that finds trading HALTED cancels the open orders it inherited (a standby's halt
        cancelled nothing: the orders were the old leader's)."""
        async with self._lock:
            if self._effective is TradingState.HALTED:
                self._cancel_pending = True
                await self._cancel()

    # -- reading and applying ------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Read the table once and apply what changed (also retries a failed cancel-all)."""
        async with self._lock:
            try:
                trading, strategies = await self._bounded_read()
            except Exception as exc:
                self._on_read_failure(exc)
            else:
                self._on_read(trading, strategies)
            await self._apply()

    async def _bounded_read(self) -> tuple[TradingControl | None, list[StrategyControl]]:
        """One read in a thread, awaited at most ``read_timeout_s``; a hung read is never doubled up:
        while it is still running, later refreshes fail at once instead of starting another thread."""
        pending = self._pending_read
        if pending is not None and not pending.done():
            raise TimeoutError("a previous control table read is still pending")
        pending = self._pending_read = asyncio.ensure_future(asyncio.to_thread(self._read))
        pending.add_done_callback(_retrieve)
        async with asyncio.timeout(self._read_timeout):  # not wait_for: see tradeops.aio.wait_event
            return await asyncio.shield(pending)

    def _read(self) -> tuple[TradingControl | None, list[StrategyControl]]:
        return self._source.trading(), self._source.strategies()

    def _on_read(self, trading: TradingControl | None, strategies: list[StrategyControl]) -> None:
        self._last_ok = self._monotonic()
        self._loaded = True
        if self._losses.pop(_TABLE_LOSS, None) is not None:
            log.info("control table readable again")
        if trading is not None and (self._table is None or trading.version >= self._table.version):
            self._table = trading
        elif trading is not None:
            log.warning("ignored a stale control read", extra={"version": trading.version})
        for control in strategies:
            known = self._strategies.get(control.strategy)
            if known is not None and control.version < known.version:
                continue
            if known is None or known.version != control.version:
                log.info(
                    "strategy control applied",
                    extra={
                        "strategy": control.strategy,
                        "enabled": control.enabled,
                        "allocation": None if control.allocation is None else str(control.allocation),
                        "version": control.version,
                    },
                )
            self._strategies[control.strategy] = control

    def _on_read_failure(self, exc: Exception) -> None:
        silent_for = self._monotonic() - self._last_ok
        log.warning(
            "control table read failed", extra={"error": repr(exc), "unreadable_for_s": round(silent_for, 3)}
        )
        if self._metrics is not None:
            emit_metric(self._metrics, "ControlReadFailures", 1, MetricUnit.Count)
        if silent_for >= self._lost_after and _TABLE_LOSS not in self._losses:
            self._losses[_TABLE_LOSS] = f"control table unreadable for {silent_for:.1f} s: {exc!r}"
            log.error("control table unreadable too long: halting", extra={"error": repr(exc)})

    def _target(self) -> TradingState | None:
        if self._losses:
            return TradingState.HALTED
        if not self._loaded:
            return None
        return self._missing_state if self._table is None else self._table.state

    async def _apply(self) -> None:
        """Move to the target state; on entering HALTED cancel everything once. Holds ``_lock``."""
        target = self._target()
        previous = self._effective
        if target is not None and target is not previous:
            self._effective = target
            self._cancel_pending = target is TradingState.HALTED
            log.warning(
                "trading state changed",
                extra={"from": previous, "to": target, "reason": self.reason, "version": self._version()},
            )
            cancelled = await self._cancel() if self._cancel_pending else None
            transition = Transition(previous, target, self.reason, self._version(), self._now_ms(), cancelled)
            await self._tell(transition)
        elif self._cancel_pending:
            await self._cancel()
        may_start = not self._losses and not self._cancel_pending and self._effective is TradingState.HALTED
        self.flattens.schedule(self._table, may_start=may_start)

    async def _cancel(self) -> int | None:
        try:
            async with asyncio.timeout(self._cancel_timeout):
                count = await self._cancel_all()
        except Exception:
            log.exception("cancel-all on halt failed; retrying on the next refresh")
            return None
        self._cancel_pending = False
        self.halts += 1
        self.last_cancelled = count
        log.warning("cancelled every open order on halt", extra={"cancelled_orders": count})
        if self._metrics is not None:
            emit_metric(self._metrics, "OrdersCancelledOnHalt", count, MetricUnit.Count)
        return count

    async def _tell(self, transition: Transition) -> None:
        for subscriber in list(self._subscribers):
            try:
                outcome = subscriber(transition)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                log.exception("a control subscriber failed")

    def _version(self) -> int | None:
        return None if self._table is None else self._table.version

    # -- loop ----------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Refresh on every hint and at least every ``refresh_interval_s``, until cancelled."""
        while True:
            self._wake.clear()
            try:
                await self.refresh()
            except Exception:  # refresh handles read errors; this guards subscribers and bugs alike
                log.exception("control refresh failed")
            await wait_event(self._wake, self._interval)

    async def start(self) -> None:
        """Read the table once, then keep refreshing in a background task."""
        if self._task is not None:
            raise RuntimeError("control applier already started")
        await self.refresh()
        self._task = asyncio.get_running_loop().create_task(self.run(), name="control-applier")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        await self.flattens.stop()


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Consume an abandoned read's outcome (it was already reported as a timeout)."""
    if not future.cancelled():
        future.exception()
