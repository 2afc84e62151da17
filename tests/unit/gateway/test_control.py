"""ControlApplier against an in-memory control source, an injected clock and a counting cancel-all."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal

import pytest

from tradeops.domain.control import TradingState
from tradeops.domain.events import ControlChanged
from tradeops.gateway.control import CancelAll, ControlApplier, Transition
from tradeops.store.control import StrategyControl, TradingControl

pytestmark = pytest.mark.timeout(20)


class FakeSource:
    """A versioned control table in memory; ``fail`` makes every read raise."""

    def __init__(self) -> None:
        self.trading_record: TradingControl | None = None
        self.strategy_records: list[StrategyControl] = []
        self.fail = False
        self.reads = 0

    def set_state(self, state: TradingState, reason: str = "test") -> None:
        version = 1 if self.trading_record is None else self.trading_record.version + 1
        self.trading_record = TradingControl(state, reason, "ops", 1, version)

    def trading(self) -> TradingControl | None:
        self.reads += 1
        if self.fail:
            raise ConnectionError("dynamodb unreachable")
        return self.trading_record

    def strategies(self) -> list[StrategyControl]:
        if self.fail:
            raise ConnectionError("dynamodb unreachable")
        return list(self.strategy_records)


class HangingSource(FakeSource):
    """Reads block until ``release`` is set (a hung DynamoDB connection)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.hang = False
        self.started = 0

    def trading(self) -> TradingControl | None:
        if self.hang:
            self.started += 1
            self.release.wait(5)
        return super().trading()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CancelCounter:
    def __init__(self, returns: int = 3) -> None:
        self.calls = 0
        self.returns = returns
        self.fail_next = 0

    async def __call__(self) -> int:
        self.calls += 1
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("venue down")
        return self.returns


def state(applier: ControlApplier) -> TradingState:
    """Read through a call so mypy does not narrow the property across awaits."""
    return applier.trading_state


@pytest.fixture
def source() -> FakeSource:
    return FakeSource()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cancel() -> CancelCounter:
    return CancelCounter()


def make(source: FakeSource, cancel: CancelAll, clock: Clock, **kwargs: object) -> ControlApplier:
    return ControlApplier(
        source,
        cancel,
        refresh_interval_s=0.05,
        lost_after_s=5.0,
        monotonic=clock,
        now_ms=lambda: 42,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_halted_until_first_read_then_table_state(
    source: FakeSource, cancel: CancelCounter, clock: Clock
) -> None:
    applier = make(source, cancel, clock)
    assert state(applier) is TradingState.HALTED
    assert not applier.loaded
    source.set_state(TradingState.ACTIVE)
    await applier.refresh()
    assert applier.loaded
    assert state(applier) is TradingState.ACTIVE
    assert cancel.calls == 0


async def test_missing_record_uses_missing_state(
    source: FakeSource, cancel: CancelCounter, clock: Clock
) -> None:
    applier = make(source, cancel, clock, missing_state=TradingState.REDUCING)
    await applier.refresh()
    assert state(applier) is TradingState.REDUCING


async def test_halt_cancels_exactly_once_per_transition(
    source: FakeSource, cancel: CancelCounter, clock: Clock
) -> None:
    applier = make(source, cancel, clock)
    seen: list[Transition] = []
    applier.subscribe(seen.append)
    source.set_state(TradingState.ACTIVE)
    await applier.refresh()
    source.set_state(TradingState.HALTED, "kill switch")
    for _ in range(3):
        await applier.refresh()
    assert cancel.calls == 1
    assert applier.last_cancelled == 3
    halt = seen[-1]
    assert (halt.previous, halt.current, halt.cancelled_orders) == (
        TradingState.ACTIVE,
        TradingState.HALTED,
        3,
    )
    assert halt.reason == "kill switch" and halt.version == 2
    source.set_state(TradingState.ACTIVE)
    await applier.refresh()
    source.set_state(TradingState.HALTED, "again")
    await applier.refresh()
    assert cancel.calls == 2
    assert applier.halts == 2


async def test_halted_at_startup_cancels_once(
    source: FakeSource, cancel: CancelCounter, clock: Clock
) -> None:
    source.set_state(TradingState.HALTED)
    applier = make(source, cancel, clock)
    await applier.refresh()
    await applier.refresh()
    assert state(applier) is TradingState.HALTED
    assert cancel.calls == 1


async def test_failed_cancel_is_retried_until_it_succeeds(
    source: FakeSource, cancel: CancelCounter, clock: Clock
) -> None:
    cancel.fail_next = 2
    source.set_state(TradingState.HALTED)
    applier = make(source, cancel, clock)
    seen: list[Transition] = []
    applier.subscribe(seen.append)
    await applier.refresh()
    assert seen[-1].cancelled_orders is None
    await applier.refresh()
    await applier.refresh()
    await applier.refresh()
    assert cancel.calls == 3  # two failures, one success, then nothing more
    assert applier.last_cancelled == 3


async def test_reducing_is_told_to_subscribers_sync_and_async(
    source: FakeSource, cancel: CancelCounter, clock: Clock
) -> None:
    applier = make(source, cancel, clock)
    sync_seen: list[TradingState] = []
    async_seen: list[TradingState] = []

    async def record(transition: Transition) -> None:
        async_seen.append(transition.current)

    def broken(_: Transition) -> None:
        raise RuntimeError("subscriber bug")

    applier.subscribe(broken)
    applier.subscribe(lambda t: sync_seen.append(t.current))
    applier.subscribe(record)
    source.set_state(TradingState.ACTIVE)
    await applier.refresh()
    source.set_state(TradingState.REDUCING, "breach")
    await applier.refresh()
    assert sync_seen == async_seen == [TradingState.ACTIVE, TradingState.REDUCING]
    assert cancel.calls == 0


async def test_a_stale_read_never_rolls_back_a_newer_version(
    source: FakeSource, cancel: CancelCounter, clock: Clock
) -> None:
    applier = make(source, cancel, clock)
    source.trading_record = TradingControl(TradingState.HALTED, "kill", "ops", 1, 5)
    await applier.refresh()
    source.trading_record = TradingControl(TradingState.ACTIVE, "old", "ops", 1, 4)
    await applier.refresh()
    assert state(applier) is TradingState.HALTED


async def test_strategy_flags_and_allocations(
    source: FakeSource, cancel: CancelCounter, clock: Clock
) -> None:
    applier = make(source, cancel, clock)
    source.strategy_records = [
        StrategyControl("demo", False, Decimal("5000"), "ops", 1, 2),
        StrategyControl("trend", True, None, "ops", 1, 1),
    ]
    await applier.refresh()
    assert applier.strategy_enabled("demo") is False
    assert applier.strategy_allocation("demo") == Decimal("5000")
    assert applier.strategy_enabled("trend") is True
    assert applier.strategy_allocation("trend") is None
    assert applier.strategy_enabled("unknown") is True
    assert applier.strategy_allocation("unknown") is None
    source.strategy_records = [StrategyControl("demo", True, Decimal("5000"), "ops", 1, 1)]  # stale
    await applier.refresh()
    assert applier.strategy_enabled("demo") is False
    strict = make(source, cancel, clock, strategies_enabled_by_default=False)
    assert strict.strategy_enabled("unknown") is False


async def test_unreadable_table_halts_after_lost_after_and_recovers(
    source: FakeSource, cancel: CancelCounter, clock: Clock
) -> None:
    applier = make(source, cancel, clock)
    source.set_state(TradingState.ACTIVE)
    await applier.refresh()
    source.fail = True
    clock.now += 4.9
    await applier.refresh()
    assert state(applier) is TradingState.ACTIVE  # a blip is tolerated
    clock.now += 0.2
    await applier.refresh()
    assert state(applier) is TradingState.HALTED
    assert "control table unreadable" in applier.reason
    assert cancel.calls == 1
    clock.now += 10
    await applier.refresh()
    assert cancel.calls == 1
    source.fail = False
    await applier.refresh()
    assert state(applier) is TradingState.ACTIVE


async def test_unreadable_from_startup_halts_and_cancels(
    source: FakeSource, cancel: CancelCounter, clock: Clock
) -> None:
    source.fail = True
    applier = make(source, cancel, clock)
    await applier.refresh()
    assert cancel.calls == 0 and not applier.loaded
    clock.now += 6
    await applier.refresh()
    assert state(applier) is TradingState.HALTED
    assert cancel.calls == 1


async def test_loss_is_visible_at_once_while_the_cancel_still_runs(source: FakeSource, clock: Clock) -> None:
    gate = asyncio.Event()

    async def slow_cancel() -> int:
        await gate.wait()
        return 1

    applier = make(source, slow_cancel, clock)
    source.set_state(TradingState.ACTIVE)
    await applier.refresh()
    lost = asyncio.create_task(applier.on_control_plane_lost("lease lost"))
    await asyncio.sleep(0)
    assert state(applier) is TradingState.HALTED
    assert not lost.done()
    gate.set()
    await lost
    assert applier.last_cancelled == 1


async def test_control_plane_lost_halts_until_restored(
    source: FakeSource, cancel: CancelCounter, clock: Clock
) -> None:
    applier = make(source, cancel, clock)
    source.set_state(TradingState.ACTIVE)
    await applier.refresh()
    await applier.on_control_plane_lost("lease lost")
    assert state(applier) is TradingState.HALTED
    assert "lease lost" in applier.reason
    assert cancel.calls == 1
    await applier.refresh()  # the table says ACTIVE, the local halt still wins
    assert state(applier) is TradingState.HALTED
    await applier.on_control_plane_lost("lease lost again")
    assert cancel.calls == 1
    await applier.on_control_plane_restored()
    assert state(applier) is TradingState.ACTIVE


async def test_event_triggers_immediate_reread_and_timer_covers_a_lost_event(
    source: FakeSource, cancel: CancelCounter, clock: Clock
) -> None:
    applier = ControlApplier(source, cancel, refresh_interval_s=10.0, lost_after_s=30.0, monotonic=clock)
    source.set_state(TradingState.ACTIVE)
    await applier.start()
    try:
        source.set_state(TradingState.HALTED, "kill switch")
        event = ControlChanged(
            correlation_id="c1", key="trading", value={"state": "HALTED"}, actor="ops", reason="kill"
        )
        applier.notify(event)
        for _ in range(100):
            if state(applier) is TradingState.HALTED:
                break
            await asyncio.sleep(0.01)
        assert state(applier) is TradingState.HALTED
        assert cancel.calls == 1
    finally:
        await applier.stop()

    periodic_source = FakeSource()
    periodic = make(periodic_source, CancelCounter(), clock)
    periodic_source.set_state(TradingState.ACTIVE)
    await periodic.start()
    try:
        periodic_source.set_state(TradingState.REDUCING)  # no event: the 50 ms timer must pick it up
        await asyncio.sleep(0.3)
        assert periodic.trading_state is TradingState.REDUCING
    finally:
        await periodic.stop()


async def test_a_hung_read_counts_as_a_failure_and_is_not_doubled(
    cancel: CancelCounter, clock: Clock
) -> None:
    source = HangingSource()
    source.set_state(TradingState.ACTIVE)
    applier = ControlApplier(
        source, cancel, refresh_interval_s=0.05, lost_after_s=5.0, read_timeout_s=0.05, monotonic=clock
    )
    await applier.refresh()
    source.hang = True
    try:
        await applier.refresh()
        clock.now += 6
        await applier.refresh()
        await applier.refresh()
        assert state(applier) is TradingState.HALTED
        assert cancel.calls == 1
        assert source.started == 1  # later refreshes did not start more blocked threads
    finally:
        source.release.set()
    source.hang = False
    for _ in range(50):
        await applier.refresh()
        if state(applier) is TradingState.ACTIVE:
            break
        await asyncio.sleep(0.01)
    assert state(applier) is TradingState.ACTIVE


async def test_a_hung_cancel_is_bounded_and_retried(source: FakeSource, clock: Clock) -> None:
    calls = {"n": 0}

    async def cancel_all() -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            await asyncio.sleep(10)
        return 2

    source.set_state(TradingState.HALTED)
    applier = make(source, cancel_all, clock, cancel_timeout_s=0.05)
    await applier.refresh()
    assert (calls["n"], applier.halts) == (1, 0)
    await applier.refresh()
    assert (calls["n"], applier.halts, applier.last_cancelled) == (2, 1, 2)


def test_rejects_bad_intervals(source: FakeSource, cancel: CancelCounter) -> None:
    with pytest.raises(ValueError):
        ControlApplier(source, cancel, refresh_interval_s=2, lost_after_s=1)
    with pytest.raises(ValueError):
        ControlApplier(source, cancel, read_timeout_s=0)
