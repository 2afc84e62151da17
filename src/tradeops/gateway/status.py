"""The gateway's status record, rewritten every second for ``GET /api/health`` (see tradeops.store.status).

:class:`StatusWriter` takes a callable per value so it depends on nothing of the gateway's wiring:
``readiness`` is :meth:`HealthServer.readiness` (leader = the ``leader`` check, broker connectivity =
the ``venue`` check, unless given explicitly), ``feeds`` the per-symbol market view
(:func:`feed_statuses`), ``clock_offset_ms`` the exchange clock. A failing callable or store write is
logged and the loop goes on: the record then ages, and readers report the gateway as stale.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Protocol

from tradeops.aio import cancel_and_wait
from tradeops.gateway.clock import wall_ms
from tradeops.gateway.health import CheckResult
from tradeops.gateway.quality import MarketView
from tradeops.observability import get_logger
from tradeops.store.status import FeedStatus, GatewayStatus

__all__ = ["StatusSink", "StatusWriter", "feed_statuses"]

log = get_logger("tradeops.gateway")
Readiness = Callable[[], Awaitable[tuple[bool, Mapping[str, CheckResult]]]]


class StatusSink(Protocol):
    """Where reports go (blocking; :class:`tradeops.store.status.StatusStore` fits)."""

    def put(self, status: GatewayStatus) -> None: ...

    def delete(self, owner: str) -> None: ...


class _Views(Protocol):
    def view(self, symbol: str) -> MarketView: ...


def feed_statuses(market_data: _Views | None, symbols: Iterable[str]) -> list[FeedStatus]:
    """The feed state of every symbol from the market data view (none before market data is built)."""
    if market_data is None:
        return []
    feeds = []
    for symbol in symbols:
        view = market_data.view(symbol)
        source = None if view.source is None else view.source.value
        feeds.append(FeedStatus(symbol, view.quality.value, view.age_ms, source, view.mid))
    return feeds


class StatusWriter:
    """Writes this gateway's :class:`GatewayStatus` to ``sink`` every ``interval_s`` until stopped."""

    def __init__(
        self,
        sink: StatusSink,
        owner: str,
        *,
        readiness: Readiness,
        feeds: Callable[[], Iterable[FeedStatus]],
        clock_offset_ms: Callable[[], int | None],
        broker_connected: Callable[[], bool | None] | None = None,
        is_leader: Callable[[], bool] | None = None,
        interval_s: float = 1.0,
        now_ms: Callable[[], int] = wall_ms,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self._sink = sink
        self.owner = owner
        self._readiness = readiness
        self._feeds = feeds
        self._clock_offset_ms = clock_offset_ms
        self._broker_connected = broker_connected
        self._is_leader = is_leader
        self._interval_s = interval_s
        self._now_ms = now_ms
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        self.last: GatewayStatus | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="gateway-status")

    async def stop(self, *, remove: bool = True) -> None:
        """Stop writing; ``remove`` deletes the record (a clean stop is not a dead gateway)."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if remove:
            try:
                await asyncio.to_thread(self._sink.delete, self.owner)
            except Exception as exc:
                log.warning("gateway status record not removed", extra={"error": repr(exc)})

    async def collect(self) -> GatewayStatus:
        """The report as of now."""
        ready, checks = await self._readiness()
        leader_check = checks.get("leader")
        venue_check = checks.get("venue")
        if self._is_leader is not None:
            leader = self._is_leader()
        else:
            leader = leader_check is not None and leader_check.ok
        if self._broker_connected is not None:
            broker = self._broker_connected()
        else:
            broker = None if venue_check is None else venue_check.ok
        return GatewayStatus(
            owner=self.owner,
            leader=leader,
            ready=ready,
            failing=tuple(name for name, result in checks.items() if not result.ok),
            feeds=tuple(self._feeds()),
            clock_offset_ms=self._clock_offset_ms(),
            broker_connected=broker,
            updated_at=self._now_ms(),
            checks={name: result.detail for name, result in checks.items()},
        )

    async def write_once(self) -> GatewayStatus:
        status = await self.collect()
        await asyncio.to_thread(self._sink.put, status)
        self.written += 1
        self.last = status
        return status

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            try:
                await self.write_once()
            except Exception as exc:
                log.warning("gateway status not written", extra={"error": repr(exc)})
            next_at += self._interval_s
            now = loop.time()
            if next_at < now:  # late (slow store): skip to the next grid point, never burst
                next_at = now + self._interval_s - (now - next_at) % self._interval_s
            await asyncio.sleep(next_at - now)
