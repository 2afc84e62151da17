"""Typed, versioned pre-trade risk limits (stored in the limits table, changed by four-eyes proposals).

Amounts are in the quote currency (USDT), quantities in the base asset, rates as plain fractions
(0.6 = 60 %), collars and buffers in basis points. ``to_dict`` writes Decimals as strings and
``from_dict`` refuses anything malformed with a ``LimitsValidationError`` naming the field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from tradeops.domain.values import to_decimal

_ONE = Decimal(1)


class LimitsValidationError(ValueError):
    """A limits document or value is invalid; ``field`` names the offending field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"risk limits field {field!r}: {problem}")
        self.field = field


def _check_decimal(field: str, value: object, *, allow_zero: bool = False) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise LimitsValidationError(field, f"must be a finite Decimal, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise LimitsValidationError(field, f"must be {'>= 0' if allow_zero else '> 0'}, got {value}")


def _check_int(field: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise LimitsValidationError(field, f"must be an integer >= {minimum}, got {value!r}")


def _check_mapping(field: str, value: object) -> None:
    if not isinstance(value, Mapping):
        raise LimitsValidationError(field, f"must be a mapping, got {type(value).__name__}")
    for key, amount in value.items():
        if not isinstance(key, str) or not key:
            raise LimitsValidationError(field, f"keys must be non-empty strings, got {key!r}")
        _check_decimal(f"{field}.{key}", amount)


@dataclass(frozen=True)
class VolatilityScaling:
    """Position caps shrink when realized volatility exceeds ``reference_vol`` (both annualized).

    ``factor = min(1, reference_vol / realized_vol)``, never below ``floor_factor``; an unknown
    volatility (not warmed up) is treated as extreme and gets the floor.
    """

    reference_vol: Decimal
    floor_factor: Decimal

    def __post_init__(self) -> None:
        _check_decimal("volatility_scaling.reference_vol", self.reference_vol)
        _check_decimal("volatility_scaling.floor_factor", self.floor_factor)
        if self.floor_factor > 1:
            raise LimitsValidationError("volatility_scaling.floor_factor", "must be <= 1")

    def factor(self, realized_vol: Decimal | None) -> Decimal:
        if realized_vol is None:
            return self.floor_factor
        if realized_vol <= self.reference_vol:
            return _ONE
        return max(self.floor_factor, self.reference_vol / realized_vol)


@dataclass(frozen=True)
class RiskLimits:
    """Every pre-trade limit, as one versioned document. Symbols without a per-symbol limit cannot trade;
    strategies without an allocation cannot open exposure."""

    version: int
    max_order_quantity: Mapping[str, Decimal]
    max_order_notional: Decimal
    price_collar_bps: Decimal
    max_position_notional: Mapping[str, Decimal]
    max_gross_exposure: Decimal
    max_net_exposure: Decimal
    max_daily_notional: Decimal
    max_open_orders: int
    max_open_orders_per_symbol: int
    max_orders_per_second: Decimal
    order_burst: int
    min_free_balance_margin_bps: Decimal
    volatility_scaling: VolatilityScaling
    max_data_staleness_ms: int
    strategy_allocations: Mapping[str, Decimal]
    proposed_by: str | None = None
    approved_by: str | None = None
    max_daily_loss: Decimal = Decimal("10000")
    """Post-trade (risk monitor): loss below the start-of-day equity, in quote, that halts trading."""
    max_drawdown: Decimal = Decimal("0.1")
    """Post-trade: fall from the day's equity high-water mark, as a fraction of it, that halts trading."""
    max_concentration: Decimal = Decimal("0.5")
    """Post-trade: largest one-symbol position notional as a fraction of equity (above it: reduce only)."""

    def __post_init__(self) -> None:
        _check_int("version", self.version, 1)
        for name in ("max_daily_loss", "max_drawdown", "max_concentration"):
            _check_decimal(name, getattr(self, name))
        if self.max_drawdown >= 1:
            raise LimitsValidationError("max_drawdown", "must be < 1 (100 %)")
        for name in ("max_order_quantity", "max_position_notional", "strategy_allocations"):
            value = getattr(self, name)
            _check_mapping(name, value)
            object.__setattr__(self, name, MappingProxyType(dict(value)))
        for name in ("max_order_notional", "max_gross_exposure", "max_net_exposure", "max_daily_notional"):
            _check_decimal(name, getattr(self, name))
        _check_decimal("max_orders_per_second", self.max_orders_per_second)
        _check_decimal("price_collar_bps", self.price_collar_bps)
        if self.price_collar_bps >= 10_000:
            raise LimitsValidationError("price_collar_bps", "must be < 10000 (100 %)")
        _check_decimal("min_free_balance_margin_bps", self.min_free_balance_margin_bps, allow_zero=True)
        _check_int("max_open_orders", self.max_open_orders, 1)
        _check_int("max_open_orders_per_symbol", self.max_open_orders_per_symbol, 1)
        _check_int("order_burst", self.order_burst, 1)
        _check_int("max_data_staleness_ms", self.max_data_staleness_ms, 1)
        if not isinstance(self.volatility_scaling, VolatilityScaling):
            raise LimitsValidationError("volatility_scaling", "must be a VolatilityScaling")
        for name in ("proposed_by", "approved_by"):
            actor = getattr(self, name)
            if actor is not None and (not isinstance(actor, str) or not actor.strip()):
                raise LimitsValidationError(name, f"must be a non-empty string or None, got {actor!r}")

    @property
    def rate_window_ms(self) -> int:
        """The sliding window in which at most ``order_burst`` orders may be sent: burst / rate seconds."""
        return int(Decimal(self.order_burst) * 1000 / self.max_orders_per_second)

    @classmethod
    def default_for_demo(cls) -> RiskLimits:
        """Sane limits for the simulator's demo account (USDT 100000, BTC 1, ETH 10, SOL 100)."""
        d = Decimal
        return cls(
            version=1,
            max_order_quantity={"BTC/USDT": d("0.5"), "ETH/USDT": d("5"), "SOL/USDT": d("100")},
            max_order_notional=d("20000"),
            price_collar_bps=d("100"),
            max_position_notional={"BTC/USDT": d("60000"), "ETH/USDT": d("30000"), "SOL/USDT": d("15000")},
            max_gross_exposure=d("100000"),
            max_net_exposure=d("80000"),
            max_daily_notional=d("1000000"),
            max_open_orders=50,
            max_open_orders_per_symbol=20,
            max_orders_per_second=d("5"),
            order_burst=10,
            min_free_balance_margin_bps=d("10"),
            volatility_scaling=VolatilityScaling(reference_vol=d("0.6"), floor_factor=d("0.25")),
            max_data_staleness_ms=5_000,
            # "manual": orders placed by operators through the API (same risk path as any strategy)
            strategy_allocations={"demo": d("50000"), "manual": d("20000")},
            proposed_by="system",
            approved_by=None,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: Decimals as strings, nested scaling as an object."""
        data: dict[str, Any] = {}
        for spec in dataclasses.fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, Decimal):
                data[spec.name] = str(value)
            elif isinstance(value, Mapping):
                data[spec.name] = {key: str(amount) for key, amount in sorted(value.items())}
            elif isinstance(value, VolatilityScaling):
                data[spec.name] = {
                    "reference_vol": str(value.reference_vol),
                    "floor_factor": str(value.floor_factor),
                }
            else:
                data[spec.name] = value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RiskLimits:
        """Parse ``to_dict``'s output (Decimals as strings or ints; DynamoDB numbers accepted)."""
        if not isinstance(data, Mapping):
            raise LimitsValidationError("(document)", f"must be a mapping, got {type(data).__name__}")
        known = {spec.name: spec for spec in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise LimitsValidationError(unknown[0], "unknown field")
        kwargs: dict[str, Any] = {}
        for name, spec in known.items():
            if name not in data:
                if spec.default is dataclasses.MISSING:
                    raise LimitsValidationError(name, "missing")
                continue
            kwargs[name] = _parse_field(name, data[name])
        return cls(**kwargs)


_INT_FIELDS = frozenset(
    {"version", "max_open_orders", "max_open_orders_per_symbol", "order_burst", "max_data_staleness_ms"}
)
_MAPPING_FIELDS = frozenset({"max_order_quantity", "max_position_notional", "strategy_allocations"})


def _parse_decimal(field: str, raw: Any) -> Decimal:
    if isinstance(raw, float):
        raise LimitsValidationError(field, f"floats are refused, pass the exact string (got {raw!r})")
    try:
        return to_decimal(raw)
    except (TypeError, ValueError) as exc:
        raise LimitsValidationError(field, str(exc)) from None


def _parse_field(name: str, raw: Any) -> Any:
    if name in ("proposed_by", "approved_by"):
        return raw
    if name in _INT_FIELDS:
        if isinstance(raw, Decimal) and raw == raw.to_integral_value():
            return int(raw)
        return raw
    if name in _MAPPING_FIELDS:
        if not isinstance(raw, Mapping):
            raise LimitsValidationError(name, f"must be a mapping, got {type(raw).__name__}")
        return {key: _parse_decimal(f"{name}.{key}", amount) for key, amount in raw.items()}
    if name == "volatility_scaling":
        if not isinstance(raw, Mapping) or set(raw) != {"reference_vol", "floor_factor"}:
            raise LimitsValidationError(name, "must be {reference_vol, floor_factor}")
        return VolatilityScaling(
            reference_vol=_parse_decimal(f"{name}.reference_vol", raw["reference_vol"]),
            floor_factor=_parse_decimal(f"{name}.floor_factor", raw["floor_factor"]),
        )
    return _parse_decimal(name, raw)
