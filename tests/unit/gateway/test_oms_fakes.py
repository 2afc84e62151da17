"""Test doubles of the OMS's ports (no tests here): an in-memory venue, a user stream and an event sink.

Loaded by the OMS unit tests with ``load_fakes()`` (the test tree has no packages: import mode importlib).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum

from tradeops.domain.events import EventDetail
from tradeops.domain.orders import Fill, Order
from tradeops.domain.values import OrderType
from tradeops.venue.adapter import CancelOutcome, NotFound, Outcome, SubmitOutcome
from tradeops.venue.mapping import VenueOrder
from tradeops.venue.outcomes import Accepted, Rejected, Retryable, Unknown

MARKET_PRICE = Decimal("100")


class SubmitPlan(StrEnum):
    """How the fake venue answers a submit."""

    ACCEPT = "accept"
    REJECT = "reject"
    UNKNOWN_EXISTS = "unknown_exists"  # processed, response lost
    UNKNOWN_MISSING = "unknown_missing"  # lost before the venue saw it
    UNKNOWN_LATE = "unknown_late"  # arrives at the venue only after ``late_after_queries`` queries
    RATE_LIMITED_ONCE = "rate_limited_once"  # 429 first (not processed), then accepted
    RATE_LIMITED = "rate_limited"  # 429 every time (never processed)


@dataclass
class FakeVenue:
    """An in-memory Binance-like venue implementing ``ExecutionVenue``; ground truth for assertions."""

    plans: dict[str, SubmitPlan] = field(default_factory=dict)
    cancel_unknown: set[str] = field(default_factory=set)
    late_after_queries: int = 2
    reads_down: bool = False
    retry_after_s: float = 0.01
    """The Retry-After of a ``RATE_LIMITED_ONCE`` refusal."""
    orders: dict[str, VenueOrder] = field(default_factory=dict)
    trades: list[Fill] = field(default_factory=list)
    submit_requests: list[str] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    trade_list_calls: int = 0
    _late: dict[str, Order] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))

    # ---- ExecutionVenue ----------------------------------------------------------------------------
    async def submit(self, order: Order) -> SubmitOutcome:
        await asyncio.sleep(0)
        cid = order.client_order_id
        self.submit_requests.append(cid)
        plan = self.plans.get(cid, SubmitPlan.ACCEPT)
        if plan is SubmitPlan.RATE_LIMITED or (
            plan is SubmitPlan.RATE_LIMITED_ONCE and self.submit_requests.count(cid) == 1
        ):
            return Retryable("Too much request weight used", "DDoSProtection", -1003, self.retry_after_s)
        if plan is SubmitPlan.REJECT:
            return Rejected(-2010, "Account has insufficient balance", "InsufficientFunds")
        if plan is SubmitPlan.UNKNOWN_MISSING:
            return Unknown("request timed out", "RequestTimeout")
        if plan is SubmitPlan.UNKNOWN_LATE:
            self._late[cid] = order
            return Unknown("request timed out", "RequestTimeout")
        if cid in self.orders:
            return Rejected(-2010, "Duplicate order sent.", "InvalidOrder")
        created = self._create(order)
        if plan is SubmitPlan.UNKNOWN_EXISTS:
            return Unknown("502 Bad Gateway", "ExchangeNotAvailable")
        return Accepted(created)

    async def cancel(self, symbol: str, client_order_id: str) -> CancelOutcome:
        await asyncio.sleep(0)
        order = self.orders.get(client_order_id)
        if order is None or order.status not in ("NEW", "PARTIALLY_FILLED"):
            return Rejected(-2011, "Unknown order sent.", "OrderNotFound")
        canceled = replace(order, status="CANCELED", fills=())
        self.orders[client_order_id] = canceled
        if client_order_id in self.cancel_unknown:
            return Unknown("request timed out", "RequestTimeout")
        return Accepted(canceled)

    async def fetch_order(self, symbol: str, client_order_id: str) -> Outcome[VenueOrder | NotFound]:
        await asyncio.sleep(0)
        self.queries.append(client_order_id)
        if self.reads_down:
            return Retryable("503 Service Unavailable", "ExchangeNotAvailable")
        late = self._late.get(client_order_id)
        if late is not None and self.queries.count(client_order_id) > self.late_after_queries:
            del self._late[client_order_id]
            self._create(late)
        order = self.orders.get(client_order_id)
        if order is None:
            return Accepted(NotFound(symbol, client_order_id))
        return Accepted(replace(order, fills=()))

    async def fetch_open_orders(self, symbol: str | None = None) -> Outcome[list[VenueOrder]]:
        await asyncio.sleep(0)
        return Accepted(
            [
                replace(o, fills=())
                for o in self.orders.values()
                if o.status in ("NEW", "PARTIALLY_FILLED") and symbol in (None, o.symbol)
            ]
        )

    async def fetch_my_trades(self, symbol: str, since: int | None = None) -> Outcome[list[Fill]]:
        await asyncio.sleep(0)
        self.trade_list_calls += 1
        return Accepted([t for t in self.trades if t.symbol == symbol and (since is None or t.ts >= since)])

    # ---- venue-side actions ------------------------------------------------------------------------
    def fill(self, cid: str, quantity: Decimal, price: Decimal = MARKET_PRICE) -> Fill:
        """Execute ``quantity`` of a resting order silently (no response, no stream event)."""
        order = self.orders[cid]
        trade = Fill(
            client_order_id=cid,
            trade_id=str(next(self._ids)),
            symbol=order.symbol,
            side=order.side,
            price=price,
            quantity=quantity,
            fee=Decimal("0.01"),
            fee_asset="USDT",
            ts=time.time_ns() // 1_000_000,
            is_maker=True,
        )
        self.trades.append(trade)
        filled = order.filled + quantity
        status = "FILLED" if filled == order.quantity else "PARTIALLY_FILLED"
        self.orders[cid] = replace(order, filled=filled, status=status, fills=(*order.fills, trade))
        return trade

    def _create(self, order: Order) -> VenueOrder:
        created = VenueOrder(
            client_order_id=order.client_order_id,
            venue_order_id=str(next(self._ids)),
            symbol=order.symbol,
            side=order.side,
            type=order.type.value.upper(),
            status="NEW",
            quantity=order.quantity,
            filled=Decimal(0),
            average_price=None,
            price=order.limit_price,
            stop_price=None,
            fills=(),
            created_at=time.time_ns() // 1_000_000,
            updated_at=None,
            list_id=None,
        )
        self.orders[order.client_order_id] = created
        if order.type is OrderType.MARKET:
            self.fill(order.client_order_id, order.quantity)
        return self.orders[order.client_order_id]


class RecordingEvents:
    """An ``EventSink`` keeping every published event (thread-safe: the OMS publishes from threads)."""

    def __init__(self) -> None:
        self.events: list[EventDetail] = []
        self._lock = threading.Lock()

    def publish(self, event: EventDetail) -> None:
        with self._lock:
            self.events.append(event)

    def of_type(self, detail_type: str) -> list[EventDetail]:
        with self._lock:
            return [e for e in self.events if detail_type == e.DETAIL_TYPE]


class QueueStream:
    """A ``UserStream`` fed by the test; ``fail_next`` makes the next watch raise like a dropped socket."""

    def __init__(self) -> None:
        self.orders: asyncio.Queue[list[VenueOrder]] = asyncio.Queue()
        self.fills: asyncio.Queue[list[Fill]] = asyncio.Queue()
        self.fail_next = 0
        self.closed = False

    async def watch_orders(self) -> list[VenueOrder]:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("socket closed")
        return await self.orders.get()

    async def watch_fills(self) -> list[Fill]:
        return await self.fills.get()

    async def close(self) -> None:
        self.closed = True
