"""A small, safe demo strategy for ``tradeops up``: mean reversion of the mid around its EWMA.

Per symbol, every ``decision_interval_ms`` at most, and only on a view that may open exposure (never
on STALE or REST-fed data): when the mid is ``entry_bps`` below its EWMA and the next side is BUY, it
joins the bid with a limit buy; when it is ``entry_bps`` above and the next side is SELL, it joins the
ask with a limit sell. Every entry carries a stop-loss and a take-profit on the protective side of the
entry (rounded away from it onto the tick grid) and expires after ``expires_in_ms``.

At most one position per symbol: no entry while one is pending (until its expiry plus a grace period,
or its first fill) or while the strategy's fills leave a position open (above ``dust_ratio`` of the
order size, which absorbs base-asset fees). Sides alternate per filled entry (buy, then sell, ...), so
spot inventory oscillates around its start. Sizes are fixed per symbol and checked against the demo
risk limits at construction and against ``max_order_notional`` at every decision. Decisions depend on
nothing but the views, fills and times given: the same inputs give the same intents.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from tradeops.domain.events import TradeIntent
from tradeops.domain.limits import RiskLimits
from tradeops.domain.orders import Fill
from tradeops.domain.values import Side, TimeInForce
from tradeops.gateway.quality import MarketView
from tradeops.strategies.base import Strategy

__all__ = ["DEFAULT_SYMBOLS", "DemoConfig", "DemoStrategy", "DemoSymbol"]

_CTX = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN, traps=[decimal.InvalidOperation])
_BPS = Decimal(10_000)
_ONE = Decimal(1)


@dataclass(frozen=True)
class DemoSymbol:
    """A traded symbol: fixed order quantity (base asset) and the venue's tick size."""

    symbol: str
    quantity: Decimal
    tick_size: Decimal

    def __post_init__(self) -> None:
        for name in ("quantity", "tick_size"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
                raise ValueError(f"{self.symbol}: {name} must be a Decimal > 0, got {value!r}")


DEFAULT_SYMBOLS = (
    DemoSymbol("BTC/USDT", Decimal("0.002"), Decimal("0.01")),
    DemoSymbol("ETH/USDT", Decimal("0.05"), Decimal("0.01")),
    DemoSymbol("SOL/USDT", Decimal("1"), Decimal("0.01")),
)


@dataclass(frozen=True)
class DemoConfig:
    symbols: tuple[DemoSymbol, ...] = DEFAULT_SYMBOLS
    decision_interval_ms: int = 3_000
    ewma_alpha: Decimal = Decimal("0.2")
    warmup: int = 5
    entry_bps: Decimal = Decimal("2")
    stop_loss_bps: Decimal = Decimal("20")
    take_profit_bps: Decimal = Decimal("15")
    expires_in_ms: int = 15_000
    pending_grace_ms: int = 5_000
    dust_ratio: Decimal = Decimal("0.05")

    def __post_init__(self) -> None:
        if not self.symbols or len({s.symbol for s in self.symbols}) != len(self.symbols):
            raise ValueError("demo symbols must be non-empty and distinct")
        if self.decision_interval_ms < 1 or self.expires_in_ms < 1 or self.pending_grace_ms < 0:
            raise ValueError("decision_interval_ms and expires_in_ms must be >= 1, pending_grace_ms >= 0")
        if self.warmup < 1 or not 0 < self.ewma_alpha <= 1:
            raise ValueError("warmup must be >= 1 and ewma_alpha in (0, 1]")
        if min(self.entry_bps, self.stop_loss_bps, self.take_profit_bps) <= 0:
            raise ValueError("entry_bps, stop_loss_bps and take_profit_bps must be positive")
        if max(self.stop_loss_bps, self.take_profit_bps) >= _BPS or not 0 <= self.dust_ratio < 1:
            raise ValueError("stop_loss_bps/take_profit_bps must be < 10000 and dust_ratio in [0, 1)")


@dataclass
class _SymbolState:
    ewma: Decimal | None = None
    samples: int = 0
    next_side: Side = Side.BUY
    open_quantity: Decimal = Decimal(0)
    pending_until_ms: int | None = None
    last_decision_ms: int | None = None


class DemoStrategy(Strategy):
    """Mean reversion on the mid vs its EWMA with small, bracketed limit entries."""

    def __init__(
        self, config: DemoConfig | None = None, *, limits: RiskLimits | None = None, name: str = "demo"
    ) -> None:
        config = config or DemoConfig()
        limits = limits or RiskLimits.default_for_demo()
        super().__init__(name, [s.symbol for s in config.symbols])
        for spec in config.symbols:
            cap = limits.max_order_quantity.get(spec.symbol)
            if cap is None or spec.quantity > cap:
                raise ValueError(f"{spec.symbol}: quantity {spec.quantity} exceeds the limit {cap}")
        if name not in limits.strategy_allocations:
            raise ValueError(f"the risk limits give strategy {name!r} no allocation")
        self.config = config
        self._max_notional = limits.max_order_notional
        self._specs = {spec.symbol: spec for spec in config.symbols}
        self._state = {spec.symbol: _SymbolState() for spec in config.symbols}

    def on_market(self, view: MarketView, now_ms: int) -> Sequence[TradeIntent]:
        spec = self._specs.get(view.symbol)
        if spec is None or not view.tradeable_for_opening:
            return ()
        bid, ask, mid = view.bid, view.ask, view.mid
        if bid is None or ask is None or mid is None or not 0 < bid < ask:
            return ()
        state = self._state[view.symbol]
        alpha = self.config.ewma_alpha
        previous = state.ewma
        state.ewma = (
            mid
            if previous is None
            else _CTX.add(_CTX.multiply(alpha, mid), _CTX.multiply(_ONE - alpha, previous))
        )
        state.samples += 1
        if (
            previous is None
            or state.samples <= self.config.warmup
            or not self._may_enter(spec, state, now_ms)
        ):
            return ()
        deviation_bps = _CTX.divide(_CTX.multiply(mid - previous, _BPS), previous)
        if state.next_side is Side.BUY and deviation_bps <= -self.config.entry_bps:
            intent = self._entry(spec, Side.BUY, bid, now_ms)
        elif state.next_side is Side.SELL and deviation_bps >= self.config.entry_bps:
            intent = self._entry(spec, Side.SELL, ask, now_ms)
        else:
            return ()
        if intent is None:
            return ()
        state.last_decision_ms = now_ms
        state.pending_until_ms = now_ms + self.config.expires_in_ms + self.config.pending_grace_ms
        return (intent,)

    def on_fill(self, fill: Fill) -> Sequence[TradeIntent]:
        state = self._state.get(fill.symbol)
        if state is None:
            return ()
        spec = self._specs[fill.symbol]
        was_flat = self._flat(spec, state.open_quantity)
        signed = fill.quantity if fill.side is Side.BUY else -fill.quantity
        if fill.fee_asset == fill.symbol.partition("/")[0]:
            signed -= fill.fee
        state.open_quantity += signed
        if was_flat and not self._flat(spec, state.open_quantity):
            # the entry filled: the position is open now, the next entry takes the other side
            state.pending_until_ms = None
            state.next_side = Side.SELL if fill.side is Side.BUY else Side.BUY
        return ()

    def open_quantity(self, symbol: str) -> Decimal:
        """The position built from this strategy's fills in ``symbol`` (signed, base asset)."""
        return self._state[symbol].open_quantity

    def _flat(self, spec: DemoSymbol, quantity: Decimal) -> bool:
        return abs(quantity) <= spec.quantity * self.config.dust_ratio

    def _may_enter(self, spec: DemoSymbol, state: _SymbolState, now_ms: int) -> bool:
        if not self._flat(spec, state.open_quantity):
            return False
        if state.pending_until_ms is not None and now_ms < state.pending_until_ms:
            return False
        last = state.last_decision_ms
        return last is None or now_ms - last >= self.config.decision_interval_ms

    def _entry(self, spec: DemoSymbol, side: Side, price: Decimal, now_ms: int) -> TradeIntent | None:
        price = _round(price, spec.tick_size, down=side is Side.BUY)
        if _CTX.multiply(price, spec.quantity) > self._max_notional:
            return None
        below = _CTX.multiply(price, _ONE - self.config.stop_loss_bps / _BPS)
        above = _CTX.multiply(price, _ONE + self.config.stop_loss_bps / _BPS)
        tp_above = _CTX.multiply(price, _ONE + self.config.take_profit_bps / _BPS)
        tp_below = _CTX.multiply(price, _ONE - self.config.take_profit_bps / _BPS)
        if side is Side.BUY:
            stop_loss = _round(below, spec.tick_size, down=True)
            take_profit = _round(tp_above, spec.tick_size, down=False)
            consistent = 0 < stop_loss < price < take_profit
        else:
            stop_loss = _round(above, spec.tick_size, down=False)
            take_profit = _round(tp_below, spec.tick_size, down=True)
            consistent = stop_loss > price > take_profit > 0
        if not consistent:
            return None
        return self.intent(
            now_ms=now_ms,
            symbol=spec.symbol,
            side=side,
            quantity=spec.quantity,
            limit_price=price,
            time_in_force=TimeInForce.GTC,
            stop_loss=stop_loss,
            take_profit=take_profit,
            expires_in_ms=self.config.expires_in_ms,
        )


def _round(value: Decimal, tick: Decimal, *, down: bool) -> Decimal:
    """``value`` on the tick grid, rounded down or up."""
    rounding = decimal.ROUND_FLOOR if down else decimal.ROUND_CEILING
    ticks = _CTX.divide(value, tick).to_integral_value(rounding=rounding)
    return _CTX.multiply(ticks, tick)
