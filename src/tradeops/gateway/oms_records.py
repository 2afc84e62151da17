"""How the OMS records a change: journal (fenced), projection (optimistic), event; one order at a time.

:meth:`OrderRecords.update` applies a pure domain change to the latest order under that order's lock,
then writes it in one worker-thread call: the fill (if any) into the fills table (idempotent by trade
key), the journal entry with the current fencing token (a deposed leader gets ``FencedOut``), then the
projection conditioned on the version it read (``StaleWrite``: re-read and re-apply, bounded). A fill is
deduplicated by the order's trade ids, so one seen twice changes and publishes nothing. The journal entry
always precedes the projection write, and a change's entry is written before the caller goes on (so
SUBMITTING is journaled before the request leaves).

Events are notifications (the journal is the record): :class:`EventQueue` publishes them from one
background task in the order they were recorded, so the order path never waits for the bus; a refused
event is retried a few times, then logged and dropped. boto3/pynamodb calls block: they run in threads.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable
from decimal import Decimal
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


def venue_ack(venue_order_id: str, status: str, filled: Decimal, at: int) -> Change:
    """The venue's id and status of an order as one change (one journal entry, one projection write).

    Each part is applied as it would be alone: a status the state machine refuses (stale evidence) still
    records a new venue id, and an id conflict still lets the status through; both are logged.
    """

    def change(order: Order) -> Order:
        try:
            with_id = order.with_venue_order_id(venue_order_id, at)
        except ValueError as exc:
            log.error(
                "venue id inconsistent with the order",
                extra={"cid": order.client_order_id, "error": str(exc)},
            )
            with_id = order
        if with_id is order:
            return order.apply_venue_status(status, filled, at)  # failures are OrderRecords.update's to log
        try:
            return with_id.apply_venue_status(status, filled, at)
        except IllegalTransition as exc:
            log.info(
                "venue status behind the known state", extra={"cid": order.client_order_id, "error": str(exc)}
            )
        except ValueError as exc:
            log.error("venue status inconsistent", extra={"cid": order.client_order_id, "error": str(exc)})
        return with_id

    return change


class EventQueue:
    """Publishes events FIFO from one background task: :meth:`put` never waits, :meth:`close` drains.

    One task keeps the order of every order's events. What is waiting is sent in one worker-thread call;
    an event the sink refuses is tried again (``attempts`` in all, ``retry_delay_s`` apart, later events
    waiting behind it), then logged and dropped. At most ``max_pending`` wait: beyond that the oldest is
    dropped (logged), so a dead bus cannot grow the gateway's memory.
    """

    def __init__(
        self, sink: EventSink, *, attempts: int = 3, retry_delay_s: float = 0.2, max_pending: int = 10_000
    ) -> None:
        self._sink = sink
        self._attempts = attempts
        self._retry_delay_s = retry_delay_s
        self._pending: deque[EventDetail] = deque()
        self._max_pending = max_pending
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    def put(self, event: EventDetail) -> None:
        """Queue ``event`` behind every earlier one (call on the event loop)."""
        if len(self._pending) >= self._max_pending:
            lost = self._pending.popleft()
            self.dropped += 1
            log.error("event queue full: oldest event not published", extra={"event_id": str(lost.event_id)})
        self._pending.append(event)
        self._idle.clear()
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every queued event was published or given up; False on timeout."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def close(self, timeout_s: float = 5.0) -> None:
        """Drain (bounded by ``timeout_s``; what is left is logged), then stop the task."""
        if not await self.flush(timeout_s):
            log.error("events not published before close", extra={"pending": len(self._pending)})
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch = list(self._pending)
                self._pending.clear()
                await self._publish(batch)
            self._idle.set()

    async def _publish(self, batch: list[EventDetail]) -> None:
        start, failures = 0, 0
        while start < len(batch):
            sent, error = await asyncio.to_thread(self._send, batch, start)
            start += sent
            if error is None:
                break
            failures += 1
            if failures < self._attempts:
                await asyncio.sleep(self._retry_delay_s * failures)
                continue
            event = batch[start]
            log.error("event not published", extra={"event_id": str(event.event_id)}, exc_info=error)
            start, failures = start + 1, 0

    def _send(self, batch: list[EventDetail], start: int) -> tuple[int, Exception | None]:
        """Publish ``batch[start:]`` in order; how many went out and the error that stopped it, if any."""
        for index in range(start, len(batch)):
            try:
                self._sink.publish(batch[index])
            except Exception as exc:  # any refusal: retried, then logged
                return index - start, exc
        return len(batch) - start, None


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
        self.events = EventQueue(events)
        self._fencing_token = fencing_token
        self._config = config
        self._journal_lock = threading.Lock()  # one writer per stream: this process's appends never race
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._working: dict[str, Order] = {}
        self._recent: OrderedDict[str, Order] = OrderedDict()

    async def create(self, intent: TradeIntent, order: Order, fencing_token: int | None) -> Order:
        """Journal ``intent`` and the NEW ``order``, then store it; an existing order is returned as is."""
        cid = order.client_order_id
        async with self.lock(cid):
            cached = self._working.get(cid) or self._recent.get(cid)
            if cached is not None:
                return cached
            token = self._fencing_token() if fencing_token is None else fencing_token
            intent_payload = intent.model_dump(mode="json")
            try:
                stored = await asyncio.to_thread(self._write_new, intent_payload, order, token)
            except StaleWrite:  # written meanwhile by another process: the stored one wins
                written = await self.load(cid, refresh=True)
                if written is None:
                    raise
                return written
            self._remember(stored)
            if stored is not order:
                return stored
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
                token = self._fencing_token()
                try:
                    await asyncio.to_thread(self._write_change, updated, current.version, fill, token)
                except ConflictingFill as exc:
                    log.error("conflicting fill not applied", extra={"cid": cid, "error": str(exc)})
                    return current
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
        """Queue ``event`` for the background publisher (see :class:`EventQueue`); does not wait for it."""
        self.events.put(event)

    async def close(self, timeout_s: float = 5.0) -> None:
        """Publish what is queued (bounded by ``timeout_s``) and stop the publisher."""
        await self.events.close(timeout_s)

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

    # ---- worker-thread writes: one hand-off per change --------------------------------------------
    def _write_new(self, intent: dict[str, Any], order: Order, token: int) -> Order:
        """The stored order if there is one; else journal the intent and the NEW order, then store it."""
        existing = self._orders.get(order.client_order_id)
        if existing is not None:
            return existing
        self._append("intent", intent, token)
        self._append("order_state", {"order": order.to_dict()}, token)
        self._orders.put(order, None)
        return order

    def _write_change(self, updated: Order, expected_version: int, fill: Fill | None, token: int) -> None:
        """The fill (idempotent), the journal entry, then the projection on ``expected_version``."""
        payload: dict[str, Any] = {"order": updated.to_dict()}
        if fill is not None:
            self._fills.put(fill)
            payload["fill"] = fill.to_dict()
        self._append("order_fill" if fill else "order_state", payload, token)
        self._orders.put(updated, expected_version)

    def _append(self, kind: str, payload: dict[str, Any], token: int) -> None:
        stream, actor = self._config.journal_stream, self._config.actor
        with self._journal_lock:
            self._journal.append(stream, kind, payload, actor, token)
