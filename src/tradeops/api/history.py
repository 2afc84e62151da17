"""An order's journal history: the entries of the gateway's ``orders`` stream that name the order.

The stream has no per-order index, so it is read newest first from its head with a server-side filter
(the payload mentions the client order id or the intent id) and the read stops at the first entry
recorded before the order was created (minus a margin for clock differences): the cost is bounded by
what happened since the order was created, not by the stream's length.
"""

from __future__ import annotations

from tradeops.config import Settings
from tradeops.domain.journal import JournalEntry
from tradeops.domain.orders import Order
from tradeops.store.base import bind_model
from tradeops.store.journal import JournalItem

ORDERS_STREAM = "orders"
CLOCK_MARGIN_MS = 60_000
MAX_ENTRIES = 500


def order_history(settings: Settings, order: Order, *, stream: str = ORDERS_STREAM) -> list[JournalEntry]:
    """Entries naming ``order`` (oldest first, at most ``MAX_ENTRIES``)."""
    model = bind_model(JournalItem, settings)
    since = order.created_at - CLOCK_MARGIN_MS
    mentions = model.payload.contains(order.client_order_id) | model.payload.contains(f'"{order.intent_id}"')
    condition = mentions | (model.recorded_at < since)
    found: list[JournalEntry] = []
    for item in model.query(stream, filter_condition=condition, scan_index_forward=False, page_size=200):
        if item.recorded_at < since:
            break
        found.append(JournalEntry.from_item(item.attribute_values))
        if len(found) >= MAX_ENTRIES:
            break
    found.reverse()
    return found
