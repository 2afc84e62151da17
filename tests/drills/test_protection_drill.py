"""Drill: a protected position is closed by the venue itself after the gateway has stopped.

A gateway opens a position with a stop-loss and a take-profit; its OCO rests on the venue. The gateway
stops (cleanly: a stop never cancels orders). A -8% price jump goes through the stop with no gateway
running, and the venue's ground truth shows the stop leg filled, the take-profit leg ended by the OCO,
and our traded quantity in the symbol back to flat with nothing left locked.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from tradeops.aws.events import EventPublisher
from tradeops.config import Settings
from tradeops.domain.ids import OrderLeg, client_order_id
from tradeops.domain.protection import leg_ids, list_client_order_id

from ._rig import KEY, intent, open_rig, until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SYMBOL = "SOL/USDT"


def ours(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [o for o in state["orders"] if o["apiKey"] == KEY["apiKey"] and o["symbol"] == "SOLUSDT"]


async def test_a_price_jump_through_the_stop_closes_the_position_with_the_gateway_stopped(
    aws_settings: Settings,
) -> None:
    async with open_rig(aws_settings) as rig:
        app = rig.gateway("gw-protect")
        run = asyncio.create_task(app.run())

        async def trading() -> bool:
            return app.session is not None and app.session.recovered

        await until(trading, 45, "the gateway leads and trades")
        last = Decimal((await rig.sim_state())["symbols"]["SOLUSDT"]["lastPrice"])
        entry = intent(
            "protected", quantity="1", stop_loss=last * Decimal("0.97"), take_profit=last * Decimal("1.05")
        )
        await asyncio.to_thread(EventPublisher(rig.settings, "tradeops.strategy").publish, entry)
        entry_cid = client_order_id(entry.intent_id, OrderLeg.ENTRY)

        async def protected() -> bool:
            """Some OCO generation of the entry is open on the venue covering the whole fill."""
            orders = {o["clientOrderId"]: o for o in ours(await rig.sim_state())}
            filled = orders.get(entry_cid, {}).get("executedQty")
            for generation in range(4):
                stop = orders.get(leg_ids(list_client_order_id(entry.intent_id, generation))[0])
                if (
                    stop
                    and stop["status"] == "NEW"
                    and filled
                    and Decimal(stop["origQty"]) == Decimal(filled)
                ):
                    return True
            return False

        await until(protected, 30, "the OCO covers the filled entry on the venue")
        app.request_stop()
        await asyncio.wait_for(run, 30)
        assert app.session is None

        await rig.admin("POST", "/price", {"symbol": SYMBOL, "jump_pct": "-8"})

        async def closed_by_the_venue() -> bool:
            legs = [o for o in ours(await rig.sim_state()) if o["orderListId"] not in (-1, None)]
            return any(o["type"] == "STOP_LOSS_LIMIT" and o["status"] == "FILLED" for o in legs)

        await until(closed_by_the_venue, 20, "the stop leg filled with no gateway running")
        state = await rig.sim_state()
        orders = ours(state)
        live = [o for o in orders if o["orderListId"] not in (-1, None) and o["status"] == "FILLED"]
        assert len(live) == 1 and live[0]["type"] == "STOP_LOSS_LIMIT"
        sibling = next(
            o for o in orders if o["orderListId"] == live[0]["orderListId"] and o["type"] == "LIMIT_MAKER"
        )
        assert sibling["status"] in ("EXPIRED", "CANCELED"), sibling  # ended by the OCO, not filled
        bought = sum(Decimal(o["executedQty"]) for o in orders if o["side"] == "BUY")
        sold = sum(Decimal(o["executedQty"]) for o in orders if o["side"] == "SELL")
        assert bought == sold == Decimal(1), (bought, sold)  # flat: the stop sold what the entry bought
        balance = state["balances"][KEY["apiKey"]]["SOL"]
        assert Decimal(balance["locked"]) == 0
        assert not [o for o in orders if o["status"] in ("NEW", "PARTIALLY_FILLED")]
