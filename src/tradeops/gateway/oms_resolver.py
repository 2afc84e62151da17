"""Resolving UNKNOWN orders from venue evidence only: query by client order id, never re-send.

A found order takes the venue's status and trades. A NOT-FOUND proves nothing at first (the request
may still be in flight, or queued behind the venue's gateway): the order is concluded REJECTED with
reason ``not_found_at_venue`` only after ``not_found_checks`` misses spread over at least
``not_found_grace_s`` seconds. REJECTED rather than EXPIRED because the order never existed at the venue;
EXPIRED would claim it lived there. An order the venue once acknowledged (it has a venue order id) is
never concluded missing: that is a reconciliation break, logged and left UNKNOWN for reconciliation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TYPE_CHECKING

from tradeops.domain.orders import Order, OrderState
from tradeops.gateway.oms_ports import OmsConfig
from tradeops.observability import get_logger
from tradeops.venue.adapter import NotFound
from tradeops.venue.outcomes import Accepted

if TYPE_CHECKING:
    from tradeops.gateway.oms import OrderManager

log = get_logger("tradeops.gateway.oms")


class Evidence(StrEnum):
    FOUND = "found"
    NOT_FOUND = "not_found"
    UNAVAILABLE = "unavailable"


class UnknownResolver:
    """One background resolution per UNKNOWN order, with capped exponential backoff between queries."""

    def __init__(
        self,
        manager: OrderManager,
        config: OmsConfig,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._manager = manager
        self._config = config
        self._sleep = sleep
        self._monotonic = monotonic
        self._active: dict[str, asyncio.Task[Order]] = {}

    def start(self, cid: str) -> None:
        """Resolve ``cid`` in the background unless a resolution of it is running already."""
        if cid in self._active:
            return
        task = self._manager.spawn(self.resolve(cid))
        self._active[cid] = task
        task.add_done_callback(lambda _: self._active.pop(cid, None))

    def is_resolving(self, cid: str) -> bool:
        return cid in self._active

    async def wait_idle(self, timeout_s: float) -> None:
        """Wait until no resolution is running (raises TimeoutError after ``timeout_s``)."""
        async with asyncio.timeout(timeout_s):
            while self._active:
                await asyncio.gather(*self._active.values(), return_exceptions=True)

    async def check(self, cid: str) -> Evidence:
        """Query the venue once by client order id and apply what it says (status and trades)."""
        manager = self._manager
        order = await manager.get(cid)
        outcome = await manager.venue.fetch_order(order.symbol, cid)
        if not isinstance(outcome, Accepted):
            log.warning("order query failed", extra={"cid": cid, "outcome": repr(outcome)})
            return Evidence.UNAVAILABLE
        if isinstance(outcome.value, NotFound):
            return Evidence.NOT_FOUND
        await manager.apply_venue_order(outcome.value, fetch_missing_trades=True)
        return Evidence.FOUND

    async def resolve(self, cid: str) -> Order:
        """Query until the order leaves UNKNOWN or the attempt budget is spent (then it stays UNKNOWN)."""
        config = self._config
        delay = config.resolve_initial_delay_s
        misses = 0
        first_miss: float | None = None
        for _ in range(config.resolve_max_attempts):
            order = await self._manager.get(cid)
            if order.state is not OrderState.UNKNOWN:
                return order
            evidence = await self.check(cid)
            if evidence is Evidence.NOT_FOUND:
                if order.venue_order_id is not None:
                    log.error(
                        "acknowledged order not found at the venue: reconciliation break",
                        extra={"cid": cid, "venue_order_id": order.venue_order_id},
                    )
                else:
                    misses += 1
                    now = self._monotonic()
                    first_miss = now if first_miss is None else first_miss
                    if misses >= config.not_found_checks and now - first_miss >= config.not_found_grace_s:
                        return await self._manager.conclude_not_found(cid)
            elif evidence is Evidence.FOUND:
                resolved = await self._manager.get(cid)
                if resolved.state is not OrderState.UNKNOWN:
                    return resolved
            await self._sleep(delay)
            delay = min(delay * 2, config.resolve_max_delay_s)
        log.critical("UNKNOWN order still unresolved after every attempt", extra={"cid": cid})
        return await self._manager.get(cid)
