"""Exact decimals and instrument precision rules (Binance filters and ccxt markets)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeops.domain.values import (
    FilterViolationCode,
    Instrument,
    InstrumentError,
    RoundDirection,
    to_decimal,
    to_int,
)

D = Decimal

BINANCE_BTCUSDT: dict[str, Any] = {
    "symbol": "BTCUSDT",
    "status": "TRADING",
    "baseAsset": "BTC",
    "quoteAsset": "USDT",
    "filters": [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": "0.01000000",
            "maxPrice": "1000000.00000000",
            "tickSize": "0.01000000",
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": "0.00001000",
            "maxQty": "9000.00000000",
            "stepSize": "0.00001000",
        },
        {
            "filterType": "NOTIONAL",
            "minNotional": "5.00000000",
            "applyMinToMarket": True,
            "maxNotional": "9000000.00",
        },
    ],
}

CCXT_BTCUSDT: dict[str, Any] = {
    "id": "BTCUSDT",
    "symbol": "BTC/USDT",
    "base": "BTC",
    "quote": "USDT",
    "precision": {"price": 0.01, "amount": 1e-05},
    "limits": {"amount": {"min": 1e-05, "max": 9000.0}, "cost": {"min": 5.0, "max": 9000000.0}},
}


@pytest.fixture
def btc() -> Instrument:
    return Instrument.from_exchange_filters(BINANCE_BTCUSDT)


def test_to_decimal_accepts_exact_representations() -> None:
    assert to_decimal("0.1") == D("0.1")
    assert to_decimal(3) == D(3)
    assert to_decimal(D("2.50")) == D("2.50")


@pytest.mark.parametrize("value", [0.1, 1.0, True, None, [1]])
def test_to_decimal_refuses_non_exact_types(value: Any) -> None:
    with pytest.raises(TypeError):
        to_decimal(value)


def test_to_decimal_float_error_says_what_to_do() -> None:
    with pytest.raises(TypeError, match="floats are refused"):
        to_decimal(0.1)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["NaN", "inf", "-Infinity", "abc", "", D("NaN"), D("Infinity")])
def test_to_decimal_refuses_non_finite_and_garbage(value: Any) -> None:
    with pytest.raises(ValueError):
        to_decimal(value)


def test_to_int_coerces_dynamodb_numbers() -> None:
    assert to_int(D("42")) == 42
    assert to_int("7") == 7
    with pytest.raises(ValueError):
        to_int(D("1.5"))
    with pytest.raises(TypeError):
        to_int(1.0)  # type: ignore[arg-type]


def test_from_exchange_filters(btc: Instrument) -> None:
    assert (btc.symbol, btc.venue_symbol, btc.base, btc.quote) == ("BTC/USDT", "BTCUSDT", "BTC", "USDT")
    assert (btc.tick_size, btc.step_size, btc.min_qty) == (D("0.01"), D("0.00001"), D("0.00001"))
    assert (btc.max_qty, btc.min_notional) == (D("9000"), D("5"))
    assert str(btc.max_qty) == "9000"


def test_from_exchange_filters_reads_legacy_min_notional() -> None:
    info = dict(BINANCE_BTCUSDT)
    info["filters"] = [*BINANCE_BTCUSDT["filters"][:2], {"filterType": "MIN_NOTIONAL", "minNotional": "10.0"}]
    assert Instrument.from_exchange_filters(info).min_notional == D("10")


def test_from_exchange_filters_requires_price_and_lot_filters() -> None:
    info = dict(BINANCE_BTCUSDT, filters=BINANCE_BTCUSDT["filters"][1:])
    with pytest.raises(InstrumentError, match="PRICE_FILTER"):
        Instrument.from_exchange_filters(info)


def test_from_exchange_filters_refuses_float_filter_values() -> None:
    filters = [dict(BINANCE_BTCUSDT["filters"][0], tickSize=0.01), *BINANCE_BTCUSDT["filters"][1:]]
    with pytest.raises(InstrumentError, match="tickSize"):
        Instrument.from_exchange_filters(dict(BINANCE_BTCUSDT, filters=filters))


def test_from_ccxt_market_matches_exchange_filters(btc: Instrument) -> None:
    assert Instrument.from_ccxt_market(CCXT_BTCUSDT) == btc


def test_from_ccxt_market_accepts_strings_and_reports_missing_limits() -> None:
    market = dict(CCXT_BTCUSDT, precision={"price": "0.01", "amount": "0.00001"})
    assert Instrument.from_ccxt_market(market).tick_size == D("0.01")
    missing = dict(CCXT_BTCUSDT, limits={"amount": {"min": 1e-05, "max": None}})
    with pytest.raises(InstrumentError, match=r"limits\.amount\.max is missing"):
        Instrument.from_ccxt_market(missing)
    nan = dict(CCXT_BTCUSDT, precision={"price": float("nan"), "amount": 1e-05})
    with pytest.raises(InstrumentError, match=r"precision\.price"):
        Instrument.from_ccxt_market(nan)


def test_round_price_direction_is_explicit(btc: Instrument) -> None:
    assert btc.round_price(D("100.019"), RoundDirection.DOWN) == D("100.01")
    assert btc.round_price(D("100.011"), RoundDirection.UP) == D("100.02")
    assert btc.round_price(D("100.01"), RoundDirection.UP) == D("100.01")


def test_round_price_on_non_decimal_tick() -> None:
    inst = Instrument("X/Y", "XY", "X", "Y", D("0.5"), D("1"), D("1"), D("100"), D("0"))
    assert inst.round_price(D("10.74"), RoundDirection.DOWN) == D("10.5")
    assert inst.round_price(D("10.26"), RoundDirection.UP) == D("10.5")


def test_floor_quantity(btc: Instrument) -> None:
    assert btc.floor_quantity(D("0.123456789")) == D("0.12345")
    assert btc.floor_quantity(D("0.000009")) == D(0)


def test_check_reports_every_violation(btc: Instrument) -> None:
    assert btc.check(D("0.001"), D("30000.00")) == []
    codes = {v.code for v in btc.check(D("0.000015"), D("100.005"))}
    assert codes == {
        FilterViolationCode.OFF_STEP,
        FilterViolationCode.OFF_TICK,
        FilterViolationCode.BELOW_MIN_NOTIONAL,
    }
    below = btc.check(D("0.000001"), D("30000"))
    assert FilterViolationCode.BELOW_MIN_QTY in {v.code for v in below}
    above = btc.check(D("9001"), D("30000"))
    assert [v.code for v in above] == [FilterViolationCode.ABOVE_MAX_QTY]
    assert above[0].limit == D("9000") and above[0].value == D("9001")
    assert "above_max_qty" in above[0].message


def test_instrument_refuses_inconsistent_definition() -> None:
    with pytest.raises(InstrumentError):
        Instrument("BTC/USDT", "BTCUSDT", "BTC", "USDT", D("-1"), D("1"), D("1"), D("10"), D("0"))
    with pytest.raises(InstrumentError):
        Instrument("BTC/USDT", "BTCUSDT", "BTC", "USDT", D("1"), D("1"), D("10"), D("1"), D("0"))
    with pytest.raises(InstrumentError):
        Instrument("BTCUSDT", "BTCUSDT", "BTC", "USDT", D("1"), D("1"), D("1"), D("10"), D("0"))


prices = st.decimals(
    min_value=D("0.01"), max_value=D("1000000"), places=6, allow_nan=False, allow_infinity=False
)
quantities = st.decimals(
    min_value=D("0"), max_value=D("9000"), places=9, allow_nan=False, allow_infinity=False
)


@given(prices)
def test_rounded_prices_are_on_tick_and_bracket_the_input(price: Decimal) -> None:
    btc = Instrument.from_exchange_filters(BINANCE_BTCUSDT)
    down, up = btc.round_price(price, RoundDirection.DOWN), btc.round_price(price, RoundDirection.UP)
    assert down <= price <= up and up - down in (D(0), btc.tick_size)
    for rounded in (down, up):
        assert FilterViolationCode.OFF_TICK not in {v.code for v in btc.check(D("1"), rounded)}


@given(quantities)
def test_floored_quantities_pass_the_lot_rules(quantity: Decimal) -> None:
    btc = Instrument.from_exchange_filters(BINANCE_BTCUSDT)
    floored = btc.floor_quantity(quantity)
    assert floored <= quantity and quantity - floored < btc.step_size + (btc.min_qty if floored == 0 else 0)
    if floored:
        codes = {v.code for v in btc.check(floored, D("1000000"))}
        assert codes.isdisjoint({FilterViolationCode.OFF_STEP, FilterViolationCode.BELOW_MIN_QTY})
