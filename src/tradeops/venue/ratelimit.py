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

A 429 also means the configured limit was wrong (or another client of the key spent it): the venue's
count on the window's last answer it did not refuse becomes the limit for ``LEARNED_FOR_MS``, and
requests go one at a time (:meth:`WeightBudget.request`) until a whole venue minute after the refusal's
block has passed without another. Requests made concurrently then would each meet a 429, and a burst
of 429s is what earns a 418; once a minute went by at the learned limit, they may overlap again (a
kill switch's cancels must not queue one by one for longer than that). A caller with a deadline (an
order whose intent expires, :func:`send_by` for reads deep in a call chain) gives way rather than wait
past it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from tradeops.aio import acquire_within
from tradeops.observability import get_logger

_log = get_logger("tradeops.venue")
WINDOW_MS = 60_000
LEARNED_FOR_MS = 10 * WINDOW_MS
"""How long the limit a 429 taught holds (another client of the key may have caused it)."""
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


class WeightUnavailable(Exception):
    """No request weight before the caller's deadline: nothing was charged, so nothing may be sent."""

    def __init__(self, deadline_ms: int, free_at_ms: int | None) -> None:
        if free_at_ms is None:
            detail = "still queued behind earlier requests at the deadline"
        else:
            detail = f"the next is free {free_at_ms - deadline_ms} ms after it"
        super().__init__(f"no request weight before the deadline: {detail}")
        self.deadline_ms = deadline_ms
        self.free_at_ms = free_at_ms


_SEND_BY: ContextVar[int | None] = ContextVar("tradeops_send_by_ms", default=None)


@contextlib.contextmanager
def send_by(deadline_ms: int | None) -> Iterator[None]:
    """Within this block every :meth:`WeightBudget.acquire` of the task gives way at ``deadline_ms``
    (local epoch ms; None: no deadline), for requests deep in a call chain that are only worth making
    before it (the balance read behind an intent's risk check). Tasks started inside inherit it: keep
    the block around the one call, never around work that must go on after the deadline."""
    token = _SEND_BY.set(deadline_ms)
    try:
        yield
    finally:
        _SEND_BY.reset(token)


def scoped_deadline() -> int | None:
    """The deadline of the innermost :func:`send_by` block of this task (None outside one)."""
    return _SEND_BY.get()


def _earliest(deadline_ms: int | None, other_ms: int | None) -> int | None:
    if deadline_ms is None or other_ms is None:
        return other_ms if deadline_ms is None else deadline_ms
    return min(deadline_ms, other_ms)


@dataclass
class BudgetStats:
    """What the budget saw: venue refusals (should stay 0) and how often callers waited."""

    throttled_429: int = 0
    banned_418: int = 0
    waits: int = 0
    gave_up: int = 0
    """Callers that would have waited past their deadline (:class:`WeightUnavailable`)."""
    learned_limit: int = 0
    """The last limit learned from a 429 (0: none): lower than the configured one."""


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
        self._ok_used = 0  # the venue's count on this window's last answers that were not refusals
        self._learned = 0  # a lower limit learned from a 429 (0: none), until ``_learned_until_ms``
        self._learned_until_ms = 0
        self._cautious_until_ms = 0  # after a 429/418: one request in flight at a time until then
        self._turn = asyncio.Lock()
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
        """The configured limit, or the lower one learned from a 429 while that lasts (``LEARNED_FOR_MS``)."""
        if self._learned and self._clock() < self._learned_until_ms:
            return min(self._limit, self._learned)
        return self._limit

    @property
    def cautious(self) -> bool:
        """Whether requests go one at a time: from a 429/418 to the end of the first whole venue minute
        after its block (another refusal starts it again)."""
        return self._clock() < self._cautious_until_ms

    @property
    def capacity(self) -> int:
        """Weight this budget spends per minute: the limit less the safety margin (at least 1)."""
        return max(1, math.floor(self.limit * (1 - self._margin)))

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
            self._window, self._used, self._ok_used = window, 0, 0
        elif window < self._window:  # the venue clock estimate moved back: assume that minute is spent
            self._window, self._used = window, max(self._used, self.capacity)

    def _next_window_ms(self) -> int:
        return (self._window + 1) * WINDOW_MS + self._guard_ms

    async def acquire(self, weight: int, *, deadline_ms: int | None = None) -> None:
        """Charge ``weight`` before a request, waiting (FIFO) for the window or a Retry-After to pass.

        With ``deadline_ms`` (local epoch ms; or :func:`send_by`'s) a caller gives way with
        :class:`WeightUnavailable` instead of waiting past it: at once when the budget itself would make
        it wait too long, at the deadline when it is still queued behind earlier callers. A request only
        worth sending before then (an order whose intent expires) is dropped, and the queue goes on.
        """
        if weight < 1:
            raise ValueError(f"weight must be >= 1, got {weight}")
        if weight > self._limit:
            raise ValueError(f"weight {weight} exceeds the per-minute limit {self._limit}")
        deadline_ms = _earliest(deadline_ms, scoped_deadline())
        await self._enter(weight, deadline_ms)
        try:
            waited = False
            while True:
                now = self._clock()
                self._roll(now)
                delay_ms = self._delay_ms(weight, now)
                if delay_ms == 0:
                    self._used += weight
                    return
                self._give_way_if_late(deadline_ms, delay_ms)
                if not waited:
                    self.stats.waits += 1
                    waited = True
                await self._sleep(delay_ms / 1000)
        finally:
            self._lock.release()

    @contextlib.asynccontextmanager
    async def request(self, weight: int, *, deadline_ms: int | None = None) -> AsyncIterator[None]:
        """:meth:`acquire` for one request sent inside the block. While :attr:`cautious` the blocks run one
        at a time, each re-checking the Retry-After block before its request leaves, so after a 429
        the venue sees at most one refused request per window (a burst of them is what earns a 418)."""
        deadline_ms = _earliest(deadline_ms, scoped_deadline())
        turn = False
        try:
            if self.cautious:
                await self._take_turn(deadline_ms)
                turn = True
            await self.acquire(weight, deadline_ms=deadline_ms)
            if self.cautious and not turn:  # a 429 came while this caller waited for its weight
                await self._take_turn(deadline_ms)
                turn = True
                await self._wait_unblocked(deadline_ms)
            yield
        finally:
            if turn:
                self._turn.release()

    async def _take_turn(self, deadline_ms: int | None) -> None:
        await self._lock_by(self._turn, deadline_ms)

    async def _wait_unblocked(self, deadline_ms: int | None) -> None:
        while (delay_ms := self._blocked_until_ms - self._clock()) > 0:
            self._give_way_if_late(deadline_ms, delay_ms)
            await self._sleep(delay_ms / 1000)

    async def _enter(self, weight: int, deadline_ms: int | None) -> None:
        """Take the FIFO lock; with a deadline, only while it can still be met."""
        if deadline_ms is None or not self._lock.locked():
            await self._lock.acquire()
            return
        now = self._clock()
        self._roll(now)
        self._give_way_if_late(deadline_ms, self._delay_ms(weight, now))  # a queue only adds to it
        await self._lock_by(self._lock, deadline_ms)

    async def _lock_by(self, lock: asyncio.Lock, deadline_ms: int | None) -> None:
        """Acquire ``lock``; still waiting at ``deadline_ms`` (local epoch ms): give way."""
        if deadline_ms is None:
            await lock.acquire()
        elif not await acquire_within(lock, (deadline_ms - self._local_clock()) / 1000):
            self.stats.gave_up += 1
            raise WeightUnavailable(deadline_ms, None)

    def _delay_ms(self, weight: int, now: int) -> int:
        """How long ``weight`` must wait from ``now`` (0: it may go), ignoring callers queued before it."""
        if self._blocked_until_ms > now:
            return self._blocked_until_ms - now
        if self._used + weight <= self.capacity or self._used == 0:  # or alone in a fresh window
            return 0
        return max(1, self._next_window_ms() - now)

    def _give_way_if_late(self, deadline_ms: int | None, delay_ms: int) -> None:
        free_at = self._local_clock() + delay_ms
        if deadline_ms is not None and free_at > deadline_ms:
            self.stats.gave_up += 1
            raise WeightUnavailable(deadline_ms, free_at)

    def observe(self, status: int, headers: Mapping[str, Any]) -> None:
        """Reconcile with one response: the venue's used weight, and a 429/418 Retry-After block."""
        now = self._clock()
        self._roll(now)
        used = _header(headers, USED_WEIGHT_HEADER)
        if used is not None and used.strip().isdigit():
            self._used = max(self._used, int(used))
            if status not in (418, 429):
                self._ok_used = max(self._ok_used, int(used))
        if status not in (418, 429):
            return
        if status == 418:
            self.stats.banned_418 += 1
        else:
            self.stats.throttled_429 += 1
        if 0 < self._ok_used < self.limit:
            self._learn(self._ok_used, now)
        retry_after = _header(headers, RETRY_AFTER_HEADER)
        if retry_after is not None and retry_after.strip().isdigit():
            until = now + int(retry_after) * 1000
        else:
            until = self._next_window_ms()
        self._blocked_until_ms = max(self._blocked_until_ms, until)
        self._used = max(self._used, self.capacity)
        first_whole_window = -(-(self._blocked_until_ms - self._guard_ms) // WINDOW_MS)  # starts after it
        self._cautious_until_ms = (first_whole_window + 1) * WINDOW_MS + self._guard_ms

    def _learn(self, limit: int, now: int) -> None:
        """The venue refused past ``limit`` (its count on the last answer it did not refuse): spend no
        more than that for ``LEARNED_FOR_MS``, then try the configured limit again."""
        self._learned, self._learned_until_ms = limit, now + LEARNED_FOR_MS
        self.stats.learned_limit = limit
        _log.warning(
            "venue weight limit lower than configured",
            extra={"configured": self._limit, "learned": limit, "for_s": LEARNED_FOR_MS // 1000},
        )


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
