"""Market-data benchmark (issue 4): the gateway's feed pipeline against a bare ccxt.pro watch loop.

Both sides consume the same simulator stream (``python -m tradeops.sim --tick-ms 1``: a new book, ticker
and trades per symbol every millisecond of its clock, as fast as its process can produce them) over two
connections, primary (main port) and backup (market-data port), exactly as ``build_sim_exchanges``
opens them, with the same subscriptions: ``watch_ticker`` (full ticker), ``watch_trades`` and
``watch_order_book`` per symbol. Pipeline: :class:`MarketData` (feed loops, Decimal conversion,
arbitration, quality checks, its evaluator). Bare: the same watch calls in a loop that drops the result.

Every WebSocket message ccxt handles is counted on both sides (one wrapper around
``exchange.handle_message``, identical on both). The sides alternate in blocks of ``BLOCK_S`` seconds
after a warm-up, ``ROUNDS`` times; per block: messages/s received and the consumer's CPU time per message
(``process_time``, which load from other processes disturbs least). Capacity = 1 / CPU per message;
the goal is pipeline capacity >= 0.85 of bare (the median of per-round ratios). ``BENCH_FEED_ROUNDS``
sets the rounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pytest

from tradeops.domain.events import MarketDataDegraded
from tradeops.gateway.feeds import TICKER_PARAMS
from tradeops.gateway.market_data import MarketData, MarketDataConfig, build_sim_exchanges
from tradeops.gateway.quality import Feed, SymbolThresholds

if TYPE_CHECKING:
    from .conftest import Report, SimLauncher

pytestmark = [pytest.mark.bench, pytest.mark.timeout(900)]
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
STREAM_OPTIONS = ("--tick-ms", "1", "--trades-per-step", "2")
ROUNDS = int(os.environ.get("BENCH_FEED_ROUNDS", "4"))
WARM_S = 2.0
BLOCK_S = 5.0
GOAL = 0.85


class Counter:
    """Counts the WebSocket messages ccxt handles on the exchanges it is attached to."""

    def __init__(self) -> None:
        self.messages = 0

    def attach(self, exchange: Any) -> Any:
        handle = exchange.handle_message  # ccxt binds the callback when it opens a socket: attach first

        def counted(client: Any, message: Any) -> Any:
            self.messages += 1
            return handle(client, message)

        exchange.handle_message = counted
        return exchange


class Consumer(ABC):
    """One side of the comparison over its own two connections; started, measured, stopped per block."""

    def __init__(self, ready: dict[str, str], counter: Counter) -> None:
        primary, backup, rest = build_sim_exchanges(ready["url"], ready["md_url"])
        self.exchanges = (counter.attach(primary), counter.attach(backup))
        self.rest = rest
        self.counter = counter

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    def delivered(self) -> int:
        """Watch results handed to the consumer since the previous call (ccxt coalesces messages)."""


class Pipeline(Consumer):
    """The gateway's :class:`MarketData` on the two connections (no REST fallback: both sockets live)."""

    async def start(self) -> None:
        await self.rest.close()
        self.events: list[MarketDataDegraded] = []
        config = MarketDataConfig({symbol: SymbolThresholds() for symbol in SYMBOLS})
        self.market_data = MarketData(*self.exchanges, None, config, on_event=self.events.append)
        await self.market_data.start()

    def delivered(self) -> int:
        book = self.market_data.quality
        return sum(book.take_message_count(symbol, feed) for symbol in SYMBOLS for feed in Feed)

    async def stop(self) -> None:
        await self.market_data.stop()


class Bare(Consumer):
    """The same watch calls, results dropped."""

    async def start(self) -> None:
        await self.rest.close()
        await asyncio.gather(*(exchange.load_markets() for exchange in self.exchanges))
        watches: list[Callable[[Any, str], Awaitable[Any]]] = [
            lambda ex, symbol: ex.watch_ticker(symbol, TICKER_PARAMS),
            lambda ex, symbol: ex.watch_trades(symbol),
            lambda ex, symbol: ex.watch_order_book(symbol),
        ]

        self.results = 0

        async def loop(exchange: Any, symbol: str, watch: Callable[[Any, str], Awaitable[Any]]) -> None:
            while True:
                await watch(exchange, symbol)
                self.results += 1

        self.tasks = [
            asyncio.get_running_loop().create_task(loop(exchange, symbol, watch))
            for exchange in self.exchanges
            for symbol in SYMBOLS
            for watch in watches
        ]

    def delivered(self) -> int:
        results, self.results = self.results, 0
        return results

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task  # a loop that had failed re-raises its error here
        for exchange in self.exchanges:
            await exchange.close()


async def measure(side: type[Consumer], ready: dict[str, str]) -> tuple[float, float, float]:
    """One block: (messages/s received, consumer CPU microseconds per message, watch results/s)."""
    counter = Counter()
    consumer = side(ready, counter)
    await consumer.start()
    try:
        await asyncio.sleep(WARM_S)
        consumer.delivered()
        messages, cpu, wall = counter.messages, time.process_time(), time.perf_counter()
        await asyncio.sleep(BLOCK_S)
        messages = counter.messages - messages
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        delivered = consumer.delivered()
    finally:
        await consumer.stop()
    assert messages > 0 and delivered > 0, f"{side.__name__}: {messages} messages, {delivered} results"
    return messages / wall, cpu / messages * 1e6, delivered / wall


async def test_feed_pipeline_against_bare_ccxt_pro(sim_launcher: SimLauncher, report: Report) -> None:
    ready = await sim_launcher(*STREAM_OPTIONS)
    rates: dict[str, list[float]] = {"pipeline": [], "bare": []}
    cpu_us: dict[str, list[float]] = {"pipeline": [], "bare": []}
    results: dict[str, list[float]] = {"pipeline": [], "bare": []}
    for round_ in range(ROUNDS):
        order = (("bare", Bare), ("pipeline", Pipeline))
        for name, side in order if round_ % 2 else reversed(order):
            rate, per_message, delivered = await measure(side, ready)
            rates[name].append(rate)
            cpu_us[name].append(per_message)
            results[name].append(delivered)
    capacity = statistics.median(b / p for b, p in zip(cpu_us["bare"], cpu_us["pipeline"], strict=True))
    received = statistics.median(p / b for p, b in zip(rates["pipeline"], rates["bare"], strict=True))
    met = "met" if capacity >= GOAL else "NOT met"
    report("stream", " ".join(STREAM_OPTIONS), f"{len(SYMBOLS)} symbols x 3 channels x 2 connections")
    report(
        "blocks per side (alternating)", f"{ROUNDS} x {BLOCK_S:.0f} s", f"after {WARM_S:.0f} s warm-up each"
    )
    for name in ("bare", "pipeline"):
        runs = ", ".join(f"{r:,.0f}" for r in rates[name])
        report(
            f"{name}: messages/s received (median)", f"{statistics.median(rates[name]):,.0f}", f"runs {runs}"
        )
        cpu = statistics.median(cpu_us[name])
        report(f"{name}: CPU per message (median)", f"{cpu:.1f} us", f"capacity {1e6 / cpu:,.0f} msgs/s")
        report(f"{name}: watch results/s (median)", f"{statistics.median(results[name]):,.0f}", "")
    report("pipeline / bare, capacity (CPU per message)", f"{capacity:.2f}", f"goal >= {GOAL}: {met}")
    report("pipeline / bare, messages/s received", f"{received:.2f}", "equal when both keep up")
    assert 0 < capacity < 1_000 and 0 < received < 1_000
