"""The order manager: the order lifecycle of DESIGN §4.4, write-ahead journaled, never losing or doubling.

An intent becomes one NEW order (deterministic client order id, journaled before anything is sent); a
submit is journaled as SUBMITTING before the request leaves, so after a crash an order is either NEW
(never sent) or SUBMITTING/UNKNOWN (resolved from venue evidence by :mod:`oms_resolver`, never
re-sent). Every change is recorded by :class:`~tradeops.gateway.oms_records.OrderRecords`; evidence the
state machine does not allow (a stale status after a newer one) changes nothing.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from tradeops.domain.events import OrderRejected, TradeIntent
from tradeops.domain.ids import OrderLeg, client_order_id
from tradeops.domain.orders import Fill, Order, OrderState
from tradeops.gateway.oms_ports import EventSink, ExecutionVenue, OmsConfig
from tradeops.gateway.oms_records import Change, OrderRecords, UnknownOrder, venue_ack
from tradeops.gateway.oms_resolver import UnknownResolver
from tradeops.observability import get_logger
from tradeops.store.fills import FillStore
from tradeops.store.journal import FencedOut, JournalStore
from tradeops.store.orders import OrderStore
from tradeops.venue.adapter import CancelOutcome, SubmitOutcome
from tradeops.venue.mapping import VenueOrder
from tradeops.venue.outcomes import DEADLINE_PASSED, Accepted, Rejected, Retryable

log = get_logger("tradeops.gateway.oms")

S = OrderState
WORKING_STATES = frozenset({S.OPEN, S.PARTIALLY_FILLED, S.CANCELING})
_RECOVERED_STATES = (S.NEW, S.SUBMITTING, S.UNKNOWN, S.OPEN, S.PARTIALLY_FILLED, S.CANCELING)
T = TypeVar("T")
OutcomeT = TypeVar("OutcomeT", SubmitOutcome, CancelOutcome)
__all__ = ["OrderManager", "RecoveryReport", "UnknownOrder"]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class RecoveryReport:
    """What :meth:`OrderManager.recover` found: NEW orders await the caller's risk decision."""

    awaiting_submit: tuple[Order, ...]
    resolving: tuple[str, ...]
    working: tuple[str, ...]


class OrderManager:
    """Turns intents into venue orders and keeps them true to the venue; one per gateway (the leader)."""

    def __init__(
        self,
        venue: ExecutionVenue,
        journal: JournalStore,
        orders: OrderStore,
        fills: FillStore,
        events: EventSink,
        fencing_token: Callable[[], int],
        config: OmsConfig | None = None,
        clock_ms: Callable[[], int] = now_ms,
    ) -> None:
        self.venue = venue
        self.config = config or OmsConfig()
        self.clock_ms = clock_ms
        self.records = OrderRecords(journal, orders, fills, events, fencing_token, self.config)
        self._deadlines: dict[str, int] = {}
        self._cancel_wanted: dict[str, str] = {}  # client order id -> cancel reason
        self._inflight: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.resolver = UnknownResolver(self, self.config)

    # ---- intents and orders -----------------------------------------------------------------------
    async def accept_intent(self, intent: TradeIntent, *, fencing_token: int | None = None) -> Order:
        """The entry order of ``intent``: created NEW and journaled (write-ahead), or the existing one."""
        order, _created = await self.admit(intent, fencing_token=fencing_token)
        return order

    async def admit(self, intent: TradeIntent, *, fencing_token: int | None = None) -> tuple[Order, bool]:
        """:meth:`accept_intent` and whether this call created the order (False: a redelivery found it),
        with one store read for both."""
        cid = client_order_id(intent.intent_id, OrderLeg.ENTRY)
        existing = await self.records.load(cid)
        if existing is not None:
            return existing, False
        order = Order.new(
            client_order_id=cid,
            intent_id=intent.intent_id,
            strategy=intent.strategy,
            symbol=intent.symbol,
            side=intent.side,
            type=intent.type,
            quantity=intent.quantity,
            limit_price=intent.limit_price,
            time_in_force=intent.effective_time_in_force,
            created_at=self.clock_ms(),
            expires_at_ms=None if intent.expires_at is None else int(intent.expires_at.timestamp() * 1000),
        )
        created = await self.records.create(intent, order, fencing_token)
        if created.expires_at_ms is not None and created.state is OrderState.NEW:
            self._deadlines[cid] = created.expires_at_ms
        return created, created is order  # another writer's order: stored meanwhile, not created here

    async def deny(self, cid: str, reason: str) -> Order:
        """NEW -> DENIED (pre-trade risk said no): the order is never sent. An order that ended meanwhile
        (its intent expired while risk waited) stays as it is."""
        return await self._update(
            cid, lambda o: o if o.is_terminal else o.transition(S.DENIED, self.clock_ms(), reason)
        )

    async def submit(self, order: Order | str) -> Order:
        """Send a NEW order once. Unknown outcomes go to the resolver; nothing is ever re-sent after them."""
        cid = order if isinstance(order, str) else order.client_order_id
        if cid in self._inflight:  # claimed synchronously below: two callers never both send
            return await self.get(cid)
        self._inflight.add(cid)
        try:
            current = await self.get(cid)
            if current.state is not S.NEW:
                return current
            deadline = self._deadlines.get(cid)
            if deadline is not None and deadline <= self.clock_ms():
                return await self._update(cid, lambda o: o.transition(S.DENIED, self.clock_ms(), "expired"))
            submitting = await self._update(cid, lambda o: o.transition(S.SUBMITTING, self.clock_ms()))
            if submitting.state is not S.SUBMITTING:
                return submitting
            send = functools.partial(self.venue.submit, submitting)
            outcome = await self._with_retries(send, submitting.expires_at_ms)
            if isinstance(outcome, Accepted):
                applied = await self.apply_venue_order(outcome.value, fetch_missing_trades=True)
                result = applied or await self.get(cid)
            elif isinstance(outcome, Rejected):
                if outcome.error_type == DEADLINE_PASSED:  # never left: the intent expired first
                    code = "expired"
                else:
                    code = "venue_rejected" if outcome.code is None else f"venue_{outcome.code}"
                reason = f"{code}: {outcome.message}"
                result = await self._reject(submitting, reason, code, outcome.message)
            elif isinstance(outcome, Retryable):  # refused before processing each time: never placed
                code = "venue_throttled"
                result = await self._reject(submitting, f"{code}: {outcome.message}", code, outcome.message)
            else:
                result = await self._mark_unknown(cid, f"submit {type(outcome).__name__}: {outcome.message}")
        finally:
            self._inflight.discard(cid)
        self._schedule_wanted_cancel(result)
        return result

    async def cancel(self, cid: str, reason: str = "canceled") -> Order:
        """Ask the venue to cancel; an order in flight or in doubt is canceled once its state is known."""
        order = await self.get(cid)
        if order.is_terminal:
            return order
        if order.state is S.NEW:
            return await self._update(cid, lambda o: o.transition(S.DENIED, self.clock_ms(), reason))
        self._cancel_wanted[cid] = reason
        if cid in self._inflight or order.state not in WORKING_STATES:
            return order
        self._inflight.add(cid)
        try:
            if order.state is not S.CANCELING:
                order = await self._update(cid, lambda o: o.transition(S.CANCELING, self.clock_ms(), reason))
            if order.state is not S.CANCELING:
                return order
            symbol = order.symbol
            outcome = await self._with_retries(lambda: self.venue.cancel(symbol, cid))
            if isinstance(outcome, Accepted):
                await self.apply_venue_order(outcome.value, fetch_missing_trades=True)
                order = await self.get(cid)
            elif isinstance(outcome, Rejected):
                # Typically -2011: already filled or canceled. The venue's record says which.
                log.info("cancel refused, reading the venue", extra={"cid": cid, "code": outcome.code})
                await self.resolver.check(cid)
                self._cancel_wanted.pop(cid, None)
                order = await self.get(cid)
            elif isinstance(outcome, Retryable):
                log.warning("cancel not sent (rate limited); the poller retries it", extra={"cid": cid})
            else:
                order = await self._mark_unknown(cid, f"cancel Unknown: {outcome.message}")
        finally:
            self._inflight.discard(cid)
        self._schedule_wanted_cancel(order)
        return order

    # ---- venue evidence ----------------------------------------------------------------------------
    async def apply_venue_order(
        self, report: VenueOrder, *, fetch_missing_trades: bool = False
    ) -> Order | None:
        """Apply the venue's view of one of our orders: its id, its fills, then its status.

        With ``fetch_missing_trades`` the trades the venue counts but we have not seen are imported
        from the trade list (the stream path leaves that to the poller: it costs request weight).
        Returns None for an order not managed here.
        """
        cid = report.client_order_id
        known = await self.records.load(cid)
        if known is None:
            log.info("venue report of an order not managed here", extra={"cid": cid})
            return None
        at = self.clock_ms()
        if report.fills or (fetch_missing_trades and report.filled > known.filled_quantity):
            await self._update(cid, lambda o: o.with_venue_order_id(report.venue_order_id, at))
            await self.apply_fills(report.fills)
            order = await self.get(cid)
            if fetch_missing_trades and report.filled > order.filled_quantity:
                await self.import_trades(order)
        # Without fills to apply first, the venue id and status are one change (one journal entry).
        order = await self._update(cid, venue_ack(report.venue_order_id, report.status, report.filled, at))
        self._schedule_wanted_cancel(order)
        return order

    async def import_trades(self, order: Order) -> bool:
        """Apply this order's trades from the venue's trade list; False when the list was unavailable."""
        since = order.created_at - self.config.trade_lookback_ms
        outcome = await self.venue.fetch_my_trades(order.symbol, since)
        if not isinstance(outcome, Accepted):
            log.warning("trade list unavailable", extra={"cid": order.client_order_id})
            return False
        await self.apply_fills(f for f in outcome.value if f.client_order_id == order.client_order_id)
        return True

    async def apply_fills(self, fills: Iterable[Fill]) -> None:
        for fill in fills:
            await self.apply_fill(fill)

    async def apply_fill(self, fill: Fill) -> Order | None:
        """Account one venue trade once (by trade id); a trade of an order that is not ours is ignored."""
        if await self.records.load(fill.client_order_id) is None:
            log.info("fill of an order not managed here", extra={"cid": fill.client_order_id})
            return None
        return await self._update(fill.client_order_id, lambda o: o.apply_fill(fill)[0], fill=fill)

    # ---- reads -------------------------------------------------------------------------------------
    async def get(self, cid: str) -> Order:
        order = await self.records.load(cid)
        if order is None:
            raise UnknownOrder(cid)
        return order

    def working_orders(self) -> list[Order]:
        """Orders the venue may still change (not NEW, not terminal), as last known here."""
        return [o for o in self.records.working() if o.state is not S.NEW]

    def owing_fills(self) -> list[Order]:
        """Terminal orders whose venue-reported executed quantity exceeds the fills seen so far."""
        return [o for o in self.records.recent_terminal() if o.missing_fill_quantity > 0]

    def is_busy(self, cid: str) -> bool:
        """A request for this order is in flight or its UNKNOWN outcome is being resolved."""
        return cid in self._inflight or self.resolver.is_resolving(cid)

    # ---- lifecycle ---------------------------------------------------------------------------------
    async def recover(self) -> RecoveryReport:
        """Load every non-terminal order (re-arming stored expiries); SUBMITTING becomes UNKNOWN; resolve and
        sync from the venue."""
        found = [order for state in _RECOVERED_STATES for order in await self.records.load_state(state)]
        awaiting, resolving, working = [], [], []
        for order in found:
            cid = order.client_order_id
            if order.expires_at_ms is not None:  # the deadline outlives the process: re-arm it
                self._deadlines[cid] = order.expires_at_ms
            if order.state is S.NEW:
                awaiting.append(order)
            elif order.state in (S.SUBMITTING, S.UNKNOWN):
                if order.state is S.SUBMITTING:
                    await self._mark_unknown(cid, "submit interrupted by a restart")
                else:
                    self.resolver.start(cid)
                resolving.append(cid)
            else:
                if order.state is S.CANCELING:
                    self._cancel_wanted[cid] = order.reason or "canceled"
                await self.resolver.check(cid)
                working.append(cid)
        return RecoveryReport(tuple(awaiting), tuple(resolving), tuple(working))

    def start(self) -> None:
        """Start the expiry loop (the sync loops are started by :mod:`tradeops.gateway.oms_sync`)."""
        self.spawn(self._expire_loop())

    async def close(self) -> None:
        """Stop every background task (resolutions resume on the next :meth:`recover`); drain the events."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.records.close()

    def spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run ``coro`` as a background task of this manager (cancelled by :meth:`close`; failures logged)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("OMS task failed", exc_info=task.exception())

    async def _expire_loop(self) -> None:
        """Cancel (or deny, if not sent yet) every order whose intent's ``expires_at`` has passed."""
        while True:
            await asyncio.sleep(self.config.expiry_check_s)
            now = self.clock_ms()
            for cid in [cid for cid, deadline in self._deadlines.items() if deadline <= now]:
                del self._deadlines[cid]
                try:
                    await self.cancel(cid, "expired")
                except FencedOut:
                    raise
                except Exception:  # one failed cancel must not stop expiring the others
                    log.exception("expiry cancel failed", extra={"cid": cid})

    # ---- internals ---------------------------------------------------------------------------------
    async def _with_retries(
        self, request: Callable[[], Awaitable[OutcomeT]], deadline_ms: int | None = None
    ) -> OutcomeT | Rejected:
        """Send again only what the venue refused before processing (Retryable), a bounded number of times;
        never after ``deadline_ms`` (then the refusal is final: ``Rejected`` with ``DEADLINE_PASSED``)."""
        outcome = await request()
        for _ in range(self.config.request_retry_attempts):
            if not isinstance(outcome, Retryable):
                break
            wait_s = outcome.retry_after_s or self.config.request_retry_default_s
            if deadline_ms is not None and self.clock_ms() + wait_s * 1000 > deadline_ms:
                message = f"refused ({outcome.message}); the retry would come after the deadline"
                return Rejected(outcome.code, message, DEADLINE_PASSED)
            await asyncio.sleep(wait_s)
            outcome = await request()
        return outcome

    async def conclude_not_found(self, cid: str) -> Order:
        """UNKNOWN -> REJECTED once the resolver proved the order never reached the venue."""
        message = "the venue has no order with this client order id after the grace period"
        return await self._reject(await self.get(cid), "not_found_at_venue", "not_found_at_venue", message)

    async def _reject(self, order: Order, reason: str, code: str, message: str) -> Order:
        result = await self._update(
            order.client_order_id, lambda o: o.transition(S.REJECTED, self.clock_ms(), reason)
        )
        if result.state is S.REJECTED and result.version > order.version:
            await self.records.publish(
                OrderRejected(
                    correlation_id=order.intent_id,
                    intent_id=order.intent_id,
                    client_order_id=order.client_order_id,
                    reason=code,
                    message=message,
                )
            )
        return result

    async def _mark_unknown(self, cid: str, why: str) -> Order:
        order = await self._update(cid, lambda o: o.transition(S.UNKNOWN, self.clock_ms(), why))
        if order.state is S.UNKNOWN:
            self.resolver.start(cid)
        return order

    def _schedule_wanted_cancel(self, order: Order) -> None:
        """Carry out a cancel that had to wait (order in flight or in doubt) once the order is working."""
        cid = order.client_order_id
        reason = self._cancel_wanted.get(cid)
        if reason is None:
            return
        if order.is_terminal:
            del self._cancel_wanted[cid]
        elif order.state in WORKING_STATES and cid not in self._inflight:
            self.spawn(self.cancel(cid, reason))

    async def _update(self, cid: str, change: Change, *, fill: Fill | None = None) -> Order:
        return await self.records.update(cid, change, fill=fill)
