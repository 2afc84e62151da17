"""Exchange-native stop-loss / take-profit: keeps one OCO on the venue per protected entry.

When an entry whose intent carries ``stop_loss``/``take_profit`` fills, :class:`ProtectionManager`
places an OCO (stop-loss-limit + limit-maker) sized to the filled quantity, cancel-replaces it with the
new total on further fills, and cancels it when other orders of the same strategy and symbol close the
position (see :mod:`tradeops.domain.protection` for the rules). The legs are orders of the OMS: written
ahead as SUBMITTING (so a crash mid-send is resolved from venue evidence, never re-sent), then tracked
by the user stream and the poller like any order, so their fills reach the portfolio, the strategy and
this manager. Every protective action is journaled (kind ``protection``) in the OMS's stream.

A supervisor (:meth:`run`) checks every ``supervise_interval_s`` that each live OCO is in the venue's
``openOrderList``; one that vanished without a fill is re-created. If the venue rejects an OCO, the
position is closed with a market order (outside the pre-trade gate: it only reduces exposure) and a
critical "Risk Breach" (rule ``protection_rejected``) raises an alert.

Nothing lives only in memory: on start :meth:`run` rebuilds every position from the stored entry,
leg and exit orders (working ones, and terminal ones updated within ``recovery_lookback_s``), taking
stop/take-profit prices from the legs or else from the intent in the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from tradeops.domain.events import OrderUpdated, RiskBreach
from tradeops.domain.ids import OrderLeg, leg_of
from tradeops.domain.orders import Fill, Order, OrderState
from tradeops.domain.protection import (
    ActionKind,
    OcoPlan,
    ProtectedPosition,
    ProtectionError,
    allocate_close,
    decide,
    leg_ids,
    parse_leg_id,
)
from tradeops.domain.values import Instrument, OrderType, Severity
from tradeops.gateway.lease import NotLeader
from tradeops.gateway.oms import OrderManager, UnknownOrder
from tradeops.gateway.protection_recovery import CLOSED_REASON, StoredProtection, exit_order_id
from tradeops.observability import get_logger
from tradeops.store.base import StaleWrite
from tradeops.store.journal import FencedOut, JournalStore
from tradeops.store.orders import OrderStore
from tradeops.venue.adapter import Outcome
from tradeops.venue.mapping import OcoResult
from tradeops.venue.outcomes import Accepted, Rejected, Retryable
from tradeops.venue.protective import OpenOrderList

__all__ = ["ProtectionConfig", "ProtectionManager", "ProtectiveVenue"]

log = get_logger("tradeops.gateway.protection")
S = OrderState
REPLACED_REASON = "protection:replaced"


class ProtectiveVenue(Protocol):
    """What the manager needs of the venue (:class:`~tradeops.venue.protective.ProtectiveOrders`)."""

    async def place(self, plan: OcoPlan) -> Outcome[OcoResult]: ...

    async def open_order_lists(self) -> Outcome[dict[str, OpenOrderList]]: ...


@dataclass(frozen=True)
class ProtectionConfig:
    supervise_interval_s: float = 3.0
    stop_limit_slippage: Decimal = Decimal("0.1")
    """How far beyond the trigger the stop leg's limit lies (fraction): a gap through the stop fills."""
    recovery_lookback_s: int = 86_400
    intent_scan_page: int = 200


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class ProtectionManager:
    """One per trading session; feed it every fill (:meth:`on_fill`) and run :meth:`run` as a task."""

    def __init__(
        self,
        oms: OrderManager,
        venue: ProtectiveVenue,
        journal: JournalStore,
        orders: OrderStore,
        fencing_token: Callable[[], int],
        instruments: Mapping[str, Instrument],
        config: ProtectionConfig | None = None,
        clock_ms: Callable[[], int] = _now_ms,
        may_place: Callable[[], bool] = lambda: True,
    ) -> None:
        """``may_place`` says whether new protective orders may be sent now (False while HALTED: only
        cancels then; the supervisor places what is missing once trading resumes)."""
        self.oms = oms
        self._may_place = may_place
        self.venue = venue
        self.config = config or ProtectionConfig()
        self._journal = journal
        self._orders = orders
        self._stored = StoredProtection(oms, journal, orders, intent_scan_page=self.config.intent_scan_page)
        self._fencing_token = fencing_token
        self._instruments = instruments
        self._clock_ms = clock_ms
        self._lock = asyncio.Lock()
        self._recovered = asyncio.Event()
        self.positions: dict[str, ProtectedPosition] = {}
        self._seen: set[tuple[str, str]] = set()

    # ---- fills ------------------------------------------------------------------------------------
    async def on_fill(self, fill: Fill) -> None:
        """Account one fill of an OMS order (each trade once) and bring the affected OCOs in line."""
        await self._recovered.wait()
        async with self._lock:
            key = (fill.client_order_id, fill.trade_id)
            if key in self._seen:
                return
            self._seen.add(key)
            try:
                order = await self.oms.get(fill.client_order_id)
            except UnknownOrder:
                return
            for position in await self._account(order, fill):
                await self._act(position)

    async def _account(self, order: Order, fill: Fill) -> list[ProtectedPosition]:
        own = self.positions.get(order.intent_id)
        leg = parse_leg_id(order.client_order_id)
        if leg is not None or leg_of(order.client_order_id) is OrderLeg.EXIT:
            if own is None:
                return []
            live = leg is not None and leg[0] == own.live_list
            return [self._set(own.with_close(fill.quantity, by_live_oco=live))]
        others = [
            p
            for p in self.positions.values()
            if (p.strategy, p.symbol) == (order.strategy, order.symbol) and p.intent_id != order.intent_id
        ]
        changed, left = allocate_close(others, fill.side, fill.quantity)
        touched = [self._set(p) for p in changed]
        if leg_of(order.client_order_id) is OrderLeg.ENTRY and left > 0:
            position = own or await self._new_position(order)
            if position is not None:
                touched.append(self._set(position.with_entry_fill(left)))
        return touched

    async def _new_position(self, entry: Order) -> ProtectedPosition | None:
        targets = await self._stored.intent_targets(entry)
        if targets is None:
            return None
        try:
            return ProtectedPosition(
                entry.intent_id, entry.strategy, entry.symbol, entry.side, targets[0], targets[1]
            )
        except ProtectionError as exc:
            await self._alert(entry.intent_id, entry.symbol, Decimal(0), f"unprotectable entry: {exc}")
            return None

    def _set(self, position: ProtectedPosition) -> ProtectedPosition:
        self.positions[position.intent_id] = position
        return position

    # ---- actions ----------------------------------------------------------------------------------
    async def _act(self, position: ProtectedPosition) -> None:
        instrument = self._instruments.get(position.symbol)
        if instrument is None:
            log.error("no instrument: position left unprotected", extra={"symbol": position.symbol})
            return
        if await self._exit_pending(position):
            return  # a market exit is working: its fills decide what is left; the supervisor acts then
        action = decide(position, instrument, self.config.stop_limit_slippage)
        if action.kind is ActionKind.NONE:
            if position.exposure == 0 and position.placed == 0:
                self.positions.pop(position.intent_id, None)
            return
        await self._record(f"decided_{action.kind.value}", position, reason=action.reason)
        if action.cancel_list is not None:
            why = CLOSED_REASON if action.kind is ActionKind.CANCEL else REPLACED_REASON
            if not await self._cancel_list(action.cancel_list, why):
                return  # not known to be gone yet: the supervisor retries
            position = self._set(position.without_oco())
        if action.plan is not None:
            await self._place(position, action.plan)
        elif position.exposure == 0:
            self.positions.pop(position.intent_id, None)

    async def _cancel_list(self, list_cid: str, reason: str) -> bool:
        """Cancel an OCO through its legs; True once both legs are terminal and no fill is unaccounted."""
        legs = []
        for cid in leg_ids(list_cid):
            legs.append(await self.oms.cancel(cid, reason))
        if not all(leg.is_terminal for leg in legs):
            return False
        return not self._unaccounted(legs)

    def _unaccounted(self, legs: Iterable[Order]) -> bool:
        """A leg filled more than the fills seen here: its fill events are still on their way."""
        return any(
            len({t for c, t in self._seen if c == leg.client_order_id}) < len(leg.trade_ids) for leg in legs
        )

    async def _place(self, position: ProtectedPosition, plan: OcoPlan) -> None:
        if not self._may_place():
            log.info("trading halted: protection deferred", extra={"intent_id": position.intent_id})
            return
        legs = self._leg_orders(position, plan)
        for leg in legs:
            await self._register(leg)
        position = self._set(position.with_placed(plan))
        await self._record("placing", position, list_client_order_id=plan.list_client_order_id)
        outcome = await self.venue.place(plan)
        if isinstance(outcome, Accepted):
            for report in outcome.value.legs:
                await self.oms.apply_venue_order(report)
            await self._record("placed", position, list_client_order_id=plan.list_client_order_id)
            return
        at = self._clock_ms()
        if isinstance(outcome, Rejected | Retryable):
            why = f"oco {type(outcome).__name__}: {outcome.message}"
            for leg in legs:
                await self.oms.records.update(
                    leg.client_order_id, lambda o: o.transition(S.REJECTED, at, why)
                )
            position = self._set(position.without_oco())
            await self._record(
                "not_placed", position, outcome=type(outcome).__name__, venue_message=outcome.message
            )
            if isinstance(outcome, Rejected):
                await self._exit(position, why)
            return
        for leg in legs:  # Unknown: resolved from venue evidence, never re-sent
            await self.oms.records.update(leg.client_order_id, lambda o: o.transition(S.UNKNOWN, at, "oco"))
            self.oms.resolver.start(leg.client_order_id)
        await self._record("unknown", position, venue_message=outcome.message)

    def _leg_orders(self, position: ProtectedPosition, plan: OcoPlan) -> list[Order]:
        at = self._clock_ms()
        stop_cid, take_profit_cid = leg_ids(plan.list_client_order_id)
        common: dict[str, Any] = {
            "intent_id": position.intent_id,
            "strategy": position.strategy,
            "symbol": plan.symbol,
            "side": plan.side,
            "quantity": plan.quantity,
            "created_at": at,
        }
        stop = Order.new(
            client_order_id=stop_cid,
            type=OrderType.STOP_LOSS_LIMIT,
            limit_price=plan.stop_limit_price,
            stop_price=plan.stop_price,
            **common,
        )
        take_profit = Order.new(
            client_order_id=take_profit_cid,
            type=OrderType.LIMIT_MAKER,
            limit_price=plan.take_profit_price,
            **common,
        )
        return [o.transition(S.SUBMITTING, at) for o in (stop, take_profit)]

    async def _exit(self, position: ProtectedPosition, why: str) -> None:
        """Close the exposure with a market order and raise a critical alert."""
        instrument = self._instruments[position.symbol]
        quantity = instrument.floor_quantity(position.exposure)
        if quantity > 0 and self._may_place():
            cid = exit_order_id(position.intent_id, position.generation)
            exit_order = Order.new(
                client_order_id=cid,
                intent_id=position.intent_id,
                strategy=position.strategy,
                symbol=position.symbol,
                side=position.side,
                type=OrderType.MARKET,
                quantity=quantity,
                created_at=self._clock_ms(),
            )
            await self._register(exit_order)
            await self._record("exit", position, client_order_id=cid, quantity=str(quantity))
            self.oms.spawn(self.oms.submit(cid))  # its fills come back through on_fill
        await self._alert(position.intent_id, position.symbol, position.exposure, f"OCO rejected: {why}")

    async def _alert(self, intent_id: str, symbol: str, exposure: Decimal, message: str) -> None:
        log.critical("position protection failed", extra={"intent_id": intent_id, "detail": message})
        event = RiskBreach(
            correlation_id=intent_id,
            rule="protection_rejected",
            symbol=symbol,
            limit=Decimal(0),
            value=exposure,
            severity=Severity.CRITICAL,
            message=f"{intent_id}: {message}",
        )
        await self.oms.records.publish(event)

    # ---- supervision ------------------------------------------------------------------------------
    async def run(self) -> None:
        """Recover from the stores, then check every live OCO every ``supervise_interval_s``."""
        async with self._lock:
            await self.recover()
        self._recovered.set()
        while True:
            try:
                await self.supervise()
            except (FencedOut, NotLeader):
                raise
            except Exception:  # one failed sweep (a store or venue hiccup) must not end supervision
                log.exception("protection sweep failed; retrying next interval")
            await asyncio.sleep(self.config.supervise_interval_s)

    async def supervise(self) -> None:
        """One sweep: OCOs missing from openOrderList are checked leg by leg; lost ones re-created."""
        outcome = await self.venue.open_order_lists()
        if not isinstance(outcome, Accepted):
            log.warning("open order lists unavailable", extra={"outcome": repr(outcome)})
            return
        async with self._lock:
            for position in list(self.positions.values()):
                live = position.live_list
                if live is not None and live not in outcome.value:
                    if not await self._confirm_gone(live):
                        continue
                    position = self._set(position.without_oco())
                    await self._record("lost", position, list_client_order_id=live)
                await self._act(position)

    async def _confirm_gone(self, list_cid: str) -> bool:
        """Query both legs; True when both are terminal and every fill of theirs is accounted."""
        legs = []
        for cid in leg_ids(list_cid):
            leg = await self.oms.get(cid)
            if not leg.is_terminal and not self.oms.is_busy(cid):
                await self.oms.resolver.check(cid)
                leg = await self.oms.get(cid)
            legs.append(leg)
        return all(leg.is_terminal for leg in legs) and not self._unaccounted(legs)

    async def _exit_pending(self, position: ProtectedPosition) -> bool:
        for generation in range(position.generation + 1):
            exit_order = await self.oms.records.load(exit_order_id(position.intent_id, generation))
            if exit_order is not None and not exit_order.is_terminal:
                return True
        return False

    # ---- recovery ---------------------------------------------------------------------------------
    async def recover(self) -> None:
        """Rebuild every protected position from stored orders (see the module docstring)."""
        since = self._clock_ms() - self.config.recovery_lookback_s * 1000
        for intent_id in sorted(await self._stored.candidates(since)):
            position, seen = await self._stored.rebuild(intent_id)
            self._seen |= seen
            if position is not None:
                self._set(position)
        log.info("protection recovered", extra={"positions": sorted(self.positions)})

    # ---- records ----------------------------------------------------------------------------------
    async def _register(self, order: Order) -> Order:
        """Store an order this manager creates (journal, projection, event), unless it exists already."""
        records, cid = self.oms.records, order.client_order_id
        async with records.lock(cid):
            existing = await records.load(cid)
            if existing is not None:
                return existing
            config = self.oms.config
            payload = {"order": order.to_dict()}
            token = self._fencing_token()
            await asyncio.to_thread(
                self._journal.append, config.journal_stream, "order_state", payload, config.actor, token
            )
            with contextlib.suppress(StaleWrite):  # written by an earlier attempt: the stored one wins
                await asyncio.to_thread(self._orders.put, order, None)
            stored = await records.load(cid, refresh=True) or order
        await records.publish(OrderUpdated.from_order(stored, correlation_id=stored.intent_id))
        return stored

    async def _record(self, action: str, position: ProtectedPosition, **details: Any) -> None:
        payload = {
            "action": action,
            "intent_id": position.intent_id,
            "symbol": position.symbol,
            "entry_filled": str(position.entry_filled),
            "closed": str(position.closed),
            "placed": str(position.placed),
            "generation": position.generation,
            **details,
        }
        log.info("protection " + action, extra=payload)
        config = self.oms.config
        token = self._fencing_token()
        await asyncio.to_thread(
            self._journal.append, config.journal_stream, "protection", payload, config.actor, token
        )
