"""Exchange-native stop-loss / take-profit against the real adapter, OMS and the in-process simulator.

Every assertion reads the venue's own record (``/_sim/state`` and ``openOrderList``): the OCO exists,
is sized to the entry's fills, comes back after being cancelled, and a rejected OCO ends in a market
exit and a critical "Risk Breach".
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from ccxt.async_support import binance

from tradeops.aws import clients
from tradeops.config import Settings
from tradeops.domain.events import EventDetail, RiskBreach, TradeIntent
from tradeops.domain.ids import OrderLeg, client_order_id
from tradeops.domain.orders import Fill, OrderState
from tradeops.domain.protection import leg_ids, list_client_order_id
from tradeops.domain.values import OrderType, Side
from tradeops.gateway.oms import OrderManager
from tradeops.gateway.oms_ports import OmsConfig
from tradeops.gateway.oms_sync import CcxtUserStream, OrderPoller, UserStreamSync
from tradeops.gateway.protection import ProtectionConfig, ProtectionManager
from tradeops.gateway.protection_recovery import exit_order_id
from tradeops.gateway.wiring import FillTap
from tradeops.sim.config import DEFAULT_FILTERS, SimConfig
from tradeops.sim.server import RunningSim, start_sim
from tradeops.store.fills import FillStore
from tradeops.store.journal import JournalStore
from tradeops.store.orders import OrderStore
from tradeops.store.provision import create_tables
from tradeops.venue.adapter import VenueAdapter
from tradeops.venue.credentials import CredentialsProvider, ExchangeCredentials
from tradeops.venue.outcomes import Accepted
from tradeops.venue.protective import ProtectiveOrders
from tradeops.venue.ratelimit import WeightBudget
from tradeops.venue.sim_exchange import make_ccxt_exchange

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

API_KEY = "protect-key-0001"
API_SECRET = "protect-secret-0001-0123456789abcdef"
SYMBOL = "SOL/USDT"
OMS = OmsConfig(poll_interval_s=2.0, poll_fast_interval_s=0.3, stream_silence_s=0.5)
PROTECTION = ProtectionConfig(supervise_interval_s=0.5)


@dataclass
class Events:
    events: list[EventDetail] = field(default_factory=list)

    def publish(self, event: EventDetail) -> None:
        self.events.append(event)


@dataclass
class Stack:
    sim: RunningSim
    settings: Settings
    adapter: VenueAdapter
    http: aiohttp.ClientSession
    events: Events
    oms: OrderManager
    protection: ProtectionManager
    tasks: list[asyncio.Task[Any]]

    async def state(self) -> dict[str, Any]:
        async with self.http.get(f"{self.sim.admin_url}/state") as resp:
            state: dict[str, Any] = await resp.json()
        return state

    async def venue_order(self, cid: str) -> dict[str, Any] | None:
        orders = [o for o in (await self.state())["orders"] if o["apiKey"] == API_KEY]
        return next((o for o in orders if o["clientOrderId"] == cid), None)

    async def open_lists(self) -> set[str]:
        outcome = await ProtectiveOrders(self.adapter).open_order_lists()
        assert isinstance(outcome, Accepted), outcome
        return set(outcome.value)

    async def price(self, **body: str) -> None:
        async with self.http.post(f"{self.sim.admin_url}/price", json={"symbol": SYMBOL, **body}) as resp:
            assert resp.status == 200, await resp.text()

    async def ticker(self) -> dict[str, Any]:
        exchange = make_ccxt_exchange(self.sim.url, API_KEY, API_SECRET)
        try:
            ticker: dict[str, Any] = await exchange.fetch_ticker(SYMBOL)
        finally:
            await exchange.close()
        return ticker

    async def last_price(self) -> Decimal:
        return Decimal(str((await self.ticker())["last"]))

    async def best_bid(self) -> Decimal:
        return Decimal(str((await self.ticker())["bid"]))

    async def enter(
        self, name: str, *, quantity: str, stop: Decimal, take: Decimal, limit: Decimal | None = None
    ) -> str:
        intent = TradeIntent(
            correlation_id=f"c-{name}",
            intent_id=f"protect-{name}",
            strategy="demo",
            symbol=SYMBOL,
            side=Side.BUY,
            type=OrderType.MARKET if limit is None else OrderType.LIMIT,
            quantity=Decimal(quantity),
            limit_price=limit,
            stop_loss=stop,
            take_profit=take,
        )
        await self.oms.submit(await self.oms.accept_intent(intent))
        return intent.intent_id


@pytest.fixture
async def stack(aws_settings: Settings) -> AsyncIterator[Stack]:
    create_tables(aws_settings)
    secrets = clients.client("secretsmanager", aws_settings)
    secrets.create_secret(
        Name=aws_settings.exchange_secret_id,
        SecretString=json.dumps({"apiKey": API_KEY, "secret": API_SECRET}),
    )
    # Thin synthetic liquidity (1 SOL per level): background prints fill a resting order piece by piece.
    thin = replace(DEFAULT_FILTERS[SYMBOL], level_qty=Decimal("1"))
    sim = await start_sim(SimConfig(seed=5, filters={**DEFAULT_FILTERS, SYMBOL: thin}), "127.0.0.1", 0, 0)
    sim.venue.add_key(API_KEY, API_SECRET)

    def factory(credentials: ExchangeCredentials) -> binance:
        return make_ccxt_exchange(sim.url, credentials.api_key, credentials.secret)

    adapter = VenueAdapter(factory, WeightBudget(6000), CredentialsProvider(aws_settings), timeout_ms=2000)
    instruments = await adapter.load_instruments()
    assert isinstance(instruments, Accepted)
    loop = asyncio.get_running_loop()
    events = Events()
    tasks: list[asyncio.Task[Any]] = []
    holder: list[ProtectionManager] = []

    def on_fill(fill: Fill) -> None:
        tasks.append(loop.create_task(holder[0].on_fill(fill)))

    journal, orders = JournalStore(aws_settings), OrderStore(aws_settings)
    oms = OrderManager(
        adapter, journal, orders, FillStore(aws_settings), FillTap(events, loop, on_fill), lambda: 1, OMS
    )
    protection = ProtectionManager(
        oms, ProtectiveOrders(adapter), journal, orders, lambda: 1, instruments.value, PROTECTION
    )
    holder.append(protection)
    await oms.recover()
    oms.start()
    stream_exchange = make_ccxt_exchange(sim.url, API_KEY, API_SECRET, pro=True)
    sync = UserStreamSync(oms, CcxtUserStream(stream_exchange))
    tasks += [loop.create_task(sync.run()), loop.create_task(OrderPoller(oms, sync).run())]
    tasks.append(loop.create_task(protection.run()))
    http = aiohttp.ClientSession()
    try:
        yield Stack(sim, aws_settings, adapter, http, events, oms, protection, tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await oms.close()
        await stream_exchange.close()
        await adapter.close()
        await http.close()
        await sim.close()


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, f"not in time: {what}"
        await asyncio.sleep(0.1)


async def oco_quantity(stack: Stack, intent_id: str, generation: int) -> Decimal | None:
    """The quantity of OCO ``generation`` when it is open on the venue, else None."""
    list_cid = list_client_order_id(intent_id, generation)
    if list_cid not in await stack.open_lists():
        return None
    stop = await stack.venue_order(leg_ids(list_cid)[0])
    assert stop is not None and stop["type"] == "STOP_LOSS_LIMIT"
    return Decimal(stop["origQty"])


async def covered(stack: Stack, intent_id: str, quantity: Decimal) -> bool:
    """The manager's live OCO for ``intent_id`` is open on the venue with ``quantity``."""
    position = stack.protection.positions.get(intent_id)
    if position is None or position.generation == 0:
        return False
    return await oco_quantity(stack, intent_id, position.generation - 1) == quantity


async def test_a_filled_entry_gets_an_oco_sized_to_the_fill(stack: Stack) -> None:
    last = await stack.last_price()
    intent_id = await stack.enter(
        "fill", quantity="2", stop=last * Decimal("0.9"), take=last * Decimal("1.1")
    )

    await until(lambda: covered(stack, intent_id, Decimal(2)), 15, "an OCO for the whole fill is open")
    entry = await stack.venue_order(client_order_id(intent_id, OrderLeg.ENTRY))
    assert entry is not None and entry["status"] == "FILLED" and Decimal(entry["executedQty"]) == 2
    generation = stack.protection.positions[intent_id].generation - 1
    assert [lst for lst in await stack.open_lists()] == [list_client_order_id(intent_id, generation)]
    take_profit = await stack.venue_order(leg_ids(list_client_order_id(intent_id, generation))[1])
    assert take_profit is not None and take_profit["type"] == "LIMIT_MAKER"
    assert Decimal(take_profit["price"]) >= last * Decimal("1.1")

    async def journaled() -> bool:
        entries = await asyncio.to_thread(JournalStore(stack.settings).read, "orders")
        actions = [e.payload["action"] for e in entries if e.kind == "protection"]
        return actions[:3] == ["decided_place", "placing", "placed"] and actions[-2:] == ["placing", "placed"]

    await until(journaled, 10, "the protective actions are journaled")


async def test_partial_fills_grow_the_oco_to_the_filled_total(stack: Stack) -> None:
    bid = await stack.best_bid()
    # A limit buy resting at the touch is filled piece by piece by the venue's background flow.
    intent_id = await stack.enter(
        "grow", quantity="3", stop=bid * Decimal("0.8"), take=bid * Decimal("1.2"), limit=bid
    )
    entry_cid = client_order_id(intent_id, OrderLeg.ENTRY)
    sizes: list[tuple[int, Decimal, Decimal]] = []

    async def grown_and_covered() -> bool:
        position = stack.protection.positions.get(intent_id)
        entry = await stack.venue_order(entry_cid)
        if position is None or entry is None or position.generation < 2:
            return False
        quantity = await oco_quantity(stack, intent_id, position.generation - 1)
        filled = Decimal(entry["executedQty"])
        sizes.append((position.generation, filled, quantity or Decimal(0)))
        return quantity == filled and entry["status"] in ("PARTIALLY_FILLED", "FILLED")

    await until(grown_and_covered, 45, "the OCO grew to the filled quantity")
    generation, filled, quantity = sizes[-1]
    assert generation >= 2 and quantity == filled > 0
    for older in range(generation - 1):  # every earlier OCO was cancelled on the venue, not left behind
        assert list_client_order_id(intent_id, older) not in await stack.open_lists()
        stop = await stack.venue_order(leg_ids(list_client_order_id(intent_id, older))[0])
        assert stop is not None and stop["status"] == "CANCELED"


async def test_an_oco_cancelled_on_the_venue_is_recreated_by_the_supervisor(stack: Stack) -> None:
    last = await stack.last_price()
    intent_id = await stack.enter(
        "lost", quantity="1", stop=last * Decimal("0.9"), take=last * Decimal("1.1")
    )
    await until(lambda: covered(stack, intent_id, Decimal(1)), 15, "an OCO for the whole fill")
    lost = stack.protection.positions[intent_id].generation - 1
    # Someone cancels the list behind the gateway's back (a raw venue call, not through the manager).
    outcome = await stack.adapter.cancel(SYMBOL, leg_ids(list_client_order_id(intent_id, lost))[0])
    assert isinstance(outcome, Accepted)

    async def recreated() -> bool:
        return await oco_quantity(stack, intent_id, lost + 1) == Decimal(1)

    await until(recreated, 15, "the supervisor re-created the OCO")
    assert await stack.open_lists() == {list_client_order_id(intent_id, lost + 1)}
    entries = await asyncio.to_thread(JournalStore(stack.settings).read, "orders")
    assert "lost" in [e.payload["action"] for e in entries if e.kind == "protection"]


async def test_a_rejected_oco_exits_the_position_at_market_and_raises_an_alert(stack: Stack) -> None:
    last = await stack.last_price()
    # A stop above the market: the venue refuses the OCO (its prices must straddle the last price).
    # On the thin book the entry may fill in pieces; each unprotected piece is exited, never more.
    intent_id = await stack.enter(
        "reject", quantity="1", stop=last * Decimal("1.05"), take=last * Decimal("1.1")
    )

    async def exits() -> list[dict[str, Any]]:
        found = [await stack.venue_order(exit_order_id(intent_id, g)) for g in range(1, 8)]
        return [order for order in found if order is not None]

    async def exited() -> bool:
        orders = await exits()
        done = all(order["status"] == "FILLED" for order in orders)
        return done and sum((Decimal(o["executedQty"]) for o in orders), Decimal(0)) == 1

    await until(exited, 20, "market exits for the whole entry filled on the venue")
    entry = await stack.venue_order(client_order_id(intent_id, OrderLeg.ENTRY))
    assert entry is not None and Decimal(entry["executedQty"]) == 1
    assert {(o["side"], o["type"]) for o in await exits()} == {("SELL", "MARKET")}
    assert not await stack.open_lists()
    stop = await stack.oms.get(leg_ids(list_client_order_id(intent_id, 0))[0])
    assert stop.state is OrderState.REJECTED
    breaches = [e for e in stack.events.events if isinstance(e, RiskBreach)]
    assert {(b.rule, b.symbol) for b in breaches} == {("protection_rejected", SYMBOL)}
    assert sum((b.value for b in breaches), Decimal(0)) == 1

    async def flat() -> bool:
        return intent_id not in stack.protection.positions

    await until(flat, 10, "the exit's fill closed the protected position")
    await asyncio.sleep(PROTECTION.supervise_interval_s * 2)  # no further exit once flat
    orders = await exits()
    assert sum((Decimal(o["executedQty"]) for o in orders), Decimal(0)) == 1
