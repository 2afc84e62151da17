"""Order, fill and order-list records kept by the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tradeops.sim.accounts import Account

ZERO = Decimal(0)
OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED"})
STOP_TYPES = frozenset({"STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"})
LIMIT_TYPES = frozenset({"LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"})
ORDER_TYPES = (
    "LIMIT",
    "LIMIT_MAKER",
    "MARKET",
    "STOP_LOSS",
    "STOP_LOSS_LIMIT",
    "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
)


@dataclass(slots=True, eq=False)
class Order:
    """A user order; quantities are Decimal multiples of the symbol's step, prices of its tick."""

    order_id: int
    symbol: str
    account: Account
    api_key: str
    client_order_id: str
    side: str
    type: str
    tif: str
    price: Decimal
    orig_qty: Decimal
    time: int
    stop_price: Decimal = ZERO
    quote_qty: Decimal = ZERO
    executed: Decimal = ZERO
    cum_quote: Decimal = ZERO
    status: str = "NEW"
    update_time: int = 0
    working_time: int = -1
    list_id: int = -1
    lock_asset: str = ""
    locked: Decimal = ZERO
    seq: int = 0

    @property
    def remaining(self) -> Decimal:
        return self.orig_qty - self.executed

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_buy(self) -> bool:
        return self.side == "BUY"


@dataclass(slots=True, frozen=True)
class Fill:
    """One side of one trade, as the account that owns the order sees it."""

    symbol: str
    trade_id: int
    order_id: int
    list_id: int
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool
    api_key: str


@dataclass(slots=True, eq=False)
class OrderList:
    """An OCO order list: two legs, one cancels the other."""

    list_id: int
    symbol: str
    account: Account
    api_key: str
    list_client_order_id: str
    legs: list[Order] = field(default_factory=list)
    list_status_type: str = "EXEC_STARTED"
    list_order_status: str = "EXECUTING"
    transaction_time: int = 0

    @property
    def is_open(self) -> bool:
        return self.list_order_status == "EXECUTING"
