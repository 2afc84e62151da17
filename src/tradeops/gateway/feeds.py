"""Supervised ccxt.pro watch loops of one feed (primary or backup connection) for one symbol.

Each channel (ticker, trades, order book) runs in its own task: it awaits the next ccxt update,
converts ccxt's floats to Decimal at this boundary (``Decimal(str(x))``) and hands the exchange time
and top of book to a :class:`FeedSink`. An order book without an exchange time holds only the REST
snapshot of a subscription (no stream event yet) and is not delivered: a stalled socket that is
recycled must not look live for a staleness period after each reconnect. Errors never end a loop: a
depth sequence gap (ccxt raises ``ChecksumError`` and drops the book, so the next ``watch_order_book``
re-subscribes and fetches a new snapshot) is reported as a resync and retried at once; any other error
marks the feed disconnected and is retried after an exponential backoff with jitter. The loops end
only when cancelled.

Each order-book (re)subscription makes ccxt fetch a REST depth snapshot (``DEPTH_SNAPSHOT_LIMIT``
levels); the loop charges its weight to market data's budget first, one request at a time
(:class:`WeightGate`), and a 429/418 met by any loop blocks that budget for the venue's Retry-After, so
resubscribing can never earn a ban.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from ccxt.base.errors import ChecksumError

from tradeops.gateway.quality import Feed
from tradeops.observability import get_logger
from tradeops.venue.mapping import MappingError, venue_decimal
from tradeops.venue.ratelimit import Weight
from tradeops.venue.weight_gate import WeightGate

__all__ = ["Backoff", "Channel", "FeedSink", "feed_tasks", "to_decimal", "top_of_book"]

log = get_logger("tradeops.gateway")
TICKER_PARAMS = {"name": "ticker"}  # the full ticker stream (bid/ask), not ccxt's default miniTicker
DEPTH_SNAPSHOT_LIMIT = 100
"""Levels of the REST snapshot behind a book subscription (ccxt option ``watchOrderBookLimit``): the
weight-5 size; only the top of the book is used."""


class Channel(StrEnum):
    TICKER = "ticker"
    TRADES = "trades"
    BOOK = "book"


class FeedSink(Protocol):
    """Where feed loops deliver (the market-data composition)."""

    def on_update(
        self,
        symbol: str,
        feed: Feed,
        exchange_ms: int | None,
        bid: Decimal | None,
        ask: Decimal | None,
        *,
        depth_synced: bool = False,
    ) -> None: ...

    def on_feed_error(self, symbol: str, feed: Feed, channel: Channel, error: Exception) -> None: ...

    def on_depth_gap(self, symbol: str, feed: Feed) -> None: ...


@dataclass(frozen=True)
class Backoff:
    """Exponential reconnect delays: ``initial_s * factor**attempt`` capped at ``max_s``, +-``jitter``."""

    initial_s: float = 0.1
    max_s: float = 5.0
    factor: float = 2.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if not (0 < self.initial_s <= self.max_s and self.factor >= 1 and 0 <= self.jitter < 1):
            raise ValueError("backoff needs 0 < initial_s <= max_s, factor >= 1 and 0 <= jitter < 1")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        base = min(self.max_s, self.initial_s * self.factor ** min(attempt, 64))
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return min(self.max_s, base * (1 + spread))


def to_decimal(value: Any) -> Decimal | None:
    """A ccxt number as an exact Decimal (the adapter's one conversion rule); missing or unusable -> None."""
    if value is None:
        return None
    try:
        return venue_decimal(value, "market data")
    except MappingError:
        return None


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def top_of_book(book: Any) -> tuple[Decimal | None, Decimal | None]:
    """Best bid and ask of a ccxt order book (None for an empty side)."""
    bids: Sequence[Any] = book.get("bids") or []
    asks: Sequence[Any] = book.get("asks") or []
    return (to_decimal(bids[0][0]) if bids else None, to_decimal(asks[0][0]) if asks else None)


async def _ticker(exchange: Any, symbol: str, feed: Feed, sink: FeedSink) -> None:
    ticker = await exchange.watch_ticker(symbol, TICKER_PARAMS)
    sink.on_update(
        symbol,
        feed,
        _int_or_none(ticker.get("timestamp")),
        to_decimal(ticker.get("bid")),
        to_decimal(ticker.get("ask")),
    )


async def _trades(exchange: Any, symbol: str, feed: Feed, sink: FeedSink) -> None:
    trades = await exchange.watch_trades(symbol)
    stamps = [ts for t in trades if (ts := _int_or_none(t.get("timestamp"))) is not None]
    sink.on_update(symbol, feed, max(stamps) if stamps else None, None, None)


async def _book(exchange: Any, symbol: str, feed: Feed, sink: FeedSink) -> None:
    book = await exchange.watch_order_book(symbol)
    stamp = _int_or_none(book.get("timestamp"))
    if stamp is None:
        # Only the REST snapshot of a (re)subscription is behind this book: ccxt resolves the watch with it
        # even when the socket delivers nothing (a stalled feed). It is no evidence of a live socket.
        return
    bid, ask = top_of_book(book)
    sink.on_update(symbol, feed, stamp, bid, ask, depth_synced=True)


_STEPS: dict[Channel, Callable[[Any, str, Feed, FeedSink], Awaitable[None]]] = {
    Channel.TICKER: _ticker,
    Channel.TRADES: _trades,
    Channel.BOOK: _book,
}


async def supervise(
    exchange: Any,
    symbol: str,
    feed: Feed,
    channel: Channel,
    sink: FeedSink,
    backoff: Backoff,
    gate: WeightGate | None = None,
) -> None:
    """Run one channel's watch loop forever (until cancelled), reconnecting with ``backoff``."""
    step = _STEPS[channel]
    gate = gate or WeightGate(None)
    attempt = 0
    subscribing = channel is Channel.BOOK  # the next watch starts a subscription: a snapshot is fetched
    while True:
        try:
            async with gate.request(Weight.DEPTH_100) if subscribing else contextlib.nullcontext():
                await step(exchange, symbol, feed, sink)
            attempt, subscribing = 0, False
        except asyncio.CancelledError:
            raise
        except ChecksumError:
            subscribing = channel is Channel.BOOK
            sink.on_depth_gap(symbol, feed)
            await asyncio.sleep(0)
        except Exception as exc:  # every other failure: reconnect after a backoff
            subscribing = channel is Channel.BOOK
            gate.failed(exc, exchange)
            sink.on_feed_error(symbol, feed, channel, exc)
            await asyncio.sleep(backoff.delay(attempt))
            attempt += 1


def feed_tasks(
    exchange: Any,
    symbols: Sequence[str],
    feed: Feed,
    sink: FeedSink,
    backoff: Backoff,
    gate: WeightGate | None = None,
) -> list[asyncio.Task[None]]:
    """Start the ticker, trades and order-book loops of every symbol on one connection's exchange."""
    return [
        asyncio.get_running_loop().create_task(
            supervise(exchange, symbol, feed, channel, sink, backoff, gate),
            name=f"md-{feed}-{channel}-{symbol}",
        )
        for symbol in symbols
        for channel in Channel
    ]
