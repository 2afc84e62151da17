"""What protection needs from the stores after a restart: protected positions and their intents' prices.

A position is rebuilt from its entry order, every OCO generation's leg orders (found by their
deterministic ids) and its exit orders: ``closed`` is what the legs and exits filled, ``placed`` what
the newest generation still holds if it is working. Stop and take-profit prices come from the newest
legs, or, before any OCO was sent, from the entry's intent in the OMS journal stream (read backwards
from the head until entries older than the entry). Closes by other orders while no gateway ran are not
visible here: a position whose newest OCO was cancelled for that reason (``CLOSED_REASON``) is done.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal

from tradeops.domain.ids import OrderLeg, client_order_id
from tradeops.domain.orders import Order, OrderState
from tradeops.domain.protection import ProtectedPosition, leg_ids, list_client_order_id
from tradeops.gateway.oms import OrderManager
from tradeops.store.journal import JournalStore
from tradeops.store.orders import OrderStore

__all__ = ["CLOSED_REASON", "StoredProtection", "exit_order_id"]

CLOSED_REASON = "protection:position_closed"
"""Reason on the legs of an OCO cancelled because other orders closed the position."""
_INTENT_SCAN_SLACK_MS = 60_000
_SCANNED_STATES = (OrderState.FILLED, OrderState.CANCELED, OrderState.EXPIRED)
Seen = set[tuple[str, str]]


def exit_order_id(intent_id: str, generation: int) -> str:
    """The market exit closing ``intent_id``'s position after OCO generation ``generation - 1`` failed."""
    return client_order_id(f"{intent_id}#exit{generation}", OrderLeg.EXIT)


class StoredProtection:
    """Reads protected positions back from the OMS's order projection and journal."""

    def __init__(
        self, oms: OrderManager, journal: JournalStore, orders: OrderStore, *, intent_scan_page: int = 200
    ) -> None:
        self._oms = oms
        self._journal = journal
        self._orders = orders
        self._page = intent_scan_page
        self._targets: dict[str, tuple[Decimal, Decimal] | None] = {}

    async def candidates(self, since_ms: int) -> set[str]:
        """Intent ids of working orders and of orders that ended since ``since_ms``."""
        intents = {o.intent_id for o in self._oms.records.working()}
        for state in _SCANNED_STATES:
            cursor: str | None = None
            while True:
                page = await asyncio.to_thread(
                    self._orders.by_status, state, updated_from=since_ms, limit=500, cursor=cursor
                )
                intents |= {o.intent_id for o in page.items}
                cursor = page.cursor
                if cursor is None:
                    break
        return intents

    async def rebuild(self, intent_id: str) -> tuple[ProtectedPosition | None, Seen]:
        """The position of ``intent_id`` (None when nothing is left to protect) and the trades it counts."""
        load = self._oms.records.load
        entry = await load(client_order_id(intent_id, OrderLeg.ENTRY))
        if entry is None or entry.filled_quantity == 0:
            return None, set()
        generations: list[tuple[Order, Order]] = []
        while True:
            stop_cid, take_profit_cid = leg_ids(list_client_order_id(intent_id, len(generations)))
            stop, take_profit = await load(stop_cid), await load(take_profit_cid)
            if stop is None or take_profit is None:
                break
            generations.append((stop, take_profit))
        closing = [o for pair in generations for o in pair]
        for generation in range(len(generations) + 1):
            exit_order = await load(exit_order_id(intent_id, generation))
            closing += [exit_order] if exit_order is not None else []
        seen = {(o.client_order_id, trade) for o in (entry, *closing) for trade in o.trade_ids}
        targets: tuple[Decimal, Decimal] | None
        if generations:
            stop, take_profit = generations[-1]
            if stop.reason == CLOSED_REASON:
                return None, seen
            targets = (stop.stop_price or Decimal(0), take_profit.limit_price or Decimal(0))
        else:
            targets = await self.intent_targets(entry)
        if targets is None:
            return None, seen
        closed = min(sum((o.filled_quantity for o in closing), Decimal(0)), entry.filled_quantity)
        position = ProtectedPosition(
            intent_id,
            entry.strategy,
            entry.symbol,
            entry.side,
            *targets,
            entry_filled=entry.filled_quantity,
            closed=closed,
            generation=len(generations),
        )
        if generations and not all(leg.is_terminal for leg in generations[-1]):
            newest = generations[-1]
            position = replace(position, placed=newest[0].quantity - max(o.filled_quantity for o in newest))
        return (position if position.exposure > 0 or position.placed > 0 else None), seen

    async def intent_targets(self, entry: Order) -> tuple[Decimal, Decimal] | None:
        """(stop_loss, take_profit) of the entry's intent from the journal (cached); None without both."""
        if entry.intent_id in self._targets:
            return self._targets[entry.intent_id]
        stream = self._oms.config.journal_stream
        head = await asyncio.to_thread(self._journal.head, stream)
        found: tuple[Decimal, Decimal] | None = None
        upper = 0 if head is None else head.seq
        while upper >= 1:
            lower = max(1, upper - self._page + 1)
            entries = await asyncio.to_thread(self._journal.read, stream, lower, upper)
            match = next(
                (
                    e.payload
                    for e in reversed(entries)
                    if e.kind == "intent" and e.payload.get("intent_id") == entry.intent_id
                ),
                None,
            )
            if match is not None:
                stop_loss, take_profit = match.get("stop_loss"), match.get("take_profit")
                if stop_loss is not None and take_profit is not None:
                    found = (Decimal(str(stop_loss)), Decimal(str(take_profit)))
                break
            if entries and entries[0].recorded_at < entry.created_at - _INTENT_SCAN_SLACK_MS:
                break
            upper = lower - 1
        self._targets[entry.intent_id] = found
        return found
