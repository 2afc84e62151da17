"""Helpers of drills 4, 6 and 8 (the gateway comes from ``_gateway.trading_gateway``).

:func:`market_data_ok` waits until every symbol is OK. :func:`publish` sends Trade Intents the way
strategies do (EventBridge -> intents queue). :func:`settled` waits until each intent's order is
terminal in the orders table. :func:`check_books` calls ``_books.assert_books_agree`` when that module
exists, else :func:`check_essentials`, which counts the orders of every key of the rig's account (after
a rotation the new key places them): one venue order per sent intent, none for a denied one, the same
status as the orders table, every venue order journaled with its venue id.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from tradeops.aws.events import EventPublisher
from tradeops.domain.events import TradeIntent
from tradeops.domain.ids import client_order_id
from tradeops.domain.orders import Order, OrderState
from tradeops.gateway.app import GatewayApp
from tradeops.gateway.quality import FeedQuality
from tradeops.store.journal import JournalStore
from tradeops.store.orders import OrderStore

from ._rig import KEY, DrillRig, until

STRATEGY_SOURCE = "tradeops.strategy"
JOURNAL_STREAM = "orders"
NOT_SENT = frozenset({OrderState.NEW, OrderState.DENIED})
VENUE_STATUS = {OrderState.OPEN: "NEW"}


async def holds(value: bool) -> bool:
    """A condition already evaluated, for :func:`until` (``until(lambda: holds(x()), ...)``)."""
    return value


def all_ok(app: GatewayApp) -> bool:
    """Every watched symbol's market data is OK."""
    return all(app.market_data.view(s).quality is FeedQuality.OK for s in app.config.symbols)


async def market_data_ok(app: GatewayApp, timeout_s: float = 30) -> None:
    """Wait until every symbol's market data is OK (a drill starts from a clean state)."""

    async def ok() -> bool:
        return all_ok(app)

    await until(ok, timeout_s, "every symbol's market data OK")


async def publish(rig: DrillRig, intents: Iterable[TradeIntent]) -> None:
    """Publish ``intents`` on the bus as a strategy does (one put_events per intent, in order)."""
    publisher = EventPublisher(rig.settings, STRATEGY_SOURCE)
    for one in intents:
        await asyncio.to_thread(publisher.publish, one)


async def submit_in_process(app: GatewayApp, intents: Iterable[TradeIntent]) -> None:
    """Hand intents to the leader's intake as an in-process strategy does; returns once each is decided."""
    session = app.session
    assert session is not None and session.intake is not None, "the gateway is not trading"
    for one in intents:
        await session.intake.submit_local(one)


async def orders_of(rig: DrillRig, intents: Iterable[TradeIntent]) -> dict[str, Order | None]:
    """The orders table's entry order of each intent (None when it has none), by intent id."""
    store = OrderStore(rig.settings)
    found: dict[str, Order | None] = {}
    for one in intents:
        found[one.intent_id] = await asyncio.to_thread(store.get, client_order_id(one.intent_id))
    return found


def _orders_by_intent(settings: Any, intent_ids: set[str]) -> dict[str, Order]:
    """Every stored order of ``intent_ids`` (one status-index query per state, not one read per order)."""
    store = OrderStore(settings)
    found: dict[str, Order] = {}
    for state in OrderState:
        cursor: str | None = None
        while True:
            page = store.by_status(state, limit=500, cursor=cursor)
            found.update((o.intent_id, o) for o in page.items if o.intent_id in intent_ids)
            cursor = page.cursor
            if cursor is None:
                break
    return found


async def settled(rig: DrillRig, intents: Sequence[TradeIntent], timeout_s: float) -> dict[str, Order]:
    """Wait until every intent's order is terminal in the orders table; returns them by intent id.

    Polls twice a second with a handful of index queries: the embedded DynamoDB shares this process
    (and its GIL) with the gateway under test, so a read per order per poll would starve it.
    """
    wanted = {i.intent_id for i in intents}
    latest: dict[str, Order] = {}

    async def done() -> bool:
        latest.clear()
        latest.update(await asyncio.to_thread(_orders_by_intent, rig.settings, wanted))
        if len(latest) == len(wanted) and all(o.is_terminal for o in latest.values()):
            return True
        await asyncio.sleep(0.4)
        return False

    try:
        await until(done, timeout_s, f"{len(intents)} intents settled in the orders table")
    except AssertionError as exc:
        states = Counter(o.state.value for o in latest.values())
        raise AssertionError(f"{exc}: {len(latest)} orders, states {dict(states)}") from None
    return latest


async def account_orders(rig: DrillRig) -> list[dict[str, Any]]:
    """Every venue order of the rig's account (the one the rig's key traded on), whichever key placed it."""
    state = await rig.sim_state()
    account_ids = {o["accountId"] for o in state["orders"] if o["apiKey"] == KEY["apiKey"]}
    return [o for o in state["orders"] if o["accountId"] in account_ids]


def journaled_client_ids(rig: DrillRig) -> dict[str, set[str]]:
    """Client order id -> venue order ids recorded for it in the order journal (verified chain)."""
    entries = JournalStore(rig.settings).read(JOURNAL_STREAM)
    found: dict[str, set[str]] = {}
    for entry in entries:
        order = entry.payload.get("order")
        if isinstance(order, dict):
            ids = found.setdefault(str(order["client_order_id"]), set())
            if order.get("venue_order_id"):
                ids.add(str(order["venue_order_id"]))
    return found


async def check_books(rig: DrillRig, intents: Sequence[TradeIntent]) -> None:
    """The books agree with the venue (``_books.assert_books_agree`` when present, else the essentials)."""
    books = _shared_books()
    if books is not None:
        result = books(rig, list(intents))
        if inspect.isawaitable(result):
            await result
        return
    await check_essentials(rig, intents)


async def check_essentials(rig: DrillRig, intents: Sequence[TradeIntent]) -> None:
    """One venue order (any key of the account) per sent intent, same status, journaled; none if denied."""
    orders = await orders_of(rig, intents)
    venue = await account_orders(rig)
    by_cid: dict[str, list[dict[str, Any]]] = {}
    for v in venue:
        by_cid.setdefault(str(v["clientOrderId"]), []).append(v)
    journal = await asyncio.to_thread(journaled_client_ids, rig)
    for one in intents:
        cid = client_order_id(one.intent_id)
        order = orders[one.intent_id]
        assert order is not None, f"{one.intent_id}: no order in the orders table"
        placed = by_cid.get(cid, [])
        expected = 0 if order.state in NOT_SENT else 1
        assert len(placed) == expected, f"{one.intent_id} ({order.state}): {len(placed)} venue orders"
        if placed:
            status = VENUE_STATUS.get(order.state, order.state.value)
            assert status == placed[0]["status"], f"{one.intent_id}: {order.state} vs {placed[0]['status']}"
            assert str(placed[0]["orderId"]) in journal.get(cid, set()), f"{one.intent_id}: not journaled"
    ours = {client_order_id(i.intent_id) for i in intents}
    strays = sorted(cid for cid in by_cid if cid not in ours)
    unjournaled = [cid for cid in strays if cid not in journal]
    assert unjournaled == [], f"venue orders missing from the journal: {unjournaled}"


def _shared_books() -> Any:
    """``assert_books_agree`` from ``tests/drills/_books.py`` if that module exists (another engineer's)."""
    try:
        from . import _books  # type: ignore[attr-defined]
    except ImportError:
        return None
    return getattr(_books, "assert_books_agree", None)
