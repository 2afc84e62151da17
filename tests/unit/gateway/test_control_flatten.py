"""ControlApplier's kill-switch flatten: when it runs, what it may trade, once per request."""

from __future__ import annotations

import asyncio

from tradeops.domain.control import TradingState
from tradeops.domain.events import ControlChanged
from tradeops.gateway.control import ControlApplier
from tradeops.gateway.flatten_requests import flatten_scope

from .test_control import CancelCounter, Clock, FakeSource

TIMEOUT = 5.0


class Flattener:
    """Records each flatten call and the trading state pre-trade risk would read inside it."""

    def __init__(self, applier_ref: list[ControlApplier]) -> None:
        self.calls: list[str] = []
        self.seen: list[TradingState] = []
        self.fail_next = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self._applier = applier_ref

    async def __call__(self, flatten_id: str) -> int:
        self.calls.append(flatten_id)
        self.seen.append(self._applier[0].trading_state)
        await self.gate.wait()
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("venue refused")
        return 2


def flatten_event(request_id: str, version: int, *, flatten: bool = True) -> ControlChanged:
    value: dict[str, object] = {"state": "HALTED", "version": version, "request_id": request_id}
    if flatten:
        value["flatten"] = True
    return ControlChanged(correlation_id=request_id, key="trading", value=value, actor="ops", reason="kill")


def build(source: FakeSource, cancel: CancelCounter | None = None) -> tuple[ControlApplier, Flattener]:
    ref: list[ControlApplier] = []
    flattener = Flattener(ref)
    applier = ControlApplier(
        source,
        cancel or CancelCounter(),
        refresh_interval_s=0.05,
        lost_after_s=5.0,
        monotonic=Clock(),
        flatten_positions=flattener,
    )
    ref.append(applier)
    return applier, flattener


async def settle(applier: ControlApplier) -> None:
    """Refresh, then let a started flatten task finish."""
    await applier.refresh()
    task = applier.flattens.task
    if task is not None:
        await asyncio.wait_for(asyncio.shield(task), TIMEOUT)


async def test_flatten_runs_after_the_cancel_once_and_only_it_reads_halted_as_reducing() -> None:
    source, cancel = FakeSource(), CancelCounter()
    applier, flattener = build(source, cancel)
    source.set_state(TradingState.ACTIVE)
    await applier.refresh()
    source.set_state(TradingState.HALTED, "kill switch [r1]")
    applier.notify(flatten_event("r1", 2))
    await settle(applier)
    assert cancel.calls == 1
    assert flattener.calls == ["r1"]
    assert flattener.seen == [TradingState.REDUCING]  # inside the flatten's own task
    assert applier.trading_state is TradingState.HALTED  # everywhere else
    assert applier.flattened == {"r1": 2}
    applier.notify(flatten_event("r1", 2))  # a redelivery of the same request
    await settle(applier)
    assert flattener.calls == ["r1"]


async def test_flatten_waits_for_the_table_to_show_the_halt_of_its_version() -> None:
    source = FakeSource()
    applier, flattener = build(source)
    source.set_state(TradingState.ACTIVE)
    await applier.refresh()
    applier.notify(flatten_event("r2", 2))  # the event overtook the table read
    await settle(applier)
    assert flattener.calls == []
    source.set_state(TradingState.HALTED)
    await settle(applier)
    assert flattener.calls == ["r2"]


async def test_a_resume_before_the_flatten_drops_it() -> None:
    source = FakeSource()
    applier, flattener = build(source)
    source.set_state(TradingState.ACTIVE)
    await applier.refresh()
    applier.notify(flatten_event("r3", 2))
    source.set_state(TradingState.HALTED)  # version 2 ...
    source.set_state(TradingState.ACTIVE)  # ... resumed at version 3 before the gateway read it
    await settle(applier)
    source.set_state(TradingState.HALTED)  # a later halt without flatten does not revive it
    await settle(applier)
    assert flattener.calls == []


async def test_a_failed_flatten_is_retried_with_a_new_id_then_abandoned() -> None:
    source = FakeSource()
    applier, flattener = build(source)
    flattener.fail_next = 5
    source.set_state(TradingState.HALTED)
    await applier.refresh()
    applier.notify(flatten_event("r4", 1))
    for _ in range(4):
        await settle(applier)
    assert flattener.calls == ["r4", "r4-2", "r4-3"]
    assert applier.flattened == {}


async def test_no_flatten_without_the_flag_or_while_the_control_plane_is_lost() -> None:
    source = FakeSource()
    applier, flattener = build(source)
    source.set_state(TradingState.HALTED)
    await applier.refresh()
    applier.notify(flatten_event("plain", 1, flatten=False))
    await settle(applier)
    await applier.on_control_plane_lost("lease lost")
    applier.notify(flatten_event("r5", 1))
    await settle(applier)
    assert flattener.calls == []
    await applier.on_control_plane_restored()
    await settle(applier)
    assert flattener.calls == ["r5"]


async def test_a_flatten_scope_outside_a_halt_changes_nothing() -> None:
    source = FakeSource()
    applier, _ = build(source)
    source.set_state(TradingState.ACTIVE)
    await applier.refresh()
    with flatten_scope("x"):
        assert applier.trading_state is TradingState.ACTIVE
    source.set_state(TradingState.HALTED)
    await applier.refresh()
    with flatten_scope("x"):
        assert applier.trading_state is TradingState.REDUCING
    assert applier.trading_state is TradingState.HALTED
    await applier.on_control_plane_lost("table unreadable")
    with flatten_scope("x"):
        assert applier.trading_state is TradingState.HALTED  # a local halt admits nothing
