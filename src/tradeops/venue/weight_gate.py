"""Requests ccxt makes on its own (order-book snapshots, ticker polls), charged to a shared weight budget
and sent one at a time (:class:`WeightGate`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from ccxt.base.errors import DDoSProtection, RateLimitExceeded

from tradeops.venue.ratelimit import WeightBudget


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
