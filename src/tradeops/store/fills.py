"""Fills, one item per venue trade: ``trade_key = '<symbol>#<trade id>'`` makes redelivery a no-op.

:meth:`FillStore.put` is a conditional put on the key not existing. A duplicate identical to the stored
fill returns False; a "duplicate" that disagrees with it (same trade id, different price or quantity)
is evidence of a venue or mapping bug and raises :class:`ConflictingFill` rather than being ignored.
"""

from __future__ import annotations

from typing import ClassVar

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from tradeops.config import Settings
from tradeops.domain.orders import Fill
from tradeops.domain.values import Side
from tradeops.store.base import (
    DecimalAttribute,
    IntAttribute,
    Page,
    StoreError,
    TableModel,
    bind_model,
    collect_page,
    decode_cursor,
    is_condition_failure,
    page_size_or_error,
    sort_key_range,
)
from tradeops.store.tables import FILLS, TableSpec


class ConflictingFill(StoreError):
    """A fill whose trade key is stored already with different content."""


def trade_key(symbol: str, trade_id: str) -> str:
    """The fills table's sort key for a venue trade."""
    return f"{symbol}#{trade_id}"


class _BySymbol(GlobalSecondaryIndex["FillItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_symbol"
        projection = AllProjection()

    symbol = UnicodeAttribute(hash_key=True)
    ts = IntAttribute(range_key=True)


class FillItem(TableModel):
    SPEC: ClassVar[TableSpec] = FILLS

    client_order_id = UnicodeAttribute(hash_key=True)
    trade_key = UnicodeAttribute(range_key=True)
    trade_id = UnicodeAttribute()
    symbol = UnicodeAttribute()
    side = UnicodeAttribute()
    price = DecimalAttribute()
    quantity = DecimalAttribute()
    fee = DecimalAttribute()
    fee_asset = UnicodeAttribute()
    ts = IntAttribute()
    is_maker = BooleanAttribute()

    by_symbol = _BySymbol()


class FillStore:
    """Typed access to the fills table bound by ``settings``."""

    def __init__(self, settings: Settings) -> None:
        self._model = bind_model(FillItem, settings)

    def put(self, fill: Fill) -> bool:
        """Store ``fill``; False if stored already (identical); ConflictingFill if stored differently."""
        model = self._model
        item = model(
            fill.client_order_id,
            trade_key(fill.symbol, fill.trade_id),
            trade_id=fill.trade_id,
            symbol=fill.symbol,
            side=Side(fill.side).value,
            price=fill.price,
            quantity=fill.quantity,
            fee=fill.fee,
            fee_asset=fill.fee_asset,
            ts=fill.ts,
            is_maker=fill.is_maker,
        )
        try:
            item.save(condition=model.trade_key.does_not_exist())
        except PutError as exc:
            if not is_condition_failure(exc):
                raise
            stored = self.get(fill.client_order_id, fill.symbol, fill.trade_id)
            if stored != fill:
                raise ConflictingFill(
                    f"trade {fill.trade_id} on {fill.symbol}: stored {stored}, got {fill}"
                ) from exc
            return False
        return True

    def get(self, client_order_id: str, symbol: str, trade_id: str) -> Fill | None:
        try:
            item = self._model.get(client_order_id, trade_key(symbol, trade_id), consistent_read=True)
        except self._model.DoesNotExist:
            return None
        return _to_fill(item)

    def for_order(self, client_order_id: str) -> list[Fill]:
        """Every fill of one order (all pages, strongly consistent), ordered by time then trade id."""
        fills = [_to_fill(item) for item in self._model.query(client_order_id, consistent_read=True)]
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
        """Fills on ``symbol`` with ``ts`` in [ts_from, ts_to] (ms), one page (eventually consistent)."""
        results = self._model.by_symbol.query(
            symbol,
            sort_key_range(self._model.ts, ts_from, ts_to),
            limit=page_size_or_error(limit),
            last_evaluated_key=decode_cursor(cursor),
            scan_index_forward=not newest_first,
        )
        return collect_page(results, _to_fill)


def _to_fill(item: FillItem) -> Fill:
    return Fill(
        client_order_id=item.client_order_id,
        trade_id=item.trade_id,
        symbol=item.symbol,
        side=Side(item.side),
        price=item.price,
        quantity=item.quantity,
        fee=item.fee,
        fee_asset=item.fee_asset,
        ts=item.ts,
        is_maker=item.is_maker,
    )
