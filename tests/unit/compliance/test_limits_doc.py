"""The flat limits map round-trips RiskLimits and refuses invalid changes naming the field."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from tradeops.change_management.limits_doc import apply_changes, diff, flatten_limits, limits_from_flat
from tradeops.domain.limits import LimitsValidationError, RiskLimits


def test_flatten_round_trips() -> None:
    limits = RiskLimits.default_for_demo()
    flat = flatten_limits(limits)
    assert flat["max_order_quantity.BTC/USDT"] == D("0.5")
    assert flat["volatility_scaling.floor_factor"] == D("0.25")
    assert flat["order_burst"] == D(10)
    assert "version" not in flat and "proposed_by" not in flat
    rebuilt = limits_from_flat(flat, version=1, proposed_by="system", approved_by=None)
    assert rebuilt == limits


def test_apply_changes_and_diff() -> None:
    base = flatten_limits(RiskLimits.default_for_demo())
    after = apply_changes(base, {"max_order_notional": D(15000), "max_order_quantity.XRP/USDT": D(10)})
    assert diff(base, after) == {
        "max_order_notional": {"from": "20000", "to": "15000"},
        "max_order_quantity.XRP/USDT": {"from": None, "to": "10"},
    }


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"max_order_notional": D(-1)}, "max_order_notional"),
        ({"price_collar_bps": D(10_000)}, "price_collar_bps"),
        ({"order_burst": D("2.5")}, "order_burst"),
        ({"volatility_scaling.floor_factor": D(2)}, "volatility_scaling.floor_factor"),
        ({"max_position_notional.BTC/USDT": D(0)}, "max_position_notional.BTC"),
        ({"no_such_limit": D(1)}, "no_such_limit"),
        ({"volatility_scaling.other": D(1)}, "volatility_scaling.other"),
        ({"max_order_notional": D("NaN")}, "max_order_notional"),
    ],
)
def test_invalid_changes_name_the_field(changes: dict[str, D], field: str) -> None:
    base = flatten_limits(RiskLimits.default_for_demo())
    with pytest.raises(LimitsValidationError) as raised:
        apply_changes(base, changes)
    assert raised.value.field.startswith(field)


def test_an_incomplete_document_names_the_missing_field() -> None:
    with pytest.raises(LimitsValidationError) as raised:
        apply_changes({}, {"max_order_notional": D(1)})
    assert raised.value.field == "price_collar_bps" and "missing" in str(raised.value)
