"""In-memory backends with the interfaces of JournalStore, OrderStore and FillStore, and an instant venue.

They keep the stores' contracts so the OMS runs unchanged on them: the journal computes the real hash
chain (``domain.journal.next_entry``), refuses a stale fencing token (``FencedOut``) and returns entries
as readers see them (stored form, then parsed back, as ``JournalStore.append`` does); the order store
honours ``expected_version`` (``StaleWrite``); the fill store is idempotent by trade key
(``ConflictingFill`` on a disagreeing duplicate). ``retain`` bounds what a store keeps (None: all):
the memory benchmark uses it so that the database, which lives outside the gateway in production, does
not count as the gateway's memory. Every store is thread-safe: the OMS calls them from worker threads.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from tradeops.domain.events import EventDetail
from tradeops.domain.journal import GENESIS_HASH, ChainBreak, JournalEntry, next_entry, verify_chain
from tradeops.domain.orders import Fill, Order, OrderState
from tradeops.domain.values import OrderType
from tradeops.store.base import Page, StaleWrite
from tradeops.store.fills import ConflictingFill, trade_key
from tradeops.store.journal import FencedOut, JournalCorrupted
from tradeops.venue.adapter import CancelOutcome, NotFound, Outcome, SubmitOutcome
from tradeops.venue.mapping import VenueOrder
from tradeops.venue.outcomes import Accepted, Rejected


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _page(items: list[Any], limit: int, cursor: str | None) -> Page[Any]:
    """One page of ``items``; the cursor is the offset of the next page."""
    if limit < 1:
        raise ValueError("limit must be >= 1")
    start = int(cursor) if cursor else 0
    end = start + limit
    return Page(tuple(items[start:end]), str(end) if end < len(items) else None)


class MemoryJournal:
    """``JournalStore`` in memory: appends, head, verified reads, verify, streams."""

    def __init__(self, *, retain: int | None = None, clock_ms: Callable[[], int] = _now_ms) -> None:
        self._streams: dict[str, deque[JournalEntry]] = {}
        self._retain = retain
        self._clock_ms = clock_ms
        self._lock = threading.Lock()
        self.appended = 0

    def append(
        self,
        stream: str,
        kind: str,
        payload: Mapping[str, Any],
        actor: str,
        fencing_token: int,
        recorded_at: int | None = None,
    ) -> JournalEntry:
        with self._lock:
            entries = self._streams.setdefault(stream, deque(maxlen=self._retain))
            head = entries[-1] if entries else None
            if head is not None and fencing_token < head.fencing_token:
                raise FencedOut(f"stream {stream!r}: token {fencing_token} < head token {head.fencing_token}")
            entry = next_entry(
                head,
                stream=stream,
                kind=kind,
                payload=dict(payload),
                recorded_at=self._clock_ms() if recorded_at is None else recorded_at,
                actor=actor,
                fencing_token=fencing_token,
            )
            stored = JournalEntry.from_item(
                entry.to_item()
            )  # Decimals come back as strings, as from DynamoDB
            entries.append(stored)
            self.appended += 1
            return stored

    def head(self, stream: str) -> JournalEntry | None:
        with self._lock:
            entries = self._streams.get(stream)
            return entries[-1] if entries else None

    def read(self, stream: str, from_seq: int = 1, to_seq: int | None = None) -> list[JournalEntry]:
        """Retained entries ``from_seq..to_seq``; ``JournalCorrupted`` when the retained chain is broken."""
        with self._lock:
            entries = list(self._streams.get(stream, ()))
        chain_break = self._verify(entries)
        if chain_break is not None:
            raise JournalCorrupted(stream, chain_break)
        return [e for e in entries if e.seq >= from_seq and (to_seq is None or e.seq <= to_seq)]

    def verify(self, stream: str) -> ChainBreak | None:
        """The first break of the retained entries (from genesis when nothing was dropped)."""
        with self._lock:
            return self._verify(list(self._streams.get(stream, ())))

    def streams(self) -> list[str]:
        with self._lock:
            return sorted(self._streams)

    @staticmethod
    def _verify(entries: list[JournalEntry]) -> ChainBreak | None:
        if not entries:
            return None
        first = entries[0]
        start_prev = GENESIS_HASH if first.seq == 1 else first.prev_hash
        return verify_chain(entries, start_prev_hash=start_prev, start_seq=first.seq)


class MemoryOrders:
    """``OrderStore`` in memory: optimistic puts on ``expected_version``, get, status and symbol pages."""

    def __init__(self, *, retain: int | None = None) -> None:
        self._orders: OrderedDict[str, Order] = OrderedDict()
        self._retain = retain
        self._lock = threading.Lock()

    def put(self, order: Order, expected_version: int | None) -> None:
        cid = order.client_order_id
        with self._lock:
            stored = self._orders.get(cid)
            if expected_version is None:
                if stored is not None:
                    raise StaleWrite(f"order {cid}: exists already")
            elif order.version <= expected_version:
                raise ValueError(f"order {cid}: version {order.version} does not follow {expected_version}")
            elif stored is None or stored.version != expected_version:
                raise StaleWrite(f"order {cid}: stored version is not {expected_version}")
            self._orders[cid] = order
            self._orders.move_to_end(cid)
            while self._retain is not None and len(self._orders) > self._retain:
                self._orders.popitem(last=False)

    def get(self, client_order_id: str) -> Order | None:
        with self._lock:
            return self._orders.get(client_order_id)

    def by_status(
        self,
        state: OrderState,
        *,
        updated_from: int | None = None,
        updated_to: int | None = None,
        limit: int = 100,
        cursor: str | None = None,
        newest_first: bool = False,
    ) -> Page[Order]:
        low, high = updated_from or 0, updated_to if updated_to is not None else 2**63
        with self._lock:
            found = [o for o in self._orders.values() if o.state is state and low <= o.updated_at <= high]
        found.sort(key=lambda o: o.updated_at, reverse=newest_first)
        return _page(found, limit, cursor)

    def by_symbol(
        self,
        symbol: str,
        *,
        created_from: int | None = None,
        created_to: int | None = None,
        limit: int = 100,
        cursor: str | None = None,
        newest_first: bool = False,
    ) -> Page[Order]:
        low, high = created_from or 0, created_to if created_to is not None else 2**63
        with self._lock:
            found = [o for o in self._orders.values() if o.symbol == symbol and low <= o.created_at <= high]
        found.sort(key=lambda o: o.created_at, reverse=newest_first)
        return _page(found, limit, cursor)


class MemoryFills:
    """``FillStore`` in memory: one fill per (order, trade key); a differing duplicate is refused."""

    def __init__(self, *, retain: int | None = None) -> None:
        self._fills: OrderedDict[tuple[str, str], Fill] = OrderedDict()
        self._retain = retain
        self._lock = threading.Lock()

    def put(self, fill: Fill) -> bool:
        key = (fill.client_order_id, trade_key(fill.symbol, fill.trade_id))
        with self._lock:
            stored = self._fills.get(key)
            if stored is not None:
                if stored != fill:
                    raise ConflictingFill(
                        f"trade {fill.trade_id} on {fill.symbol}: stored {stored}, got {fill}"
                    )
                return False
            self._fills[key] = fill
            while self._retain is not None and len(self._fills) > self._retain:
                self._fills.popitem(last=False)
            return True

    def get(self, client_order_id: str, symbol: str, trade_id: str) -> Fill | None:
        with self._lock:
            return self._fills.get((client_order_id, trade_key(symbol, trade_id)))

    def for_order(self, client_order_id: str) -> list[Fill]:
        with self._lock:
            fills = [f for (cid, _), f in self._fills.items() if cid == client_order_id]
        return sorted(fills, key=lambda fill: (fill.ts, fill.trade_id))

    def by_symbol(
        self,
        symbol: str,
        *,
        ts_from: int | None = None,
        ts_to: int | None = None,
        limit: int = 100,
        cursor: str | None = None,
        newest_first: bool = False,
    ) -> Page[Fill]:
        low, high = ts_from or 0, ts_to if ts_to is not None else 2**63
        with self._lock:
            found = [f for f in self._fills.values() if f.symbol == symbol and low <= f.ts <= high]
        found.sort(key=lambda f: (f.ts, f.trade_id), reverse=newest_first)
        return _page(found, limit, cursor)


class CountingEvents:
    """An ``EventSink`` that counts what it is given per detail-type and keeps nothing else."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def publish(self, event: EventDetail) -> None:
        with self._lock:
            self.counts[event.DETAIL_TYPE] = self.counts.get(event.DETAIL_TYPE, 0) + 1


class InstantVenue:
    """An ``ExecutionVenue`` answering at once and remembering nothing: market orders fill in one trade at
    ``price``, limit orders are treated as IOC and expire unfilled (no resting book, no history)."""

    def __init__(self, price: Decimal = Decimal("100")) -> None:
        self._price = price
        self._ids = itertools.count(1)
        self.submitted = 0

    async def submit(self, order: Order) -> SubmitOutcome:
        self.submitted += 1
        venue_id, now = str(next(self._ids)), _now_ms()
        fills: tuple[Fill, ...] = ()
        if order.type is OrderType.MARKET:
            trade = Fill(order.client_order_id, f"t{venue_id}", order.symbol, order.side, self._price,
                         order.quantity, Decimal("0.01"), "USDT", now, False)  # fmt: skip
            fills = (trade,)
        return Accepted(
            VenueOrder(
                client_order_id=order.client_order_id,
                venue_order_id=venue_id,
                symbol=order.symbol,
                side=order.side,
                type=order.type.value.upper(),
                status="FILLED" if fills else "EXPIRED",
                quantity=order.quantity,
                filled=order.quantity if fills else Decimal(0),
                average_price=self._price if fills else None,
                price=order.limit_price,
                stop_price=None,
                fills=fills,
                created_at=now,
                updated_at=now,
                list_id=None,
            )
        )

    async def cancel(self, symbol: str, client_order_id: str) -> CancelOutcome:
        return Rejected(-2011, "Unknown order sent.", "OrderNotFound")

    async def fetch_order(self, symbol: str, client_order_id: str) -> Outcome[VenueOrder | NotFound]:
        return Accepted(NotFound(symbol, client_order_id))

    async def fetch_open_orders(self, symbol: str | None = None) -> Outcome[list[VenueOrder]]:
        return Accepted([])

    async def fetch_my_trades(self, symbol: str, since: int | None = None) -> Outcome[list[Fill]]:
        return Accepted([])
