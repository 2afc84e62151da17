"""RiskLimits: demo defaults, round trip through to_dict/from_dict, validation naming the field."""

from __future__ import annotations

import json
from decimal import Decimal as D
from typing import Any

import pytest

from tradeops.domain.limits import LimitsValidationError, RiskLimits, VolatilityScaling


def test_round_trip_through_json_keeps_every_value() -> None:
    limits = RiskLimits.default_for_demo()
    document = json.loads(json.dumps(limits.to_dict()))
    assert document["max_order_notional"] == "20000"
    assert document["volatility_scaling"] == {"reference_vol": "0.6", "floor_factor": "0.25"}
    assert RiskLimits.from_dict(document) == limits


def test_demo_defaults_fit_the_demo_account() -> None:
    limits = RiskLimits.default_for_demo()
    assert limits.max_order_notional < D(100_000)  # one order never needs the whole USDT balance
    assert limits.max_order_quantity["BTC/USDT"] * 60_000 <= limits.max_order_notional * 2
    assert set(limits.max_order_quantity) == set(limits.max_position_notional)
    assert limits.rate_window_ms == 2000


@pytest.mark.parametrize(
    ("field", "bad", "expected"),
    [
        ("version", 0, "version"),
        ("max_order_notional", "-1", "max_order_notional"),
        ("max_order_notional", 1.5, "max_order_notional"),
        ("price_collar_bps", "10000", "price_collar_bps"),
        ("max_order_quantity", {"BTC/USDT": "abc"}, "max_order_quantity.BTC/USDT"),
        ("max_open_orders", True, "max_open_orders"),
        ("volatility_scaling", {"reference_vol": "0.5"}, "volatility_scaling"),
        (
            "volatility_scaling",
            {"reference_vol": "0.5", "floor_factor": "2"},
            "volatility_scaling.floor_factor",
        ),
        ("approved_by", "  ", "approved_by"),
        ("surprise", "1", "surprise"),
    ],
)
def test_invalid_documents_name_the_field(field: str, bad: Any, expected: str) -> None:
    document = RiskLimits.default_for_demo().to_dict()
    document[field] = bad
    with pytest.raises(LimitsValidationError) as caught:
        RiskLimits.from_dict(document)
    assert caught.value.field == expected


def test_missing_field_is_named() -> None:
    document = RiskLimits.default_for_demo().to_dict()
    del document["max_net_exposure"]
    with pytest.raises(LimitsValidationError, match="max_net_exposure"):
        RiskLimits.from_dict(document)


def test_dynamodb_numbers_are_accepted() -> None:
    document = RiskLimits.default_for_demo().to_dict()
    document["version"], document["max_order_notional"] = D(3), D("123.5")
    limits = RiskLimits.from_dict(document)
    assert (limits.version, limits.max_order_notional) == (3, D("123.5"))


def test_volatility_factor_scales_down_and_stops_at_the_floor() -> None:
    scaling = VolatilityScaling(reference_vol=D("0.5"), floor_factor=D("0.25"))
    assert scaling.factor(D("0.4")) == 1
    assert scaling.factor(D("1.0")) == D("0.5")
    assert scaling.factor(D("10")) == D("0.25")
    assert scaling.factor(None) == D("0.25")
