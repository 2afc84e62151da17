"""The weight budget under an injected clock: windows, safety margin, Retry-After, header reconciliation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tradeops.venue.ratelimit import BudgetRegistry, WeightBudget, request_weight_limit

START = 1_800_000_000_000 - 1_800_000_000_000 % 60_000 + 10_000  # 10 s into a venue minute


class FakeClock:
    """Venue time that only moves when a waiter sleeps; records every sleep."""

    def __init__(self, now: int = START) -> None:
        self.now_ms = now
        self.sleeps: list[float] = []

    def __call__(self) -> int:
        return self.now_ms

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now_ms += round(seconds * 1000)
        await asyncio.sleep(0)


def budget(clock: FakeClock, limit: int = 100, **kwargs: Any) -> WeightBudget:
    return WeightBudget(limit, clock=clock, sleep=clock.sleep, **kwargs)


async def test_spends_up_to_capacity_then_waits_for_the_next_window_plus_guard() -> None:
    clock = FakeClock()
    b = budget(clock)
    assert b.capacity == 90  # 10 % safety margin
    for _ in range(9):
        await b.acquire(10)
    assert b.used == 90 and clock.sleeps == []
    await b.acquire(1)
    assert clock.sleeps == [51.0]  # 50 s to the minute boundary + 1 s guard
    assert b.used == 1 and b.stats.waits == 1


async def test_guard_keeps_the_old_window_just_after_the_boundary() -> None:
    clock = FakeClock(START + 50_000 + 500)  # 0.5 s into the next venue minute
    b = budget(clock)
    await b.acquire(90)
    clock.now_ms += 400  # still inside the guard: the venue may not have rolled over yet
    assert b.used == 90
    clock.now_ms += 200
    assert b.used == 0


async def test_waiters_queue_fifo_and_only_one_sleeps() -> None:
    clock = FakeClock()
    b = budget(clock)
    await b.acquire(90)
    order: list[int] = []

    async def take(n: int) -> None:
        await b.acquire(30)
        order.append(n)

    await asyncio.gather(*(take(n) for n in range(4)))
    assert order == [0, 1, 2, 3]
    assert clock.sleeps == [51.0, 60.0]  # three fit the next window, the fourth the one after


async def test_used_weight_header_raises_the_local_count() -> None:
    clock = FakeClock()
    b = budget(clock)
    await b.acquire(5)
    b.observe(200, {"X-MBX-USED-WEIGHT-1M": "85", "Content-Type": "application/json"})
    assert b.used == 85
    b.observe(200, {"x-mbx-used-weight-1m": "40"})  # an older response never lowers the count
    assert b.used == 85
    b.observe(200, {"X-MBX-USED-WEIGHT-1M": "garbage"})
    assert b.used == 85
    await b.acquire(5)
    assert clock.sleeps == []
    await b.acquire(1)
    assert clock.sleeps == [51.0]


async def test_retry_after_on_429_blocks_every_caller_until_it_passes() -> None:
    clock = FakeClock()
    b = budget(clock)
    b.observe(429, {"Retry-After": "7", "X-MBX-USED-WEIGHT-1M": "12"})
    assert b.stats.throttled_429 == 1 and b.blocked_for_s() == 7.0
    await asyncio.gather(b.acquire(1), b.acquire(1))
    assert clock.now_ms >= START + 7_000
    assert clock.sleeps[0] == 7.0


async def test_418_without_retry_after_blocks_until_the_next_window() -> None:
    clock = FakeClock()
    b = budget(clock)
    b.observe(418, {})
    assert b.stats.banned_418 == 1
    await b.acquire(1)
    assert clock.now_ms == START + 51_000


async def test_bad_weights_and_limits_are_refused() -> None:
    clock = FakeClock()
    b = budget(clock)
    with pytest.raises(ValueError, match="weight must be >= 1"):
        await b.acquire(0)
    with pytest.raises(ValueError, match="exceeds the per-minute capacity"):
        await b.acquire(91)
    with pytest.raises(ValueError, match="limit_per_minute"):
        b.configure(0)
    with pytest.raises(ValueError, match="safety_margin"):
        budget(clock, safety_margin=1.0)
    with pytest.raises(ValueError, match="boundary_guard_ms"):
        budget(clock, boundary_guard_ms=60_000)
    assert b.used == 0


async def test_reconfigured_limit_applies_to_the_next_acquire() -> None:
    clock = FakeClock()
    b = budget(clock, limit=6000)
    b.configure(20)
    assert (b.limit, b.capacity) == (20, 18)
    await b.acquire(18)
    await b.acquire(1)
    assert clock.sleeps == [51.0]


def test_request_weight_limit_from_exchange_info() -> None:
    info = {
        "rateLimits": [
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
        ]
    }
    assert request_weight_limit(info) == 6000
    two_minutes = {
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 2, "limit": 500}
        ]
    }
    assert request_weight_limit(two_minutes) == 250
    assert (
        request_weight_limit(
            {"rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "DAY", "limit": 9}]}
        )
        is None
    )
    assert (
        request_weight_limit(
            {"rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "limit": "x"}]}
        )
        is None
    )
    assert request_weight_limit({}) is None


def test_registry_shares_one_budget_per_key() -> None:
    registry = BudgetRegistry(lambda: WeightBudget(100))
    assert registry.for_key("key-a") is registry.for_key("key-a")
    assert registry.for_key("key-a") is not registry.for_key("key-b")


async def test_venue_offset_moves_the_windows() -> None:
    clock = FakeClock(START + 49_000)  # 1 s before the local minute boundary
    b = budget(clock)
    await b.acquire(90)
    b.set_venue_offset(3_000)  # the venue is 3 s ahead: its minute rolled 2 s ago, guard passed
    assert b.used == 0
    await b.acquire(5)
    b.set_venue_offset(-3_000)  # the estimate moves back into the earlier minute: assume it is spent
    assert b.used == b.capacity
