"""Helpers of the kill-switch drills and benchmark: a trading in-process gateway, resting orders, timing.

:func:`trading_gateway` starts an in-process gateway like ``rig.gateway()`` (with a longer lease) and
waits until it leads and trades with every symbol quoted. :func:`rest_orders` places ``count`` resting
limit buys (0.4 % under the mid, inside the collar) through the intake and waits until the venue holds
them all. :func:`time_until_all_cancelled` polls the venue's ground truth until every given order is
CANCELED and returns the seconds since ``started``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from tradeops.domain.ids import client_order_id
from tradeops.domain.values import Side
from tradeops.gateway.app import GatewayApp
from tradeops.gateway.lease import LeaseTiming

from ._gateway import session_of
from ._gateway import trading_gateway as _trading_gateway
from ._rig import DrillRig, intent, until

HALT_LIMITS: dict[str, Decimal] = {
    "max_orders_per_second": Decimal(1000),
    "order_burst": Decimal(1000),
    "max_open_orders": Decimal(1000),
    "max_open_orders_per_symbol": Decimal(1000),
}
"""Room for hundreds of resting orders (the drills measure the halt, not the pre-trade limits)."""
BATCH = 10
LEASE = LeaseTiming(ttl_s=15.0, renew_interval_s=1.0, retry_interval_s=0.2, safety_margin_s=3.0)
"""The rig's 3 s lease, lengthened: these drills are not about failover, and placing hundreds of orders
on a loaded 2-core machine must not cost the gateway its lease (no standby is running)."""


def trading_gateway(rig: DrillRig, owner: str = "gw-k", timeout_s: float = 45) -> Any:
    """:func:`._gateway.trading_gateway` with the longer :data:`LEASE`."""
    return _trading_gateway(rig, owner, timeout_s, lease_timing=LEASE)


async def venue_mid(rig: DrillRig, symbol: str) -> Decimal:
    return Decimal((await rig.sim_state())["symbols"][symbol.replace("/", "")]["mid"])


async def rest_orders(
    rig: DrillRig,
    app: GatewayApp,
    count: int,
    *,
    prefix: str,
    symbol: str = "SOL/USDT",
    quantity: str = "0.1",
) -> list[str]:
    """Place ``count`` resting limit buys; returns their client order ids once the venue has them all."""
    intake = session_of(app).intake
    assert intake is not None
    price = (await venue_mid(rig, symbol) * Decimal("0.996")).quantize(Decimal("0.01"))
    intents = [
        intent(f"{prefix}-{n}", symbol=symbol, side=Side.BUY, quantity=quantity, limit=price)
        for n in range(count)
    ]
    for start in range(0, len(intents), BATCH):  # in batches: a flood would starve the lease renewals
        await asyncio.gather(*(intake.submit_local(i) for i in intents[start : start + BATCH]))
    ids = [client_order_id(i.intent_id) for i in intents]
    wanted = set(ids)

    async def resting() -> bool:
        live = {o["clientOrderId"] for o in await rig.venue_orders() if o["status"] == "NEW"}
        return wanted <= live

    await until(resting, 120, f"{count} resting orders on the venue")
    return ids


async def time_until_all_cancelled(
    rig: DrillRig, ids: Iterable[str], started: float, timeout_s: float = 30
) -> float:
    """Seconds from ``started`` (``time.monotonic()``) until the venue shows every order CANCELED."""
    wanted = set(ids)
    deadline = started + timeout_s
    while True:
        cancelled = {o["clientOrderId"] for o in await rig.venue_orders() if o["status"] == "CANCELED"}
        now = time.monotonic()
        if wanted <= cancelled:
            return now - started
        assert now < deadline, (
            f"{len(wanted - cancelled)} of {len(wanted)} orders not cancelled in {timeout_s} s"
        )
        await asyncio.sleep(0.02)
