"""Realized volatility: an EWMA of squared log returns per unit of time, for irregularly timed prices.

For a return ``r = ln(p1 / p0)`` over ``dt`` seconds the estimator of the variance *rate* (per second)
is ``v <- w * v + (1 - w) * r**2 / dt`` with ``w = 0.5 ** (dt / half_life)``, so the decay follows
elapsed time, not the number of samples. A per-sample lambda with a nominal sampling interval maps to
``half_life = interval * ln(0.5) / ln(lambda)`` (``from_lambda``; RiskMetrics' 0.94 is the daily one).

Float arithmetic is used internally for ``ln``/``sqrt`` only: the estimate is a statistic, not money,
and every value leaving this module is a Decimal quantized to ``VOL_QUANTUM`` (1e-8). Samples closer
than ``min_interval_ms`` to the last accepted one (duplicate timestamps included) or older than it are
skipped, and the return is measured at the next accepted sample, so quote noise at millisecond spacing
does not inflate the rate. Prices must be Decimals > 0.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal

VOL_QUANTUM = Decimal("0.00000001")
SECONDS_PER_YEAR = 365 * 24 * 3600


def _quantized(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(VOL_QUANTUM, rounding=ROUND_HALF_EVEN)


class EwmaVolatility:
    """EWMA realized volatility of one symbol's price; feed it with ``update(price, ts_ms)``."""

    __slots__ = (
        "_anchor_price",
        "_anchor_ts",
        "_returns",
        "_variance_rate",
        "half_life_s",
        "min_interval_ms",
        "min_returns",
    )

    def __init__(self, half_life_s: Decimal, *, min_interval_ms: int = 1_000, min_returns: int = 10) -> None:
        if not isinstance(half_life_s, Decimal) or not half_life_s.is_finite() or half_life_s <= 0:
            raise ValueError(f"half_life_s must be a finite Decimal > 0, got {half_life_s!r}")
        if isinstance(min_interval_ms, bool) or not isinstance(min_interval_ms, int) or min_interval_ms < 1:
            raise ValueError(f"min_interval_ms must be an integer >= 1, got {min_interval_ms!r}")
        if isinstance(min_returns, bool) or not isinstance(min_returns, int) or min_returns < 1:
            raise ValueError(f"min_returns must be an integer >= 1, got {min_returns!r}")
        self.half_life_s = half_life_s
        self.min_interval_ms = min_interval_ms
        self.min_returns = min_returns
        self._anchor_price: Decimal | None = None
        self._anchor_ts = 0
        self._variance_rate = 0.0
        self._returns = 0

    @classmethod
    def from_lambda(cls, decay: Decimal, sample_interval_s: Decimal, **options: int) -> EwmaVolatility:
        """The estimator whose weight decays by ``decay`` per ``sample_interval_s`` (e.g. 0.94 per day)."""
        if not isinstance(decay, Decimal) or not 0 < decay < 1:
            raise ValueError(f"decay must be a Decimal in (0, 1), got {decay!r}")
        if not isinstance(sample_interval_s, Decimal) or not sample_interval_s > 0:
            raise ValueError(f"sample_interval_s must be a Decimal > 0, got {sample_interval_s!r}")
        half_life = float(sample_interval_s) * math.log(0.5) / math.log(float(decay))
        return cls(Decimal(repr(half_life)), **options)

    @property
    def returns_seen(self) -> int:
        return self._returns

    def update(self, price: Decimal, ts_ms: int) -> bool:
        """Feed one price at ``ts_ms`` (epoch ms); returns whether it moved the estimate or anchor."""
        if not isinstance(price, Decimal) or not price.is_finite() or price <= 0:
            raise ValueError(f"price must be a finite Decimal > 0, got {price!r}")
        if isinstance(ts_ms, bool) or not isinstance(ts_ms, int):
            raise TypeError(f"ts_ms must be an int (epoch ms), got {ts_ms!r}")
        if self._anchor_price is None:
            self._anchor_price, self._anchor_ts = price, ts_ms
            return True
        elapsed_ms = ts_ms - self._anchor_ts
        if elapsed_ms < self.min_interval_ms:
            return False
        dt = elapsed_ms / 1000.0
        log_return = math.log(float(price / self._anchor_price))
        sample_rate = log_return * log_return / dt
        if self._returns == 0:
            self._variance_rate = sample_rate
        else:
            weight = 0.5 ** (dt / float(self.half_life_s))
            self._variance_rate = weight * self._variance_rate + (1.0 - weight) * sample_rate
        self._returns += 1
        self._anchor_price, self._anchor_ts = price, ts_ms
        return True

    def per_sqrt_second(self) -> Decimal | None:
        """Volatility per square-root second, or None until ``min_returns`` returns were seen."""
        if self._returns < self.min_returns:
            return None
        return _quantized(math.sqrt(self._variance_rate))

    def annualized(self) -> Decimal | None:
        """Volatility over a 365-day year (crypto trades around the clock), or None while warming up."""
        if self._returns < self.min_returns:
            return None
        return _quantized(math.sqrt(self._variance_rate * SECONDS_PER_YEAR))
