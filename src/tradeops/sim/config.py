"""Typed configuration of the simulated venue: symbols, filters, balances, fees, model rates."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from tradeops.sim.errors import SimError


@dataclass(frozen=True)
class SymbolFilters:
    """Exchange filters of one symbol plus the shape of its synthetic liquidity."""

    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    max_price: Decimal = Decimal("1000000")
    max_notional: Decimal = Decimal("9000000")
    level_spacing: Decimal | None = None  # price distance between synthetic levels; default 2 bps
    level_qty: Decimal | None = None  # mean synthetic quantity per level; default ~100k quote / price

    def spacing_for(self, price: Decimal) -> Decimal:
        if self.level_spacing is not None:
            return self.level_spacing
        raw = (price * Decimal("0.0002")).quantize(self.tick_size)
        return max(raw, self.tick_size)

    def qty_for(self, price: Decimal) -> Decimal:
        if self.level_qty is not None:
            return self.level_qty
        raw = (Decimal(20000) / price).quantize(self.step_size)
        return max(raw, self.min_qty * 100)


DEFAULT_FILTERS: dict[str, SymbolFilters] = {
    "BTC/USDT": SymbolFilters(
        Decimal("0.01"),
        Decimal("0.00001"),
        Decimal("0.00001"),
        Decimal("9000"),
        Decimal("5"),
        level_spacing=Decimal("1.00"),
        level_qty=Decimal("0.40000"),
    ),
    "ETH/USDT": SymbolFilters(
        Decimal("0.01"),
        Decimal("0.0001"),
        Decimal("0.0001"),
        Decimal("9000"),
        Decimal("5"),
        level_spacing=Decimal("0.10"),
        level_qty=Decimal("6.0000"),
    ),
    "SOL/USDT": SymbolFilters(
        Decimal("0.01"),
        Decimal("0.001"),
        Decimal("0.001"),
        Decimal("90000"),
        Decimal("5"),
        level_spacing=Decimal("0.01"),
        level_qty=Decimal("120.000"),
    ),
}

DEFAULT_PRICES: dict[str, Decimal] = {
    "BTC/USDT": Decimal("60000"),
    "ETH/USDT": Decimal("3000"),
    "SOL/USDT": Decimal("150"),
}


def _default_balances() -> dict[str, Decimal]:
    return {"USDT": Decimal("100000"), "BTC": Decimal("1"), "ETH": Decimal("10"), "SOL": Decimal("100")}


@dataclass
class SimConfig:
    """Venue settings; every field has a sane default so `SimConfig()` is a working venue."""

    seed: int = 7
    symbols: tuple[str, ...] = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
    initial_prices: dict[str, Decimal] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    default_balances: dict[str, Decimal] = field(default_factory=_default_balances)
    book_depth: int = 20
    tick_ms: int = 50
    trades_per_step: int = 1
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")
    history_cap: int = 100_000
    filters: dict[str, SymbolFilters] = field(default_factory=lambda: dict(DEFAULT_FILTERS))

    def validate(self) -> None:
        """Refuse configurations the engine cannot run (raised once, at venue construction)."""
        if not self.symbols:
            raise SimError(-1130, "config: at least one symbol is required")
        for symbol in self.symbols:
            base, sep, quote = symbol.partition("/")
            if not sep or not base.isalnum() or not quote.isalnum():
                raise SimError(-1130, f"config: symbol {symbol!r} is not BASE/QUOTE")
            if self.price_of(symbol) <= 0:
                raise SimError(-1130, f"config: initial price of {symbol} must be positive")
        if self.book_depth < 1 or self.tick_ms < 1 or self.trades_per_step < 0 or self.history_cap < 1:
            raise SimError(
                -1130, "config: book_depth, tick_ms, history_cap must be >= 1, trades_per_step >= 0"
            )
        if not (0 <= self.maker_fee < 1 and 0 <= self.taker_fee < 1):
            raise SimError(-1130, "config: fees must be in [0, 1)")

    def price_of(self, symbol: str) -> Decimal:
        return self.initial_prices.get(symbol, Decimal("100"))

    def filters_of(self, symbol: str) -> SymbolFilters:
        found = self.filters.get(symbol)
        if found is not None:
            return found
        price = self.price_of(symbol)
        tick = Decimal("0.01") if price >= 10 else Decimal("0.0001")
        step = Decimal("0.001") if price < 1000 else Decimal("0.00001")
        return SymbolFilters(tick, step, step, Decimal("9000000"), Decimal("5"))
