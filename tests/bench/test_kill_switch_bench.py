"""Kill-switch benchmark: time to all-cancelled with 200 open orders, against bare ccxt, in one run.

Baseline: an unmodified ccxt binance on the same simulator places 200 resting orders and cancels them
all concurrently; its time is from the first cancel sent to the last answered. Kill switch: the
in-process gateway holds 200 resting orders, :meth:`KillSwitch.engage` is called, and the time runs
until ``/_sim/state`` shows every order CANCELED (command, control table, event delivery, the
gateway's re-read, the cancel fan-out). Each side runs ``RUNS`` times; the p50s and their ratio are
printed. Between kill-switch runs trading resumes through an approved four-eyes proposal.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from decimal import Decimal

import pytest

from tradeops.aws.events import EventPublisher
from tradeops.change_management import EVENT_SOURCE, ChangeService, Operator
from tradeops.config import Settings
from tradeops.domain.control import TradingState
from tradeops.kill_switch import KillSwitch
from tradeops.venue.sim_exchange import make_ccxt_exchange

from ..drills._halt import HALT_LIMITS, rest_orders, time_until_all_cancelled, trading_gateway, venue_mid
from ..drills._rig import KEY, DrillRig, open_rig, until

pytestmark = [pytest.mark.bench, pytest.mark.timeout(900)]
ORDERS = 200
RUNS = 3


async def bare_ccxt_cancel_seconds(rig: DrillRig, run: int) -> float:
    """Place ``ORDERS`` resting buys with bare ccxt, then time cancelling them all concurrently."""
    exchange = make_ccxt_exchange(rig.sim.url, KEY["apiKey"], KEY["secret"])
    exchange.enableRateLimit = False
    try:
        await exchange.load_markets()
        price = str((await venue_mid(rig, "SOL/USDT") * Decimal("0.996")).quantize(Decimal("0.01")))
        ids = [f"bench{run}x{n}" for n in range(ORDERS)]
        for start in range(0, ORDERS, 20):
            await asyncio.gather(
                *(
                    exchange.create_order("SOL/USDT", "limit", "buy", "0.1", price, {"newClientOrderId": cid})
                    for cid in ids[start : start + 20]
                )
            )
        started = time.monotonic()
        await asyncio.gather(
            *(exchange.cancel_order(None, "SOL/USDT", {"origClientOrderId": c}) for c in ids)
        )
        elapsed = time.monotonic() - started
        assert not {o["clientOrderId"] for o in await rig.venue_orders() if o["status"] == "NEW"} & set(ids)
        return elapsed
    finally:
        await exchange.close()


async def test_kill_switch_time_to_all_cancelled_against_bare_ccxt(aws_settings: Settings) -> None:
    async with open_rig(aws_settings, limits=HALT_LIMITS) as rig:
        baseline = [await bare_ccxt_cancel_seconds(rig, run) for run in range(RUNS)]
        switch = KillSwitch(rig.settings, EventPublisher(rig.settings, EVENT_SOURCE))
        changes = ChangeService(rig.settings, EventPublisher(rig.settings, EVENT_SOURCE))
        measured: list[float] = []
        async with trading_gateway(rig) as app:
            for run in range(RUNS):
                ids = await rest_orders(rig, app, ORDERS, prefix=f"bench-{run}")
                started = time.monotonic()
                await asyncio.to_thread(switch.engage, f"bench run {run}", "bench")
                measured.append(await time_until_all_cancelled(rig, ids, started))
                proposal = await asyncio.to_thread(
                    switch.request_resume, "bench", Operator("risk-a", frozenset({"risk"}))
                )
                await asyncio.to_thread(
                    changes.approve, proposal.proposal_id, Operator("risk-b", frozenset({"risk"}))
                )

                async def active() -> bool:
                    return app.control.trading_state is TradingState.ACTIVE

                await until(active, 15, "trading resumed")
    base, kill = statistics.median(baseline), statistics.median(measured)
    print(
        f"\nkill switch, {ORDERS} open orders, {RUNS} runs: time to all cancelled p50 {kill * 1000:.0f} ms "
        f"(runs {', '.join(f'{m * 1000:.0f}' for m in measured)} ms); bare ccxt concurrent cancel p50 "
        f"{base * 1000:.0f} ms (runs {', '.join(f'{b * 1000:.0f}' for b in baseline)} ms); "
        f"ratio {kill / base:.1f}x"
    )
    assert all(m > 0 for m in measured) and all(b > 0 for b in baseline)
