"""The trade tape of one symbol: prints, 1m klines (other intervals aggregated) and 24h statistics."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from tradeops.sim.errors import SimError

ZERO = Decimal(0)
MINUTE = 60_000
DAY = 86_400_000
KLINE_MINUTES_KEPT = 10_080  # one week of 1m klines per symbol
RECENT_TRADES_KEPT = 1_000
INTERVALS: dict[str, int] = {
    "1m": MINUTE,
    "3m": 3 * MINUTE,
    "5m": 5 * MINUTE,
    "15m": 15 * MINUTE,
    "30m": 30 * MINUTE,
    "1h": 60 * MINUTE,
    "2h": 120 * MINUTE,
    "4h": 240 * MINUTE,
    "6h": 360 * MINUTE,
    "8h": 480 * MINUTE,
    "12h": 720 * MINUTE,
    "1d": DAY,
}


@dataclass(slots=True, frozen=True)
class Print:
    """One trade on the tape (background flow or user)."""

    trade_id: int
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    time: int
    buyer_maker: bool


@dataclass(slots=True, frozen=True)
class DayStats:
    """24h rolling window figures for ticker payloads."""

    open: Decimal
    high: Decimal
    low: Decimal
    volume: Decimal
    quote_volume: Decimal
    count: int
    first_id: int
    last_id: int
    open_time: int


class Kline:
    """A 1m candle being built or closed."""

    __slots__ = (
        "close",
        "count",
        "first_id",
        "high",
        "last_id",
        "low",
        "open",
        "open_time",
        "quote_volume",
        "taker_base",
        "taker_quote",
        "volume",
    )

    def __init__(self, open_time: int, first: Print) -> None:
        self.open_time = open_time
        self.open = self.high = self.low = self.close = first.price
        self.volume = self.quote_volume = self.taker_base = self.taker_quote = ZERO
        self.count = 0
        self.first_id = self.last_id = first.trade_id

    def add(self, p: Print) -> None:
        price = p.price
        if price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        self.close = price
        self.volume += p.qty
        self.quote_volume += p.quote_qty
        if not p.buyer_maker:
            self.taker_base += p.qty
            self.taker_quote += p.quote_qty
        self.count += 1
        self.last_id = p.trade_id


class Tape:
    """Trades and candles of one symbol; ids are sequential per symbol from 1."""

    def __init__(self, initial_price: Decimal, recent_cap: int) -> None:
        self.initial_price = initial_price
        self.last_price = initial_price
        self.last_qty = ZERO
        self.next_trade_id = 1
        self.recent: deque[Print] = deque(maxlen=min(recent_cap, RECENT_TRADES_KEPT))
        self.minutes: deque[Kline] = deque(maxlen=KLINE_MINUTES_KEPT)
        self.current: Kline | None = None
        self._day: deque[Kline] = deque()
        self._day_volume = self._day_quote = ZERO
        self._day_count = 0
        self._day_high = self._day_low = initial_price
        self._day_dirty = True

    def record(self, price: Decimal, qty: Decimal, buyer_maker: bool, now: int) -> Print:
        p = Print(self.next_trade_id, price, qty, price * qty, now, buyer_maker)
        self.next_trade_id += 1
        self.last_price = price
        self.last_qty = qty
        self.recent.append(p)
        minute = now - now % MINUTE
        current = self.current
        if current is None or minute > current.open_time:
            if current is not None:
                self._close(current)
            current = self.current = Kline(minute, p)
        current.add(p)
        return p

    def candles(self) -> list[Kline]:
        out = list(self.minutes)
        if self.current is not None:
            out.append(self.current)
        return out

    def _close(self, k: Kline) -> None:
        self.minutes.append(k)
        self._day.append(k)
        self._day_volume += k.volume
        self._day_quote += k.quote_volume
        self._day_count += k.count
        self._day_dirty = True

    def stats(self, now: int) -> DayStats:
        """Rolling 24h statistics (closed 1m candles of the window plus the current one), O(1) amortized."""
        day = self._day
        while day and day[0].open_time < now - DAY:
            old = day.popleft()
            self._day_volume -= old.volume
            self._day_quote -= old.quote_volume
            self._day_count -= old.count
            self._day_dirty = True
        if self._day_dirty:
            self._day_high = max((k.high for k in day), default=self.last_price)
            self._day_low = min((k.low for k in day), default=self.last_price)
            self._day_dirty = False
        high, low = self._day_high, self._day_low
        volume, quote, count = self._day_volume, self._day_quote, self._day_count
        first = day[0] if day else self.current
        cur = self.current
        if cur is not None:
            high, low = max(high, cur.high), min(low, cur.low)
            volume, quote, count = volume + cur.volume, quote + cur.quote_volume, count + cur.count
        if first is None:
            return DayStats(
                self.initial_price, self.last_price, self.last_price, ZERO, ZERO, 0, 0, -1, now - DAY
            )
        return DayStats(
            first.open,
            high,
            low,
            volume,
            quote,
            count,
            first.first_id,
            self.next_trade_id - 1,
            max(first.open_time, now - DAY),
        )

    def klines(self, interval: str, start: int | None, end: int | None, limit: int) -> list[list[object]]:
        """Binance kline rows aggregated from the 1m candles."""
        size = INTERVALS.get(interval)
        if size is None:
            raise SimError(-1120, "Invalid interval.")
        buckets: dict[int, list[Kline]] = {}
        for k in self.candles():
            bucket = k.open_time - k.open_time % size
            if (start is not None and bucket + size - 1 < start) or (end is not None and bucket > end):
                continue
            buckets.setdefault(bucket, []).append(k)
        keys = sorted(buckets)
        keys = keys[:limit] if start is not None else keys[-limit:]
        return [_row(b, size, buckets[b]) for b in keys]


def _row(open_time: int, size: int, ks: list[Kline]) -> list[object]:
    def s(d: Decimal) -> str:
        return f"{d:.8f}"

    return [
        open_time,
        s(ks[0].open),
        s(max(k.high for k in ks)),
        s(min(k.low for k in ks)),
        s(ks[-1].close),
        s(sum((k.volume for k in ks), ZERO)),
        open_time + size - 1,
        s(sum((k.quote_volume for k in ks), ZERO)),
        sum(k.count for k in ks),
        s(sum((k.taker_base for k in ks), ZERO)),
        s(sum((k.taker_quote for k in ks), ZERO)),
        "0",
    ]
