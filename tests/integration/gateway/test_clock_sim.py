"""Exchange clock against the simulator with a 3 s server clock skew (drill 6 shape)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from ccxt.base.errors import InvalidNonce

from tradeops.domain.events import MarketDataCondition, MarketDataDegraded, Severity
from tradeops.gateway.clock import ExchangeClock
from tradeops.sim.config import SimConfig
from tradeops.sim.server import RunningSim, start_sim
from tradeops.venue.sim_exchange import make_ccxt_exchange

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
KEY = "clock-key-0001"
SECRET = "clock-secret-0001-0123456789abcdef"
SYMBOLS = ["BTC/USDT", "ETH/USDT"]


@pytest.fixture
async def sim() -> AsyncIterator[RunningSim]:
    running = await start_sim(SimConfig(seed=42), "127.0.0.1", 0, 0)
    running.venue.add_key(KEY, SECRET)
    try:
        yield running
    finally:
        await running.close()


@pytest.fixture
async def exchange(sim: RunningSim) -> AsyncIterator[Any]:
    ex = make_ccxt_exchange(sim.url, KEY, SECRET)
    ex.enableRateLimit = False
    try:
        await ex.load_markets()
        yield ex
    finally:
        await ex.close()


async def set_skew(sim: RunningSim, ms: int) -> None:
    async with aiohttp.ClientSession() as session:
        body = {"faults": [{"kind": "clock_skew", "ms": ms}]}
        async with session.post(f"{sim.admin_url}/faults", json=body) as resp:
            assert resp.status == 200, await resp.text()


@pytest.mark.parametrize("skew_ms", [-3_000, 3_000])
async def test_skew_detected_and_signed_calls_succeed_after_correction(
    sim: RunningSim, exchange: Any, skew_ms: int
) -> None:
    events: list[MarketDataDegraded] = []
    clock = ExchangeClock(exchange.fetch_time, symbols=SYMBOLS, on_event=events.append)
    clock.attach(exchange)
    await clock.measure()
    assert abs(clock.offset_ms) < 100 and not clock.skewed and events == []

    await set_skew(sim, skew_ms)
    if skew_ms < 0:  # a server behind us sees our timestamps 3 s in the future: Binance's -1021
        with pytest.raises(InvalidNonce):
            await exchange.fetch_balance()
    estimate = await clock.measure()
    assert estimate is not None and abs(estimate.offset_ms - skew_ms) < 100
    assert clock.skewed
    assert {(e.symbol, e.condition, e.severity) for e in events} == {
        (s, MarketDataCondition.CLOCK_SKEW, Severity.WARNING) for s in SYMBOLS
    }
    assert exchange.options["timeDifference"] == -estimate.offset_ms

    # after correction: signed reads and an order round trip are accepted (no -1021)
    balance = await exchange.fetch_balance()
    assert Decimal(str(balance["USDT"]["free"])) > 0
    ticker = await exchange.fetch_ticker("BTC/USDT")
    price = exchange.price_to_precision("BTC/USDT", Decimal(str(ticker["bid"])) * Decimal("0.9"))
    order = await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, price)
    await exchange.cancel_order(order["id"], "BTC/USDT")

    await set_skew(sim, 0)
    await clock.measure()
    assert not clock.skewed and [e.condition for e in events[len(SYMBOLS) :]] == [
        MarketDataCondition.RECOVERED
    ] * len(SYMBOLS)
