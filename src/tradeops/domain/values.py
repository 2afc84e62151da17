"""Value types: sides, order types, severities, exact decimals and instrument precision rules.

Money and quantities are ``Decimal`` end to end. ``to_decimal`` is the one gate from the outside
world and refuses ``float`` (binary floats cannot represent prices exactly) and NaN/infinity.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

# Exact arithmetic for precision rules: wide enough that dividing any realistic price or quantity by a
# tick or step size is exact, and independent of whatever the thread's default context is.
_EXACT = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN, traps=[decimal.InvalidOperation])


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP_LOSS_LIMIT = "stop_loss_limit"
    TAKE_PROFIT_LIMIT = "take_profit_limit"
    LIMIT_MAKER = "limit_maker"

    @property
    def has_limit_price(self) -> bool:
        return self is not OrderType.MARKET

    @property
    def has_stop_price(self) -> bool:
        return self in (OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT_LIMIT)

    @property
    def takes_time_in_force(self) -> bool:
        """Binance requires timeInForce for these types and refuses it for MARKET and LIMIT_MAKER."""
        return self in (OrderType.LIMIT, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT_LIMIT)


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class RoundDirection(StrEnum):
    DOWN = "down"
    UP = "up"


def to_decimal(value: str | int | Decimal) -> Decimal:
    """Convert an exact representation to a finite Decimal; floats, bools, NaN and infinity are refused."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise TypeError(
            f"expected a decimal as str, int or Decimal, got {type(value).__name__} {value!r}"
            + (" (floats are refused: pass the exact string)" if isinstance(value, float) else "")
        )
    try:
        result = value if isinstance(value, Decimal) else Decimal(value)
    except decimal.InvalidOperation:
        raise ValueError(f"not a decimal number: {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"decimal must be finite, got {value!r}")
    return result


def to_int(value: str | int | Decimal) -> int:
    """Convert an integral int, Decimal (as DynamoDB returns numbers) or digit string to int."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise TypeError(f"expected an integer as int, Decimal or str, got {type(value).__name__} {value!r}")
    if isinstance(value, int):
        return value
    number = to_decimal(value)
    if number != number.to_integral_value():
        raise ValueError(f"expected an integer, got {value!r}")
    return int(number)


def _venue_decimal(value: object, name: str) -> Decimal:
    """Read a number from a ccxt structure, where floats are the norm: convert through ``str()``.

    ``str(float)`` is the shortest repr that round-trips, so ``0.01`` becomes ``Decimal("0.01")`` and
    not the binary expansion ``Decimal(0.01)`` would give.
    """
    if value is None:
        raise InstrumentError(f"{name} is missing")
    if isinstance(value, float):
        value = str(value)
    if isinstance(value, str | int | Decimal) and not isinstance(value, bool):
        try:
            return to_decimal(value)
        except ValueError as exc:
            raise InstrumentError(f"{name}: {exc}") from None
    raise InstrumentError(f"{name}: expected a number, got {type(value).__name__} {value!r}")


def _plain(value: Decimal) -> Decimal:
    """Drop trailing zeros without switching to exponent notation: 0.01000000 -> 0.01, 10.00 -> 10."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


class InstrumentError(ValueError):
    """Instrument definition (exchange filters or ccxt market) is missing or inconsistent."""


class FilterViolationCode(StrEnum):
    BELOW_MIN_QTY = "below_min_qty"
    ABOVE_MAX_QTY = "above_max_qty"
    OFF_STEP = "off_step"
    OFF_TICK = "off_tick"
    BELOW_MIN_NOTIONAL = "below_min_notional"


@dataclass(frozen=True)
class FilterViolation:
    """One exchange filter an order would fail: which rule, its limit and the offending value."""

    code: FilterViolationCode
    limit: Decimal
    value: Decimal

    @property
    def message(self) -> str:
        return f"{self.code.value}: value {self.value} violates limit {self.limit}"


@dataclass(frozen=True)
class Instrument:
    """A spot market with the venue's precision rules (Binance PRICE_FILTER, LOT_SIZE, (MIN_)NOTIONAL).

    A ``tick_size`` or ``step_size`` of zero means the venue disabled that rule. Prices are on the grid
    ``k * tick_size``; quantities on ``min_qty + k * step_size`` (Binance's LOT_SIZE rule).
    """

    symbol: str
    venue_symbol: str
    base: str
    quote: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal

    def __post_init__(self) -> None:
        if self.symbol != f"{self.base}/{self.quote}":
            raise InstrumentError(f"symbol {self.symbol!r} must be {self.base}/{self.quote}")
        if not self.venue_symbol:
            raise InstrumentError(f"{self.symbol}: venue_symbol is empty")
        for name in ("tick_size", "step_size", "min_qty", "max_qty", "min_notional"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise InstrumentError(f"{self.symbol}: {name} must be a finite Decimal >= 0, got {value!r}")
        if self.max_qty <= 0 or self.max_qty < self.min_qty:
            raise InstrumentError(f"{self.symbol}: max_qty {self.max_qty} must be > 0 and >= {self.min_qty}")

    @classmethod
    def from_exchange_filters(cls, symbol_info: Mapping[str, Any]) -> Instrument:
        """Build from one ``symbols[]`` entry of Binance ``GET /api/v3/exchangeInfo``."""
        venue_symbol = str(symbol_info.get("symbol", ""))
        filters = {f.get("filterType"): f for f in symbol_info.get("filters", [])}
        price_filter = filters.get("PRICE_FILTER")
        lot_size = filters.get("LOT_SIZE")
        notional = filters.get("MIN_NOTIONAL") or filters.get("NOTIONAL")
        if price_filter is None or lot_size is None:
            raise InstrumentError(f"{venue_symbol}: exchangeInfo lacks PRICE_FILTER or LOT_SIZE")

        def exact(source: Mapping[str, Any], key: str) -> Decimal:
            try:
                return to_decimal(source[key])
            except (KeyError, TypeError, ValueError) as exc:
                raise InstrumentError(f"{venue_symbol}: filter field {key}: {exc!s}") from None

        base, quote = str(symbol_info.get("baseAsset", "")), str(symbol_info.get("quoteAsset", ""))
        return cls(
            symbol=f"{base}/{quote}",
            venue_symbol=venue_symbol,
            base=base,
            quote=quote,
            tick_size=_plain(exact(price_filter, "tickSize")),
            step_size=_plain(exact(lot_size, "stepSize")),
            min_qty=_plain(exact(lot_size, "minQty")),
            max_qty=_plain(exact(lot_size, "maxQty")),
            min_notional=_plain(exact(notional, "minNotional")) if notional else Decimal(0),
        )

    @classmethod
    def from_ccxt_market(cls, market: Mapping[str, Any]) -> Instrument:
        """Build from a ccxt unified market in TICK_SIZE precision mode (ccxt's binance)."""
        symbol = str(market.get("symbol", ""))
        precision = market.get("precision") or {}
        limits = market.get("limits") or {}
        amount = limits.get("amount") or {}
        cost = limits.get("cost") or {}
        min_cost = cost.get("min")
        return cls(
            symbol=symbol,
            venue_symbol=str(market.get("id", "")),
            base=str(market.get("base", "")),
            quote=str(market.get("quote", "")),
            tick_size=_plain(_venue_decimal(precision.get("price"), f"{symbol} precision.price")),
            step_size=_plain(_venue_decimal(precision.get("amount"), f"{symbol} precision.amount")),
            min_qty=_plain(_venue_decimal(amount.get("min"), f"{symbol} limits.amount.min")),
            max_qty=_plain(_venue_decimal(amount.get("max"), f"{symbol} limits.amount.max")),
            min_notional=Decimal(0)
            if min_cost is None
            else _plain(_venue_decimal(min_cost, f"{symbol} limits.cost.min")),
        )

    def round_price(self, price: Decimal, direction: RoundDirection) -> Decimal:
        """Round a price onto the tick grid, down or up as the caller states (never implicitly)."""
        if self.tick_size == 0:
            return price
        rounding = decimal.ROUND_FLOOR if direction is RoundDirection.DOWN else decimal.ROUND_CEILING
        ticks = _EXACT.divide(price, self.tick_size).to_integral_value(rounding=rounding)
        return _EXACT.multiply(ticks, self.tick_size)

    def floor_quantity(self, quantity: Decimal) -> Decimal:
        """The largest quantity <= ``quantity`` on the lot grid; zero when below ``min_qty``."""
        if quantity < self.min_qty:
            return Decimal(0)
        if self.step_size == 0:
            return quantity
        steps = _EXACT.divide(quantity - self.min_qty, self.step_size).to_integral_value(decimal.ROUND_FLOOR)
        return _EXACT.add(self.min_qty, _EXACT.multiply(steps, self.step_size))

    def check(self, quantity: Decimal, price: Decimal) -> list[FilterViolation]:
        """Every filter the order would fail; ``price`` is the limit price or a market order's reference."""
        violations: list[FilterViolation] = []
        code = FilterViolationCode
        if quantity < self.min_qty:
            violations.append(FilterViolation(code.BELOW_MIN_QTY, self.min_qty, quantity))
        if quantity > self.max_qty:
            violations.append(FilterViolation(code.ABOVE_MAX_QTY, self.max_qty, quantity))
        if self.step_size and _EXACT.remainder(quantity - self.min_qty, self.step_size) != 0:
            violations.append(FilterViolation(code.OFF_STEP, self.step_size, quantity))
        if self.tick_size and _EXACT.remainder(price, self.tick_size) != 0:
            violations.append(FilterViolation(code.OFF_TICK, self.tick_size, price))
        notional = _EXACT.multiply(quantity, price)
        if notional < self.min_notional:
            violations.append(FilterViolation(code.BELOW_MIN_NOTIONAL, self.min_notional, notional))
        return violations
