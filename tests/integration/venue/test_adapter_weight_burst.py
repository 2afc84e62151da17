"""A burst of 5x the venue's per-minute weight limit completes without a single 429 or 418.

Waiting out five real minutes is too slow for a test, so time is warped: the budget's clock and sleep
are injected, and every sleep moves the simulator's clock forward (``clock_skew`` faults add up) and
tells the adapter the new venue offset, exactly as the gateway clock would: signed timestamps and the
budget's minute windows follow it. The simulator still counts weight
per venue minute and would answer 429 (then 418) to any request over its limit.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

import pytest

from tradeops.domain.orders import Order
from tradeops.venue.adapter import Accepted, VenueAdapter
from tradeops.venue.ratelimit import Weight, WeightBudget

from .conftest import AdapterFactory, Admin

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
LIMIT = 40


class WarpClock:
    """Local wall time; every ``sleep`` moves the venue (the simulator) ahead by the time slept."""

    def __init__(self, admin: Admin) -> None:
        self.admin = admin
        self.offset_ms = 0
        self.adapter: VenueAdapter | None = None
        self.sleeps = 0

    @staticmethod
    def now() -> int:
        return time.time_ns() // 1_000_000

    async def sleep(self, seconds: float) -> None:
        step = math.ceil(seconds * 1000)
        self.sleeps += 1
        # Real time moves requests and clocks together; a warp must not jump past a request in flight.
        for _ in range(500):
            if self.adapter is None or self.adapter.inflight == 0:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("requests still in flight after 5 s")
        assert self.sleeps < 50, "the burst should need a handful of windows, not an endless wait"
        self.offset_ms += step
        await self.admin.faults({"kind": "clock_skew", "ms": step}, mode="add")
        assert self.adapter is not None, "only the burst itself should wait"
        self.adapter.set_time_difference(-self.offset_ms)


async def test_burst_of_five_times_the_limit_sees_no_429_and_no_418(
    make_adapter: AdapterFactory, limit: Callable[..., Order], admin: Admin
) -> None:
    warp = WarpClock(admin)
    budget = WeightBudget(LIMIT, clock=warp.now, sleep=warp.sleep)
    adapter = await make_adapter(budget=budget, use_exchange_info_limit=False)
    warp.adapter = adapter
    await admin.faults({"kind": "weight_limit", "per_minute": LIMIT, "ban_after": 1, "ban_s": 600})
    orders = [limit("50000.00") for _ in range(40)]

    async def submit_then_query(order: Order) -> list[object]:
        placed = await adapter.submit(order)
        evidence = await adapter.fetch_order("BTC/USDT", order.client_order_id)
        return [placed, evidence]

    results = await asyncio.wait_for(asyncio.gather(*(submit_then_query(o) for o in orders)), 30)
    total_weight = len(orders) * (Weight.ORDER_POST + Weight.ORDER_GET)
    assert total_weight >= 5 * LIMIT
    failures = [outcome for pair in results for outcome in pair if not isinstance(outcome, Accepted)]
    assert failures == []
    assert budget.stats.throttled_429 == 0 and budget.stats.banned_418 == 0
    assert budget.stats.waits > 0 and warp.sleeps >= 4  # it really had to spread over several minutes
    state = await admin.state()
    assert sorted(o["clientOrderId"] for o in state["orders"]) == sorted(o.client_order_id for o in orders)
