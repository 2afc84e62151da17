"""Exchange clock: NTP-style offset to the venue's time, applied to ccxt's signed timestamps.

:class:`OffsetEstimator` is pure: it keeps the minimum-round-trip sample of a burst of
``(t0 local send, server time, t1 local receive)`` samples; ``offset = server - (t0 + t1) / 2`` is
exact up to half the RTT of that sample. :class:`ExchangeClock` takes the samples (ccxt
``fetch_time``, GET /api/v3/time), refreshes them periodically, applies the offset to ccxt exchanges
(Binance signs with ``nonce() = milliseconds() - options['timeDifference']``, so
``timeDifference = -offset``), raises a clock-skew event when ``|offset|`` exceeds the alert
threshold, and aggregates the exchange-event-to-receipt latency metric.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Metrics

from tradeops.domain.events import MarketDataCondition, MarketDataDegraded, Severity
from tradeops.observability import MetricUnit, emit_metric, get_logger

__all__ = ["ClockEstimate", "ClockSample", "ExchangeClock", "OffsetEstimator", "wall_ms"]

log = get_logger("tradeops.gateway")


def wall_ms() -> int:
    """Local wall-clock time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class ClockSample:
    """One exchange-time probe: local send ``t0_ms``, server time, local receive ``t1_ms``."""

    t0_ms: int
    server_ms: int
    t1_ms: int

    def __post_init__(self) -> None:
        if self.t1_ms < self.t0_ms:
            raise ValueError("a sample cannot be received before it was sent")

    @property
    def rtt_ms(self) -> int:
        return self.t1_ms - self.t0_ms

    @property
    def offset_ms(self) -> int:
        """Server time minus the local midpoint of the round trip (positive: the exchange is ahead)."""
        return round(self.server_ms - (self.t0_ms + self.t1_ms) / 2)


@dataclass(frozen=True)
class ClockEstimate:
    offset_ms: int
    rtt_ms: int
    measured_at_ms: int


class OffsetEstimator:
    """The minimum-RTT sample of a burst decides the offset (queueing delay only ever adds RTT)."""

    def __init__(self, max_rtt_ms: int = 2_000) -> None:
        self.max_rtt_ms = max_rtt_ms

    def estimate(self, samples: Iterable[ClockSample]) -> ClockEstimate | None:
        """The estimate of the best sample, or None when no sample has an acceptable round trip."""
        usable = [s for s in samples if s.rtt_ms <= self.max_rtt_ms]
        if not usable:
            return None
        best = min(usable, key=lambda s: (s.rtt_ms, -s.t1_ms))
        return ClockEstimate(best.offset_ms, best.rtt_ms, best.t1_ms)


class ExchangeClock:
    """Exchange-aligned time for signed requests, kept fresh by periodic NTP-style bursts."""

    def __init__(
        self,
        fetch_server_ms: Callable[[], Awaitable[int]],
        *,
        symbols: Iterable[str],
        on_event: Callable[[MarketDataDegraded], None],
        metrics: Metrics | None = None,
        local_ms: Callable[[], int] = wall_ms,
        samples: int = 5,
        refresh_s: float = 30.0,
        alert_ms: int = 500,
        estimator: OffsetEstimator | None = None,
    ) -> None:
        if samples < 1 or refresh_s <= 0 or alert_ms <= 0:
            raise ValueError("samples, refresh_s and alert_ms must be positive")
        self._fetch = fetch_server_ms
        self._symbols = tuple(symbols)
        self._on_event = on_event
        self._metrics = metrics
        self._local_ms = local_ms
        self._samples = samples
        self._refresh_s = refresh_s
        self.alert_ms = alert_ms
        self._estimator = estimator or OffsetEstimator()
        self._exchanges: list[Any] = []
        self._skewed = False
        self._latency_max_ms = 0
        self._latency_sum_ms = 0
        self._latency_count = 0
        self.estimate: ClockEstimate | None = None

    @property
    def offset_ms(self) -> int:
        """Exchange time minus local time (0 until the first successful measurement)."""
        return self.estimate.offset_ms if self.estimate is not None else 0

    @property
    def skewed(self) -> bool:
        """Whether the last measured |offset| exceeds the alert threshold."""
        return self._skewed

    def now_ms(self) -> int:
        """Exchange-aligned epoch milliseconds (for signed timestamps)."""
        return self._local_ms() + self.offset_ms

    def attach(self, exchange: Any) -> None:
        """Keep ``exchange``'s signed timestamps aligned: ccxt binance signs ``ms - timeDifference``."""
        exchange.options["adjustForTimeDifference"] = False  # ours, not ccxt's single-sample probe
        exchange.options["timeDifference"] = -self.offset_ms
        self._exchanges.append(exchange)

    async def measure(self) -> ClockEstimate | None:
        """Take a burst of samples; apply and return the new estimate (None if every probe failed)."""
        samples: list[ClockSample] = []
        for _ in range(self._samples):
            t0 = self._local_ms()
            try:
                server = await self._fetch()
            except Exception as exc:  # a failed probe is one lost sample, never a crash
                log.warning("exchange time probe failed", extra={"error": repr(exc)})
                continue
            samples.append(ClockSample(t0, int(server), self._local_ms()))
        estimate = self._estimator.estimate(samples)
        if estimate is None:
            return None
        self._apply(estimate)
        return estimate

    def _apply(self, estimate: ClockEstimate) -> None:
        self.estimate = estimate
        for exchange in self._exchanges:
            exchange.options["timeDifference"] = -estimate.offset_ms
        skewed = abs(estimate.offset_ms) > self.alert_ms
        if skewed != self._skewed:
            self._skewed = skewed
            condition = MarketDataCondition.CLOCK_SKEW if skewed else MarketDataCondition.RECOVERED
            severity = Severity.WARNING if skewed else Severity.INFO
            log.warning(
                "exchange clock offset changed",
                extra={"offset_ms": estimate.offset_ms, "rtt_ms": estimate.rtt_ms, "skewed": skewed},
            )
            for symbol in self._symbols:
                self._on_event(
                    MarketDataDegraded(
                        correlation_id="exchange-clock",
                        symbol=symbol,
                        feed="clock",
                        condition=condition,
                        staleness_ms=abs(estimate.offset_ms),
                        severity=severity,
                    )
                )
        if self._metrics is not None:
            emit_metric(self._metrics, "ClockOffset", estimate.offset_ms, MetricUnit.Milliseconds)
            emit_metric(self._metrics, "ClockProbeRtt", estimate.rtt_ms, MetricUnit.Milliseconds)

    async def run(self) -> None:
        """Measure now and then every ``refresh_s`` until cancelled."""
        while True:
            await self.measure()
            await asyncio.sleep(self._refresh_s)

    def observe_event(self, exchange_ms: int, receipt_local_ms: int) -> int:
        """Record one exchange-event-to-receipt latency (exchange-aligned); returns it in ms."""
        latency = max(0, receipt_local_ms + self.offset_ms - exchange_ms)
        self._latency_max_ms = max(self._latency_max_ms, latency)
        self._latency_sum_ms += latency
        self._latency_count += 1
        return latency

    def flush_latency(self) -> tuple[float, int] | None:
        """Emit and reset the latency metrics (mean, max) of the window; None when nothing was seen."""
        if self._latency_count == 0:
            return None
        mean = self._latency_sum_ms / self._latency_count
        peak = self._latency_max_ms
        self._latency_max_ms = self._latency_sum_ms = self._latency_count = 0
        if self._metrics is not None:
            emit_metric(self._metrics, "EventToReceiptLatencyMean", mean, MetricUnit.Milliseconds)
            emit_metric(self._metrics, "EventToReceiptLatencyMax", peak, MetricUnit.Milliseconds)
        return mean, peak
