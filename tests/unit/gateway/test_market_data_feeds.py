"""Feed loops and the market-data composition with scripted fake exchanges (no sockets)."""

from __future__ import annotations

import asyncio
from collections import deque
from decimal import Decimal
from typing import Any

import pytest
from ccxt.base.errors import ChecksumError, NetworkError, RateLimitExceeded

from tradeops.domain.events import MarketDataDegraded
from tradeops.gateway.feeds import Backoff, Channel, supervise, to_decimal, top_of_book
from tradeops.gateway.market_data import MarketData, MarketDataConfig
from tradeops.gateway.quality import Feed, FeedQuality, SymbolThresholds
from tradeops.venue.ratelimit import Weight, WeightBudget
from tradeops.venue.weight_gate import WeightGate

S = "BTC/USDT"
T0 = 1_700_000_000_000


class Recorder:
    def __init__(self) -> None:
        self.updates: list[tuple[str, Feed, int | None, Decimal | None, Decimal | None, bool]] = []
        self.errors: list[Exception] = []
        self.gaps = 0

    def on_update(
        self,
        symbol: str,
        feed: Feed,
        exchange_ms: int | None,
        bid: Decimal | None,
        ask: Decimal | None,
        *,
        depth_synced: bool = False,
    ) -> None:
        self.updates.append((symbol, feed, exchange_ms, bid, ask, depth_synced))

    def on_feed_error(self, symbol: str, feed: Feed, channel: Channel, error: Exception) -> None:
        self.errors.append(error)

    def on_depth_gap(self, symbol: str, feed: Feed) -> None:
        self.gaps += 1


class ScriptedExchange:
    """Each watch_* call pops the next scripted result (an exception is raised); then blocks."""

    def __init__(self, script: list[Any]) -> None:
        self.script = deque(script)
        self.calls = 0
        self.closed = False
        self.last_response_headers: dict[str, str] = {}

    async def _next(self) -> Any:
        self.calls += 1
        if not self.script:
            await asyncio.Event().wait()
        item = self.script.popleft()
        if isinstance(item, Exception):
            raise item
        return item

    async def watch_order_book(self, symbol: str) -> Any:
        return await self._next()

    async def watch_ticker(self, symbol: str, params: Any = None) -> Any:
        assert params == {"name": "ticker"}
        return await self._next()

    async def watch_trades(self, symbol: str) -> Any:
        return await self._next()

    async def load_markets(self) -> None:
        return None

    async def close(self) -> None:
        self.closed = True


async def run_until_idle(exchange: ScriptedExchange, channel: Channel, sink: Recorder) -> None:
    task = asyncio.create_task(supervise(exchange, S, Feed.PRIMARY, channel, sink, Backoff(initial_s=0.001)))
    for _ in range(200):
        if not exchange.script:
            break
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_depth_gap_is_a_resync_and_errors_reconnect() -> None:
    book = {"timestamp": T0, "bids": [[60000.1, 1.0]], "asks": [[60000.2, 2.0]]}
    exchange = ScriptedExchange([book, ChecksumError("gap"), NetworkError("closed"), book])
    sink = Recorder()
    await run_until_idle(exchange, Channel.BOOK, sink)
    assert sink.gaps == 1 and [type(e) for e in sink.errors] == [NetworkError]
    assert sink.updates[-1] == (S, Feed.PRIMARY, T0, Decimal("60000.1"), Decimal("60000.2"), True)
    assert len(sink.updates) == 2 and exchange.calls == 5


class CountingBudget(WeightBudget):
    def __init__(self) -> None:
        super().__init__(6000)
        self.charged: list[int] = []

    async def acquire(self, weight: int) -> None:
        self.charged.append(weight)
        await super().acquire(weight)


async def test_each_book_subscription_charges_its_snapshot_and_a_429_blocks_the_shared_budget() -> None:
    book = {"timestamp": T0, "bids": [[60000.1, 1.0]], "asks": [[60000.2, 2.0]]}
    limited = RateLimitExceeded('binance 429 Too Many Requests {"code":-1003}')
    exchange = ScriptedExchange([book, book, ChecksumError("gap"), book, limited, book])
    exchange.last_response_headers = {"Retry-After": "30", "X-MBX-USED-WEIGHT-1M": "1200"}
    budget, sink = CountingBudget(), Recorder()
    gate = WeightGate(budget)
    task = asyncio.create_task(
        supervise(exchange, S, Feed.PRIMARY, Channel.BOOK, sink, Backoff(initial_s=0.001), gate)
    )
    for _ in range(200):
        if budget.blocked_for_s() > 0:
            break
        await asyncio.sleep(0.005)
    # subscribed once, resubscribed after the gap and after the 429; steady updates charge nothing
    assert budget.charged == [Weight.DEPTH_100] * 3 and budget.stats.throttled_429 == 1
    assert 25 < budget.blocked_for_s() <= 30  # every caller of the budget now waits out the Retry-After
    await asyncio.sleep(0.05)
    assert exchange.calls == 5  # the resubscription itself waits too
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_snapshot_only_book_is_not_a_live_message() -> None:
    """ccxt resolves watch_order_book with the REST snapshot (no exchange time) even on a silent socket."""
    snapshot = {"timestamp": None, "bids": [[60000.1, 1.0]], "asks": [[60000.2, 2.0]]}
    streamed = {"timestamp": T0, "bids": [[60000.3, 1.0]], "asks": [[60000.4, 2.0]]}
    sink = Recorder()
    await run_until_idle(ScriptedExchange([snapshot, snapshot, streamed]), Channel.BOOK, sink)
    assert sink.updates == [(S, Feed.PRIMARY, T0, Decimal("60000.3"), Decimal("60000.4"), True)]
    assert sink.errors == [] and sink.gaps == 0


async def test_ticker_and_trades_convert_at_the_boundary() -> None:
    sink = Recorder()
    await run_until_idle(
        ScriptedExchange([{"timestamp": T0, "bid": 0.1, "ask": 0.30000000000000004}]), Channel.TICKER, sink
    )
    await run_until_idle(
        ScriptedExchange([[{"timestamp": T0 + 1}, {"timestamp": T0 + 3}]]), Channel.TRADES, sink
    )
    assert sink.updates == [
        (S, Feed.PRIMARY, T0, Decimal("0.1"), Decimal("0.30000000000000004"), False),
        (S, Feed.PRIMARY, T0 + 3, None, None, False),
    ]


def test_conversions_and_backoff() -> None:
    assert to_decimal(None) is None and to_decimal(float("nan")) is None and to_decimal(True) is None
    assert to_decimal(1e-8) == Decimal("1E-8") and to_decimal("42.5") == Decimal("42.5")
    assert top_of_book({"bids": [], "asks": [[1.5, 2]]}) == (None, Decimal("1.5"))
    backoff = Backoff(initial_s=0.1, max_s=1.0, jitter=0)
    assert [backoff.delay(n) for n in (0, 1, 2, 10)] == [0.1, 0.2, 0.4, 1.0]
    assert all(0.08 <= Backoff(initial_s=0.1, jitter=0.2).delay(0) <= 0.12 for _ in range(50))
    with pytest.raises(ValueError):
        Backoff(initial_s=0)


class FakeRest:
    def __init__(self) -> None:
        self.polls = 0

    async def fetch_ticker(self, symbol: str) -> dict[str, Any]:
        self.polls += 1
        return {"timestamp": T0, "bid": 100.0, "ask": 100.5}

    async def load_markets(self) -> None:
        return None

    async def close(self) -> None:
        return None


async def test_composition_rest_fallback_is_bounded_and_a_failing_publisher_is_contained() -> None:
    published: list[MarketDataDegraded] = []

    def flaky(event: MarketDataDegraded) -> None:
        published.append(event)
        raise RuntimeError("bus down")

    primary, backup, rest = ScriptedExchange([]), ScriptedExchange([]), FakeRest()
    config = MarketDataConfig(
        symbols={S: SymbolThresholds(stale_ms=100)}, evaluate_interval_s=0.01, rest_poll_interval_s=0.05
    )
    md = MarketData(primary, backup, rest, config, on_event=flaky)
    await md.start()
    try:
        await asyncio.sleep(0.5)  # sockets silent: after the 100 ms warm-up REST feeds the view
        view = md.view(S)
        assert view.quality is FeedQuality.DEGRADED and view.source is Feed.REST
        assert view.mid == Decimal("100.25") and not md.is_tradeable_for_opening(S)
        assert 3 <= rest.polls <= 11  # one poll per 50 ms at most
        # every event was still handed over although the publisher raised each time
        feeds = {e.feed for e in published}
        assert {"active=rest:rest_fallback", "primary", "backup"} <= feeds
        assert feeds <= {"active=rest:rest_fallback", "active=none:disconnected", "primary", "backup"}
    finally:
        await md.stop()
    assert primary.closed and backup.closed


def test_configuration_is_validated() -> None:
    with pytest.raises(ValueError):
        MarketDataConfig(symbols={S: SymbolThresholds(stale_ms=100)}, rest_poll_interval_s=0.2)
    with pytest.raises(ValueError):
        MarketDataConfig(symbols={})
