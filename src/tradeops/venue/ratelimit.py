"""Request-weight budget: a per-key bucket refilled each venue minute, reconciled with the venue's count.

Binance counts ``REQUEST_WEIGHT`` per fixed calendar minute and answers 429 past the limit, then 418
(a ban) to a client that keeps going. So the bucket holds ``limit * (1 - safety_margin)`` weight and
refills at each minute boundary of the venue clock plus a guard (local and venue clocks never agree to
the millisecond). Every caller charges the endpoint's weight before its request (:meth:`acquire`,
FIFO under one lock, so one waiter sleeps and the rest queue behind it); every response is reconciled
(:meth:`observe`): ``X-MBX-USED-WEIGHT-1M`` raises the local count to the venue's, and a 429/418 with
``Retry-After`` blocks every caller until then. ccxt's own ``enableRateLimit`` throttle is turned off
by the adapter: it spaces calls by a fixed delay per cost and knows neither the minute window nor the
venue's count, so it would only add latency on top of this budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from ccxt.base.errors import DDoSProtection, RateLimitExceeded

WINDOW_MS = 60_000
USED_WEIGHT_HEADER = "x-mbx-used-weight-1m"
RETRY_AFTER_HEADER = "retry-after"

Clock = Callable[[], int]
"""Local epoch milliseconds; the budget adds the venue offset (:meth:`WeightBudget.set_venue_offset`)."""
Sleep = Callable[[float], Awaitable[None]]


class Weight(IntEnum):
    """Binance spot request weights of the endpoints the adapter calls."""

    TIME = 1
    EXCHANGE_INFO = 20
    ORDER_POST = 1
    ORDER_GET = 4
    ORDER_DELETE = 1
    ORDER_LIST_OCO_POST = 1
    OPEN_ORDERS_SYMBOL = 6
    OPEN_ORDERS_ALL = 80
    MY_TRADES = 20
    ACCOUNT = 20
    DEPTH_100 = 5
    """GET /api/v3/depth with limit <= 100: the snapshot behind each order-book (re)subscription."""
    TICKER_24HR_SYMBOL = 2


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def request_weight_limit(exchange_info: Mapping[str, Any]) -> int | None:
    """The per-minute REQUEST_WEIGHT limit of an exchangeInfo body (None when it states none)."""
    for entry in exchange_info.get("rateLimits") or ():
        if not isinstance(entry, Mapping) or entry.get("rateLimitType") != "REQUEST_WEIGHT":
            continue
        limit, count = entry.get("limit"), entry.get("intervalNum", 1)
        if entry.get("interval") != "MINUTE" or not isinstance(limit, int) or not isinstance(count, int):
            continue
        if limit > 0 and count > 0:
            return max(1, limit // count)
    return None


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name:
            return str(value)
    return None


@dataclass
class BudgetStats:
    """What the budget saw: venue refusals (should stay 0) and how often callers waited."""

    throttled_429: int = 0
    banned_418: int = 0
    waits: int = 0


class WeightBudget:
    """The request-weight bucket of one API key; share one instance between every caller of the key."""

    def __init__(
        self,
        limit_per_minute: int,
        *,
        safety_margin: float = 0.1,
        boundary_guard_ms: int = 1_000,
        clock: Clock = _wall_ms,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not 0 <= safety_margin < 1:
            raise ValueError(f"safety_margin must be in [0, 1), got {safety_margin}")
        if not 0 <= boundary_guard_ms < WINDOW_MS:
            raise ValueError(f"boundary_guard_ms must be in [0, {WINDOW_MS}), got {boundary_guard_ms}")
        self._margin = safety_margin
        self._guard_ms = boundary_guard_ms
        self._local_clock = clock
        self._offset_ms = 0
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._window = -1
        self._used = 0
        self._blocked_until_ms = 0
        self.stats = BudgetStats()
        self._limit = 0
        self.configure(limit_per_minute)

    def _clock(self) -> int:
        return self._local_clock() + self._offset_ms

    def set_venue_offset(self, venue_minus_local_ms: int) -> None:
        """Align the minute windows with the venue's clock (the gateway clock's estimate)."""
        self._offset_ms = venue_minus_local_ms

    def configure(self, limit_per_minute: int) -> None:
        """Set the venue's per-minute limit (from exchangeInfo or configuration)."""
        if limit_per_minute < 1:
            raise ValueError(f"limit_per_minute must be >= 1, got {limit_per_minute}")
        self._limit = limit_per_minute

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def capacity(self) -> int:
        """Weight this budget spends per minute: the limit less the safety margin (at least 1)."""
        return max(1, math.floor(self._limit * (1 - self._margin)))

    @property
    def used(self) -> int:
        self._roll(self._clock())
        return self._used

    def blocked_for_s(self) -> float:
        """Seconds every caller still waits because of a Retry-After (0 when not blocked)."""
        return max(0, self._blocked_until_ms - self._clock()) / 1000

    def _roll(self, now: int) -> None:
        window = (now - self._guard_ms) // WINDOW_MS
        if window > self._window:
            self._window, self._used = window, 0
        elif window < self._window:  # the venue clock estimate moved back: assume that minute is spent
            self._window, self._used = window, max(self._used, self.capacity)

    def _next_window_ms(self) -> int:
        return (self._window + 1) * WINDOW_MS + self._guard_ms

    async def acquire(self, weight: int) -> None:
        """Charge ``weight`` before a request, waiting (FIFO) for the window or a Retry-After to pass."""
        if weight < 1:
            raise ValueError(f"weight must be >= 1, got {weight}")
        async with self._lock:
            waited = False
            while True:
                now = self._clock()
                self._roll(now)
                capacity = self.capacity
                if weight > capacity:
                    raise ValueError(f"weight {weight} exceeds the per-minute capacity {capacity}")
                if self._blocked_until_ms > now:
                    delay_ms = self._blocked_until_ms - now
                elif self._used + weight <= capacity:
                    self._used += weight
                    return
                else:
                    delay_ms = self._next_window_ms() - now
                if not waited:
                    self.stats.waits += 1
                    waited = True
                await self._sleep(max(delay_ms, 1) / 1000)

    def observe(self, status: int, headers: Mapping[str, Any]) -> None:
        """Reconcile with one response: the venue's used weight, and a 429/418 Retry-After block."""
        now = self._clock()
        self._roll(now)
        used = _header(headers, USED_WEIGHT_HEADER)
        if used is not None and used.strip().isdigit():
            self._used = max(self._used, int(used))
        if status not in (418, 429):
            return
        if status == 418:
            self.stats.banned_418 += 1
        else:
            self.stats.throttled_429 += 1
        retry_after = _header(headers, RETRY_AFTER_HEADER)
        if retry_after is not None and retry_after.strip().isdigit():
            until = now + int(retry_after) * 1000
        else:
            until = self._next_window_ms()
        self._blocked_until_ms = max(self._blocked_until_ms, until)
        self._used = max(self._used, self.capacity)


class BudgetRegistry:
    """One :class:`WeightBudget` per API key for the whole process, so every caller of a key shares it."""

    def __init__(self, factory: Callable[[], WeightBudget]) -> None:
        self._factory = factory
        self._budgets: dict[str, WeightBudget] = {}

    def for_key(self, api_key: str) -> WeightBudget:
        budget = self._budgets.get(api_key)
        if budget is None:
            budget = self._budgets[api_key] = self._factory()
        return budget


class WeightGate:
    """Requests that ccxt makes on its own (the depth snapshot of an order-book subscription, market-data
    ticker polls), charged to a shared :class:`WeightBudget` and sent one at a time.

    One at a time (each holds the gate until answered, at most ``hold_s``) is what keeps a ban away when
    the venue's limit is lower than the budget believes: the first 429 blocks the budget for its
    Retry-After before the next request goes out, instead of six resubscriptions meeting six 429s at
    once. Without a budget nothing is charged, but requests are still spaced.
    """

    def __init__(self, budget: WeightBudget | None, *, hold_s: float = 2.0) -> None:
        self.budget = budget
        self._hold_s = hold_s
        self._one = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def request(self, weight: int) -> AsyncIterator[None]:
        """Wait for the gate and charge ``weight``; the gate is held while the block runs, and released
        after ``hold_s`` at the latest so a request that hangs blocks nobody for long."""
        await self._one.acquire()
        try:
            if self.budget is not None:
                await self.budget.acquire(weight)
        except BaseException:
            self._one.release()
            raise
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._one.release()

        timer = asyncio.get_running_loop().call_later(self._hold_s, release)
        try:
            yield
        finally:
            timer.cancel()
            release()

    def failed(self, error: BaseException, exchange: Any) -> bool:
        """If ``error`` is the venue refusing for weight (429, 418), block the budget; True if it was."""
        if not isinstance(error, RateLimitExceeded | DDoSProtection):
            return False
        if self.budget is not None:
            status = 418 if " 418 " in f" {error} " else 429
            headers = getattr(exchange, "last_response_headers", None) or {}
            self.budget.observe(status, headers)
        return True
