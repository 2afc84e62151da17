"""Fixtures: an in-process simulator on free loopback ports with a fixed seed, and ccxt clients on it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from ccxt.async_support import binance

from tradeops.sim.config import SimConfig
from tradeops.sim.server import RunningSim, start_sim
from tradeops.venue.sim_exchange import make_ccxt_exchange

SEED = 42
API_KEY = "test-key-0001"
API_SECRET = "test-secret-0001-0123456789abcdef"


@pytest.fixture
async def sim() -> AsyncIterator[RunningSim]:
    """A simulator (seed 42, default symbols) with one funded key, closed after the test."""
    running = await start_sim(SimConfig(seed=SEED), "127.0.0.1", 0, 0)
    running.venue.add_key(API_KEY, API_SECRET)
    try:
        yield running
    finally:
        await running.close()


@pytest.fixture
async def admin(sim: RunningSim) -> AsyncIterator[Admin]:
    """A small client of the admin API."""
    async with aiohttp.ClientSession() as session:
        yield Admin(session, sim.admin_url)


class Admin:
    """POST/GET/DELETE helpers returning (status, JSON)."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session, self.base = session, base

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, f"{self.base}{path}", json=body) as resp:
            return resp.status, await resp.json(content_type=None)

    async def faults(self, *faults: dict[str, Any]) -> None:
        status, body = await self.call("POST", "/faults", {"faults": list(faults)})
        assert status == 200, body


@pytest.fixture
async def ccxt_factory(sim: RunningSim) -> AsyncIterator[Callable[..., Awaitable[binance]]]:
    """Build ccxt exchanges on the simulator (markets loaded, client rate limiter off); all closed after."""
    made: list[binance] = []

    async def build(pro: bool = False, md: bool = False, **options: Any) -> binance:
        ex = make_ccxt_exchange(
            sim.url, API_KEY, API_SECRET, pro=pro, md_url=sim.md_url if md else None, options=options
        )
        ex.enableRateLimit = False
        made.append(ex)
        await ex.load_markets()
        return ex

    try:
        yield build
    finally:
        for ex in made:
            await ex.close()


@pytest.fixture
async def ex(ccxt_factory: Callable[..., Awaitable[binance]]) -> binance:
    """A REST ccxt.binance on the simulator."""
    return await ccxt_factory()


Eventually = Callable[[Callable[[], Awaitable[bool]]], Awaitable[None]]


@pytest.fixture
def eventually() -> Eventually:
    """``await eventually(check)``: poll an async predicate every 50 ms, failing after 5 s."""

    async def wait(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not await check():
            assert time.monotonic() < deadline, "condition not met in time"
            await asyncio.sleep(0.05)

    return wait
