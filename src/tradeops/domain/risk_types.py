"""The vocabulary of pre-trade risk (:mod:`tradeops.domain.risk`): the order request, the context it is
checked in, and the decision, with the one enum of denial reasons."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from tradeops.domain.control import TradingState
from tradeops.domain.orders import Order
from tradeops.domain.portfolio import PortfolioSnapshot
from tradeops.domain.values import Instrument, OrderType, Side


class DenyReason(StrEnum):
    TRADING_HALTED = "TRADING_HALTED"
    KYC = "KYC"
    EXPIRED_INTENT = "EXPIRED_INTENT"
    UNKNOWN_INSTRUMENT = "UNKNOWN_INSTRUMENT"
    INSTRUMENT_DISABLED = "INSTRUMENT_DISABLED"
    STRATEGY_DISABLED = "STRATEGY_DISABLED"
    REDUCE_ONLY = "REDUCE_ONLY"
    MARKET_DATA_STALE = "MARKET_DATA_STALE"
    MIN_QUANTITY = "MIN_QUANTITY"
    FILTER_MAX_QUANTITY = "FILTER_MAX_QUANTITY"
    FILTER_STEP_SIZE = "FILTER_STEP_SIZE"
    FILTER_TICK_SIZE = "FILTER_TICK_SIZE"
    MIN_NOTIONAL = "MIN_NOTIONAL"
    MAX_ORDER_QUANTITY = "MAX_ORDER_QUANTITY"
    PRICE_COLLAR = "PRICE_COLLAR"
    MAX_NOTIONAL = "MAX_NOTIONAL"
    MAX_OPEN_ORDERS = "MAX_OPEN_ORDERS"
    ORDER_RATE = "ORDER_RATE"
    MAX_DAILY_NOTIONAL = "MAX_DAILY_NOTIONAL"
    MAX_POSITION = "MAX_POSITION"
    MAX_POSITION_VOLATILITY = "MAX_POSITION_VOLATILITY"
    MAX_GROSS_EXPOSURE = "MAX_GROSS_EXPOSURE"
    MAX_NET_EXPOSURE = "MAX_NET_EXPOSURE"
    STRATEGY_ALLOCATION = "STRATEGY_ALLOCATION"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    MARGIN = "MARGIN"


@dataclass(frozen=True)
class OrderRequest:
    """A new order to vet. ``reduce_only`` asks for a denial unless the order reduces exposure."""

    strategy: str
    symbol: str
    side: Side
    type: OrderType
    quantity: Decimal
    limit_price: Decimal | None = None
    expires_at_ms: int | None = None
    reduce_only: bool = False

    def __post_init__(self) -> None:
        if not self.strategy or not self.symbol:
            raise ValueError("order request needs a strategy and a symbol")
        if not isinstance(self.quantity, Decimal) or not self.quantity.is_finite() or self.quantity <= 0:
            raise ValueError(f"quantity must be a finite Decimal > 0, got {self.quantity!r}")
        if self.type.has_limit_price:
            price = self.limit_price
            if not isinstance(price, Decimal) or not price.is_finite() or price <= 0:
                raise ValueError(f"a {self.type.value} order needs a limit_price Decimal > 0, got {price!r}")
        elif self.limit_price is not None:
            raise ValueError("a market order has no limit_price")


@dataclass(frozen=True)
class ReferencePrice:
    """The reference mid of a symbol and the exchange time (epoch ms) it was observed at."""

    mid: Decimal
    ts_ms: int

    def __post_init__(self) -> None:
        if not isinstance(self.mid, Decimal) or not self.mid.is_finite() or self.mid <= 0:
            raise ValueError(f"reference mid must be a finite Decimal > 0, got {self.mid!r}")


@dataclass(frozen=True)
class MarginAccount:
    """A margin account: equity in quote, the leverage cap and the maintenance margin rate (fraction)."""

    equity: Decimal
    max_leverage: Decimal
    maintenance_margin_rate: Decimal

    def __post_init__(self) -> None:
        if not all(isinstance(v, Decimal) and v.is_finite() for v in (self.equity, self.max_leverage)):
            raise ValueError("margin equity and max_leverage must be finite Decimals")
        if self.max_leverage <= 0 or not 0 <= self.maintenance_margin_rate < 1:
            raise ValueError("max_leverage must be > 0 and maintenance_margin_rate in [0, 1)")


@dataclass(frozen=True)
class RiskContext:
    """Everything ``check`` reads, captured at ``now_ms``. Without ``margin`` the account is spot."""

    now_ms: int
    trading_state: TradingState
    instruments: Mapping[str, Instrument]
    enabled_symbols: frozenset[str]
    reference_prices: Mapping[str, ReferencePrice]
    realized_vols: Mapping[str, Decimal]
    portfolio: PortfolioSnapshot
    free_balances: Mapping[str, Decimal]
    open_orders: tuple[Order, ...]
    traded_notional_today: Decimal
    recent_order_ts: tuple[int, ...]
    strategies_enabled: Mapping[str, bool]
    strategy_capital_used: Mapping[str, Decimal]
    taker_fee_rate: Decimal
    margin: MarginAccount | None = None
    kyc_verified: bool = True
    """``tradeops.domain.kyc.account_may_trade`` for the trading account at ``now_ms``."""
    strategy_allocations: Mapping[str, Decimal] = field(default_factory=dict)
    """Allocations approved through change management (control table); they override the limits'."""


@dataclass(frozen=True)
class Approved:
    """The order may be sent; ``notional`` at the price it was checked at."""

    notional: Decimal
    reduces_exposure: bool


@dataclass(frozen=True)
class Denied:
    """The first failed check: the limit that tripped and the value that tripped it."""

    reason: DenyReason
    limit: Decimal | str | None
    value: Decimal | str | None
    message: str


RiskDecision = Approved | Denied
