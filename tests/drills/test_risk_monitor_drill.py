"""Risk-monitor drill (issue 5 item 4): a price move past the daily loss limit halts trading in one pass.

A gateway leads and writes a portfolio snapshot every second (its BTC inventory marked at the mid).
``/_sim/price`` drops BTC 5 %: the account loses about 3000 USDT against a 2000 USDT daily loss limit.
One invocation of ``functions/risk_monitor/handler.py`` (as the local runner makes it: a "Scheduled
Event" envelope and a Lambda context) must halt trading: the control table says HALTED, the gateway
applies it (cancelling its resting order), "Risk Breach" and "Kill Switch Engaged" are on the bus.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tradeops.config import Settings
from tradeops.domain.control import TradingState
from tradeops.local.lambda_context import make_context
from tradeops.local.scheduler import scheduled_event
from tradeops.routes import FUNCTIONS_BY_NAME, SCHEDULES
from tradeops.store.snapshots import SnapshotStore

from ._halt import HALT_LIMITS, rest_orders, time_until_all_cancelled, trading_gateway, venue_mid
from ._rig import open_rig, until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
HANDLER = Path(__file__).resolve().parents[2] / "functions" / "risk_monitor" / "handler.py"
LIMITS = {**HALT_LIMITS, "max_daily_loss": Decimal(2000)}


def _handler(settings: Settings) -> Any:
    spec = importlib.util.spec_from_file_location(f"risk_monitor_drill_{uuid.uuid4().hex[:8]}", HANDLER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_handler(settings)


async def test_a_price_move_past_the_daily_loss_limit_halts_trading_in_one_evaluation(
    aws_settings: Settings,
) -> None:
    tap = ("Risk Breach", "Kill Switch Engaged")
    async with open_rig(aws_settings, limits=LIMITS, tap_types=tap) as rig, trading_gateway(rig) as app:
        snapshots = SnapshotStore(rig.settings)
        account = rig.settings.account

        async def latest_equity() -> Decimal | None:
            record = await asyncio.to_thread(snapshots.latest, account)
            return None if record is None else record.equity

        async def has_snapshot() -> bool:
            return await latest_equity() is not None

        await until(has_snapshot, 15, "a first snapshot")
        start = await latest_equity()
        assert start is not None
        (resting,) = await rest_orders(rig, app, 1, prefix="rm")

        btc = await venue_mid(rig, "BTC/USDT")
        moved = (btc * Decimal("0.95")).quantize(Decimal(1))
        await rig.admin("POST", "/price", {"symbol": "BTCUSDT", "price": str(moved)})

        async def loss_visible() -> bool:
            equity = await latest_equity()
            return equity is not None and start - equity > LIMITS["max_daily_loss"]

        await until(loss_visible, 20, "a snapshot showing the loss")

        spec = FUNCTIONS_BY_NAME["risk_monitor"]
        schedule = next(s for s in SCHEDULES if s.function == spec.name)
        envelope = scheduled_event(
            schedule,
            region=rig.settings.region,
            account_id="123456789012",
            bus_name=rig.settings.bus_name,
            now=time.time(),
        )
        context = make_context(spec, region=rig.settings.region, account_id="123456789012")
        result = await asyncio.to_thread(_handler(rig.settings), envelope, context)
        print(f"\nrisk monitor: {result}")
        assert "DAILY_LOSS" in result["breaches"] and result["trading_state"] == "HALTED"

        async def halted() -> bool:
            return app.control.trading_state is TradingState.HALTED

        await until(halted, 5, "the gateway applies the halt")
        await time_until_all_cancelled(rig, [resting], time.monotonic(), 10)
        seen: set[str] = set()

        async def published() -> bool:
            seen.update(m["detail-type"] for m in await asyncio.to_thread(rig.tapped))
            return set(tap) <= seen

        await until(published, 10, "Risk Breach and Kill Switch Engaged on the bus")
