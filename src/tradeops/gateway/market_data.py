"""Redundant market data for the gateway: primary + backup sockets, REST fallback, quality, metrics.

:class:`MarketData` composes the feed loops (:mod:`tradeops.gateway.feeds`) of two separate ccxt.pro
exchanges (primary and backup connections) with the per-symbol :class:`QualityBook`. It evaluates
quality periodically and on every read, publishes each change through ``on_event`` (the gateway wires
it to the EventPublisher), polls REST ``fetch_ticker`` at a bounded rate for symbols whose sockets
are both stale (the view stays fed but is DEGRADED, never OK, and not good for opening orders),
recycles a connection that stays silent for ``recycle_after_s``, again every ``recycle_after_s`` while
it stays silent (a half-open or stalled socket never raises by itself, nor does its reconnection),
and writes EMF metrics: messages/s per feed, staleness, depth resyncs, connection recycles, quality.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aws_lambda_powertools import Metrics
from ccxt.base.errors import NetworkError

from tradeops.domain.events import MarketDataDegraded
from tradeops.gateway.clock import ExchangeClock, wall_ms
from tradeops.gateway.feeds import DEPTH_SNAPSHOT_LIMIT, Backoff, Channel, feed_tasks, to_decimal
from tradeops.gateway.quality import Feed, FeedQuality, MarketView, QualityBook, SymbolThresholds
from tradeops.observability import MetricUnit, emit_metric, get_logger
from tradeops.venue.ratelimit import Weight, WeightBudget
from tradeops.venue.sim_exchange import make_ccxt_exchange
from tradeops.venue.weight_gate import WeightGate

__all__ = ["MarketData", "MarketDataConfig", "build_sim_exchanges"]

log = get_logger("tradeops.gateway")
_STATE_VALUE = {FeedQuality.OK: 0, FeedQuality.DEGRADED: 1, FeedQuality.STALE: 2}
FEED_OPTIONS = {"watchOrderBookLimit": DEPTH_SNAPSHOT_LIMIT}
"""ccxt.pro options of the feed exchanges (the snapshot size that :mod:`.feeds` charges for)."""


@dataclass(frozen=True)
class MarketDataConfig:
    """Watched symbols with their thresholds, and the cadence of evaluation, REST polling and metrics."""

    symbols: Mapping[str, SymbolThresholds]
    evaluate_interval_s: float = 0.1
    rest_poll_interval_s: float = 0.5
    metrics_interval_s: float = 10.0
    recycle_after_s: float = 5.0
    backoff: Backoff = field(default_factory=Backoff)

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ValueError("at least one symbol is required")
        if min(self.evaluate_interval_s, self.rest_poll_interval_s, self.metrics_interval_s) <= 0:
            raise ValueError("intervals must be positive")
        tightest = min(t.stale_ms for t in self.symbols.values())
        if self.rest_poll_interval_s * 1000 >= tightest:
            raise ValueError("rest_poll_interval_s must be shorter than every staleness threshold")
        if self.recycle_after_s * 1000 <= max(t.stale_ms for t in self.symbols.values()):
            raise ValueError("recycle_after_s must be longer than every staleness threshold")


def build_sim_exchanges(sim_url: str, md_url: str) -> tuple[Any, Any, Any]:
    """(primary ccxt.pro on the main port, backup ccxt.pro on the market-data port, REST) for market data.

    Market data is public: no credentials. The REST instance keeps ccxt's rate limiter on.
    """
    primary = make_ccxt_exchange(sim_url, "", "", pro=True, options=FEED_OPTIONS)
    backup = make_ccxt_exchange(sim_url, "", "", pro=True, md_url=md_url, options=FEED_OPTIONS)
    rest = make_ccxt_exchange(sim_url, "", "")
    return primary, backup, rest


class MarketData:
    """Market data of the watched symbols; owns (and closes) the three exchanges it is given."""

    def __init__(
        self,
        primary: Any,
        backup: Any,
        rest: Any | None,
        config: MarketDataConfig,
        *,
        on_event: Callable[[MarketDataDegraded], None],
        clock: ExchangeClock | None = None,
        metrics: Metrics | None = None,
        local_ms: Callable[[], int] = wall_ms,
        budget: WeightBudget | None = None,
    ) -> None:
        """``budget``: the request-weight budget of market data's public REST requests (None charges
        nothing). It is not the order path's: the simulator counts public requests per IP and signed
        ones per key. Binance counts both per IP, where each budget's 429/418 handling still keeps
        bans away but the two margins do not add up to one limit (docs/architecture.md)."""
        self.config = config
        # Two gates on one budget: subscriptions queue behind each other, never in front of REST polls
        # (the fallback when sockets hang): at most two requests are in flight when a 429 arrives.
        self._gate = WeightGate(budget)
        self._rest_gate = WeightGate(budget)
        self._exchanges: dict[Feed, Any] = {Feed.PRIMARY: primary, Feed.BACKUP: backup}
        self._rest = rest
        self._on_event = on_event
        self._clock = clock
        self._metrics = metrics
        self._local_ms = local_ms
        self.quality = QualityBook(config.symbols, started_ms=local_ms())
        self._tasks: list[asyncio.Task[None]] = []
        self._resyncs_reported: dict[tuple[str, Feed], int] = {}
        self._recycled_at: dict[Feed, int] = {}
        self.recycles: dict[Feed, int] = {Feed.PRIMARY: 0, Feed.BACKUP: 0}
        self.rest_polls = 0

    # -- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load markets (raises if the venue is unreachable), then start the feed loops, the evaluator,
        the REST poller and the metrics loop."""
        if self._tasks:
            raise RuntimeError("market data already started")
        exchanges = [*self._exchanges.values(), *([self._rest] if self._rest is not None else [])]
        for exchange in exchanges:
            async with self._gate.request(Weight.EXCHANGE_INFO):
                await exchange.load_markets()
        self.quality = QualityBook(self.config.symbols, started_ms=self._local_ms())  # warm-up from now
        symbols = list(self.config.symbols)
        loop = asyncio.get_running_loop()
        for feed, exchange in self._exchanges.items():
            self._tasks += feed_tasks(exchange, symbols, feed, self, self.config.backoff, self._gate)
        self._tasks.append(loop.create_task(self._evaluate_loop(), name="md-evaluate"))
        self._tasks.append(loop.create_task(self._metrics_loop(), name="md-metrics"))
        if self._rest is not None:
            self._tasks.append(loop.create_task(self._rest_loop(), name="md-rest"))

    async def stop(self) -> None:
        """Cancel every task and close every exchange."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, Exception):
                log.error("market data task had failed", extra={"error": repr(result)})
        for exchange in [*self._exchanges.values(), self._rest]:
            if exchange is not None:
                with contextlib.suppress(Exception):
                    await exchange.close()

    # -- what the risk engine reads -----------------------------------------------------------------

    def view(self, symbol: str) -> MarketView:
        """The arbitrated quote and quality of ``symbol``, re-evaluated now."""
        now = self._local_ms()
        self._publish(self.quality.evaluate(symbol, now))
        return self.quality.view(symbol, now)

    def is_tradeable_for_opening(self, symbol: str) -> bool:
        """False on STALE data or REST-fallback prices: no order that opens or increases exposure."""
        return self.view(symbol).tradeable_for_opening

    def reference_mid(self, symbol: str) -> Decimal | None:
        return self.view(symbol).mid

    # -- FeedSink -----------------------------------------------------------------------------------

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
        now = self._local_ms()
        self.quality.on_message(symbol, feed, exchange_ms, now, bid=bid, ask=ask, depth_synced=depth_synced)
        if self._clock is not None and exchange_ms is not None:
            self._clock.observe_event(exchange_ms, now)

    def on_feed_error(self, symbol: str, feed: Feed, channel: Channel, error: Exception) -> None:
        log.warning(
            "market data feed failed; reconnecting",
            extra={"symbol": symbol, "feed": feed.value, "channel": channel.value, "error": repr(error)},
        )
        self.quality.on_disconnected(symbol, feed)

    def on_depth_gap(self, symbol: str, feed: Feed) -> None:
        log.warning("depth sequence gap; resyncing", extra={"symbol": symbol, "feed": feed.value})
        self.quality.on_depth_gap(symbol, feed)

    # -- loops --------------------------------------------------------------------------------------

    def _publish(self, events: list[MarketDataDegraded]) -> None:
        for event in events:
            log.info("market data quality changed", extra={"event": event.model_dump(mode="json")})
            try:
                self._on_event(event)
            except Exception:  # a failing publisher must not stop market data
                log.exception("publishing a market data event failed")

    async def _evaluate_loop(self) -> None:
        while True:
            now = self._local_ms()
            for symbol in self.config.symbols:
                self._publish(self.quality.evaluate(symbol, now))
            self._recycle_silent(now)
            await asyncio.sleep(self.config.evaluate_interval_s)

    def _recycle_silent(self, now: int) -> None:
        """Fail every socket of a silent connection (at most once per limit), so its loops reconnect."""
        limit = int(self.config.recycle_after_s * 1000)
        for feed, exchange in self._exchanges.items():
            silences = [self.quality.silence_ms(s, feed, now) for s in self.config.symbols]
            if not any(q is not None and q > limit for q in silences):
                continue
            if now - self._recycled_at.get(feed, 0) <= limit:
                continue
            self._recycled_at[feed] = now
            self.recycles[feed] += 1
            log.warning("market data connection silent; recycling it", extra={"feed": feed.value})
            if self._metrics is not None:
                emit_metric(self._metrics, "MarketDataRecycles", 1, MetricUnit.Count, feed=feed)
            for client in list((getattr(exchange, "clients", None) or {}).values()):
                # ccxt's own error path: rejects pending watches with NetworkError, drops the client
                client.on_error(NetworkError(f"{feed.value} market data silent for more than {limit} ms"))

    async def _rest_loop(self) -> None:
        """At most one fetch_ticker per symbol per interval, only while both sockets are stale."""
        assert self._rest is not None
        while True:
            started = time.monotonic()
            for symbol in self.config.symbols:
                if not self.quality.needs_rest(symbol, self._local_ms()):
                    continue
                try:
                    async with self._rest_gate.request(Weight.TICKER_24HR_SYMBOL):
                        ticker = await self._rest.fetch_ticker(symbol)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._rest_gate.failed(exc, self._rest)
                    log.warning("REST ticker poll failed", extra={"symbol": symbol, "error": repr(exc)})
                    continue
                self.rest_polls += 1
                stamp = ticker.get("timestamp")
                self.quality.on_message(
                    symbol,
                    Feed.REST,
                    int(stamp) if isinstance(stamp, int | float) else None,
                    self._local_ms(),
                    bid=to_decimal(ticker.get("bid")),
                    ask=to_decimal(ticker.get("ask")),
                )
            elapsed = time.monotonic() - started
            await asyncio.sleep(max(0.0, self.config.rest_poll_interval_s - elapsed))

    async def _metrics_loop(self) -> None:
        interval = self.config.metrics_interval_s
        while True:
            await asyncio.sleep(interval)
            try:
                self.emit_metrics(interval)
            except Exception:  # metrics must never stop market data
                log.exception("emitting market data metrics failed")

    def emit_metrics(self, interval_s: float) -> None:
        """Messages/s per feed, staleness, new depth resyncs and quality state of every symbol."""
        if self._metrics is None:
            return
        m = self._metrics
        for symbol in self.config.symbols:
            view = self.view(symbol)
            for feed in Feed:
                rate = self.quality.take_message_count(symbol, feed) / interval_s
                emit_metric(
                    m,
                    "MarketDataMessagesPerSecond",
                    rate,
                    MetricUnit.CountPerSecond,
                    symbol=symbol,
                    feed=feed,
                )
                resyncs = self.quality.resyncs(symbol, feed)
                new = resyncs - self._resyncs_reported.get((symbol, feed), 0)
                self._resyncs_reported[(symbol, feed)] = resyncs
                emit_metric(m, "MarketDataDepthResyncs", new, MetricUnit.Count, symbol=symbol, feed=feed)
            if view.age_ms is not None:
                emit_metric(m, "MarketDataStaleness", view.age_ms, MetricUnit.Milliseconds, symbol=symbol)
            emit_metric(m, "MarketDataQuality", _STATE_VALUE[view.quality], MetricUnit.NoUnit, symbol=symbol)
        if self._clock is not None:
            self._clock.flush_latency()
