"""The OMS against the real venue adapter and the in-process simulator, under injected faults.

Every test compares the OMS (orders table, journal) with the simulator's ground truth (``/_sim/state``).
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
from ccxt.async_support import binance

from tradeops.aws import clients
from tradeops.config import Settings
from tradeops.domain.events import EventDetail, TradeIntent
from tradeops.domain.ids import client_order_id
from tradeops.domain.orders import VENUE_STATUS_TO_STATE, Order, OrderState
from tradeops.domain.values import OrderType, Side
from tradeops.gateway.oms import OrderManager
from tradeops.gateway.oms_ports import OmsConfig
from tradeops.gateway.oms_sync import CcxtUserStream, OrderPoller, UserStreamSync
from tradeops.sim.config import SimConfig
from tradeops.sim.server import RunningSim, start_sim
from tradeops.store.fills import FillStore
from tradeops.store.journal import JournalStore
from tradeops.store.orders import OrderStore
from tradeops.store.provision import create_tables
from tradeops.venue.adapter import VenueAdapter
from tradeops.venue.credentials import CredentialsProvider, ExchangeCredentials
from tradeops.venue.ratelimit import WeightBudget
from tradeops.venue.sim_exchange import make_ccxt_exchange

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

API_KEY = "oms-key-0001"
API_SECRET = "oms-secret-0001-0123456789abcdef"
SYMBOL = "SOL/USDT"
SUBMIT = "POST /api/v3/order"
CONFIG = OmsConfig(
    resolve_initial_delay_s=0.1,
    resolve_max_delay_s=0.4,
    not_found_checks=3,
    not_found_grace_s=1.5,
    poll_interval_s=5.0,
    poll_fast_interval_s=0.3,
    stream_silence_s=0.5,
)
S = OrderState


class Events:
    def __init__(self) -> None:
        self.events: list[EventDetail] = []

    def publish(self, event: EventDetail) -> None:
        self.events.append(event)


@dataclass
class Rig:
    sim: RunningSim
    settings: Settings
    adapter: VenueAdapter
    http: aiohttp.ClientSession
    managers: list[OrderManager]

    def manager(self, token: int = 1) -> OrderManager:
        stores = (JournalStore(self.settings), OrderStore(self.settings), FillStore(self.settings))
        manager = OrderManager(self.adapter, *stores, Events(), lambda: token, CONFIG)
        self.managers.append(manager)
        return manager

    async def faults(self, *faults: dict[str, Any]) -> None:
        async with self.http.post(f"{self.sim.admin_url}/faults", json={"faults": list(faults)}) as resp:
            assert resp.status == 200, await resp.text()

    async def price(self, price: str) -> None:
        async with self.http.post(
            f"{self.sim.admin_url}/price", json={"symbol": SYMBOL, "price": price}
        ) as resp:
            assert resp.status == 200, await resp.text()

    async def venue_orders(self) -> list[dict[str, Any]]:
        async with self.http.get(f"{self.sim.admin_url}/state") as resp:
            state: dict[str, Any] = await resp.json()
        return [o for o in state["orders"] if o["apiKey"] == API_KEY]

    def journaled_order_ids(self, state: OrderState | None = None) -> set[str]:
        entries = JournalStore(self.settings).read("orders")
        orders = [e.payload["order"] for e in entries if "order" in e.payload]
        return {o["client_order_id"] for o in orders if state is None or o["state"] == state.value}


@pytest.fixture
async def rig(aws_settings: Settings) -> AsyncIterator[Rig]:
    create_tables(aws_settings)
    secrets = clients.client("secretsmanager", aws_settings)
    secrets.create_secret(
        Name=aws_settings.exchange_secret_id,
        SecretString=json.dumps({"apiKey": API_KEY, "secret": API_SECRET}),
    )
    sim = await start_sim(SimConfig(seed=5), "127.0.0.1", 0, 0)
    sim.venue.add_key(API_KEY, API_SECRET)

    def factory(credentials: ExchangeCredentials) -> binance:
        return make_ccxt_exchange(sim.url, credentials.api_key, credentials.secret)

    adapter = VenueAdapter(factory, WeightBudget(6000), CredentialsProvider(aws_settings), timeout_ms=700)
    http = aiohttp.ClientSession()
    rig = Rig(sim, aws_settings, adapter, http, [])
    try:
        yield rig
    finally:
        for manager in rig.managers:
            await manager.close()
        await adapter.close()
        await http.close()
        await sim.close()


def intent(name: str, *, market: bool = True, price: str = "100") -> TradeIntent:
    return TradeIntent(
        correlation_id=f"c-{name}",
        intent_id=f"sim-{name}",
        strategy="demo",
        symbol=SYMBOL,
        side=Side.BUY,
        type=OrderType.MARKET if market else OrderType.LIMIT,
        quantity=Decimal("0.1"),
        limit_price=None if market else Decimal(price),
    )


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def resolved(manager: OrderManager, cid: str) -> Order:
    async def done() -> bool:
        return (await manager.get(cid)).state is not S.UNKNOWN

    await until(done)
    return await manager.get(cid)


def assert_matches_venue(order: Order, venue: dict[str, Any]) -> None:
    assert order.state is VENUE_STATUS_TO_STATE[venue["status"]], (order, venue)
    assert order.venue_order_id == str(venue["orderId"])
    assert order.filled_quantity == Decimal(venue["executedQty"])


async def test_submit_timeout_is_resolved_to_the_venues_state_with_one_order(rig: Rig) -> None:
    manager = rig.manager()
    await rig.faults({"kind": "submit_timeout", "hold_ms": 2000, "count": 1})
    order = await manager.submit(await manager.accept_intent(intent("timeout")))
    assert order.state is S.UNKNOWN
    final = await resolved(manager, order.client_order_id)
    (venue,) = await rig.venue_orders()
    assert final.state is S.FILLED and final.trade_ids
    assert_matches_venue(final, venue)


async def test_5xx_after_processing_is_resolved_not_resent(rig: Rig) -> None:
    manager = rig.manager()
    await rig.faults({"kind": "http_error", "endpoint": SUBMIT, "status": 502, "after_processing": True})
    order = await manager.submit(await manager.accept_intent(intent("5xx", market=False)))
    assert order.state is S.UNKNOWN
    final = await resolved(manager, order.client_order_id)
    (venue,) = await rig.venue_orders()
    assert final.state is S.OPEN
    assert_matches_venue(final, venue)


async def test_a_redelivered_intent_makes_one_venue_order(rig: Rig) -> None:
    first, second = rig.manager(), rig.manager()
    for manager in (first, second, first):
        await manager.submit(await manager.accept_intent(intent("dup")))
    venue = await rig.venue_orders()
    assert [o["clientOrderId"] for o in venue] == [client_order_id("sim-dup")]


async def test_an_order_that_never_reached_the_venue_is_rejected_after_the_grace_period(rig: Rig) -> None:
    manager = rig.manager()
    await rig.faults({"kind": "http_error", "endpoint": SUBMIT, "status": 503, "count": 1})
    started = time.monotonic()
    order = await manager.submit(await manager.accept_intent(intent("lost")))
    assert order.state is S.UNKNOWN
    await asyncio.sleep(0.5)
    assert (await manager.get(order.client_order_id)).state is S.UNKNOWN
    final = await resolved(manager, order.client_order_id)
    assert final.state is S.REJECTED and final.reason == "not_found_at_venue"
    assert time.monotonic() - started >= CONFIG.not_found_grace_s
    assert await rig.venue_orders() == []


async def test_a_new_manager_recovers_and_resolves_an_unknown_order(rig: Rig) -> None:
    crashed = rig.manager(token=1)
    await rig.faults({"kind": "submit_timeout", "hold_ms": 2000, "count": 1})
    order = await crashed.submit(await crashed.accept_intent(intent("restart", market=False)))
    await crashed.close()  # dies before its resolver ran
    assert (await crashed.get(order.client_order_id)).state is S.UNKNOWN
    successor = rig.manager(token=2)
    report = await successor.recover()
    assert report.resolving == (order.client_order_id,)
    final = await resolved(successor, order.client_order_id)
    (venue,) = await rig.venue_orders()
    assert_matches_venue(final, venue)


async def test_fills_whose_execution_reports_were_dropped_are_recorded_by_polling(rig: Rig) -> None:
    manager = rig.manager()
    stream_exchange = make_ccxt_exchange(rig.sim.url, API_KEY, API_SECRET, pro=True)
    stream_sync = UserStreamSync(manager, CcxtUserStream(stream_exchange))
    tasks = [
        asyncio.create_task(stream_sync.run()),
        asyncio.create_task(OrderPoller(manager, stream_sync).run()),
    ]
    try:
        await rig.faults({"kind": "drop_user_events", "probability": 1.0})
        order = await manager.submit(await manager.accept_intent(intent("drop", market=False, price="149")))
        assert order.state is S.OPEN
        await rig.price("140")
        started = time.monotonic()
        final = await until_filled(manager, order.client_order_id)
        assert time.monotonic() - started < CONFIG.poll_fast_interval_s + 3.0
        (venue,) = await rig.venue_orders()
        assert_matches_venue(final, venue)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_the_user_stream_alone_records_a_fill(rig: Rig) -> None:
    manager = rig.manager()
    stream_sync = UserStreamSync(
        manager, CcxtUserStream(make_ccxt_exchange(rig.sim.url, API_KEY, API_SECRET, pro=True))
    )
    task = asyncio.create_task(stream_sync.run())
    try:
        order = await manager.submit(await manager.accept_intent(intent("stream", market=False, price="149")))
        await asyncio.sleep(0.5)  # the stream subscribes
        await rig.price("140")
        final = await until_filled(manager, order.client_order_id)
        (venue,) = await rig.venue_orders()
        assert_matches_venue(final, venue)
        assert stream_sync.silent_for_s() < 5.0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def until_filled(manager: OrderManager, cid: str) -> Order:
    async def filled() -> bool:
        order = await manager.get(cid)
        return order.state is S.FILLED and order.missing_fill_quantity == 0

    await until(filled)
    return await manager.get(cid)


async def test_mini_drill_no_intent_doubled_none_lost_every_unknown_resolved(rig: Rig) -> None:
    manager = rig.manager()
    await rig.faults(
        {"kind": "submit_timeout", "hold_ms": 1500, "probability": 0.2},
        {"kind": "http_error", "endpoint": SUBMIT, "status": 503, "probability": 0.025},
        {
            "kind": "http_error",
            "endpoint": SUBMIT,
            "status": 502,
            "probability": 0.025,
            "after_processing": True,
        },
    )
    intents = [intent(f"drill-{n}", market=n % 2 == 0) for n in range(100)]

    async def trade(one: TradeIntent) -> None:
        await manager.submit(await manager.accept_intent(one))

    for start in range(0, len(intents), 25):
        await asyncio.gather(*(trade(one) for one in intents[start : start + 25]))
    await manager.resolver.wait_idle(timeout_s=30)
    ours = {client_order_id(i.intent_id) for i in intents}
    orders = {cid: await manager.get(cid) for cid in ours}
    venue = await rig.venue_orders()
    per_intent = Counter(o["clientOrderId"] for o in venue)
    assert max(per_intent.values()) == 1
    assert len(rig.journaled_order_ids(S.UNKNOWN)) >= 10  # the faults did fire (about 25 expected)
    assert set(per_intent) <= rig.journaled_order_ids()
    assert not [o for o in orders.values() if o.state in (S.UNKNOWN, S.SUBMITTING, S.NEW)]
    for record in venue:
        assert_matches_venue(orders[record["clientOrderId"]], record)
    missing = {cid for cid, o in orders.items() if o.state is S.REJECTED}
    assert missing == ours - set(per_intent)
    assert all(orders[cid].reason == "not_found_at_venue" for cid in missing)
