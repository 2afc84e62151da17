"""Positions and PnL derived from fills alone (average-cost method), and a marked portfolio snapshot.

Average cost: a fill on the side of the position re-averages the entry price; a fill against it
realizes ``closed quantity * (price - average entry)`` (sign-adjusted for shorts); a fill through zero
realizes the closed part and opens the remainder at the fill price. Quantities are signed so margin
shorts work; spot positions simply never go below zero.

Fees (Binance spot charges the received asset, or BNB):
- in the base asset: the venue takes units from the position, booked as a disposal of those units at
  zero proceeds (realizes ``-fee * average entry`` on a long), so total PnL stays exact without division;
- in the quote asset: subtracted from realized PnL;
- in any other asset: recorded in ``fees_paid`` only; equity sees it through that asset's cash balance.

Average cost is path dependent, so a ``Portfolio`` applies each symbol's fills in one canonical order,
``(ts, trade id)``, replaying the symbol when a fill arrives late: the same set of fills, in any order
of arrival and with duplicates, gives the same positions. ``compact(through_ts)`` folds old fills into
a base position to bound memory (only their trade ids are kept, for deduplication); a fill older than
the compaction point then raises ``LateFillError``: the position must be rebuilt from the journal.
"""

from __future__ import annotations

import bisect
import decimal
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from tradeops.domain.orders import Fill
from tradeops.domain.values import Side

_ZERO = Decimal(0)
# Fixed context, independent of the caller's thread: 34 digits is exact for every product here and
# leaves the one division (re-averaging the entry price) correctly rounded.
_CTX = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN, traps=[decimal.InvalidOperation])


def split_symbol(symbol: str) -> tuple[str, str]:
    """``"BTC/USDT" -> ("BTC", "USDT")``; anything else is refused."""
    base, sep, quote = symbol.partition("/")
    if not sep or not base or not quote or "/" in quote:
        raise ValueError(f"symbol {symbol!r} is not BASE/QUOTE")
    return base, quote


class FillResult(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Position:
    """One symbol's position: signed base quantity, average entry, realized PnL (quote), fees by asset."""

    symbol: str
    quantity: Decimal = _ZERO
    average_entry_price: Decimal = _ZERO
    realized_pnl: Decimal = _ZERO
    fees_paid: Mapping[str, Decimal] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        split_symbol(self.symbol)

    @property
    def base(self) -> str:
        return split_symbol(self.symbol)[0]

    @property
    def quote(self) -> str:
        return split_symbol(self.symbol)[1]

    def apply_fill(self, fill: Fill) -> Position:
        """The position after ``fill`` (a new object; this one is unchanged)."""
        if fill.symbol != self.symbol:
            raise ValueError(f"fill {fill.trade_id} for {fill.symbol} applied to the {self.symbol} position")
        signed = fill.quantity if fill.side is Side.BUY else -fill.quantity
        after = self._trade(signed, fill.price)
        if fill.fee == 0:
            return after
        fees = dict(after.fees_paid)
        fees[fill.fee_asset] = _CTX.add(fees.get(fill.fee_asset, _ZERO), fill.fee)
        after = replace(after, fees_paid=MappingProxyType(fees))
        base, quote = split_symbol(self.symbol)
        if fill.fee_asset == base:
            return after._trade(-fill.fee, _ZERO)
        if fill.fee_asset == quote:
            return replace(after, realized_pnl=_CTX.subtract(after.realized_pnl, fill.fee))
        return after

    def _trade(self, signed_quantity: Decimal, price: Decimal) -> Position:
        held, average = self.quantity, self.average_entry_price
        new_quantity = _CTX.add(held, signed_quantity)
        if held == 0 or (held > 0) == (signed_quantity > 0):
            cost = _CTX.add(_CTX.multiply(held, average), _CTX.multiply(signed_quantity, price))
            return replace(self, quantity=new_quantity, average_entry_price=_CTX.divide(cost, new_quantity))
        closed = min(abs(signed_quantity), abs(held))
        direction = 1 if held > 0 else -1
        pnl = _CTX.multiply(_CTX.multiply(closed, _CTX.subtract(price, average)), direction)
        realized = _CTX.add(self.realized_pnl, pnl)
        if new_quantity == 0:
            entry = _ZERO
        elif (new_quantity > 0) == (held > 0):
            entry = average
        else:
            entry = price
        return replace(self, quantity=new_quantity, average_entry_price=entry, realized_pnl=realized)

    def unrealized_pnl(self, mark_price: Decimal) -> Decimal:
        return _CTX.multiply(self.quantity, _CTX.subtract(mark_price, self.average_entry_price))


@dataclass(frozen=True)
class PositionValuation:
    """A position marked at a price: PnL in quote, exposure ``|q| * mark`` (gross) and ``q * mark`` (net)."""

    symbol: str
    quantity: Decimal
    average_entry_price: Decimal
    mark_price: Decimal | None
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    gross_exposure: Decimal
    net_exposure: Decimal
    fees_paid: Mapping[str, Decimal]


@dataclass(frozen=True)
class PortfolioSnapshot:
    """The portfolio marked at ``ts`` (epoch ms); every amount in ``quote_currency``."""

    ts: int
    quote_currency: str
    equity: Decimal
    balances: Mapping[str, Decimal]
    positions: Mapping[str, PositionValuation]
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    gross_exposure: Decimal
    net_exposure: Decimal

    @classmethod
    def empty(cls, quote_currency: str, ts: int) -> PortfolioSnapshot:
        """A snapshot with no cash and no positions (a fresh account)."""
        zero = _ZERO
        return cls(
            ts, quote_currency, zero, MappingProxyType({}), MappingProxyType({}), zero, zero, zero, zero
        )

    def position_quantity(self, symbol: str) -> Decimal:
        valuation = self.positions.get(symbol)
        return _ZERO if valuation is None else valuation.quantity


class LateFillError(ValueError):
    """A new fill at or before the point the portfolio was compacted through: rebuild from the journal."""


class MissingPriceError(ValueError):
    """``Portfolio.mark`` needs a price for every open position and every non-quote cash asset."""


class Portfolio:
    """Positions by symbol and cash balances by asset, all derived from opening balances and fills.

    Every symbol must be quoted in ``quote_currency`` so PnL and exposure add up in one currency.
    Opening inventory that should count as a position is brought in as an opening fill.
    """

    def __init__(self, quote_currency: str, opening_balances: Mapping[str, Decimal] | None = None) -> None:
        if not quote_currency or "/" in quote_currency:
            raise ValueError(f"quote currency {quote_currency!r} is not an asset")
        self.quote_currency = quote_currency
        self._balances: dict[str, Decimal] = {}
        for asset, amount in (opening_balances or {}).items():
            if not isinstance(amount, Decimal) or not amount.is_finite():
                raise ValueError(f"opening balance of {asset} must be a finite Decimal, got {amount!r}")
            self._balances[asset] = amount
        self._positions: dict[str, Position] = {}
        self._fills: dict[str, list[Fill]] = {}
        self._seen: dict[tuple[str, str], Fill] = {}
        self._base: dict[str, Position] = {}
        self._compacted_ids: set[tuple[str, str]] = set()
        self._compacted_through: int | None = None

    @property
    def positions(self) -> Mapping[str, Position]:
        return MappingProxyType(self._positions)

    @property
    def balances(self) -> Mapping[str, Decimal]:
        return MappingProxyType(self._balances)

    def position(self, symbol: str) -> Position:
        return self._positions.get(symbol) or Position(symbol)

    def apply_fill(self, fill: Fill) -> FillResult:
        """Account ``fill`` once: a repeated trade id changes nothing and returns ``DUPLICATE``.

        A trade id seen before with different contents is corrupt input and raises ``ValueError``.
        """
        key = (fill.symbol, fill.trade_id)
        if key in self._compacted_ids:
            return FillResult.DUPLICATE
        seen = self._seen.get(key)
        if seen is not None:
            if seen != fill:
                raise ValueError(f"trade {fill.trade_id} of {fill.symbol} seen before with other contents")
            return FillResult.DUPLICATE
        base, quote = split_symbol(fill.symbol)
        if quote != self.quote_currency:
            raise ValueError(f"{fill.symbol} is not quoted in the portfolio's {self.quote_currency}")
        if self._compacted_through is not None and fill.ts <= self._compacted_through:
            raise LateFillError(f"trade {fill.trade_id} at {fill.ts} is older than the compaction point")
        self._seen[key] = fill
        fills = self._fills.setdefault(fill.symbol, [])
        in_order = not fills or _fill_order(fills[-1]) < _fill_order(fill)
        bisect.insort(fills, fill, key=_fill_order)
        if in_order:
            self._positions[fill.symbol] = self.position(fill.symbol).apply_fill(fill)
        else:
            position = self._base.get(fill.symbol) or Position(fill.symbol)
            for earlier in fills:
                position = position.apply_fill(earlier)
            self._positions[fill.symbol] = position
        notional = _CTX.multiply(fill.quantity, fill.price)
        base_change, quote_change = (
            (fill.quantity, -notional) if fill.side is Side.BUY else (-fill.quantity, notional)
        )
        self._add_balance(base, base_change)
        self._add_balance(quote, quote_change)
        if fill.fee:
            self._add_balance(fill.fee_asset, -fill.fee)
        return FillResult.APPLIED

    def compact(self, through_ts: int) -> int:
        """Fold fills with ``ts <= through_ts`` into base positions; returns how many were folded."""
        if self._compacted_through is not None and through_ts < self._compacted_through:
            raise ValueError(f"already compacted through {self._compacted_through}, not back to {through_ts}")
        folded = 0
        for symbol, fills in self._fills.items():
            cut = bisect.bisect_right(fills, through_ts, key=lambda each: each.ts)
            position = self._base.get(symbol) or Position(symbol)
            for old in fills[:cut]:
                position = position.apply_fill(old)
                key = (symbol, old.trade_id)
                self._compacted_ids.add(key)
                del self._seen[key]
            self._base[symbol] = position
            del fills[:cut]
            folded += cut
        self._compacted_through = through_ts
        return folded

    def _add_balance(self, asset: str, amount: Decimal) -> None:
        self._balances[asset] = _CTX.add(self._balances.get(asset, _ZERO), amount)

    def mark(self, prices: Mapping[str, Decimal], ts: int) -> PortfolioSnapshot:
        """Value the portfolio at ``prices`` (symbol -> price in the quote currency) at ``ts`` (epoch ms).

        Raises ``MissingPriceError`` naming what lacks a price: an open position's symbol, or a cash
        asset ``X`` with a non-zero balance and no ``X/<quote>`` price.
        """
        for symbol, price in prices.items():
            if not isinstance(price, Decimal) or not price.is_finite() or price <= 0:
                raise ValueError(f"price of {symbol} must be a finite Decimal > 0, got {price!r}")
        valuations: dict[str, PositionValuation] = {}
        realized = unrealized = gross = net = _ZERO
        for symbol, position in sorted(self._positions.items()):
            mark_price = prices.get(symbol)
            if mark_price is None and position.quantity != 0:
                raise MissingPriceError(f"no price for {symbol}, which has an open position")
            pnl = _ZERO if mark_price is None else position.unrealized_pnl(mark_price)
            net_exposure = _ZERO if mark_price is None else _CTX.multiply(position.quantity, mark_price)
            valuations[symbol] = PositionValuation(
                symbol=symbol,
                quantity=position.quantity,
                average_entry_price=position.average_entry_price,
                mark_price=mark_price,
                realized_pnl=position.realized_pnl,
                unrealized_pnl=pnl,
                gross_exposure=abs(net_exposure),
                net_exposure=net_exposure,
                fees_paid=position.fees_paid,
            )
            realized = _CTX.add(realized, position.realized_pnl)
            unrealized = _CTX.add(unrealized, pnl)
            gross = _CTX.add(gross, abs(net_exposure))
            net = _CTX.add(net, net_exposure)
        equity = _ZERO
        for asset, amount in sorted(self._balances.items()):
            if asset == self.quote_currency:
                equity = _CTX.add(equity, amount)
            elif amount != 0:
                asset_price = prices.get(f"{asset}/{self.quote_currency}")
                if asset_price is None:
                    raise MissingPriceError(f"no price for {asset}/{self.quote_currency} to value {asset}")
                equity = _CTX.add(equity, _CTX.multiply(amount, asset_price))
        return PortfolioSnapshot(
            ts=ts,
            quote_currency=self.quote_currency,
            equity=equity,
            balances=MappingProxyType(dict(self._balances)),
            positions=MappingProxyType(valuations),
            realized_pnl=realized,
            unrealized_pnl=unrealized,
            gross_exposure=gross,
            net_exposure=net,
        )


def _fill_order(fill: Fill) -> tuple[int, str, str]:
    """Canonical order: time, then trade id (numeric ids compare as numbers through zero padding)."""
    return fill.ts, fill.trade_id.rjust(40, "0"), fill.trade_id
