"""How the OMS records a change: journal (fenced), projection (optimistic), event; one order at a time.

:meth:`OrderRecords.update` applies a pure domain change to the latest order under that order's lock,
appends it to the journal with the current fencing token (a deposed leader gets ``FencedOut``), writes
the projection conditioned on the version it read (``StaleWrite``: re-read and re-apply, bounded) and
then publishes. A fill is stored in the fills table (idempotent by trade key) before its order entry;
it is deduplicated by the order's trade ids, so one seen twice changes and publishes nothing.

Events go out after the projection write; the journal, not the bus, is the record, so a failed publish
is logged and does not undo a change. boto3/pynamodb calls block: they run in worker threads.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from tradeops.domain.events import EventDetail, OrderFilled, OrderUpdated, TradeIntent
from tradeops.domain.orders import Fill, IllegalTransition, Order, OrderState
from tradeops.gateway.oms_ports import EventSink, OmsConfig
from tradeops.observability import get_logger
from tradeops.store.base import StaleWrite
from tradeops.store.fills import ConflictingFill, FillStore
from tradeops.store.journal import JournalStore
from tradeops.store.orders import OrderStore

log = get_logger("tradeops.gateway.oms")

Change = Callable[[Order], Order]
"""A pure domain change; returning the same object means "nothing to do"."""


class UnknownOrder(LookupError):
    """No order with this client order id exists in the store."""


class OrderRecords:
    """The OMS's persistence and cache: every non-terminal order in memory, recent terminal ones bounded."""

    def __init__(
        self,
        journal: JournalStore,
        orders: OrderStore,
        fills: FillStore,
        events: EventSink,
        fencing_token: Callable[[], int],
        config: OmsConfig,
    ) -> None:
        self._journal = journal
        self._orders = orders
        self._fills = fills
        self._events = events
        self._fencing_token = fencing_token
        self._config = config
        self._journal_lock = asyncio.Lock()
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._working: dict[str, Order] = {}
        self._recent: OrderedDict[str, Order] = OrderedDict()

    async def create(self, intent: TradeIntent, order: Order, fencing_token: int | None) -> Order:
        """Journal ``intent`` and the NEW ``order``, then store it; an existing order is returned as is."""
        cid = order.client_order_id
        async with self.lock(cid):
            existing = await self.load(cid)
            if existing is not None:
                return existing
            token = self._fencing_token() if fencing_token is None else fencing_token
            await self._append("intent", intent.model_dump(mode="json"), token)
            await self._append("order_state", {"order": order.to_dict()}, token)
            try:
                await asyncio.to_thread(self._orders.put, order, None)
            except StaleWrite:
                stored = await self.load(cid, refresh=True)
                if stored is None:
                    raise
                return stored
            self._remember(order)
        await self.publish(OrderUpdated.from_order(order, correlation_id=order.intent_id))
        return order

    async def update(self, cid: str, change: Change, *, fill: Fill | None = None) -> Order:
        """Apply ``change`` to the latest order: journal, projection, publish (see the module docstring)."""
        async with self.lock(cid):
            current = await self.load(cid)
            for _ in range(self._config.max_write_attempts):
                if current is None:
                    raise UnknownOrder(cid)
                try:
                    updated = change(current)
                except IllegalTransition as exc:
                    log.info("evidence behind the known state ignored", extra={"cid": cid, "error": str(exc)})
                    return current
                except ValueError as exc:
                    log.error("evidence inconsistent with the order", extra={"cid": cid, "error": str(exc)})
                    return current
                if updated is current:
                    return current
                payload: dict[str, Any] = {"order": updated.to_dict()}
                if fill is not None:
                    try:
                        await asyncio.to_thread(self._fills.put, fill)
                    except ConflictingFill as exc:
                        log.error("conflicting fill not applied", extra={"cid": cid, "error": str(exc)})
                        return current
                    payload["fill"] = fill.to_dict()
                await self._append("order_fill" if fill else "order_state", payload, self._fencing_token())
                try:
                    await asyncio.to_thread(self._orders.put, updated, current.version)
                except StaleWrite:
                    current = await self.load(cid, refresh=True)
                    continue
                self._remember(updated)
                break
            else:
                raise StaleWrite(f"order {cid}: {self._config.max_write_attempts} writes lost their race")
        if fill is not None:
            await self.publish(OrderFilled.from_fill(fill, correlation_id=updated.intent_id))
        await self.publish(OrderUpdated.from_order(updated, correlation_id=updated.intent_id))
        return updated

    async def load(self, cid: str, *, refresh: bool = False) -> Order | None:
        """The order from the cache, or the store (strongly consistent) when absent or ``refresh``."""
        if not refresh:
            cached = self._working.get(cid) or self._recent.get(cid)
            if cached is not None:
                return cached
        order = await asyncio.to_thread(self._orders.get, cid)
        if order is not None:
            self._remember(order)
        return order

    async def load_state(self, state: OrderState) -> list[Order]:
        """Every stored order in ``state`` (all pages of the status index), now cached."""
        found: list[Order] = []
        cursor: str | None = None
        while True:
            page = await asyncio.to_thread(self._orders.by_status, state, limit=500, cursor=cursor)
            found.extend(page.items)
            cursor = page.cursor
            if cursor is None:
                break
        for order in found:
            self._remember(order)
        return found

    def working(self) -> list[Order]:
        """Cached non-terminal orders."""
        return list(self._working.values())

    def recent_terminal(self) -> list[Order]:
        """Cached terminal orders (the most recent ``order_cache_size``)."""
        return list(self._recent.values())

    def lock(self, cid: str) -> asyncio.Lock:
        """The lock serializing changes of one order (dropped once nobody holds a reference)."""
        lock = self._locks.get(cid)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[cid] = lock
        return lock

    async def publish(self, event: EventDetail) -> None:
        try:
            await asyncio.to_thread(self._events.publish, event)
        except Exception:  # the journal is the record: a lost notification must not undo a change
            log.exception("event not published", extra={"event_id": event.event_id})

    def _remember(self, order: Order) -> None:
        cid = order.client_order_id
        if order.is_terminal:
            self._working.pop(cid, None)
            self._recent[cid] = order
            self._recent.move_to_end(cid)
            while len(self._recent) > self._config.order_cache_size:
                self._recent.popitem(last=False)
        else:
            self._recent.pop(cid, None)
            self._working[cid] = order

    async def _append(self, kind: str, payload: dict[str, Any], token: int) -> None:
        stream, actor = self._config.journal_stream, self._config.actor
        async with self._journal_lock:  # one writer per stream: this process's appends never race
            await asyncio.to_thread(self._journal.append, stream, kind, payload, actor, token)
