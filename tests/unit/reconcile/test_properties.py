"""Properties: a consistent book is clean; each perturbation gives exactly its breaks; healing converges."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tradeops.domain.reconcile import BreakClass, ProposedAction, alerts, diff, safe_actions
from tradeops.domain.values import Side

from ._desk import Desk, apply_safe

STEP = Decimal("0.001")


@dataclass(frozen=True)
class Plan:
    side: Side
    lots: int
    price: int
    fills: tuple[int, ...]
    cancel: bool
    fee_asset: str
    drop: tuple[bool, ...]  # per fill: was its executionReport dropped
    cancelled_by_venue: bool


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    lots = draw(st.integers(1, 1_000))
    fills: list[int] = []
    while sum(fills) < lots and draw(st.booleans()):
        fills.append(draw(st.integers(1, lots - sum(fills))))
    return Plan(
        side=draw(st.sampled_from(Side)),
        lots=lots,
        price=draw(st.integers(20_000, 40_000)),
        fills=tuple(fills),
        cancel=sum(fills) < lots and draw(st.booleans()),
        fee_asset=draw(st.sampled_from(["BNB", "USDT", "BTC"])),
        drop=tuple(draw(st.booleans()) for _ in fills),
        cancelled_by_venue=draw(st.booleans()),
    )


def build(plan_list: list[Plan], *, perturb: bool) -> tuple[Desk, int, int]:
    """Trade the plans; with ``perturb`` drop the chosen executionReports and venue-cancel live orders."""
    desk, dropped, venue_cancels = Desk(), 0, 0
    for index, plan in enumerate(plan_list):
        coid = desk.submit(f"intent-{index}", plan.side, str(plan.lots * STEP), str(plan.price))
        for lots, drop in zip(plan.fills, plan.drop, strict=True):
            fee = str((lots * STEP * Decimal("0.00075")).quantize(Decimal("0.00000001")) or STEP)
            desk.trade(
                coid, str(lots * STEP), fee=fee, fee_asset=plan.fee_asset, local=not (perturb and drop)
            )
            dropped += perturb and drop
        if plan.cancel:
            desk.cancel(coid)
        elif perturb and plan.cancelled_by_venue and sum(plan.fills) < plan.lots:
            desk.cancel(coid, local=False)
            venue_cancels += 1
    return desk, dropped, venue_cancels


@settings(max_examples=150, deadline=None)
@given(st.lists(plans(), max_size=8))
def test_consistent_book_has_no_breaks(plan_list: list[Plan]) -> None:
    desk, _, _ = build(plan_list, perturb=False)
    result = diff(desk.book(), desk.report())
    assert result.clean, result.summary()


@settings(max_examples=150, deadline=None)
@given(st.lists(plans(), max_size=8))
def test_dropped_reports_and_venue_cancels_are_exactly_their_breaks_and_heal(plan_list: list[Plan]) -> None:
    desk, dropped, venue_cancels = build(plan_list, perturb=True)
    venue = desk.report()
    first = diff(desk.book(), venue)
    expected = {BreakClass.MISSING_FILL: dropped, BreakClass.STATE_MISMATCH: venue_cancels}
    assert dict(first.counts) == {cls: n for cls, n in expected.items() if n}
    assert not alerts(first)
    assert all(
        b.proposed_action in (ProposedAction.IMPORT_FILL, ProposedAction.APPLY_VENUE_STATE)
        for b in first.breaks
    )
    assert [b.break_id for b in diff(desk.book(), venue).breaks] == [b.break_id for b in first.breaks]
    healed = apply_safe(desk.book(), safe_actions(first))
    assert diff(healed, venue).clean
