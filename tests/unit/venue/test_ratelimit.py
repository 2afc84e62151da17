"""The weight budget under an injected clock: windows, safety margin, Retry-After, header reconciliation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tradeops.venue.ratelimit import (
    LEARNED_FOR_MS,
    BudgetRegistry,
    WeightBudget,
    WeightUnavailable,
    request_weight_limit,
    send_by,
)

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


async def test_a_wait_past_the_deadline_gives_way_at_once_and_charges_nothing() -> None:
    clock = FakeClock()
    b = budget(clock)
    await b.acquire(90)
    with pytest.raises(WeightUnavailable) as caught:
        await b.acquire(1, deadline_ms=START + 30_000)  # the window opens 51 s on, after the deadline
    assert caught.value.free_at_ms == START + 51_000 and caught.value.deadline_ms == START + 30_000
    assert clock.sleeps == [] and b.used == 90
    assert (b.stats.gave_up, b.stats.waits) == (1, 0)
    await b.acquire(1, deadline_ms=START + 51_000)  # a deadline the window meets: it waits, then goes
    assert clock.sleeps == [51.0] and b.used == 1


async def test_a_caller_that_gives_way_lets_the_queue_behind_it_go_on() -> None:
    clock = FakeClock()
    b = budget(clock)
    b.observe(429, {"Retry-After": "20"})  # blocked for 20 s
    results: list[str] = []

    async def take(name: str, deadline_ms: int | None) -> None:
        try:
            await b.acquire(10, deadline_ms=deadline_ms)
            results.append(name)
        except WeightUnavailable:
            results.append(f"{name} gave way")

    await asyncio.gather(
        take("urgent", START + 5_000), take("patient", None), take("in time", START + 80_000)
    )
    assert results == ["urgent gave way", "patient", "in time"]
    assert clock.sleeps == [20.0, 31.0]  # the Retry-After, then the next window (the 429 spent this one)


async def test_a_caller_still_queued_at_its_deadline_gives_way_then() -> None:
    clock = FakeClock()
    released = asyncio.Event()

    async def held_sleep(seconds: float) -> None:  # the head of the queue sleeps until released
        await released.wait()
        await clock.sleep(seconds)

    b = WeightBudget(100, clock=clock, sleep=held_sleep)
    await b.acquire(80)
    head = asyncio.create_task(b.acquire(50))  # does not fit: sleeps for the next window, holding the queue
    await asyncio.sleep(0)
    with pytest.raises(WeightUnavailable, match="still queued"):  # 1 would fit, but not before the head
        await b.acquire(1, deadline_ms=START + 200)
    assert b.stats.gave_up == 1 and not head.done()
    released.set()
    await head
    assert b.used == 50


async def test_send_by_gives_a_deadline_to_every_charge_inside_it_and_the_earlier_one_wins() -> None:
    clock = FakeClock()
    b = budget(clock)
    await b.acquire(90)
    with send_by(START + 30_000):
        with pytest.raises(WeightUnavailable):
            await b.acquire(1)
        with pytest.raises(WeightUnavailable) as caught:
            await b.acquire(1, deadline_ms=START + 20_000)
        assert caught.value.deadline_ms == START + 20_000
        with send_by(None):  # an inner block may lift it
            await b.acquire(1)
    assert clock.sleeps == [51.0] and b.stats.gave_up == 2


async def test_after_a_429_requests_go_one_at_a_time_and_none_leaves_while_blocked() -> None:
    clock = FakeClock()
    b = budget(clock, limit=6000)
    in_flight, most, sent_at = 0, 0, []

    async def call(n: int) -> None:
        nonlocal in_flight, most
        async with b.request(1):
            in_flight += 1
            most = max(most, in_flight)
            sent_at.append(clock.now_ms)
            await asyncio.sleep(0)  # the request is on the wire
            if n == 0:  # the first meets a 429: Retry-After 20 s
                b.observe(429, {"Retry-After": "20"})
            in_flight -= 1

    await asyncio.gather(*(call(n) for n in range(2)))  # not cautious yet: both may be in flight
    assert most == 2 and b.cautious
    most, sent_at = 0, []
    b.observe(429, {"Retry-After": "20"})
    await asyncio.gather(*(call(n) for n in range(1, 6)))
    assert most == 1, "requests overlapped after a 429"
    assert all(at >= START + 20_000 for at in sent_at), "a request left while the budget was blocked"


@pytest.mark.parametrize(
    ("retry_after", "careful_until"),
    [
        ("20", START + 50_000 + 60_000 + 1_000),  # blocked to 30 s into the minute: the next one is whole
        (None, START + 50_000 + 60_000 + 1_000),  # blocked to the next minute (+ guard): that one
        ("55", START + 50_000 + 120_000 + 1_000),  # blocked into the next minute: the one after
    ],
)
async def test_careful_mode_ends_after_a_whole_minute_clear_of_the_block_but_the_limit_stays(
    retry_after: str | None, careful_until: int
) -> None:
    """A kill switch's cancels queue one by one for a minute or two after a 429, not for ten."""
    clock = FakeClock()
    b = budget(clock, limit=6000)
    b.observe(200, {"X-MBX-USED-WEIGHT-1M": "900"})
    b.observe(429, {"Retry-After": retry_after} if retry_after else {})
    assert b.limit == 900
    clock.now_ms = careful_until - 1
    assert b.cautious
    clock.now_ms = careful_until
    assert not b.cautious and b.limit == 900  # overlapping again, still at the learned limit
    b.observe(429, {"Retry-After": "1"})  # another refusal: careful again
    assert b.cautious
    clock.now_ms = START + LEARNED_FOR_MS - 1
    assert b.limit == 900
    clock.now_ms += 1
    assert b.limit == 6000


async def test_a_scoped_deadline_bounds_the_wait_for_the_turn_after_a_429() -> None:
    clock = FakeClock()
    b = budget(clock, limit=6000)
    b.observe(429, {"Retry-After": "1"})
    on_the_wire = asyncio.Event()
    answered = asyncio.Event()

    async def slow_request() -> None:
        async with b.request(1):
            on_the_wire.set()
            await answered.wait()

    holder = asyncio.create_task(slow_request())
    await on_the_wire.wait()
    with send_by(START + 200), pytest.raises(WeightUnavailable, match="still queued"):
        async with b.request(1):
            raise AssertionError("sent while another request held the turn")
    answered.set()
    await holder


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
    with pytest.raises(ValueError, match="exceeds the per-minute limit"):
        await b.acquire(101)
    with pytest.raises(ValueError, match="limit_per_minute"):
        b.configure(0)
    with pytest.raises(ValueError, match="safety_margin"):
        budget(clock, safety_margin=1.0)
    with pytest.raises(ValueError, match="boundary_guard_ms"):
        budget(clock, boundary_guard_ms=60_000)
    assert b.used == 0


async def test_a_weight_above_capacity_but_within_the_limit_goes_alone_in_a_fresh_window() -> None:
    clock = FakeClock()
    b = budget(clock, limit=20)  # capacity 18; an account read weighs 20
    await b.acquire(20)
    assert clock.sleeps == [] and b.used == 20
    await b.acquire(20)  # not alone any more: the next window
    assert clock.sleeps == [51.0]


async def test_a_429_teaches_the_venue_count_of_the_last_answer_it_did_not_refuse() -> None:
    clock = FakeClock()
    b = budget(clock, limit=6000)  # exchangeInfo says 6000; the venue allows 20
    for used in (5, 12, 20):
        await b.acquire(1)
        b.observe(200, {"X-MBX-USED-WEIGHT-1M": str(used)})
    b.observe(429, {"X-MBX-USED-WEIGHT-1M": "21", "Retry-After": "50"})
    assert (b.limit, b.capacity, b.stats.learned_limit) == (20, 18, 20)
    for _ in range(18):  # the next window spends 18, the venue's limit less the margin
        await b.acquire(1)
    assert clock.sleeps == [50.0, 1.0]  # the Retry-After, then the boundary guard
    await b.acquire(1)
    assert clock.sleeps == [50.0, 1.0, 60.0]  # the 19th waits for the window after
    clock.now_ms += 10 * 60_000  # the learned limit lapses: the configured one is tried again
    assert (b.limit, b.capacity) == (6000, 5400)


async def test_a_429_without_an_answer_before_it_in_the_window_teaches_nothing() -> None:
    clock = FakeClock()
    b = budget(clock, limit=6000)
    b.observe(200, {"X-MBX-USED-WEIGHT-1M": "300"})
    clock.now_ms += 60_000  # a new window: that count is the last minute's
    b.observe(429, {"X-MBX-USED-WEIGHT-1M": "6001", "Retry-After": "5"})
    assert (b.limit, b.stats.learned_limit, b.stats.throttled_429) == (6000, 0, 1)


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
