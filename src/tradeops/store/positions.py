"""Positions per account and symbol (a projection of fills, written by the portfolio updater).

A put never moves a position back in time: it is conditioned on the stored ``updated_at`` not being
newer, so a delayed or replayed update raises :class:`~tradeops.store.base.StaleWrite`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import PutError

from tradeops.config import Settings
from tradeops.store.base import (
    DecimalAttribute,
    IntAttribute,
    StaleWrite,
    TableModel,
    bind_model,
    is_condition_failure,
    require_decimal,
)
from tradeops.store.tables import POSITIONS, TableSpec


@dataclass(frozen=True)
class PositionRecord:
    """Signed ``quantity`` (negative = short); ``avg_entry_price`` is None when flat, and when the position
    is only base-asset fee dust without a cost basis (a buy that closed a short exactly, then its fee)."""

    account: str
    symbol: str
    quantity: Decimal
    avg_entry_price: Decimal | None
    realized_pnl: Decimal
    updated_at: int

    def __post_init__(self) -> None:
        if not self.account or not self.symbol:
            raise ValueError("position needs an account and a symbol")
        require_decimal(self.quantity, "quantity")
        require_decimal(self.realized_pnl, "realized_pnl")
        if self.avg_entry_price is not None and require_decimal(self.avg_entry_price, "avg_entry_price") <= 0:
            raise ValueError(f"avg_entry_price must be > 0, got {self.avg_entry_price}")
        if self.quantity == 0 and self.avg_entry_price is not None:
            raise ValueError("a flat position has no avg_entry_price")
        if isinstance(self.updated_at, bool) or not isinstance(self.updated_at, int) or self.updated_at < 0:
            raise ValueError(f"updated_at must be epoch ms, got {self.updated_at!r}")


class PositionItem(TableModel):
    SPEC: ClassVar[TableSpec] = POSITIONS

    account = UnicodeAttribute(hash_key=True)
    symbol = UnicodeAttribute(range_key=True)
    quantity = DecimalAttribute()
    avg_entry_price = DecimalAttribute(null=True)
    realized_pnl = DecimalAttribute()
    updated_at = IntAttribute()


class PositionStore:
    """Typed access to the positions table bound by ``settings``."""

    def __init__(self, settings: Settings) -> None:
        self._model = bind_model(PositionItem, settings)

    def put(self, record: PositionRecord) -> None:
        """Store ``record`` unless the stored position is newer (then StaleWrite)."""
        model = self._model
        item = model(
            record.account,
            record.symbol,
            quantity=record.quantity,
            avg_entry_price=record.avg_entry_price,
            realized_pnl=record.realized_pnl,
            updated_at=record.updated_at,
        )
        try:
            item.save(condition=model.symbol.does_not_exist() | (model.updated_at <= record.updated_at))
        except PutError as exc:
            if is_condition_failure(exc):
                raise StaleWrite(
                    f"position {record.account}/{record.symbol}: stored one is newer than {record.updated_at}"
                ) from exc
            raise

    def get(self, account: str, symbol: str) -> PositionRecord | None:
        try:
            return _to_record(self._model.get(account, symbol, consistent_read=True))
        except self._model.DoesNotExist:
            return None

    def for_account(self, account: str) -> list[PositionRecord]:
        """Every position of ``account`` (flat ones included), by symbol."""
        return [_to_record(item) for item in self._model.query(account, consistent_read=True)]


def _to_record(item: PositionItem) -> PositionRecord:
    return PositionRecord(
        item.account, item.symbol, item.quantity, item.avg_entry_price, item.realized_pnl, item.updated_at
    )
