"""Kill-switch flatten requests: noted from "Control Changed" events, run once the halt they ask for shows.

A "Control Changed" for the trading key whose value carries ``flatten: true`` and a ``request_id``
(:data:`tradeops.kill_switch.FLATTEN_FIELD`) asks for the positions to be closed. The request runs once
the table shows HALTED at (or after) the event's version and the cancel-all is done (the
:class:`~tradeops.gateway.control.ControlApplier` says when it may start): ``flatten_positions(id)``
runs in its own task inside :func:`flatten_scope`, the one place where HALTED reads as REDUCING (so
pre-trade risk lets through only orders that reduce exposure, and only those the flatten itself sends:
every other task still reads HALTED). A request is run once (retried up to ``attempts`` times if it
raised, each attempt with its own id), dropped if trading was resumed first, and never run while the
control plane is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Iterator

from aws_lambda_powertools import Metrics

from tradeops.aio import cancel_and_wait
from tradeops.domain.control import TradingState
from tradeops.domain.events import ControlChanged
from tradeops.observability import MetricUnit, emit_metric, get_logger
from tradeops.store.control import TRADING_KEY, TradingControl

__all__ = ["FLATTEN_FIELD", "FlattenPositions", "FlattenRequests", "flatten_scope", "flattening"]

log = get_logger("tradeops.gateway")

FlattenPositions = Callable[[str], Awaitable[int]]
"""Close every position (market orders within limits) for one flatten attempt id; returns orders sent."""
FLATTEN_FIELD = "flatten"  # tradeops.kill_switch.FLATTEN_FIELD (not imported: the gateway needs no service)
_FLATTENING: contextvars.ContextVar[str | None] = contextvars.ContextVar("tradeops_flattening", default=None)


@contextlib.contextmanager
def flatten_scope(flatten_id: str) -> Iterator[None]:
    """Within this block (this task and tasks it starts), HALTED admits orders that reduce exposure."""
    token = _FLATTENING.set(flatten_id)
    try:
        yield
    finally:
        _FLATTENING.reset(token)


def flattening() -> bool:
    """Whether this task runs inside a :func:`flatten_scope`."""
    return _FLATTENING.get() is not None


class FlattenRequests:
    """The flatten requests noted and not yet done, run one at a time."""

    def __init__(
        self,
        flatten: FlattenPositions | None,
        *,
        attempts: int,
        on_attempt_end: Callable[[], None],
        metrics: Metrics | None = None,
    ) -> None:
        self._flatten = flatten
        self._attempts = attempts
        self._on_attempt_end = on_attempt_end
        self._metrics = metrics
        self._requests: dict[str, int] = {}  # request id -> table version it needs
        self._tries: dict[str, int] = {}
        self.task: asyncio.Task[None] | None = None
        """The running (or last) flatten attempt."""
        self.flattened: dict[str, int] = {}
        """Request id -> orders it sent (requests done)."""

    def note(self, event: ControlChanged) -> None:
        """Remember the flatten request ``event`` carries, if any (a redelivery is ignored)."""
        value = event.value
        request_id, version = value.get("request_id"), value.get("version")
        if event.key != TRADING_KEY or value.get(FLATTEN_FIELD) is not True:
            return
        if not isinstance(request_id, str) or not isinstance(version, int) or isinstance(version, bool):
            log.error("flatten request without request_id/version ignored", extra={"value": value})
            return
        if request_id in self.flattened or request_id in self._requests:
            return  # a redelivery
        if self._flatten is None:
            log.error("flatten requested but this applier cannot flatten", extra={"request_id": request_id})
            return
        log.warning("kill switch flatten requested", extra={"request_id": request_id, "version": version})
        self._requests[request_id] = version

    def schedule(self, table: TradingControl | None, *, may_start: bool) -> None:
        """Drop the requests a resume overtook; with ``may_start`` (halted, cancel-all done, control
        plane held) start the oldest due one unless one is running."""
        if not self._requests or self._flatten is None:
            return
        if table is not None and table.state is not TradingState.HALTED:
            for request_id, version in list(self._requests.items()):
                if table.version > version:
                    log.warning("flatten dropped: trading resumed first", extra={"request_id": request_id})
                    del self._requests[request_id]
            return
        if not may_start or (self.task is not None and not self.task.done()):
            return
        due = [r for r, v in self._requests.items() if table is not None and table.version >= v]
        if due:
            run = self._run(self._flatten, due[0])
            self.task = asyncio.get_running_loop().create_task(run, name="kill-switch-flatten")

    async def _run(self, flatten: FlattenPositions, request_id: str) -> None:
        attempt = self._tries[request_id] = self._tries.get(request_id, 0) + 1
        flatten_id = request_id if attempt == 1 else f"{request_id}-{attempt}"
        try:
            with flatten_scope(flatten_id):
                sent = await flatten(flatten_id)
        except Exception:
            log.exception("kill switch flatten failed", extra={"request_id": request_id, "attempt": attempt})
            if attempt >= self._attempts:
                log.error("kill switch flatten abandoned", extra={"request_id": request_id})
                self._requests.pop(request_id, None)
            return
        finally:
            self._on_attempt_end()  # the next refresh starts the next request (or the retry)
        self._requests.pop(request_id, None)
        self.flattened[request_id] = sent
        log.warning("kill switch flatten done", extra={"request_id": request_id, "orders": sent})
        if self._metrics is not None:
            emit_metric(self._metrics, "FlattenOrders", sent, MetricUnit.Count)

    async def stop(self) -> None:
        """Cancel a running attempt."""
        task, self.task = self.task, None
        await cancel_and_wait(task)
