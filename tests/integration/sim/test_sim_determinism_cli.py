"""Same seed, same market; and `python -m tradeops.sim` serves a venue and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from typing import Any

import pytest

from tradeops.sim import SimConfig, SimVenue, VenueEvent
from tradeops.sim.commands import READY_PREFIX
from tradeops.venue.sim_exchange import make_ccxt_exchange

pytestmark = pytest.mark.integration


def _first_trades(seed: int, count: int = 1000) -> list[dict[str, Any]]:
    now = [1_700_000_000_000]
    venue = SimVenue(SimConfig(seed=seed), lambda: now[0])
    trades: list[dict[str, Any]] = []
    venue.listen(lambda e: trades.append(e.payload) if _is_trade(e) else None)
    for _ in range(20 * count):
        if len(trades) >= count:
            break
        venue.step()
        now[0] += 50
    assert len(trades) >= count
    return trades[:count]


def _is_trade(event: VenueEvent) -> bool:
    return event.channel.endswith("@trade")


def test_same_seed_same_first_thousand_trades() -> None:
    first = _first_trades(42)
    assert first == _first_trades(42)
    assert [(t["s"], t["p"], t["q"]) for t in first] != [(t["s"], t["p"], t["q"]) for t in _first_trades(43)]


async def test_cli_serves_and_stops() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tradeops.sim", "--port", "0", "--md-port", "0", "--seed", "3",
        "--symbols", "BTC/USDT,ETH/USDT", "--balance", "USDT=500", "--balance", "BTC=0.5",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        ready: dict[str, str] = {}
        for _ in range(40):
            line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
            if line.startswith(READY_PREFIX):
                ready = json.loads(line[len(READY_PREFIX) :])
                break
        assert ready, "the simulator never printed its URLs"
        ex = make_ccxt_exchange(ready["url"], ready["api_key"], ready["api_secret"])
        try:
            await ex.load_markets()
            assert set(ex.markets) == {"BTC/USDT", "ETH/USDT"}
            balance = await ex.fetch_balance()
            assert balance["USDT"]["free"] == 500 and balance["BTC"]["free"] == 0.5
        finally:
            await ex.close()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
