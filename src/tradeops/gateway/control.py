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

Kill-switch flatten: a "Control Changed" for the trading key whose value carries ``flatten: true`` and a
``request_id`` (:data:`tradeops.kill_switch.FLATTEN_FIELD`) asks for the positions to be closed. The
request runs once the table shows HALTED at (or after) the event's version and the cancel-all is done:
``flatten_positions(flatten_id)`` runs in its own task inside :meth:`ControlApplier.flatten_scope`, the
one place where HALTED reads as REDUCING (so pre-trade risk lets through only orders that reduce
exposure, and only those the flatten itself sends: every other task still reads HALTED). A request is
run once (retried up to ``flatten_attempts`` times if it raised, each attempt with its own id), dropped
if trading was resumed first, and never run while the control plane is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from aws_lambda_powertools import Metrics

from tradeops.aio import wait_event
from tradeops.domain.control import TradingState
from tradeops.domain.events import ControlChanged
from tradeops.gateway.clock import wall_ms
from tradeops.observability import MetricUnit, emit_metric, get_logger
from tradeops.store.control import TRADING_KEY, StrategyControl, TradingControl

__all__ = ["CancelAll", "ControlApplier", "ControlSource", "FlattenPositions", "Transition"]

log = get_logger("tradeops.gateway")

CancelAll = Callable[[], Awaitable[int]]
FlattenPositions = Callable[[str], Awaitable[int]]
"""Close every position (market orders within limits) for one flatten attempt id; returns orders sent."""
FLATTEN_FIELD = "flatten"  # tradeops.kill_switch.FLATTEN_FIELD (not imported: the gateway needs no service)
_FLATTENING: contextvars.ContextVar[str | None] = contextvars.ContextVar("tradeops_flattening", default=None)
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
        self._flatten = flatten_positions
        self._flatten_attempts = flatten_attempts
        self._flatten_requests: dict[str, int] = {}  # request id -> table version it needs
        self._flatten_tries: dict[str, int] = {}
        self._flatten_task: asyncio.Task[None] | None = None
        self.halts = 0
        self.last_cancelled: int | None = None
        self.flattened: dict[str, int] = {}
        """Flatten request id -> orders it sent (requests done)."""

    # -- what the risk context reads -----------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        """True once the control table was read successfully (a readiness check)."""
        return self._loaded

    @property
    def trading_state(self) -> TradingState:
        """HALTED from the instant the control plane is declared lost, even before the cancel ran; inside
        :meth:`flatten_scope` a table HALTED reads as REDUCING (only the flatten's own orders)."""
        if self._losses or self._effective is None:
            return TradingState.HALTED
        if self._effective is TradingState.HALTED and _FLATTENING.get() is not None:
            return TradingState.REDUCING
        return self._effective

    @staticmethod
    @contextlib.contextmanager
    def flatten_scope(flatten_id: str) -> Iterator[None]:
        """Within this block (this task and tasks it starts), HALTED admits orders that reduce exposure."""
        token = _FLATTENING.set(flatten_id)
        try:
            yield
        finally:
            _FLATTENING.reset(token)

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
            self._note_flatten_request(event)
        self._wake.set()

    def _note_flatten_request(self, event: ControlChanged) -> None:
        value = event.value
        request_id, version = value.get("request_id"), value.get("version")
        if event.key != TRADING_KEY or value.get(FLATTEN_FIELD) is not True:
            return
        if not isinstance(request_id, str) or not isinstance(version, int) or isinstance(version, bool):
            log.error("flatten request without request_id/version ignored", extra={"value": value})
            return
        if request_id in self.flattened or request_id in self._flatten_requests:
            return  # a redelivery
        if self._flatten is None:
            log.error("flatten requested but this applier cannot flatten", extra={"request_id": request_id})
            return
        log.warning("kill switch flatten requested", extra={"request_id": request_id, "version": version})
        self._flatten_requests[request_id] = version

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
        self._schedule_flatten()

    # -- kill-switch flatten -------------------------------------------------------------------------

    def _schedule_flatten(self) -> None:
        """Start the oldest due flatten request (one at a time); drop those that a resume overtook."""
        if not self._flatten_requests or self._flatten is None:
            return
        table = self._table
        if table is not None and table.state is not TradingState.HALTED:
            for request_id, version in list(self._flatten_requests.items()):
                if table.version > version:
                    log.warning("flatten dropped: trading resumed first", extra={"request_id": request_id})
                    del self._flatten_requests[request_id]
            return
        running = self._flatten_task is not None and not self._flatten_task.done()
        if running or self._losses or self._cancel_pending or self._effective is not TradingState.HALTED:
            return
        due = [r for r, v in self._flatten_requests.items() if table is not None and table.version >= v]
        if due:
            self._flatten_task = asyncio.get_running_loop().create_task(
                self._run_flatten(due[0]), name="kill-switch-flatten"
            )

    async def _run_flatten(self, request_id: str) -> None:
        flatten = self._flatten
        if flatten is None:
            return
        attempt = self._flatten_tries[request_id] = self._flatten_tries.get(request_id, 0) + 1
        flatten_id = request_id if attempt == 1 else f"{request_id}-{attempt}"
        try:
            with self.flatten_scope(flatten_id):
                sent = await flatten(flatten_id)
        except Exception:
            log.exception("kill switch flatten failed", extra={"request_id": request_id, "attempt": attempt})
            if attempt >= self._flatten_attempts:
                log.error("kill switch flatten abandoned", extra={"request_id": request_id})
                self._flatten_requests.pop(request_id, None)
            return
        finally:
            self._wake.set()  # the next refresh starts the next request (or the retry)
        self._flatten_requests.pop(request_id, None)
        self.flattened[request_id] = sent
        log.warning("kill switch flatten done", extra={"request_id": request_id, "orders": sent})
        if self._metrics is not None:
            emit_metric(self._metrics, "FlattenOrders", sent, MetricUnit.Count)

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
        for task in (self._task, self._flatten_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._flatten_task = None


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Consume an abandoned read's outcome (it was already reported as a timeout)."""
    if not future.cancelled():
        future.exception()
