"""The protection rules: which OCO a position needs, on the venue's grids, and when to resize or cancel it."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeops.domain.ids import CLIENT_ORDER_ID_PATTERN, OrderLeg
from tradeops.domain.protection import (
    ActionKind,
    ProtectedPosition,
    ProtectionError,
    allocate_close,
    decide,
    leg_ids,
    list_client_order_id,
    parse_leg_id,
    plan_for,
    validate_targets,
)
from tradeops.domain.values import Instrument, Side

SOL = Instrument(
    symbol="SOL/USDT",
    venue_symbol="SOLUSDT",
    base="SOL",
    quote="USDT",
    tick_size=Decimal("0.01"),
    step_size=Decimal("0.001"),
    min_qty=Decimal("0.001"),
    max_qty=Decimal("9000"),
    min_notional=Decimal("5"),
)
SLIP = Decimal("0.1")


def long(**changes: object) -> ProtectedPosition:
    base = ProtectedPosition("i-1", "demo", "SOL/USDT", Side.BUY, Decimal("139.995"), Decimal("160.005"))
    return replace(base, **changes)  # type: ignore[arg-type]


def test_ids_are_deterministic_distinct_per_generation_and_valid_binance_ids() -> None:
    lists = [list_client_order_id("i-1", g) for g in range(5)]
    assert lists == [list_client_order_id("i-1", g) for g in range(5)]
    assert len(set(lists)) == 5 and list_client_order_id("i-2", 0) not in lists
    for list_cid in lists:
        stop, take_profit = leg_ids(list_cid)
        for cid in (list_cid, stop, take_profit):
            assert CLIENT_ORDER_ID_PATTERN.match(cid), cid
        assert parse_leg_id(stop) == (list_cid, OrderLeg.STOP)
        assert parse_leg_id(take_profit) == (list_cid, OrderLeg.TAKE_PROFIT)
    assert parse_leg_id(list_cid) is None
    assert parse_leg_id("someone-elses-sl") is None


def test_a_long_is_protected_by_a_sell_oco_rounded_away_from_the_entry() -> None:
    action = decide(long(entry_filled=Decimal("1.2345")), SOL, SLIP)
    assert action.kind is ActionKind.PLACE and action.cancel_list is None
    plan = action.plan
    assert plan is not None
    assert plan.side is Side.SELL
    assert plan.quantity == Decimal("1.234")  # floored onto the lot grid
    assert plan.stop_price == Decimal("139.99")  # down: further from the entry
    assert plan.take_profit_price == Decimal("160.01")  # up: further from the entry
    assert plan.stop_limit_price == Decimal("125.99")  # 10% beyond the trigger, rounded down
    assert plan.list_client_order_id == list_client_order_id("i-1", 0)


def test_a_short_is_protected_by_a_buy_oco_with_mirrored_rounding() -> None:
    short = ProtectedPosition(
        "i-s", "demo", "SOL/USDT", Side.SELL, Decimal("160.005"), Decimal("139.995"), entry_filled=Decimal(2)
    )
    plan = plan_for(short, Decimal(2), SOL, SLIP)
    assert plan.side is Side.BUY
    assert (plan.stop_price, plan.take_profit_price) == (Decimal("160.01"), Decimal("139.99"))
    assert plan.stop_limit_price == Decimal("176.02")  # 10% above the trigger, rounded up


def test_stop_and_take_profit_must_lie_on_the_protective_sides() -> None:
    validate_targets(Side.BUY, Decimal(90), Decimal(110), Decimal(100))
    validate_targets(Side.SELL, Decimal(110), Decimal(90), Decimal(100))
    for side, stop, take in (
        (Side.BUY, 101, 110),
        (Side.BUY, 90, 99),
        (Side.SELL, 90, 110),
        (Side.SELL, 110, 101),
    ):
        with pytest.raises(ProtectionError):
            validate_targets(side, Decimal(stop), Decimal(take), Decimal(100))
    with pytest.raises(ProtectionError):
        long(stop_loss=Decimal(170))
    with pytest.raises(ProtectionError):
        ProtectedPosition("i", "demo", "SOL/USDT", Side.SELL, Decimal(90), Decimal(110))


def test_a_further_fill_replaces_the_live_oco_with_the_new_total() -> None:
    first = decide(long(entry_filled=Decimal(1)), SOL, SLIP).plan
    assert first is not None
    placed = long(entry_filled=Decimal(1)).with_placed(first).with_entry_fill(Decimal("0.5"))
    action = decide(placed, SOL, SLIP)
    assert action.kind is ActionKind.REPLACE
    assert action.cancel_list == list_client_order_id("i-1", 0)
    assert action.plan is not None and action.plan.quantity == Decimal("1.5") and action.plan.generation == 1
    assert decide(placed.without_oco().with_placed(action.plan), SOL, SLIP).kind is ActionKind.NONE


def test_closing_elsewhere_cancels_and_dust_is_not_protected() -> None:
    plan = decide(long(entry_filled=Decimal(1)), SOL, SLIP).plan
    assert plan is not None
    placed = long(entry_filled=Decimal(1)).with_placed(plan)
    closed = decide(placed.with_close(Decimal(1)), SOL, SLIP)
    assert (closed.kind, closed.reason, closed.cancel_list) == (
        ActionKind.CANCEL,
        "position closed",
        list_client_order_id("i-1", 0),
    )
    dust = decide(placed.with_close(Decimal("0.99")), SOL, SLIP)  # 0.01 SOL * 140 < 5 USDT min notional
    assert (dust.kind, dust.reason) == (ActionKind.CANCEL, "exposure below the venue's minimum")
    assert decide(long(entry_filled=Decimal("0.01")), SOL, SLIP).kind is ActionKind.NONE


def test_a_fill_of_the_live_oco_shrinks_it_without_a_resize() -> None:
    plan = decide(long(entry_filled=Decimal(2)), SOL, SLIP).plan
    assert plan is not None
    partly = long(entry_filled=Decimal(2)).with_placed(plan).with_close(Decimal("0.5"), by_live_oco=True)
    assert (partly.exposure, partly.placed) == (Decimal("1.5"), Decimal("1.5"))
    assert decide(partly, SOL, SLIP).kind is ActionKind.NONE


def test_closing_fills_are_allocated_oldest_first_and_the_rest_is_left_over() -> None:
    a = long(intent_id="a", entry_filled=Decimal(1))
    b = long(intent_id="b", entry_filled=Decimal(2))
    changed, left = allocate_close([a, b], Side.SELL, Decimal("1.5"))
    assert [(p.intent_id, p.exposure) for p in changed] == [("a", Decimal(0)), ("b", Decimal("1.5"))]
    assert left == 0
    changed, left = allocate_close([a, b], Side.SELL, Decimal(5))
    assert left == Decimal(2)
    assert allocate_close([a, b], Side.BUY, Decimal(1)) == ([], Decimal(1))  # a buy adds to longs


quantities = st.decimals(min_value=Decimal("0.001"), max_value=Decimal(50), places=3)
steps = st.lists(st.tuples(st.sampled_from(["entry", "close", "oco"]), quantities), max_size=30)


@settings(max_examples=200, deadline=None)
@given(steps)
def test_carrying_out_every_decision_keeps_the_oco_equal_to_the_protectable_exposure(
    events: list[tuple[str, Decimal]],
) -> None:
    position = long()
    for kind, quantity in events:
        if kind == "entry":
            position = position.with_entry_fill(quantity)
        elif kind == "close":
            position = position.with_close(quantity)
        elif position.placed > 0:
            position = position.with_close(min(quantity, position.placed), by_live_oco=True)
        action = decide(position, SOL, SLIP)
        if action.cancel_list is not None:
            assert action.cancel_list == position.live_list
            position = position.without_oco()
        if action.plan is not None:
            assert action.plan.generation == position.generation  # never a list id used before
            position = position.with_placed(action.plan)
        assert position.placed <= position.exposure
        assert position.placed in (Decimal(0), SOL.floor_quantity(position.exposure))
        assert decide(position, SOL, SLIP).kind is ActionKind.NONE
