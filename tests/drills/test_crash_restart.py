"""Drill 2 (issue 4): SIGKILL the gateway process at random moments of a 300-intent run, restart it.

A ``python -m tradeops.gateway`` child process (production lease timing and tuning) trades 300 intents
published on the bus: market and limit orders on three symbols, buys and sells, some limits crossing,
some resting, a third of the limits with an ``expires_at``. Three times, at a seeded random moment after
it started trading, it is SIGKILLed and a new process (a new owner, as a replaced task would be) is
started; it takes the lease once the dead one's expires, recovers, runs the startup reconciliation and
trades on. Afterwards the books must agree (``_books.assert_books_agree``: one venue order per client
order id, journal = projections = venue for orders and fills, positions from fills = the venue's), every
intent has its order, every order whose deadline passed is terminal (the expiry survived the restarts),
and every leader recorded a successful "gateway-startup" reconciliation run.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tradeops.config import Settings
from tradeops.domain.events import TradeIntent
from tradeops.domain.ids import client_order_id
from tradeops.domain.orders import Order
from tradeops.domain.values import Side
from tradeops.gateway.startup_recon import STARTUP_TRIGGER
from tradeops.store.orders import OrderStore
from tradeops.store.recon import ReconStore, RunOutcome, RunRecord

from ._books import check_books
from ._processes import free_port, publish, seconds_until_ready
from ._rig import DrillRig, intent, open_rig

pytestmark = [pytest.mark.integration, pytest.mark.drill, pytest.mark.timeout(600)]

SEED = 20240607
INTENTS = 300
KILLS = 3
PUBLISH_BATCH = 10
PUBLISH_EVERY_S = 1.0
QUANTITY = {"BTC/USDT": "0.001", "ETH/USDT": "0.01", "SOL/USDT": "0.1"}
TICK = Decimal("0.01")
EXPIRES_IN_S = (30.0, 60.0)
SETTLE_TIMEOUT_S = 300.0
POLL_S = 3.0  # a full books check reads every order, fill and journal entry: not too often


def make_intents(rng: random.Random, mids: dict[str, Decimal]) -> list[TradeIntent]:
    """Mixed market/limit intents across symbols; limits cross (fill) or rest (0.5% away, inside the
    1% price collar); a third of the limits expire 30-60 s after they are published (past a restart
    or two: a backlog of intents on a loaded machine must not expire them before intake)."""
    made = []
    symbols = sorted(QUANTITY)
    for n in range(INTENTS):
        symbol, side = symbols[n % 3], Side.BUY if rng.random() < 0.6 else Side.SELL
        if rng.random() < 0.5:
            made.append(intent(f"crash-{n}", symbol=symbol, side=side, quantity=QUANTITY[symbol]))
            continue
        crossing = rng.random() < 0.5
        toward = Decimal("1.005") if (side is Side.BUY) == crossing else Decimal("0.995")
        price = (mids[symbol] * toward).quantize(TICK)
        extra = {}
        if rng.random() < 1 / 3:  # a placeholder: publish_paced sets it relative to the publishing time
            extra["expires_at"] = datetime.now(UTC) + timedelta(seconds=rng.uniform(*EXPIRES_IN_S))
        made.append(
            intent(f"crash-{n}", symbol=symbol, side=side, quantity=QUANTITY[symbol], limit=price, **extra)
        )
    return made


async def publish_paced(rig: DrillRig, intents: list[TradeIntent], created: datetime) -> None:
    """Publish in paced batches; a deadline is moved to keep its distance from the publishing time."""
    for start in range(0, len(intents), PUBLISH_BATCH):
        shift = datetime.now(UTC) - created
        batch = [
            i if i.expires_at is None else i.model_copy(update={"expires_at": i.expires_at + shift})
            for i in intents[start : start + PUBLISH_BATCH]
        ]
        await publish(rig, batch)
        await asyncio.sleep(PUBLISH_EVERY_S)


async def test_sigkill_at_random_moments_loses_and_doubles_nothing(
    aws_settings: Settings, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    async with open_rig(aws_settings) as rig:
        state = await rig.sim_state()
        mids = {s: Decimal(state["symbols"][s.replace("/", "")]["mid"]) for s in QUANTITY}
        created, intents = datetime.now(UTC), make_intents(rng, mids)
        port = free_port()
        proc = rig.spawn_gateway("gw-crash-0", port, tmp_path / "gw-0.log")
        first_ready_s = await seconds_until_ready(rig, port, 90, "the first gateway process")
        publisher = asyncio.create_task(publish_paced(rig, intents, created))
        restarts: list[float] = []
        try:
            for kill in range(1, KILLS + 1):
                await asyncio.sleep(rng.uniform(2.0, 10.0))  # a random moment of trading
                proc.kill()  # SIGKILL: no drain, no lease release
                await asyncio.to_thread(proc.wait, 10)
                killed_at = time.monotonic()
                port = free_port()
                proc = rig.spawn_gateway(f"gw-crash-{kill}", port, tmp_path / f"gw-{kill}.log")
                await seconds_until_ready(rig, port, 90, f"restart {kill}")
                restarts.append(time.monotonic() - killed_at)
            await publisher
        finally:
            publisher.cancel()
            await asyncio.gather(publisher, return_exceptions=True)

        # The last process works through the backlog; intents a dead process had received come back after
        # the queue's visibility timeout (30 s); UNKNOWN submits resolve within the OMS's not-found grace.
        settled_from = time.monotonic()
        refused: set[str] = set()
        while True:
            refused |= refused_at_intake(rig)
            admitted = [i for i in intents if i.intent_id not in refused]
            books = await check_books(rig, admitted)
            if books.ok:
                break
            waited = time.monotonic() - settled_from
            assert waited < SETTLE_TIMEOUT_S, f"the books disagree after {waited:.0f} s: {books.summary()}"
            await asyncio.sleep(POLL_S)
        settle_s = time.monotonic() - settled_from
        assert proc.poll() is None, "the last gateway process is still trading"

        stored = {o.client_order_id: o for o in await asyncio.to_thread(all_orders, rig)}
        missing = [i.intent_id for i in admitted if client_order_id(i.intent_id) not in stored]
        assert not missing, f"intents without an order: {missing[:10]}"
        now_ms = time.time_ns() // 1_000_000
        overdue = [
            o.client_order_id
            for o in stored.values()
            if o.expires_at_ms and o.expires_at_ms < now_ms - 5_000 and not o.is_terminal
        ]
        assert not overdue, f"orders past their deadline still working: {overdue}"
        with_deadline = sum(1 for o in stored.values() if o.expires_at_ms is not None)
        assert with_deadline > 0

        runs = await asyncio.to_thread(startup_runs, rig)
        assert len(runs) >= KILLS + 1, (
            f"{len(runs)} successful startup reconciliations for {KILLS + 1} leaders"
        )
        print(
            f"\ndrill 2: {INTENTS} intents, {KILLS} SIGKILLs; first start to trading {first_ready_s:.1f} s; "
            f"restart (kill -> trading) {', '.join(f'{s:.1f}' for s in restarts)} s; settled "
            f"{settle_s:.1f} s after the last restart; {books.summary()}; "
            f"{with_deadline} orders with a deadline; {len(refused)} intents refused at intake; "
            f"{len(runs)} startup runs "
            f"(breaks applied {sum(r.summary.get('applied', 0) for r in runs)})"
        )


def refused_at_intake(rig: DrillRig) -> set[str]:
    """Intents the intake refused before journaling them (e.g. expired in the backlog): no order."""
    return {
        str(e["detail"]["intent_id"])
        for e in rig.tapped(max_batches=10)
        if e.get("detail-type") == "Order Rejected" and not e["detail"].get("client_order_id")
    }


def all_orders(rig: DrillRig) -> list[Order]:
    store = OrderStore(rig.settings)
    found: list[Order] = []
    for symbol in QUANTITY:
        cursor: str | None = None
        while True:
            page = store.by_symbol(symbol, limit=500, cursor=cursor)
            found += page.items
            cursor = page.cursor
            if cursor is None:
                break
    return found


def startup_runs(rig: DrillRig) -> list[RunRecord]:
    runs = ReconStore(rig.settings).list_runs(rig.settings.account, limit=50).items
    return [r for r in runs if r.trigger == STARTUP_TRIGGER and r.outcome is not RunOutcome.FAILED]
