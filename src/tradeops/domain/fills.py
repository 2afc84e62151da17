"""A venue trade against one of our orders (DESIGN §4.4): deduplicated by the venue's trade id."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tradeops.domain.values import Side, to_decimal, to_int

__all__ = ["Fill", "require_positive"]


def require_positive(name: str, value: Decimal | None) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise ValueError(f"{name} must be a finite Decimal > 0, got {value!r}")


@dataclass(frozen=True)
class Fill:
    """One venue trade against one of our orders; ``trade_id`` is the venue's trade id."""

    client_order_id: str
    trade_id: str
    symbol: str
    side: Side
    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_asset: str
    ts: int
    is_maker: bool

    def __post_init__(self) -> None:
        if not self.client_order_id or not self.trade_id:
            raise ValueError("fill needs a client_order_id and a trade_id")
        require_positive("fill price", self.price)
        require_positive("fill quantity", self.quantity)
        if not isinstance(self.fee, Decimal) or not self.fee.is_finite():
            raise ValueError(f"fill fee must be a finite Decimal, got {self.fee!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "client_order_id": self.client_order_id,
            "trade_id": self.trade_id,
            "symbol": self.symbol,
            "side": self.side.value,
            "price": str(self.price),
            "quantity": str(self.quantity),
            "fee": str(self.fee),
            "fee_asset": self.fee_asset,
            "ts": self.ts,
            "is_maker": self.is_maker,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fill:
        return cls(
            client_order_id=str(data["client_order_id"]),
            trade_id=str(data["trade_id"]),
            symbol=str(data["symbol"]),
            side=Side(data["side"]),
            price=to_decimal(data["price"]),
            quantity=to_decimal(data["quantity"]),
            fee=to_decimal(data["fee"]),
            fee_asset=str(data["fee_asset"]),
            ts=to_int(data["ts"]),
            is_maker=bool(data["is_maker"]),
        )
