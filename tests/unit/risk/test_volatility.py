"""EWMA realized volatility: irregular sampling, warm-up, duplicates, bad prices, Decimal output."""

from __future__ import annotations

import math
from decimal import Decimal as D

import pytest

from tradeops.domain.volatility import SECONDS_PER_YEAR, VOL_QUANTUM, EwmaVolatility


def test_constant_log_return_rate_gives_its_own_volatility_whatever_the_spacing() -> None:
    """r**2/dt is constant when |r| = sigma * sqrt(dt): the estimate is sigma for any sampling."""
    sigma = 0.0005  # per sqrt second
    estimator = EwmaVolatility(D(60), min_returns=3)
    price, ts, up = 100.0, 0, True
    assert estimator.update(D("100"), ts) is True
    for dt_ms in (1000, 5000, 2000, 30_000, 1000):
        ts += dt_ms
        price *= math.exp((1 if up else -1) * sigma * math.sqrt(dt_ms / 1000))
        up = not up
        estimator.update(D(repr(price)), ts)
    per_second = estimator.per_sqrt_second()
    assert per_second is not None and abs(per_second - D(repr(sigma))) <= D("0.00000002")
    annualized = estimator.annualized()
    assert annualized is not None and abs(float(annualized) - sigma * math.sqrt(SECONDS_PER_YEAR)) < 1e-6
    assert annualized == annualized.quantize(VOL_QUANTUM)


def test_warm_up_duplicates_and_too_close_samples_are_skipped() -> None:
    estimator = EwmaVolatility(D(60), min_interval_ms=1000, min_returns=2)
    estimator.update(D(100), 0)
    assert estimator.update(D(120), 0) is False  # duplicate timestamp
    assert estimator.update(D(120), 500) is False  # closer than min_interval_ms
    assert estimator.update(D(120), -1000) is False  # older than the anchor
    assert estimator.update(D(101), 1000) is True
    assert estimator.returns_seen == 1 and estimator.annualized() is None
    estimator.update(D(100), 2000)
    assert estimator.annualized() is not None


def test_a_jump_raises_the_estimate_and_it_decays_with_time() -> None:
    estimator = EwmaVolatility(D(30), min_returns=1)
    ts = 0
    for step in range(60):
        estimator.update(D(100) + D(step % 2) / 100, ts)
        ts += 1000
    calm = estimator.annualized()
    estimator.update(D(110), ts)
    jumped = estimator.annualized()
    for _ in range(300):
        ts += 1000
        estimator.update(D(110), ts)
    decayed = estimator.annualized()
    assert calm is not None and jumped is not None and decayed is not None
    assert jumped > 10 * calm and decayed < jumped / 30  # ten half-lives: variance / 1024


def test_from_lambda_maps_a_per_sample_decay_to_a_half_life() -> None:
    estimator = EwmaVolatility.from_lambda(D("0.94"), D(86400))
    assert abs(float(estimator.half_life_s) - 86400 * math.log(0.5) / math.log(0.94)) < 1e-6


@pytest.mark.parametrize("price", [D(0), D(-1), D("NaN"), D("Infinity")])
def test_non_positive_or_non_finite_prices_are_refused(price: D) -> None:
    with pytest.raises(ValueError, match="price must be"):
        EwmaVolatility(D(60)).update(price, 0)


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="half_life_s"):
        EwmaVolatility(D(0))
    with pytest.raises(ValueError, match="min_interval_ms"):
        EwmaVolatility(D(1), min_interval_ms=0)
    with pytest.raises(ValueError, match="decay"):
        EwmaVolatility.from_lambda(D(1), D(1))
    with pytest.raises(TypeError, match="ts_ms"):
        EwmaVolatility(D(1)).update(D(1), 1.5)  # type: ignore[arg-type]
