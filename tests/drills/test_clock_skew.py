"""Drill 6 (issue 4): the venue's clock skewed by 3 s, both ways, against a full in-process gateway.

For each direction the simulator's ``clock_skew`` fault shifts its server time; the gateway's exchange
clock (NTP-style bursts every 10 s) must detect it: its offset estimate lands within 250 ms of the
skew, and it raises "Market Data Degraded" (``feed="clock"``, condition ``clock_skew``) for every
symbol because |offset| > 500 ms. Then a stream of intents must trade without one -1021 rejection
(signed timestamps carry the corrected time): every order FILLED, none REJECTED in the orders table.
A control call with an uncorrected ccxt exchange shows the skew really breaks signing (server behind).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from ccxt.base.errors import InvalidNonce

from tradeops.config import Settings
from tradeops.domain.orders import OrderState
from tradeops.domain.values import Side
from tradeops.store.orders import OrderStore
from tradeops.venue.sim_exchange import make_ccxt_exchange

from ._gateway import trading_gateway
from ._gateway_drills import check_books, market_data_ok, publish, settled
from ._rig import KEY, DrillRig, intent, open_rig, until

pytestmark = [pytest.mark.integration, pytest.mark.drill, pytest.mark.timeout(180)]
SKEW_MS = 3_000
TOLERANCE_MS = 250
ORDERS_PER_DIRECTION = 10
DEGRADED = "Market Data Degraded"


async def uncorrected_signed_read(rig: DrillRig) -> None:
    """A signed read with no clock correction (raises InvalidNonce when the server is behind)."""
    exchange = make_ccxt_exchange(rig.sim.url, KEY["apiKey"], KEY["secret"])
    exchange.enableRateLimit = False
    try:
        await exchange.fetch_balance()
    finally:
        await exchange.close()


def rejected_orders(rig: DrillRig) -> list[Any]:
    return list(OrderStore(rig.settings).by_status(OrderState.REJECTED, limit=500).items)


async def test_a_skewed_venue_clock_is_detected_and_no_order_is_rejected_for_it(
    aws_settings: Settings,
) -> None:
    tapped: list[dict[str, Any]] = []
    async with open_rig(aws_settings, tap_types=(DEGRADED,)) as rig, trading_gateway(rig) as app:
        await market_data_ok(app)
        symbols = set(app.config.symbols)
        assert abs(app.clock_offset_ms()) < TOLERANCE_MS
        intents = [intent("cs-before", symbol="BTC/USDT", quantity="0.001")]
        await publish(rig, intents)
        await settled(rig, intents, 30)

        for skew in (-SKEW_MS, SKEW_MS):
            await rig.admin("POST", "/faults", {"faults": [{"kind": "clock_skew", "ms": skew}]})
            if skew < 0:  # control: our timestamps are 3 s ahead of the server's: Binance's -1021
                with pytest.raises(InvalidNonce):
                    await uncorrected_signed_read(rig)

            async def detected(skew: int = skew) -> bool:
                return abs(app.clock_offset_ms() - skew) <= TOLERANCE_MS

            await until(detected, 30, f"the gateway's clock offset near {skew} ms")
            print(f"drill 6: skew {skew} ms, gateway offset estimate {app.clock_offset_ms()} ms")

            async def alerted() -> bool:
                tapped.extend(e["detail"] for e in await asyncio.to_thread(rig.tapped))
                alerts = {
                    d["symbol"] for d in tapped if d["feed"] == "clock" and d["condition"] == "clock_skew"
                }
                return alerts == symbols

            if skew < 0:  # from 0 to -3 s the alert is raised; from -3 s to +3 s it stays raised (no change)
                await until(alerted, 20, "a clock-skew Market Data Degraded event for every symbol")
                alert = next(d for d in tapped if d["feed"] == "clock")
                assert alert["severity"] == "warning" and abs(alert["staleness_ms"] - SKEW_MS) <= TOLERANCE_MS

            stream = [
                intent(
                    f"cs-{skew}-{n}",
                    symbol="BTC/USDT",
                    side=Side.BUY if n % 2 == 0 else Side.SELL,
                    quantity="0.001",
                )
                for n in range(ORDERS_PER_DIRECTION)
            ]
            for one in stream:  # a stream, ~5 intents/s
                await publish(rig, [one])
                await asyncio.sleep(0.2)
            done = await settled(rig, stream, 60)
            states = {o.state for o in done.values()}
            assert states == {OrderState.FILLED}, {i: (o.state, o.reason) for i, o in done.items()}
            intents += stream

        rejected = await asyncio.to_thread(rejected_orders, rig)
        assert rejected == [], [(o.client_order_id, o.reason) for o in rejected]
        await rig.admin("DELETE", "/faults")

        async def realigned() -> bool:
            return abs(app.clock_offset_ms()) <= TOLERANCE_MS

        await until(realigned, 30, "the offset back near 0 once the skew is gone")

        async def recovered() -> bool:
            tapped.extend(e["detail"] for e in await asyncio.to_thread(rig.tapped))
            return {
                d["symbol"] for d in tapped if d["feed"] == "clock" and d["condition"] == "recovered"
            } == (symbols)

        await until(recovered, 20, "a clock recovery event for every symbol")
        await check_books(rig, intents)
