"""OrderRecords: one worker-thread hand-off per change (journal before projection), write-ahead kept, and
events published in order from a background queue that the order path never waits for."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from tradeops.domain.events import EventDetail, OrderFilled, OrderUpdated, TradeIntent
from tradeops.domain.orders import Fill, IllegalTransition, Order, OrderState
from tradeops.domain.values import OrderType, Side
from tradeops.gateway.oms import OrderManager
from tradeops.gateway.oms_records import EventQueue, venue_ack
from tradeops.store.base import Page, StaleWrite
from tradeops.venue.adapter import SubmitOutcome
from tradeops.venue.mapping import VenueOrder
from tradeops.venue.outcomes import Accepted

S = OrderState
_hop = threading.local()


class Log:
    """Every store call as (hand-off number, call), from whichever worker thread made it."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str]] = []
        self._lock = threading.Lock()

    def add(self, call: str) -> None:
        with self._lock:
            self.calls.append((getattr(_hop, "number", -1), call))

    def by_hop(self) -> list[list[str]]:
        hops: dict[int, list[str]] = {}
        for number, call in self.calls:
            hops.setdefault(number, []).append(call)
        return [hops[n] for n in sorted(hops)]


class Stores:
    """Journal, orders and fills with the stores' contracts, logging each call."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.entries: list[tuple[str, dict[str, Any]]] = []
        self.orders: dict[str, Order] = {}
        self.fills: dict[str, Fill] = {}

    def append(self, stream: str, kind: str, payload: Any, actor: str, token: int) -> None:
        state = payload["order"]["state"] if "order" in payload else "-"
        self.log.add(f"journal {kind} {state}")
        self.entries.append((kind, dict(payload)))

    def get(self, cid: str) -> Order | None:
        self.log.add("orders get")
        return self.orders.get(cid)

    def put(self, order: Order, expected_version: int | None) -> None:
        stored = self.orders.get(order.client_order_id)
        if (stored.version if stored else None) != expected_version:
            raise StaleWrite(order.client_order_id)
        self.log.add(f"orders put {order.state.value}")
        self.orders[order.client_order_id] = order

    def by_status(self, state: OrderState, **_: Any) -> Page[Order]:
        return Page(tuple(o for o in self.orders.values() if o.state is state), None)

    def put_fill(self, fill: Fill) -> bool:
        self.log.add("fills put")
        return self.fills.setdefault(fill.trade_id, fill) is fill


class Venue:
    """Acks every order at once as NEW (OPEN), checking first that SUBMITTING was journaled and stored."""

    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self._ids = itertools.count(1)

    async def submit(self, order: Order) -> SubmitOutcome:
        kind, payload = self.stores.entries[-1]
        assert (kind, payload["order"]["state"]) == ("order_state", "SUBMITTING"), "sent before journaled"
        assert self.stores.orders[order.client_order_id].state is S.SUBMITTING
        return Accepted(
            VenueOrder(order.client_order_id, str(next(self._ids)), order.symbol, order.side, "LIMIT", "NEW",
                       order.quantity, Decimal(0), None, order.limit_price, None, (), None, None, None)
        )  # fmt: skip


class Sink:
    """An event sink that can be held (blocks until released) or made to fail the next ``fail`` calls."""

    def __init__(self) -> None:
        self.events: list[EventDetail] = []
        self.release = threading.Event()
        self.release.set()
        self.fail = 0
        self.calls = 0

    def publish(self, event: EventDetail) -> None:
        self.calls += 1
        self.release.wait(10)
        if self.fail > 0:
            self.fail -= 1
            raise ConnectionError("bus unavailable")
        self.events.append(event)


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Names of the functions handed to worker threads; store calls made in each are numbered by it."""
    names: list[str] = []
    original = asyncio.to_thread
    counter = itertools.count()

    async def counting(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        number = next(counter)
        names.append(getattr(func, "__name__", repr(func)))

        def numbered() -> Any:
            _hop.number = number
            return func(*args, **kwargs)

        return await original(numbered)

    monkeypatch.setattr(asyncio, "to_thread", counting)
    yield names


def build(sink: Sink | None = None) -> tuple[OrderManager, Stores, Sink]:
    stores, sink = Stores(Log()), sink or Sink()
    fills = type("Fills", (), {"put": staticmethod(stores.put_fill)})()
    manager = OrderManager(Venue(stores), stores, stores, fills, sink, lambda: 1)  # type: ignore[arg-type]
    return manager, stores, sink


def intent(n: int) -> TradeIntent:
    return TradeIntent(correlation_id=f"c-{n}", intent_id=f"i-{n}", strategy="demo", symbol="BTC/USDT",
                       side=Side.BUY, type=OrderType.LIMIT, quantity=Decimal("0.5"),
                       limit_price=Decimal("100"))  # fmt: skip


async def test_each_change_is_one_thread_hop_journal_first_and_the_ack_is_one_change(hops: list[str]) -> None:
    manager, stores, sink = build()
    order = await manager.submit(await manager.accept_intent(intent(1)))
    assert order.state is S.OPEN and order.venue_order_id == "1"
    writes = [name for name in hops if name.startswith("_write")]
    assert writes == ["_write_new", "_write_change", "_write_change"]  # NEW, SUBMITTING, ack
    assert stores.log.by_hop() == [
        ["orders get"],  # accept_intent's look-up of an existing order
        ["orders get", "journal intent -", "journal order_state NEW", "orders put NEW"],
        ["journal order_state SUBMITTING", "orders put SUBMITTING"],
        ["journal order_state OPEN", "orders put OPEN"],  # the venue id and the status in one entry
    ]
    assert stores.entries[-1][1]["order"]["venue_order_id"] == "1"
    assert await manager.records.events.flush(5)
    assert [e.state for e in sink.events if isinstance(e, OrderUpdated)] == [S.NEW, S.SUBMITTING, S.OPEN]
    await manager.close()


async def test_a_fill_is_stored_journaled_and_projected_in_one_hop(hops: list[str]) -> None:
    manager, stores, sink = build()
    order = await manager.submit(await manager.accept_intent(intent(2)))
    fill = Fill(order.client_order_id, "t-1", "BTC/USDT", Side.BUY, Decimal("100"), Decimal("0.5"),
                Decimal(0), "USDT", order.created_at + 1, False)  # fmt: skip
    stores.log.calls.clear()
    assert (await manager.apply_fill(fill)).state is S.FILLED  # type: ignore[union-attr]
    assert stores.log.by_hop() == [["fills put", "journal order_fill FILLED", "orders put FILLED"]]
    assert await manager.records.events.flush(5)
    assert [type(e) for e in sink.events[-2:]] == [OrderFilled, OrderUpdated]
    await manager.close()


async def test_the_order_path_does_not_wait_for_the_bus_and_events_keep_their_order() -> None:
    sink = Sink()
    sink.release.clear()  # the bus hangs
    manager, _stores, _sink = build(sink)
    started = time.monotonic()
    orders = [await manager.submit(await manager.accept_intent(intent(n))) for n in range(5)]
    assert all(o.state is S.OPEN for o in orders)
    assert time.monotonic() - started < 5  # far below the sink's 10 s hold: nobody waited for it
    assert not await manager.records.events.flush(0.05)
    sink.release.set()
    await manager.close()  # drains what is queued
    for order in orders:
        states = [
            e.state
            for e in sink.events
            if isinstance(e, OrderUpdated) and e.client_order_id == order.client_order_id
        ]
        assert states == [S.NEW, S.SUBMITTING, S.OPEN]


def updated(n: int) -> OrderUpdated:
    order = Order.new(client_order_id=f"cid-{n}", intent_id=f"i-{n}", strategy="demo", symbol="BTC/USDT",
                      side=Side.BUY, type=OrderType.LIMIT, quantity=Decimal(1), limit_price=Decimal(1),
                      created_at=1_700_000_000_000 + n)  # fmt: skip
    return OrderUpdated.from_order(order, correlation_id=order.intent_id)


async def test_a_refused_event_is_retried_in_place_then_dropped_without_holding_back_the_rest() -> None:
    sink = Sink()
    queue = EventQueue(sink, attempts=3, retry_delay_s=0.01)
    sink.fail = 2  # the first event is refused twice, then accepted
    events = [updated(n) for n in range(3)]
    for event in events:
        queue.put(event)
    assert await queue.flush(5)
    assert sink.events == events and sink.calls == 5
    sink.fail = 3  # refused on every attempt: logged and dropped
    last = updated(4)
    queue.put(updated(3))
    queue.put(last)
    assert await queue.flush(5)
    assert sink.events == [*events, last] and sink.calls == 9
    await queue.close()


async def test_the_queue_is_bounded_and_drops_the_oldest() -> None:
    sink = Sink()
    sink.release.clear()
    queue = EventQueue(sink, max_pending=2)
    first = updated(0)
    queue.put(first)
    await asyncio.sleep(0.05)  # the first is being published (held)
    for n in range(1, 5):
        queue.put(updated(n))
    assert queue.dropped == 2
    sink.release.set()
    await queue.close()
    assert [e.client_order_id for e in sink.events] == ["cid-0", "cid-3", "cid-4"]  # type: ignore[attr-defined]


def test_a_venue_ack_keeps_the_new_id_when_its_status_is_behind() -> None:
    order = Order.new(client_order_id="cid", intent_id="i", strategy="demo", symbol="BTC/USDT",
                      side=Side.BUY, type=OrderType.LIMIT, quantity=Decimal(1), limit_price=Decimal(1),
                      created_at=1)  # fmt: skip
    filled = order.transition(S.SUBMITTING, 2).transition(S.FILLED, 3)
    acked = venue_ack("v-1", "NEW", Decimal(0), 4)(filled)  # a stale NEW after the fill
    assert acked.venue_order_id == "v-1" and acked.state is S.FILLED
    with pytest.raises(IllegalTransition):  # nothing new at all: OrderRecords.update logs and ignores it
        venue_ack("v-1", "NEW", Decimal(0), 5)(acked)
    opened = venue_ack("v-2", "NEW", Decimal(0), 4)(order.transition(S.SUBMITTING, 2))
    assert (opened.venue_order_id, opened.state, opened.version) == ("v-2", S.OPEN, 3)
