"""The order projection: one item per client order id, written with optimistic concurrency.

The gateway is the only writer. Each put names the version it read (``expected_version``; None for a
new order) and succeeds only if the stored item still has it, so a stale writer raises
:class:`~tradeops.store.base.StaleWrite` instead of overwriting newer state. Index queries (by status,
by symbol) are eventually consistent, as DynamoDB GSIs are; :meth:`OrderStore.get` is strongly consistent.
"""

from __future__ import annotations

from typing import ClassVar

from pynamodb.attributes import ListAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError
from pynamodb.expressions.condition import Condition
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from tradeops.config import Settings
from tradeops.domain.orders import Order, OrderState
from tradeops.store.base import (
    DecimalAttribute,
    IntAttribute,
    Page,
    StaleWrite,
    TableModel,
    bind_model,
    collect_page,
    decode_cursor,
    is_condition_failure,
    page_size_or_error,
    sort_key_range,
)
from tradeops.store.tables import ORDERS, TableSpec


class _ByStatus(GlobalSecondaryIndex["OrderItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    updated_at = IntAttribute(range_key=True)


class _BySymbol(GlobalSecondaryIndex["OrderItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_symbol"
        projection = AllProjection()

    symbol = UnicodeAttribute(hash_key=True)
    created_at = IntAttribute(range_key=True)


class OrderItem(TableModel):
    """An Order as stored; ``status`` is the order state (the by_status index key); ``expires_at_ms`` is
    the intent's deadline (absent on orders without one), re-armed by the OMS after a restart."""

    SPEC: ClassVar[TableSpec] = ORDERS

    client_order_id = UnicodeAttribute(hash_key=True)
    intent_id = UnicodeAttribute()
    strategy = UnicodeAttribute()
    symbol = UnicodeAttribute()
    side = UnicodeAttribute()
    type = UnicodeAttribute()
    quantity = DecimalAttribute()
    limit_price = DecimalAttribute(null=True)
    stop_price = DecimalAttribute(null=True)
    time_in_force = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    filled_quantity = DecimalAttribute()
    venue_filled_quantity = DecimalAttribute()
    avg_fill_price = DecimalAttribute(null=True)
    venue_order_id = UnicodeAttribute(null=True)
    created_at = IntAttribute()
    updated_at = IntAttribute()
    reason = UnicodeAttribute(null=True)
    trade_ids = ListAttribute(of=UnicodeAttribute)
    version = IntAttribute()
    expires_at_ms = IntAttribute(null=True)

    by_status = _ByStatus()
    by_symbol = _BySymbol()


class OrderStore:
    """Typed access to the orders table bound by ``settings``."""

    def __init__(self, settings: Settings) -> None:
        self._model = bind_model(OrderItem, settings)

    def put(self, order: Order, expected_version: int | None) -> None:
        """Store ``order`` if the stored version is still ``expected_version`` (None: must not exist yet).

        Raises :class:`StaleWrite` if another write got there first, and ValueError if ``order.version``
        does not move forward from ``expected_version``.
        """
        model = self._model
        condition: Condition
        if expected_version is None:
            condition = model.client_order_id.does_not_exist()
        elif order.version <= expected_version:
            raise ValueError(
                f"order {order.client_order_id}: version {order.version} does not follow {expected_version}"
            )
        else:
            condition = model.version == expected_version
        try:
            self._to_item(order).save(condition=condition)
        except PutError as exc:
            if is_condition_failure(exc):
                raise StaleWrite(
                    f"order {order.client_order_id}: stored version is not {expected_version} "
                    f"(writing version {order.version})"
                ) from exc
            raise

    def get(self, client_order_id: str) -> Order | None:
        """The order with ``client_order_id`` (strongly consistent), or None."""
        try:
            return _to_order(self._model.get(client_order_id, consistent_read=True))
        except self._model.DoesNotExist:
            return None

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
        """Orders in ``state`` with ``updated_at`` in [updated_from, updated_to] (ms), one page."""
        index = self._model.by_status
        results = index.query(
            OrderState(state).value,
            sort_key_range(self._model.updated_at, updated_from, updated_to),
            limit=page_size_or_error(limit),
            last_evaluated_key=decode_cursor(cursor),
            scan_index_forward=not newest_first,
        )
        return collect_page(results, _to_order)

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
        """Orders on ``symbol`` with ``created_at`` in [created_from, created_to] (ms), one page."""
        index = self._model.by_symbol
        results = index.query(
            symbol,
            sort_key_range(self._model.created_at, created_from, created_to),
            limit=page_size_or_error(limit),
            last_evaluated_key=decode_cursor(cursor),
            scan_index_forward=not newest_first,
        )
        return collect_page(results, _to_order)

    def _to_item(self, order: Order) -> OrderItem:
        return self._model(
            order.client_order_id,
            intent_id=order.intent_id,
            strategy=order.strategy,
            symbol=order.symbol,
            side=order.side.value,
            type=order.type.value,
            quantity=order.quantity,
            limit_price=order.limit_price,
            stop_price=order.stop_price,
            time_in_force=None if order.time_in_force is None else order.time_in_force.value,
            status=order.state.value,
            filled_quantity=order.filled_quantity,
            venue_filled_quantity=order.venue_filled_quantity,
            avg_fill_price=order.avg_fill_price,
            venue_order_id=order.venue_order_id,
            created_at=order.created_at,
            updated_at=order.updated_at,
            reason=order.reason,
            trade_ids=sorted(order.trade_ids),
            version=order.version,
            expires_at_ms=order.expires_at_ms,
        )


def _to_order(item: OrderItem) -> Order:
    data = dict(item.attribute_values)
    data["state"] = data.pop("status")
    return Order.from_dict(data)
