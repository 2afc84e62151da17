"""OrderManager and UnknownResolver against an in-memory venue double, on the real stores (moto)."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tradeops.config import Settings
from tradeops.domain.events import OrderFilled, OrderUpdated, TradeIntent
from tradeops.domain.ids import client_order_id
from tradeops.domain.orders import Order, OrderState
from tradeops.domain.values import OrderType, Side
from tradeops.gateway.oms import OrderManager
from tradeops.gateway.oms_ports import OmsConfig
from tradeops.store.fills import FillStore
from tradeops.store.journal import FencedOut, JournalStore
from tradeops.store.orders import OrderStore
from tradeops.store.provision import create_tables


def load_fakes() -> ModuleType:
    name = "oms_test_fakes"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("test_oms_fakes.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


fakes = load_fakes()
S = OrderState
FAST = OmsConfig(
    resolve_initial_delay_s=0.02,
    resolve_max_delay_s=0.05,
    not_found_checks=3,
    not_found_grace_s=0.3,
    request_retry_default_s=0.01,
    expiry_check_s=0.05,
    poll_interval_s=0.5,
    poll_fast_interval_s=0.05,
    stream_silence_s=0.2,
)


@dataclass
class Oms:
    manager: OrderManager
    venue: Any
    events: Any
    journal: JournalStore
    orders: OrderStore
    fills: FillStore

    def journal_kinds(self) -> list[str]:
        return [entry.kind for entry in self.journal.read("orders")] if self.journal.head("orders") else []


BuildOms = Callable[..., Oms]


@pytest.fixture
def tables(aws_settings: Settings) -> Settings:
    create_tables(aws_settings)
    return aws_settings


@pytest.fixture
async def make_oms(tables: Settings) -> AsyncIterator[BuildOms]:
    built: list[OrderManager] = []

    def build(venue: Any = None, token: int = 1, config: OmsConfig = FAST) -> Oms:
        venue = venue if venue is not None else fakes.FakeVenue()
        journal, orders, fills = JournalStore(tables), OrderStore(tables), FillStore(tables)
        events = fakes.RecordingEvents()
        manager = OrderManager(venue, journal, orders, fills, events, lambda: token, config)
        built.append(manager)
        return Oms(manager, venue, events, journal, orders, fills)

    yield build
    for manager in built:
        await manager.close()


def make_intent(n: str, *, market: bool = False, quantity: str = "0.5", **extra: Any) -> TradeIntent:
    return TradeIntent(
        correlation_id=f"corr-{n}",
        intent_id=f"intent-{n}",
        strategy="demo",
        symbol="BTC/USDT",
        side=Side.BUY,
        type=OrderType.MARKET if market else OrderType.LIMIT,
        quantity=Decimal(quantity),
        limit_price=None if market else Decimal("100"),
        **extra,
    )


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def state_is(oms: Oms, cid: str, state: OrderState) -> bool:
    return (await oms.manager.get(cid)).state is state


async def test_accepting_an_intent_journals_and_stores_the_new_order_before_anything_is_sent(
    make_oms: BuildOms,
) -> None:
    oms = make_oms()
    order = await oms.manager.accept_intent(make_intent("a"))
    assert order.client_order_id == client_order_id("intent-a")
    assert order.state is S.NEW and oms.venue.submit_requests == []
    assert oms.journal_kinds() == ["intent", "order_state"]
    assert oms.orders.get(order.client_order_id) == order
    again = await oms.manager.accept_intent(make_intent("a"))
    assert again == order and oms.journal_kinds() == ["intent", "order_state"]


async def test_a_redelivered_intent_after_submit_never_makes_a_second_order(make_oms: BuildOms) -> None:
    oms = make_oms()
    order = await oms.manager.accept_intent(make_intent("r"))
    await oms.manager.submit(order)
    fresh = make_oms(venue=oms.venue)  # another process over the same tables
    again = await fresh.manager.accept_intent(make_intent("r"))
    assert (await fresh.manager.submit(again)).state is S.OPEN
    assert oms.venue.submit_requests == [order.client_order_id]


async def test_accepted_limit_order_is_open_with_its_venue_id(make_oms: BuildOms) -> None:
    oms = make_oms()
    order = await oms.manager.submit(await oms.manager.accept_intent(make_intent("o")))
    assert order.state is S.OPEN
    assert order.venue_order_id == oms.venue.orders[order.client_order_id].venue_order_id
    # NEW, SUBMITTING, then the ack (venue id and OPEN) as one change
    assert [k for k in oms.journal_kinds() if k == "order_state"] == ["order_state"] * 3
    assert await oms.manager.records.events.flush(5)  # events are published in the background
    assert [e.state for e in oms.events.of_type("Order Updated")][-1] is S.OPEN


async def test_a_market_order_fills_once_from_the_submit_response(make_oms: BuildOms) -> None:
    oms = make_oms()
    order = await oms.manager.submit(await oms.manager.accept_intent(make_intent("m", market=True)))
    assert order.state is S.FILLED and order.filled_quantity == Decimal("0.5")
    assert len(oms.fills.for_order(order.client_order_id)) == 1
    assert await oms.manager.records.events.flush(5)
    filled = oms.events.of_type("Order Filled")
    assert len(filled) == 1 and isinstance(filled[0], OrderFilled)
    assert filled[0].quantity == Decimal("0.5")


async def test_a_definitive_rejection_is_rejected_with_the_code(make_oms: BuildOms) -> None:
    oms = make_oms()
    cid = client_order_id("intent-x")
    oms.venue.plans[cid] = fakes.SubmitPlan.REJECT
    order = await oms.manager.submit(await oms.manager.accept_intent(make_intent("x")))
    assert order.state is S.REJECTED and order.reason is not None and "-2010" in order.reason
    assert await oms.manager.records.events.flush(5)
    (rejected,) = oms.events.of_type("Order Rejected")
    assert rejected.reason == "venue_-2010" and rejected.client_order_id == cid


async def test_a_rate_limited_submit_is_sent_again_because_nothing_happened(make_oms: BuildOms) -> None:
    oms = make_oms()
    cid = client_order_id("intent-rl")
    oms.venue.plans[cid] = fakes.SubmitPlan.RATE_LIMITED_ONCE
    order = await oms.manager.submit(await oms.manager.accept_intent(make_intent("rl")))
    assert order.state is S.OPEN and oms.venue.submit_requests == [cid, cid]


async def test_a_submit_throttled_on_every_attempt_is_rejected_not_left_in_doubt(make_oms: BuildOms) -> None:
    oms = make_oms()
    cid = client_order_id("intent-rl-all")
    oms.venue.plans[cid] = fakes.SubmitPlan.RATE_LIMITED
    order = await oms.manager.submit(await oms.manager.accept_intent(make_intent("rl-all")))
    assert order.state is S.REJECTED and order.reason is not None, order
    assert order.reason.startswith("venue_throttled: ")
    attempts = 1 + FAST.request_retry_attempts
    assert oms.venue.submit_requests == [cid] * attempts and cid not in oms.venue.orders
    assert oms.venue.queries == []  # a 429 is a refusal before processing: nothing to look up


async def test_a_rate_limited_submit_is_not_sent_again_after_its_intent_expires(make_oms: BuildOms) -> None:
    oms = make_oms()
    cid = client_order_id("intent-rl-late")
    oms.venue.plans[cid] = fakes.SubmitPlan.RATE_LIMITED_ONCE
    oms.venue.retry_after_s = 5.0  # the venue's Retry-After ends after the intent's expiry
    expiring = make_intent("rl-late", expires_at=datetime.now(UTC) + timedelta(seconds=2))
    started = time.monotonic()
    order = await oms.manager.submit(await oms.manager.accept_intent(expiring))
    assert time.monotonic() - started < 2, "waited for a retry that could only come after the expiry"
    assert order.state is S.REJECTED and order.reason is not None and order.reason.startswith("expired: ")
    assert oms.venue.submit_requests == [cid] and cid not in oms.venue.orders
    assert await oms.manager.records.events.flush(5)
    (rejected,) = oms.events.of_type("Order Rejected")
    assert rejected.reason == "expired" and rejected.client_order_id == cid


async def test_unknown_then_found_partially_filled_is_resolved_from_the_venue_without_resending(
    make_oms: BuildOms,
) -> None:
    oms = make_oms()
    cid = client_order_id("intent-u")
    oms.venue.plans[cid] = fakes.SubmitPlan.UNKNOWN_EXISTS
    order = await oms.manager.submit(await oms.manager.accept_intent(make_intent("u")))
    assert order.state is S.UNKNOWN
    oms.venue.fill(cid, Decimal("0.2"))
    await until(lambda: state_is(oms, cid, S.PARTIALLY_FILLED))
    resolved = await oms.manager.get(cid)
    assert resolved.filled_quantity == Decimal("0.2") and resolved.venue_order_id is not None
    assert oms.venue.submit_requests == [cid]
    assert [f.trade_id for f in oms.fills.for_order(cid)] == [oms.venue.trades[0].trade_id]


async def test_unknown_and_missing_is_rejected_only_after_the_grace_period(make_oms: BuildOms) -> None:
    oms = make_oms()
    cid = client_order_id("intent-g")
    oms.venue.plans[cid] = fakes.SubmitPlan.UNKNOWN_MISSING
    started = time.monotonic()
    await oms.manager.submit(await oms.manager.accept_intent(make_intent("g")))
    await until(lambda: state_is(oms, cid, S.REJECTED))
    assert time.monotonic() - started >= FAST.not_found_grace_s

    def published() -> list[OrderState]:
        return [e.state for e in oms.events.of_type("Order Updated") if isinstance(e, OrderUpdated)]

    async def rejection_published() -> bool:  # events follow the table write
        return published()[-1:] == [S.REJECTED]

    await until(rejection_published)
    assert published()[-2:] == [S.UNKNOWN, S.REJECTED]  # held UNKNOWN until the grace ran out
    assert oms.venue.queries.count(cid) >= FAST.not_found_checks
    assert (await oms.manager.get(cid)).reason == "not_found_at_venue"
    assert oms.venue.submit_requests == [cid]
    assert [e.reason for e in oms.events.of_type("Order Rejected")] == ["not_found_at_venue"]


async def test_an_order_that_reaches_the_venue_late_is_found_not_rejected(make_oms: BuildOms) -> None:
    oms = make_oms()
    cid = client_order_id("intent-l")
    oms.venue.plans[cid] = fakes.SubmitPlan.UNKNOWN_LATE
    await oms.manager.submit(await oms.manager.accept_intent(make_intent("l")))
    await until(lambda: state_is(oms, cid, S.OPEN))
    assert oms.venue.queries.count(cid) == oms.venue.late_after_queries + 1
    assert oms.venue.submit_requests == [cid]


async def test_concurrent_submits_of_one_order_send_it_once(make_oms: BuildOms) -> None:
    oms = make_oms()
    order = await oms.manager.accept_intent(make_intent("c"))
    results = await asyncio.gather(*(oms.manager.submit(order) for _ in range(5)))
    assert oms.venue.submit_requests == [order.client_order_id]
    assert (await oms.manager.get(order.client_order_id)).state is S.OPEN
    assert {r.client_order_id for r in results} == {order.client_order_id}


async def test_a_fill_seen_twice_is_applied_and_published_once(make_oms: BuildOms) -> None:
    oms = make_oms()
    order = await oms.manager.submit(await oms.manager.accept_intent(make_intent("d")))
    cid = order.client_order_id
    first = oms.venue.fill(cid, Decimal("0.2"))
    second = oms.venue.fill(cid, Decimal("0.3"))
    for fill in (first, first, second, first):
        await oms.manager.apply_fill(fill)
    final = await oms.manager.get(cid)
    assert final.state is S.FILLED and final.filled_quantity == Decimal("0.5")
    assert final.avg_fill_price == Decimal("100")
    assert await oms.manager.records.events.flush(5)
    assert len(oms.fills.for_order(cid)) == 2 and len(oms.events.of_type("Order Filled")) == 2
    assert oms.journal_kinds().count("order_fill") == 2


async def test_cancel_of_an_open_order_ends_canceled(make_oms: BuildOms) -> None:
    oms = make_oms()
    order = await oms.manager.submit(await oms.manager.accept_intent(make_intent("k")))
    canceled = await oms.manager.cancel(order.client_order_id)
    assert canceled.state is S.CANCELED and canceled.reason == "canceled"


async def test_cancel_of_an_order_the_venue_filled_applies_the_fill(make_oms: BuildOms) -> None:
    oms = make_oms()
    order = await oms.manager.submit(await oms.manager.accept_intent(make_intent("kf")))
    oms.venue.fill(order.client_order_id, Decimal("0.5"))
    result = await oms.manager.cancel(order.client_order_id)
    assert result.state is S.FILLED and result.filled_quantity == Decimal("0.5")
    assert len(oms.fills.for_order(order.client_order_id)) == 1


async def test_a_cancel_with_an_unknown_outcome_is_resolved_from_the_venue(make_oms: BuildOms) -> None:
    oms = make_oms()
    order = await oms.manager.submit(await oms.manager.accept_intent(make_intent("ku")))
    cid = order.client_order_id
    oms.venue.cancel_unknown.add(cid)
    assert (await oms.manager.cancel(cid)).state is S.UNKNOWN
    await until(lambda: state_is(oms, cid, S.CANCELED))


async def test_an_intent_past_its_expiry_is_canceled_when_due(make_oms: BuildOms) -> None:
    oms = make_oms()
    oms.manager.start()
    expires = datetime.now(UTC) + timedelta(seconds=1)
    order = await oms.manager.submit(await oms.manager.accept_intent(make_intent("e", expires_at=expires)))
    assert order.state is S.OPEN
    await until(lambda: state_is(oms, order.client_order_id, S.CANCELED))
    assert (await oms.manager.get(order.client_order_id)).reason == "expired"


async def test_recover_resumes_unknown_and_interrupted_submits_in_a_new_manager(make_oms: BuildOms) -> None:
    first = make_oms()
    first.venue.reads_down = True  # the first manager never learns anything before its "crash"
    unknown_cid = client_order_id("intent-ru")
    first.venue.plans[unknown_cid] = fakes.SubmitPlan.UNKNOWN_EXISTS
    await first.manager.submit(await first.manager.accept_intent(make_intent("ru")))
    interrupted = await first.manager.accept_intent(make_intent("ri"))
    await first.manager.records.update(interrupted.client_order_id, lambda o: o.transition(S.SUBMITTING, 5))
    waiting = await first.manager.accept_intent(make_intent("rn"))
    await first.manager.close()

    assert await state_is(first, unknown_cid, S.UNKNOWN)
    first.venue.reads_down = False
    second = make_oms(venue=first.venue, token=2)
    report = await second.manager.recover()
    assert [o.client_order_id for o in report.awaiting_submit] == [waiting.client_order_id]
    assert set(report.resolving) == {unknown_cid, interrupted.client_order_id}
    await until(lambda: state_is(second, unknown_cid, S.OPEN))
    await until(lambda: state_is(second, interrupted.client_order_id, S.REJECTED))
    assert first.venue.submit_requests == [unknown_cid]


async def test_a_fenced_out_writer_cannot_create_orders(make_oms: BuildOms) -> None:
    leader = make_oms(token=5)
    await leader.manager.accept_intent(make_intent("f1"))
    deposed = make_oms(venue=leader.venue, token=4)
    with pytest.raises(FencedOut):
        await deposed.manager.accept_intent(make_intent("f2"))
    assert deposed.orders.get(client_order_id("intent-f2")) is None


async def test_a_concurrent_writer_is_detected_and_the_change_reapplied(make_oms: BuildOms) -> None:
    oms = make_oms()
    order = await oms.manager.submit(await oms.manager.accept_intent(make_intent("s")))
    bumped = Order.from_dict({**order.to_dict(), "version": order.version + 1, "reason": "elsewhere"})
    oms.orders.put(bumped, order.version)  # the cache still holds the older version
    result = await oms.manager.cancel(order.client_order_id)
    assert result.state is S.CANCELED and result.version > bumped.version
    assert oms.orders.get(order.client_order_id) == result
