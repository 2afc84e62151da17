"""ProtectionManager with a real OMS on moto and in-memory venues: placement, resize, cancel, rejection
exit and restart recovery, each checked against the fake venue's orders and the stores."""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tradeops.config import Settings
from tradeops.domain.events import EventDetail, OrderFilled, RiskBreach, TradeIntent
from tradeops.domain.ids import OrderLeg, client_order_id
from tradeops.domain.orders import OrderState
from tradeops.domain.protection import OcoPlan, leg_ids, list_client_order_id, parse_leg_id
from tradeops.domain.values import Instrument, OrderType, Side
from tradeops.gateway.oms import OrderManager
from tradeops.gateway.oms_ports import OmsConfig
from tradeops.gateway.protection import ProtectionConfig, ProtectionManager
from tradeops.gateway.protection_recovery import CLOSED_REASON, exit_order_id
from tradeops.store.fills import FillStore
from tradeops.store.journal import JournalStore
from tradeops.store.orders import OrderStore
from tradeops.store.provision import create_tables
from tradeops.venue.adapter import Outcome
from tradeops.venue.mapping import OcoResult, VenueOrder
from tradeops.venue.outcomes import Accepted, Rejected
from tradeops.venue.protective import OpenOrderList


def _load_fakes() -> ModuleType:
    name = "oms_test_fakes"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("test_oms_fakes.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


fakes = _load_fakes()
S = OrderState
BTC = Instrument(
    "BTC/USDT",
    "BTCUSDT",
    "BTC",
    "USDT",
    Decimal("0.01"),
    Decimal("0.001"),
    Decimal("0.001"),
    Decimal(100),
    Decimal(5),
)
OMS = OmsConfig(resolve_initial_delay_s=0.02, resolve_max_delay_s=0.05, request_retry_default_s=0.01)
FAST = ProtectionConfig(supervise_interval_s=0.05)


@dataclass
class FakeOcoVenue:
    """OCO placement into a FakeVenue's order book; ``reject`` refuses like Binance's price check."""

    venue: Any
    reject: bool = False
    placed: list[OcoPlan] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def place(self, plan: OcoPlan) -> Outcome[OcoResult]:
        await asyncio.sleep(0)
        if self.reject:
            return Rejected(
                -2010, "The relationship of the prices for the orders is not correct.", "InvalidOrder"
            )
        self.placed.append(plan)
        list_id = next(self._ids)
        stop_cid, take_profit_cid = leg_ids(plan.list_client_order_id)
        legs = []
        for cid, kind, price, stop in (
            (stop_cid, "STOP_LOSS_LIMIT", plan.stop_limit_price, plan.stop_price),
            (take_profit_cid, "LIMIT_MAKER", plan.take_profit_price, None),
        ):
            leg = VenueOrder(
                cid,
                f"v{list_id}{kind}",
                plan.symbol,
                plan.side,
                kind,
                "NEW",
                plan.quantity,
                Decimal(0),
                None,
                price,
                stop,
                (),
                int(time.time() * 1000),
                None,
                list_id,
            )
            self.venue.orders[cid] = leg
            legs.append(leg)
        return Accepted(OcoResult(list_id, plan.list_client_order_id, "EXECUTING", tuple(legs)))

    async def open_order_lists(self) -> Outcome[dict[str, OpenOrderList]]:
        found: dict[str, OpenOrderList] = {}
        for cid, order in self.venue.orders.items():
            parsed = parse_leg_id(cid)
            if parsed is not None and order.status in ("NEW", "PARTIALLY_FILLED"):
                found[parsed[0]] = OpenOrderList(parsed[0], "BTCUSDT", leg_ids(parsed[0]))
        return Accepted(found)

    def open_quantities(self) -> dict[str, Decimal]:
        return {
            cid: o.quantity for cid, o in self.venue.orders.items() if parse_leg_id(cid) and o.status == "NEW"
        }


class FillFeed:
    """The OMS's event sink: records events and hands every fill to the manager, like the session does."""

    def __init__(self) -> None:
        self.events: list[EventDetail] = []
        self.manager: ProtectionManager | None = None
        self.loop = asyncio.get_running_loop()
        self.tasks: list[asyncio.Future[Any]] = []

    def publish(self, event: EventDetail) -> None:
        self.events.append(event)
        if isinstance(event, OrderFilled) and self.manager is not None:
            manager, fill = self.manager, event.to_fill()
            self.loop.call_soon_threadsafe(
                lambda: self.tasks.append(asyncio.ensure_future(manager.on_fill(fill)))
            )


@dataclass
class Desk:
    oms: OrderManager
    venue: Any
    oco: FakeOcoVenue
    feed: FillFeed
    manager: ProtectionManager
    task: asyncio.Task[None]
    journal: JournalStore


@pytest.fixture
async def build(aws_settings: Settings) -> AsyncIterator[Callable[..., Awaitable[Desk]]]:
    create_tables(aws_settings)
    desks: list[Desk] = []

    async def make(venue: Any = None, may_place: Callable[[], bool] = lambda: True) -> Desk:
        venue = venue if venue is not None else fakes.FakeVenue()
        feed = FillFeed()
        journal, orders = JournalStore(aws_settings), OrderStore(aws_settings)
        oms = OrderManager(venue, journal, orders, FillStore(aws_settings), feed, lambda: 1, OMS)
        await oms.recover()
        oco = FakeOcoVenue(venue)
        manager = ProtectionManager(
            oms, oco, journal, orders, lambda: 1, {"BTC/USDT": BTC}, FAST, may_place=may_place
        )
        feed.manager = manager
        desk = Desk(oms, venue, oco, feed, manager, asyncio.create_task(manager.run()), journal)
        desks.append(desk)
        return desk

    yield make
    for desk in desks:
        desk.task.cancel()
        await asyncio.gather(desk.task, *desk.feed.tasks, return_exceptions=True)
        await desk.oms.close()


def intent(
    n: str, *, quantity: str, side: Side = Side.BUY, market: bool = True, protect: bool = True
) -> TradeIntent:
    stop, take = (Decimal("90.005"), Decimal("110.005")) if side is Side.BUY else (Decimal(110), Decimal(90))
    return TradeIntent(
        correlation_id=f"c-{n}",
        intent_id=f"p-{n}",
        strategy="demo",
        symbol="BTC/USDT",
        side=side,
        type=OrderType.MARKET if market else OrderType.LIMIT,
        quantity=Decimal(quantity),
        limit_price=None if market else Decimal(100),
        stop_loss=stop if protect else None,
        take_profit=take if protect else None,
    )


async def until(check: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"not in time: {what}"
        await asyncio.sleep(0.02)


async def enter(desk: Desk, one: TradeIntent) -> str:
    await desk.oms.submit(await desk.oms.accept_intent(one))
    return one.intent_id


async def test_a_filled_entry_is_protected_by_an_oco_sized_to_the_fill(
    build: Callable[..., Awaitable[Desk]],
) -> None:
    desk = await build()
    intent_id = await enter(desk, intent("a", quantity="0.5"))
    await until(lambda: len(desk.oco.placed) == 1, "an OCO placed")
    plan = desk.oco.placed[0]
    assert (plan.side, plan.quantity, plan.stop_price, plan.take_profit_price) == (
        Side.SELL,
        Decimal("0.5"),
        Decimal("90.00"),
        Decimal("110.01"),
    )
    stop_cid = leg_ids(list_client_order_id(intent_id, 0))[0]
    deadline = time.monotonic() + 10
    while True:  # the venue's answer is applied, then journaled, after the send
        entries = await asyncio.to_thread(desk.journal.read, "orders")
        actions = [e.payload["action"] for e in entries if e.kind == "protection"]
        if actions[-1:] == ["placed"]:
            break
        assert time.monotonic() < deadline, f"placement never journaled: {actions}"
        await asyncio.sleep(0.02)
    assert actions == ["decided_place", "placing", "placed"]
    stop = await desk.oms.get(stop_cid)
    assert (stop.state, stop.type, stop.intent_id, stop.strategy) == (
        S.OPEN,
        OrderType.STOP_LOSS_LIMIT,
        intent_id,
        "demo",
    )


async def test_partial_fills_cancel_replace_the_oco_with_the_total(
    build: Callable[..., Awaitable[Desk]],
) -> None:
    desk = await build()
    intent_id = await enter(desk, intent("b", quantity="1", market=False))
    entry_cid = client_order_id(intent_id, OrderLeg.ENTRY)
    for part in ("0.2", "0.3"):
        desk.venue.fill(entry_cid, Decimal(part))
        await desk.oms.apply_venue_order(desk.venue.orders[entry_cid])
    grown = {cid: Decimal("0.5") for cid in leg_ids(list_client_order_id(intent_id, 1))}
    await until(lambda: desk.oco.open_quantities() == grown, "OCO grown to 0.5")
    first = await desk.oms.get(leg_ids(list_client_order_id(intent_id, 0))[0])
    assert first.state is S.CANCELED and first.quantity == Decimal("0.2")


async def test_closing_the_position_with_another_order_cancels_the_oco(
    build: Callable[..., Awaitable[Desk]],
) -> None:
    desk = await build()
    intent_id = await enter(desk, intent("c", quantity="0.5"))
    await until(lambda: len(desk.oco.open_quantities()) == 2, "an OCO placed")
    await enter(desk, intent("close", quantity="0.5", side=Side.SELL, protect=False))
    await until(
        lambda: not desk.oco.open_quantities() and intent_id not in desk.manager.positions, "OCO cancelled"
    )
    stop = await desk.oms.get(leg_ids(list_client_order_id(intent_id, 0))[0])
    assert (stop.state, stop.reason) == (S.CANCELED, CLOSED_REASON)


async def test_a_rejected_oco_exits_at_market_and_raises_a_critical_breach(
    build: Callable[..., Awaitable[Desk]],
) -> None:
    desk = await build()
    desk.oco.reject = True
    intent_id = await enter(desk, intent("d", quantity="0.5"))
    exit_cid = exit_order_id(intent_id, 1)
    await until(lambda: exit_cid in desk.venue.orders and intent_id not in desk.manager.positions, "exited")
    exit_order = await desk.oms.get(exit_cid)
    assert (exit_order.state, exit_order.type, exit_order.side, exit_order.quantity) == (
        S.FILLED,
        OrderType.MARKET,
        Side.SELL,
        Decimal("0.5"),
    )
    breaches = [e for e in desk.feed.events if isinstance(e, RiskBreach)]
    assert [(b.rule, b.value, b.severity.value) for b in breaches] == [
        ("protection_rejected", Decimal("0.5"), "critical")
    ]


async def test_a_new_manager_recovers_positions_and_recreates_an_oco_lost_meanwhile(
    build: Callable[..., Awaitable[Desk]],
) -> None:
    first = await build()
    intent_id = await enter(first, intent("e", quantity="0.5"))
    await until(lambda: len(first.oco.placed) == 1, "an OCO placed")
    first.task.cancel()
    for cid in leg_ids(list_client_order_id(intent_id, 0)):  # cancelled on the venue while no one watched
        first.venue.orders[cid] = replace(first.venue.orders[cid], status="CANCELED")
    second = await build(first.venue)
    await until(lambda: len(second.oco.placed) == 1, "the lost OCO re-created")
    assert second.oco.placed[0].generation == 1 and second.oco.placed[0].quantity == Decimal("0.5")


async def test_an_entry_filled_before_any_oco_is_protected_after_a_restart_from_the_journal(
    build: Callable[..., Awaitable[Desk]],
) -> None:
    first = await build()
    first.task.cancel()  # the manager is gone before the fill is handled
    await asyncio.gather(first.task, return_exceptions=True)
    first.feed.manager = None
    intent_id = await enter(first, intent("f", quantity="0.25"))
    assert not first.oco.placed
    second = await build(first.venue)
    await until(lambda: len(second.oco.placed) == 1, "protected after the restart")
    plan = second.oco.placed[0]
    assert (plan.intent_id, plan.quantity, plan.stop_price) == (intent_id, Decimal("0.25"), Decimal("90.00"))


async def test_while_halted_no_oco_is_placed_and_the_supervisor_places_it_after_resume(
    build: Callable[..., Awaitable[Desk]],
) -> None:
    halted = True
    desk = await build(may_place=lambda: not halted)
    await enter(desk, intent("h", quantity="0.5"))
    await asyncio.sleep(FAST.supervise_interval_s * 3 + 0.2)  # fills and sweeps happen; nothing is sent
    assert desk.oco.placed == []
    halted = False
    await until(lambda: len(desk.oco.placed) == 1, "the OCO placed once trading resumed")
    assert desk.oco.placed[0].quantity == Decimal("0.5")
