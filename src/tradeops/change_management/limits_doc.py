"""Risk limits as the flat ``name -> Decimal`` map that proposals carry and the limits table stores.

A :class:`~tradeops.domain.limits.RiskLimits` document flattens to dotted names: scalars keep their field
name (``max_order_notional``, ``order_burst``), mapping entries become ``field.key``
(``max_order_quantity.BTC/USDT``, ``strategy_allocations.demo``) and the volatility scaling becomes
``volatility_scaling.reference_vol`` / ``volatility_scaling.floor_factor``. ``version``, ``proposed_by``
and ``approved_by`` are not part of the map: the :class:`~tradeops.store.limits.LimitVersion` holds them.
Integers are stored as integral Decimals. :func:`apply_changes` validates the result with ``RiskLimits``,
so an invalid change fails with the offending field named.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tradeops.domain.limits import LimitsValidationError, RiskLimits

_MAPPING_FIELDS = ("max_order_quantity", "max_position_notional", "strategy_allocations")
_SCALING = "volatility_scaling"
_SCALING_PARTS = ("reference_vol", "floor_factor")
_NOT_IN_MAP = frozenset({"version", "proposed_by", "approved_by"})
_SCALAR_FIELDS = frozenset(
    name
    for name in RiskLimits.__dataclass_fields__
    if name not in _NOT_IN_MAP and name not in _MAPPING_FIELDS and name != _SCALING
)


def flatten_limits(limits: RiskLimits) -> dict[str, Decimal]:
    """``limits`` as the flat map (every field but version and the identities)."""
    flat: dict[str, Decimal] = {}
    for name in sorted(_SCALAR_FIELDS):
        flat[name] = Decimal(getattr(limits, name))
    for name in _MAPPING_FIELDS:
        mapping: Mapping[str, Decimal] = getattr(limits, name)
        for key, amount in mapping.items():
            flat[f"{name}.{key}"] = amount
    flat[f"{_SCALING}.reference_vol"] = limits.volatility_scaling.reference_vol
    flat[f"{_SCALING}.floor_factor"] = limits.volatility_scaling.floor_factor
    return flat


def check_name(name: str) -> None:
    """Raise LimitsValidationError unless ``name`` is a settable flat limit name."""
    if name in _SCALAR_FIELDS:
        return
    head, dot, tail = name.partition(".")
    if dot and tail and head in _MAPPING_FIELDS:
        return
    if dot and head == _SCALING and tail in _SCALING_PARTS:
        return
    raise LimitsValidationError(name, "unknown limit name")


def limits_from_flat(
    flat: Mapping[str, Decimal], *, version: int, proposed_by: str | None, approved_by: str | None
) -> RiskLimits:
    """Rebuild (and validate) a RiskLimits document from its flat map."""
    document: dict[str, Any] = {"version": version, "proposed_by": proposed_by, "approved_by": approved_by}
    for name in _MAPPING_FIELDS:
        document[name] = {}
    scaling: dict[str, Decimal] = {}
    for name, value in flat.items():
        check_name(name)
        head, _, tail = name.partition(".")
        if head in _MAPPING_FIELDS:
            document[head][tail] = value
        elif head == _SCALING:
            scaling[tail] = value
        else:
            document[name] = value
    if scaling:
        document[_SCALING] = scaling
    return RiskLimits.from_dict(document)


def apply_changes(base: Mapping[str, Decimal], changes: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """``base`` with ``changes`` applied, validated as a whole (LimitsValidationError names the field)."""
    for name, value in changes.items():
        check_name(name)
        if not isinstance(value, Decimal) or not value.is_finite():
            raise LimitsValidationError(name, f"must be a finite Decimal, got {value!r}")
    result = {**base, **changes}
    limits_from_flat(result, version=1, proposed_by=None, approved_by=None)
    return result


def diff(before: Mapping[str, Decimal], after: Mapping[str, Decimal]) -> dict[str, dict[str, str | None]]:
    """Every name whose value differs: ``{name: {"from": old or None, "to": new or None}}`` (strings)."""
    changed: dict[str, dict[str, str | None]] = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old is None or new is None or old != new:
            changed[name] = {
                "from": None if old is None else str(old),
                "to": None if new is None else str(new),
            }
    return changed
