"""Redundant market data against an in-process simulator with injected stream faults (drill 4 shape).

Primary connection: ccxt.pro on the simulator's main port; backup: a separate ccxt.pro on its
market-data port; REST fallback: ccxt REST. Faults go through ``POST /_sim/faults``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from tradeops.domain.events import MarketDataCondition, MarketDataDegraded
from tradeops.gateway.clock import ExchangeClock
from tradeops.gateway.feeds import Backoff
from tradeops.gateway.market_data import MarketData, MarketDataConfig, build_sim_exchanges
from tradeops.gateway.quality import Feed, FeedQuality, SymbolThresholds
from tradeops.observability import metrics
from tradeops.sim.config import SimConfig
from tradeops.sim.server import RunningSim, start_sim

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
S = "BTC/USDT"
STALE_MS = 800


@pytest.fixture
async def sim() -> AsyncIterator[RunningSim]:
    running = await start_sim(SimConfig(seed=42, tick_ms=20), "127.0.0.1", 0, 0)
    try:
        yield running
    finally:
        await running.close()


class Harness:
    def __init__(self, sim: RunningSim, session: aiohttp.ClientSession, md: MarketData) -> None:
        self.sim, self.session, self.md = sim, session, md
        self.events: list[tuple[float, MarketDataDegraded]] = []
        self.clock: ExchangeClock | None = None

    def record(self, event: MarketDataDegraded) -> None:
        self.events.append((time.monotonic(), event))

    async def faults(self, *faults: dict[str, Any]) -> float:
        """Arm ``faults`` (an empty call clears them); returns the monotonic time they were armed."""
        method = "POST" if faults else "DELETE"
        body = {"faults": list(faults)} if faults else None
        async with self.session.request(method, f"{self.sim.admin_url}/faults", json=body) as resp:
            assert resp.status == 200, await resp.text()
        return time.monotonic()

    def conditions(self, since: float = 0.0) -> list[tuple[str, MarketDataCondition]]:
        return [(e.feed, e.condition) for t, e in self.events if t >= since]

    async def until(self, check: Callable[[], bool], timeout: float) -> float:
        """Poll ``check`` every 20 ms; returns the seconds it took, failing after ``timeout``."""
        start = time.monotonic()
        while not check():
            assert time.monotonic() - start < timeout, "condition not met in time"
            await asyncio.sleep(0.02)
        return time.monotonic() - start


@pytest.fixture
async def harness(sim: RunningSim) -> AsyncIterator[Harness]:
    config = MarketDataConfig(
        symbols={S: SymbolThresholds(stale_ms=STALE_MS, divergence_bps=Decimal(50))},
        evaluate_interval_s=0.05,
        rest_poll_interval_s=0.2,
        metrics_interval_s=0.5,
        recycle_after_s=2.5,
        backoff=Backoff(initial_s=0.05, max_s=0.5),
    )
    primary, backup, rest = build_sim_exchanges(sim.url, sim.md_url)
    for ex in (primary, backup, rest):
        ex.enableRateLimit = False
    emf = metrics(service="gateway-test")
    clock = ExchangeClock(rest.fetch_time, symbols=[S], on_event=lambda _e: None, metrics=emf)
    async with aiohttp.ClientSession() as session:
        holder: list[Harness] = []
        md = MarketData(
            primary,
            backup,
            rest,
            config,
            on_event=lambda e: holder[0].record(e),
            clock=clock,
            metrics=emf,
        )
        h = Harness(sim, session, md)
        h.clock = clock
        holder.append(h)
        await md.start()
        try:
            await h.until(lambda: md.view(S).quality is FeedQuality.OK, 10)
            yield h
        finally:
            await md.stop()


def both_flowing(md: MarketData) -> bool:
    return all(md.quality.take_message_count(S, f) > 0 for f in (Feed.PRIMARY, Feed.BACKUP))


async def test_both_feeds_flowing_is_ok_with_a_decimal_view(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    md = harness.md
    await asyncio.sleep(0.6)  # longer than the metrics interval
    emf = capsys.readouterr().out
    for name in ("MarketDataMessagesPerSecond", "MarketDataStaleness", "MarketDataDepthResyncs"):
        assert f'"{name}"' in emf
    assert '"EventToReceiptLatencyMean"' in emf
    assert harness.clock is not None
    latency = harness.clock.flush_latency()
    assert latency is not None and 0 <= latency[0] < 1_000
    assert both_flowing(md)
    view = md.view(S)
    assert view.quality is FeedQuality.OK and md.is_tradeable_for_opening(S)
    assert isinstance(view.bid, Decimal) and isinstance(view.ask, Decimal) and view.bid < view.ask
    assert view.mid == (view.bid + view.ask) / 2 and view.source in (Feed.PRIMARY, Feed.BACKUP)
    assert view.age_ms is not None and view.age_ms < STALE_MS
    assert harness.events == []  # a clean start raises nothing


async def test_primary_stall_backup_takes_over_then_gap_resync_and_recovery(harness: Harness) -> None:
    md = harness.md
    armed = await harness.faults({"kind": "stream_stall", "port": "main"})
    seen: set[FeedQuality] = set()

    def backup_active() -> bool:
        view = md.view(S)
        seen.add(view.quality)
        return view.source is Feed.BACKUP and md.quality.take_message_count(S, Feed.PRIMARY) == 0

    assert await harness.until(backup_active, 2.0) <= 2.0
    end = time.monotonic() + STALE_MS / 1000 + 0.5  # past the primary's staleness threshold
    while time.monotonic() < end:
        view = md.view(S)
        seen.add(view.quality)
        assert view.source is Feed.BACKUP and md.is_tradeable_for_opening(S)
        await asyncio.sleep(0.02)
    assert FeedQuality.STALE not in seen
    assert harness.conditions(armed) == [("primary", MarketDataCondition.STALE)]

    cleared = await harness.faults()
    # depth diffs were dropped while stalled: ccxt detects the gap, we count a resync and re-snapshot
    await harness.until(lambda: md.quality.resyncs(S, Feed.PRIMARY) >= 1, 5.0)
    await harness.until(
        lambda: ("primary", MarketDataCondition.RECOVERED) in harness.conditions(cleared), 5.0
    )
    await harness.until(lambda: md.view(S).quality is FeedQuality.OK, 5.0)
    assert md.quality.resyncs(S, Feed.BACKUP) == 0


async def test_both_stall_goes_stale_then_rest_fallback_then_recovers(harness: Harness) -> None:
    md = harness.md
    armed = await harness.faults({"kind": "stream_stall", "port": "*"})

    def stale_event() -> bool:
        return ("active=none:stale", MarketDataCondition.STALE) in harness.conditions(armed)

    took = await harness.until(stale_event, 3.0)
    assert took <= STALE_MS / 1000 + 0.4, f"STALE raised after {took:.2f}s"
    event = next(e for t, e in harness.events if t >= armed and e.feed == "active=none:stale")
    assert event.severity == "critical" and event.staleness_ms is not None and event.staleness_ms >= STALE_MS

    # REST polling keeps the view fed, DEGRADED and still closed to opening orders
    await harness.until(lambda: md.view(S).source is Feed.REST, 2.0)
    view = md.view(S)
    assert view.quality is FeedQuality.DEGRADED and view.mid is not None and md.rest_polls >= 1
    assert not md.is_tradeable_for_opening(S)
    polls = md.rest_polls
    await asyncio.sleep(1.0)
    assert 1 <= md.rest_polls - polls <= 6  # bounded: one poll per 0.2 s interval at most

    cleared = await harness.faults()
    await harness.until(lambda: md.view(S).quality is FeedQuality.OK, 5.0)
    assert md.is_tradeable_for_opening(S)
    recovered = [f for f, c in harness.conditions(cleared) if c is MarketDataCondition.RECOVERED]
    assert any(f.startswith("active=") for f in recovered)


async def test_disconnects_are_reported_and_feeds_reconnect(harness: Harness) -> None:
    md = harness.md
    armed = await harness.faults(
        {"kind": "stream_disconnect", "every_s": 0.3, "port": "main", "duration_s": 1.5}
    )
    await harness.until(
        lambda: ("primary", MarketDataCondition.DISCONNECTED) in harness.conditions(armed), 3.0
    )
    assert md.view(S).quality is not FeedQuality.STALE  # the backup carried the symbol
    await harness.until(lambda: ("primary", MarketDataCondition.RECOVERED) in harness.conditions(armed), 6.0)
    md.quality.take_message_count(S, Feed.PRIMARY)
    await asyncio.sleep(0.5)
    assert md.quality.take_message_count(S, Feed.PRIMARY) > 0  # reconnected and streaming again
    await harness.until(lambda: md.view(S).quality is FeedQuality.OK, 5.0)
    assert all(
        e.condition is not MarketDataCondition.STALE or not e.feed.startswith("active")
        for t, e in harness.events
        if t >= armed
    )


async def test_a_silent_connection_is_recycled_and_recovers(harness: Harness) -> None:
    md = harness.md
    async with harness.session.get(f"{harness.sim.admin_url}/streams") as resp:
        primary_ids = [c["id"] for c in (await resp.json())["market"] if c["port"] == "main"]
    assert primary_ids
    # stall exactly the primary's current sockets: open and pinging, but silent (a half-open feed)
    armed = await harness.faults(
        *({"kind": "stream_stall", "port": "main", "connection": i} for i in primary_ids)
    )
    await harness.until(lambda: md.recycles[Feed.PRIMARY] == 1, 5.0)
    await harness.until(lambda: ("primary", MarketDataCondition.RECOVERED) in harness.conditions(armed), 5.0)
    feeds = [c for f, c in harness.conditions(armed) if f == "primary"]
    assert feeds[0] is MarketDataCondition.STALE and feeds[-1] is MarketDataCondition.RECOVERED
    assert md.view(S).quality is not FeedQuality.STALE and md.recycles == {Feed.PRIMARY: 1, Feed.BACKUP: 0}
