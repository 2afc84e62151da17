"""The NTP-style offset estimator and the exchange clock, with synthetic samples and a fake server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeops.domain.events import MarketDataCondition, MarketDataDegraded, Severity
from tradeops.gateway.clock import ClockSample, ExchangeClock, OffsetEstimator

T0 = 1_700_000_000_000


def test_offset_of_a_symmetric_round_trip() -> None:
    sample = ClockSample(t0_ms=T0, server_ms=T0 + 3_050, t1_ms=T0 + 100)
    assert (sample.offset_ms, sample.rtt_ms) == (3_000, 100)


def test_minimum_rtt_sample_wins() -> None:
    samples = [
        ClockSample(T0, T0 + 3_400, T0 + 900),  # queued on the way back: offset looks wrong
        ClockSample(T0 + 1_000, T0 + 4_005, T0 + 1_010),  # best: rtt 10
        ClockSample(T0 + 2_000, T0 + 4_900, T0 + 2_300),
    ]
    estimate = OffsetEstimator().estimate(samples)
    assert estimate is not None and (estimate.offset_ms, estimate.rtt_ms) == (3_000, 10)


def test_samples_with_excessive_rtt_are_ignored() -> None:
    assert OffsetEstimator(max_rtt_ms=500).estimate([ClockSample(T0, T0, T0 + 600)]) is None
    assert OffsetEstimator().estimate([]) is None
    with pytest.raises(ValueError):
        ClockSample(T0 + 1, T0, T0)


@given(
    offset=st.integers(-86_400_000, 86_400_000),
    delays=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 400)), min_size=1, max_size=8),
)
def test_error_is_bounded_by_half_the_best_rtt(offset: int, delays: list[tuple[int, int]]) -> None:
    samples = []
    for i, (out, back) in enumerate(delays):
        t0 = T0 + i * 1_000
        samples.append(ClockSample(t0, t0 + out + offset, t0 + out + back))
    estimate = OffsetEstimator().estimate(samples)
    assert estimate is not None
    assert abs(estimate.offset_ms - offset) <= estimate.rtt_ms / 2 + 1
    assert estimate.rtt_ms == min(out + back for out, back in delays)


class FakeVenue:
    """A server whose time is local + skew, each probe taking ``rtt`` local ms."""

    def __init__(self, skew_ms: int, rtts: Iterator[int]) -> None:
        self.local = T0
        self.skew_ms = skew_ms
        self.rtts = rtts
        self.fail_next = 0

    def now(self) -> int:
        return self.local

    async def server_time(self) -> int:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("probe lost")
        rtt = next(self.rtts)
        self.local += rtt // 2
        server = self.local + self.skew_ms
        self.local += rtt - rtt // 2
        return server


def make_clock(venue: FakeVenue, events: list[MarketDataDegraded], **kw: Any) -> ExchangeClock:
    return ExchangeClock(
        venue.server_time, symbols=["BTC/USDT", "ETH/USDT"], on_event=events.append, local_ms=venue.now, **kw
    )


async def test_skew_is_detected_applied_to_ccxt_and_recovery_reported() -> None:
    venue = FakeVenue(-3_000, iter([40, 8, 60, 30, 20] * 3))
    events: list[MarketDataDegraded] = []
    clock = make_clock(venue, events)
    exchange = SimpleNamespace(options={"timeDifference": 0, "adjustForTimeDifference": True})
    clock.attach(exchange)
    estimate = await clock.measure()
    assert estimate is not None and estimate.offset_ms == -3_000 and estimate.rtt_ms == 8
    assert clock.skewed and clock.now_ms() == venue.local - 3_000
    # ccxt binance signs with milliseconds() - timeDifference: it must equal exchange time
    assert venue.local - exchange.options["timeDifference"] == clock.now_ms()
    assert exchange.options["adjustForTimeDifference"] is False
    assert [(e.symbol, e.condition, e.severity) for e in events] == [
        ("BTC/USDT", MarketDataCondition.CLOCK_SKEW, Severity.WARNING),
        ("ETH/USDT", MarketDataCondition.CLOCK_SKEW, Severity.WARNING),
    ]
    assert events[0].staleness_ms == 3_000 and events[0].feed == "clock"
    await clock.measure()
    assert len(events) == 2  # no repeat while still skewed
    venue.skew_ms = 100
    await clock.measure()
    assert not clock.skewed and clock.offset_ms == 100 and exchange.options["timeDifference"] == -100
    assert [e.condition for e in events[2:]] == [MarketDataCondition.RECOVERED] * 2


async def test_failed_probes_are_lost_samples_not_crashes() -> None:
    venue = FakeVenue(250, iter([10] * 10))
    events: list[MarketDataDegraded] = []
    clock = make_clock(venue, events, samples=3)
    venue.fail_next = 3
    assert await clock.measure() is None and clock.offset_ms == 0
    venue.fail_next = 2
    estimate = await clock.measure()
    assert estimate is not None and estimate.offset_ms == 250 and not clock.skewed and events == []


def test_event_to_receipt_latency_is_exchange_aligned() -> None:
    venue = FakeVenue(0, iter([]))
    clock = make_clock(venue, [])
    assert clock.flush_latency() is None
    assert clock.observe_event(T0 - 30, T0) == 30
    assert clock.observe_event(T0 - 10, T0) == 10
    assert clock.observe_event(T0 + 5, T0) == 0  # clock noise never yields a negative latency
    window = clock.flush_latency()
    assert window is not None and window[0] == pytest.approx(40 / 3) and window[1] == 30
    assert clock.flush_latency() is None


def test_invalid_configuration_is_refused() -> None:
    venue = FakeVenue(0, iter([]))
    with pytest.raises(ValueError):
        make_clock(venue, [], samples=0)


async def test_run_refreshes_periodically_until_cancelled() -> None:
    venue = FakeVenue(700, iter([10] * 100))
    events: list[MarketDataDegraded] = []
    clock = make_clock(venue, events, samples=2, refresh_s=0.01)
    task = asyncio.create_task(clock.run())
    await asyncio.sleep(0.1)
    venue.skew_ms = 0
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [e.condition for e in events] == [MarketDataCondition.CLOCK_SKEW] * 2 + [
        MarketDataCondition.RECOVERED
    ] * 2
    assert clock.offset_ms == 0
