"""GatewayApp end to end: moto provisioned like `tradeops up`, an in-process simulator, intents on the bus.

Proves the composition: bus -> rule -> intents queue -> intake -> journal -> risk -> venue, with the
orders table, the journal and the simulator's ground truth (``/_sim/state``) agreeing; a limit breach
DENIED with an "Order Rejected" event; HALTED through the control table + a "Control Changed" event on
the gateway-events queue cancelling every open order; a graceful stop releasing the lease at once, so a
standby that was waiting takes over without waiting for the TTL.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from tradeops.aws.clients import client
from tradeops.aws.events import EventPublisher
from tradeops.config import Settings
from tradeops.domain.control import TradingState
from tradeops.domain.events import ControlChanged, TradeIntent
from tradeops.domain.ids import client_order_id
from tradeops.domain.orders import OrderState
from tradeops.domain.values import OrderType, Side
from tradeops.gateway.app import EXIT_OK, GatewayApp
from tradeops.gateway.intake import IntakeConfig
from tradeops.gateway.lease import LeaseTiming
from tradeops.gateway.oms_ports import OmsConfig
from tradeops.gateway.session import SessionTuning
from tradeops.gateway.wiring import GatewayConfig
from tradeops.local.provision import provision
from tradeops.sim.config import SimConfig
from tradeops.sim.server import RunningSim, start_sim
from tradeops.store.control import ControlStore
from tradeops.store.journal import JournalStore
from tradeops.store.leases import LeaseStore
from tradeops.store.limits import LimitStore, LimitVersion
from tradeops.store.orders import OrderStore

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

KEY = {"apiKey": "gw-app-key-0001-abcdefghijklmnop", "secret": "gw-app-secret-0001-0123456789abcdef"}
SYMBOL = "SOL/USDT"
# Generous enough that a renewal stalled by a loaded CI machine does not cost the lead mid-test.
TIMING = LeaseTiming(ttl_s=8.0, renew_interval_s=1.0, retry_interval_s=0.2, safety_margin_s=2.0)
TUNING = SessionTuning(
    oms=OmsConfig(poll_interval_s=1.0, poll_fast_interval_s=0.3, stream_silence_s=1.0),
    intake=IntakeConfig(wait_time_s=1, retry_delay_s=1),
    events_wait_s=1,
)


@dataclass
class Rig:
    settings: Settings
    sim: RunningSim
    http: aiohttp.ClientSession
    tap: str

    def gateway(self, owner: str) -> GatewayApp:
        config = GatewayConfig(health_port=0, sim_url=self.sim.url, sim_md_url=self.sim.md_url, owner=owner)
        return GatewayApp(self.settings, config, lease_timing=TIMING, tuning=TUNING, stale_ms=3_000)

    async def ready(self, app: GatewayApp) -> tuple[int, dict[str, Any]]:
        async with self.http.get(f"{app.health.url}/readyz") as resp:
            return resp.status, await resp.json()

    async def venue_orders(self) -> list[dict[str, Any]]:
        async with self.http.get(f"{self.sim.admin_url}/state") as resp:
            state: dict[str, Any] = await resp.json()
        return [o for o in state["orders"] if o["apiKey"] == KEY["apiKey"]]

    def rejections(self) -> list[dict[str, Any]]:
        sqs = client("sqs", self.settings)
        found: list[dict[str, Any]] = []
        for _ in range(3):
            messages = sqs.receive_message(QueueUrl=self.tap, MaxNumberOfMessages=10).get("Messages", [])
            found += [json.loads(m["Body"]) for m in messages]
        return found


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, f"not in time: {what}"
        await asyncio.sleep(0.1)


@pytest.fixture
async def rig(aws_settings: Settings) -> AsyncIterator[Rig]:
    settings = aws_settings
    await asyncio.to_thread(provision, settings, exchange_key=KEY)
    # Looser rate limits than the demo defaults (20 intents arrive at once), as an approved version.
    LimitStore(settings).put_version(
        LimitVersion(
            "global",
            1,
            {"max_orders_per_second": Decimal(100), "order_burst": Decimal(100)},
            "risk-a",
            "risk-b",
            "p-1",
            1,
        )
    )
    sqs, events = client("sqs", settings), client("events", settings)
    tap = sqs.create_queue(QueueName=f"{settings.bus_name}-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=tap, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"detail-type": ["Order Rejected"]}
    events.put_rule(Name="tap", EventBusName=settings.bus_name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule="tap", EventBusName=settings.bus_name, Targets=[{"Id": "tap", "Arn": arn}])
    sim = await start_sim(SimConfig(seed=11), "127.0.0.1", 0, 0)
    sim.venue.add_key(KEY["apiKey"], KEY["secret"])
    http = aiohttp.ClientSession()
    try:
        yield Rig(settings, sim, http, tap)
    finally:
        await http.close()
        await sim.close()


def intent(n: int, *, limit: Decimal | None = None, quantity: str = "0.1") -> TradeIntent:
    return TradeIntent(
        correlation_id=f"c-{n}",
        intent_id=f"gw-{n}",
        strategy="demo",
        symbol=SYMBOL,
        side=Side.BUY,
        type=OrderType.MARKET if limit is None else OrderType.LIMIT,
        quantity=Decimal(quantity),
        limit_price=limit,
    )


async def test_intents_from_the_bus_become_one_venue_order_each_then_halt_and_stop(rig: Rig) -> None:
    leader, standby = rig.gateway("gw-a"), rig.gateway("gw-b")
    leader_run = asyncio.create_task(leader.run())
    await until(lambda: _status_is(rig, leader, 200), 30, "leader ready")
    standby_run = asyncio.create_task(standby.run())
    await until(lambda: _healthy(rig, standby), 15, "standby alive")
    status, body = await rig.ready(standby)
    assert status == 503 and "leader" in body["failing"]

    mid = leader.market_data.view(SYMBOL).mid
    assert mid is not None
    resting = (mid * Decimal("0.995")).quantize(Decimal("0.01"))
    intents = [intent(n, limit=resting if n % 2 else None) for n in range(20)]
    breaking = intent(99, quantity="101")  # above the SOL/USDT max order quantity of 100
    publisher = EventPublisher(rig.settings, "tradeops.strategy")
    await asyncio.to_thread(publisher.publish_many, [*intents, breaking])

    orders = OrderStore(rig.settings)

    async def settled() -> bool:
        found = [
            await asyncio.to_thread(orders.get, client_order_id(i.intent_id)) for i in [*intents, breaking]
        ]
        return all(o is not None and (o.is_terminal or o.state is OrderState.OPEN) for o in found)

    await until(settled, 30, "every intent terminal or OPEN")
    stored = {i.intent_id: orders.get(client_order_id(i.intent_id)) for i in [*intents, breaking]}
    denied = stored.pop(breaking.intent_id)
    assert denied is not None and denied.state is OrderState.DENIED
    assert {o.state for o in stored.values() if o is not None} <= {OrderState.FILLED, OrderState.OPEN}

    venue = await rig.venue_orders()
    per_intent = Counter(o["clientOrderId"] for o in venue)
    assert all(count == 1 for count in per_intent.values()), per_intent
    journal = JournalStore(rig.settings).read("orders")
    journaled = {e.payload["order"]["client_order_id"] for e in journal if "order" in e.payload}
    sent = {o.client_order_id for o in stored.values() if o is not None}
    assert set(per_intent) == sent and sent <= journaled
    assert client_order_id(breaking.intent_id) in journaled  # write-ahead: journaled, never sent
    assert client_order_id(breaking.intent_id) not in per_intent

    (rejected,) = [r for r in rig.rejections() if r["detail"]["intent_id"] == breaking.intent_id]
    assert rejected["source"] == "tradeops.gateway"
    assert rejected["detail"]["reason"] == "MAX_ORDER_QUANTITY"
    assert (rejected["detail"]["limit"], rejected["detail"]["value"]) == ("100", "101")
    status, body = await rig.ready(leader)
    assert status == 200, body

    # HALTED: the control table + "Control Changed" on the gateway-events queue -> every open order canceled.
    ControlStore(rig.settings).put_trading(
        TradingState.HALTED, reason="drill", updated_by="risk-a", updated_at=1, expected_version=None
    )
    change = ControlChanged(
        correlation_id="halt", key="trading", value={"state": "HALTED"}, actor="risk-a", reason="drill"
    )
    await asyncio.to_thread(EventPublisher(rig.settings, "tradeops.api").publish, change)
    open_ids = [cid for cid, n in per_intent.items() if n and stored_state(stored, cid) is OrderState.OPEN]
    assert open_ids

    async def canceled() -> bool:
        return all(
            o["status"] == "CANCELED" for o in await rig.venue_orders() if o["clientOrderId"] in open_ids
        )

    await until(canceled, 10, "open orders canceled on HALTED")

    started = time.monotonic()
    leader.request_stop()
    assert await asyncio.wait_for(leader_run, 20) == EXIT_OK
    lease = LeaseStore(rig.settings).get("gateway")
    assert lease is not None and lease.owner in ("", "gw-b")  # released (or already taken by the standby)
    await until(lambda: _status_is(rig, standby, 200), 15, "the standby leads and is ready")
    assert time.monotonic() - started < TIMING.ttl_s + 10
    standby.request_stop()
    assert await asyncio.wait_for(standby_run, 20) == EXIT_OK


def stored_state(stored: dict[str, Any], cid: str) -> OrderState | None:
    for order in stored.values():
        if order is not None and order.client_order_id == cid:
            state: OrderState = order.state
            return state
    return None


async def _healthy(rig: Rig, app: GatewayApp) -> bool:
    try:
        async with rig.http.get(f"{app.health.url}/healthz") as resp:
            return resp.status == 200
    except (RuntimeError, aiohttp.ClientError):
        return False


async def _status_is(rig: Rig, app: GatewayApp, status: int) -> bool:
    try:
        code, _ = await rig.ready(app)
    except (RuntimeError, aiohttp.ClientError):
        return False
    return code == status
