"""ControlApplier on the real control table (moto): event-driven and periodic re-reads, dead-man's switch."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal

import pytest

from tradeops.config import Settings
from tradeops.domain.control import TradingState
from tradeops.domain.events import ControlChanged
from tradeops.gateway.control import ControlApplier, Transition
from tradeops.store.control import ControlStore, StrategyControl, TradingControl
from tradeops.store.provision import create_tables
from tradeops.store.tables import CONTROL

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


class Cancels:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> int:
        self.calls += 1
        return 7


async def wait_for(condition: Callable[[], bool], within_s: float) -> float:
    """Seconds until ``condition`` held; fails the test if it did not within ``within_s``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > within_s:
            pytest.fail(f"condition not met within {within_s} s")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


@pytest.fixture
def store(aws_settings: Settings) -> ControlStore:
    create_tables(aws_settings, [CONTROL])
    return ControlStore(aws_settings)


def set_state(store: ControlStore, state: TradingState, reason: str) -> None:
    current = store.trading()
    store.put_trading(
        state,
        reason=reason,
        updated_by="risk-officer",
        updated_at=int(time.time() * 1000),
        expected_version=None if current is None else current.version,
    )


async def test_halt_by_event_applies_within_a_second_and_cancels_once(store: ControlStore) -> None:
    set_state(store, TradingState.ACTIVE, "open")
    store.put_strategy(
        "demo",
        enabled=False,
        allocation=Decimal("2500"),
        updated_by="ops",
        updated_at=1,
        expected_version=None,
    )
    cancels = Cancels()
    applier = ControlApplier(store, cancels, refresh_interval_s=5.0, lost_after_s=20.0)
    transitions: list[Transition] = []
    applier.subscribe(transitions.append)
    await applier.start()
    try:
        assert applier.trading_state is TradingState.ACTIVE
        assert applier.strategy_enabled("demo") is False
        assert applier.strategy_allocation("demo") == Decimal("2500")
        set_state(store, TradingState.HALTED, "kill switch")
        applier.notify(
            ControlChanged(correlation_id="k1", key="trading", value={}, actor="risk-officer", reason="kill")
        )
        elapsed = await wait_for(lambda: applier.trading_state is TradingState.HALTED, 1.0)
        assert elapsed < 1.0
        await asyncio.sleep(0.2)
        assert cancels.calls == 1
        assert transitions[-1].cancelled_orders == 7
        assert transitions[-1].reason == "kill switch"
    finally:
        await applier.stop()


async def test_a_lost_event_is_covered_by_the_periodic_reread(store: ControlStore) -> None:
    set_state(store, TradingState.ACTIVE, "open")
    applier = ControlApplier(store, Cancels(), refresh_interval_s=0.2, lost_after_s=5.0)
    await applier.start()
    try:
        set_state(store, TradingState.REDUCING, "drawdown")  # no event sent
        assert await wait_for(lambda: applier.trading_state is TradingState.REDUCING, 1.0) < 1.0
    finally:
        await applier.stop()


class SwitchableSource:
    """The real store, until ``lose()`` swaps in a real store whose table does not exist.

    Deleting the table under concurrent reads races inside moto (its in-memory DynamoDB is not
    thread-safe) and botocore's retries of the resulting 500s outlast the test; a missing table
    gives the same real ResourceNotFound failure through the same store code, without the race.
    """

    def __init__(self, store: ControlStore, missing: ControlStore) -> None:
        self._store, self._missing, self.lost = store, missing, False

    def lose(self) -> None:
        self.lost = True

    def trading(self) -> TradingControl | None:
        return (self._missing if self.lost else self._store).trading()

    def strategies(self) -> list[StrategyControl]:
        return (self._missing if self.lost else self._store).strategies()


async def test_unreadable_control_table_halts_locally(aws_settings: Settings, store: ControlStore) -> None:
    set_state(store, TradingState.ACTIVE, "open")
    cancels = Cancels()
    missing = ControlStore(
        aws_settings.model_copy(update={"table_prefix": f"absent-{aws_settings.table_prefix}"})
    )
    source = SwitchableSource(store, missing)
    applier = ControlApplier(source, cancels, refresh_interval_s=0.1, lost_after_s=0.5)
    await applier.start()
    try:
        assert applier.trading_state is TradingState.ACTIVE
        source.lose()
        await wait_for(lambda: applier.trading_state is TradingState.HALTED, 3.0)
        assert "control table unreadable" in applier.reason
        assert cancels.calls == 1
    finally:
        await applier.stop()
