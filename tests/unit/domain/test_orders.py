"""The order state machine: the transitions table, fills, venue statuses and serialization."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeops.domain.orders import (
    TERMINAL_STATES,
    TRANSITIONS,
    VENUE_STATUS_TO_STATE,
    Fill,
    IllegalTransition,
    Order,
    OrderState,
    OverfillError,
)
from tradeops.domain.values import OrderType, Side, TimeInForce

D = Decimal
S = OrderState

EXPECTED: dict[OrderState, set[OrderState]] = {
    S.NEW: {S.DENIED, S.SUBMITTING},
    S.SUBMITTING: {S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.REJECTED, S.UNKNOWN, S.EXPIRED},
    S.OPEN: {S.PARTIALLY_FILLED, S.FILLED, S.CANCELING, S.CANCELED, S.EXPIRED},
    S.PARTIALLY_FILLED: {S.PARTIALLY_FILLED, S.FILLED, S.CANCELING, S.CANCELED, S.EXPIRED},
    S.CANCELING: {S.CANCELED, S.FILLED, S.PARTIALLY_FILLED, S.OPEN, S.UNKNOWN, S.EXPIRED},
    S.UNKNOWN: {S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED},
    S.DENIED: set(),
    S.FILLED: set(),
    S.CANCELED: set(),
    S.REJECTED: set(),
    S.EXPIRED: set(),
}


def make_order(state: OrderState = S.NEW, quantity: str = "1") -> Order:
    order = Order.new(
        client_order_id="toen-abc",
        intent_id="intent-1",
        strategy="momentum",
        symbol="BTC/USDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=D(quantity),
        limit_price=D("30000.00"),
        created_at=1_000,
    )
    path = {
        S.NEW: [],
        S.DENIED: [S.DENIED],
        S.SUBMITTING: [S.SUBMITTING],
        S.OPEN: [S.SUBMITTING, S.OPEN],
        S.PARTIALLY_FILLED: [S.SUBMITTING, S.PARTIALLY_FILLED],
        S.CANCELING: [S.SUBMITTING, S.OPEN, S.CANCELING],
        S.UNKNOWN: [S.SUBMITTING, S.UNKNOWN],
        S.FILLED: [S.SUBMITTING, S.FILLED],
        S.CANCELED: [S.SUBMITTING, S.OPEN, S.CANCELED],
        S.REJECTED: [S.SUBMITTING, S.REJECTED],
        S.EXPIRED: [S.SUBMITTING, S.EXPIRED],
    }[state]
    for step in path:
        order = order.transition(step, at=order.updated_at + 1)
    return order


def make_fill(trade_id: str, quantity: str, price: str = "30000", ts: int = 5_000) -> Fill:
    return Fill(
        "toen-abc", trade_id, "BTC/USDT", Side.BUY, D(price), D(quantity), D("0.01"), "USDT", ts, False
    )


def test_table_is_exactly_the_design() -> None:
    assert {state: set(nexts) for state, nexts in TRANSITIONS.items()} == EXPECTED
    assert set(TERMINAL_STATES) == {S.DENIED, S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED}


def test_unknown_is_never_resent_and_open_never_becomes_unknown() -> None:
    assert S.SUBMITTING not in TRANSITIONS[S.UNKNOWN]
    assert S.UNKNOWN not in TRANSITIONS[S.OPEN]


@pytest.mark.parametrize(("source", "target"), list(itertools.product(OrderState, OrderState)))
def test_every_pair_follows_the_table(source: OrderState, target: OrderState) -> None:
    order = make_order(source)
    if target in EXPECTED[source]:
        moved = order.transition(target, at=9_000, reason="why")
        assert (moved.state, moved.version, moved.updated_at, moved.reason) == (
            target,
            order.version + 1,
            9_000,
            "why",
        )
        assert order.state is source  # the original is untouched
    else:
        with pytest.raises(IllegalTransition) as info:
            order.transition(target, at=9_000)
        assert (info.value.from_state, info.value.to_state, info.value.client_order_id) == (
            source,
            target,
            "toen-abc",
        )


def test_fills_accumulate_and_average() -> None:
    order = make_order(S.OPEN, quantity="3")
    order, applied = order.apply_fill(make_fill("t1", "1", "100"))
    assert applied and order.state is S.PARTIALLY_FILLED and order.avg_fill_price == D("100")
    order, _ = order.apply_fill(make_fill("t2", "2", "130"))
    assert order.state is S.FILLED and order.filled_quantity == D(3) and order.avg_fill_price == D("120")
    assert order.remaining == 0 and order.is_terminal and order.trade_ids == {"t1", "t2"}


def test_duplicate_trade_id_is_idempotent() -> None:
    order, _ = make_order(S.OPEN, quantity="2").apply_fill(make_fill("t1", "1"))
    again, applied = order.apply_fill(make_fill("t1", "1"))
    assert again is order and not applied


def test_overfill_raises() -> None:
    order = make_order(S.OPEN, quantity="1")
    with pytest.raises(OverfillError):
        order.apply_fill(make_fill("t1", "1.5"))


@pytest.mark.parametrize("state", [S.NEW, S.DENIED, S.REJECTED])
def test_fill_on_an_order_that_never_worked_is_illegal(state: OrderState) -> None:
    with pytest.raises(IllegalTransition):
        make_order(state).apply_fill(make_fill("t1", "0.5"))


def test_late_fill_on_terminal_order_is_accounted_without_state_change() -> None:
    order = make_order(S.OPEN, quantity="2").apply_venue_status("CANCELED", D("0.5"), at=6_000)
    assert order.state is S.CANCELED and order.missing_fill_quantity == D("0.5")
    order, applied = order.apply_fill(make_fill("t1", "0.5"))
    assert applied and order.state is S.CANCELED and order.filled_quantity == D("0.5")
    assert order.missing_fill_quantity == 0


def test_fill_for_another_order_is_refused() -> None:
    other = Fill("toen-zzz", "t1", "BTC/USDT", Side.BUY, D("1"), D("1"), D("0"), "USDT", 1, True)
    with pytest.raises(ValueError, match="not for order"):
        make_order(S.OPEN).apply_fill(other)


def test_venue_status_mapping_covers_binance_statuses() -> None:
    statuses = {"NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "PENDING_CANCEL", "REJECTED", "EXPIRED"}
    assert statuses | {"EXPIRED_IN_MATCH"} <= set(VENUE_STATUS_TO_STATE)
    assert VENUE_STATUS_TO_STATE["EXPIRED_IN_MATCH"] is S.EXPIRED
    assert VENUE_STATUS_TO_STATE["PENDING_CANCEL"] is S.CANCELING


def test_venue_status_resolves_unknown_and_repeats_are_no_ops() -> None:
    order = make_order(S.UNKNOWN).apply_venue_status("NEW", D(0), at=7_000)
    assert order.state is S.OPEN
    assert order.apply_venue_status("NEW", D(0), at=8_000) is order
    progressed = order.apply_venue_status("PARTIALLY_FILLED", D("0.25"), at=8_000)
    assert progressed.state is S.PARTIALLY_FILLED and progressed.missing_fill_quantity == D("0.25")
    more = progressed.apply_venue_status("PARTIALLY_FILLED", D("0.5"), at=8_500)
    assert more.venue_filled_quantity == D("0.5") and more.version == progressed.version + 1


def test_stale_or_impossible_venue_status_raises() -> None:
    filled = make_order(S.FILLED)
    with pytest.raises(IllegalTransition):
        filled.apply_venue_status("NEW", D(0), at=9_000)
    with pytest.raises(OverfillError):
        make_order(S.OPEN).apply_venue_status("FILLED", D("2"), at=9_000)
    with pytest.raises(ValueError, match="unknown venue order status"):
        make_order(S.OPEN).apply_venue_status("TRADE", D(0), at=9_000)


def test_new_validates_order_shape() -> None:
    base: dict[str, Any] = {
        "client_order_id": "c",
        "intent_id": "i",
        "strategy": "s",
        "symbol": "BTC/USDT",
        "side": Side.SELL,
    }
    market = Order.new(**base, type=OrderType.MARKET, quantity=D("1"), created_at=1)
    assert market.time_in_force is None and market.state is S.NEW and market.version == 0
    assert Order.new(
        **base, type=OrderType.LIMIT, quantity=D(1), limit_price=D(2), created_at=1
    ).time_in_force is (TimeInForce.GTC)
    with pytest.raises(ValueError, match="limit_price"):
        Order.new(**base, type=OrderType.LIMIT, quantity=D("1"), created_at=1)
    with pytest.raises(ValueError, match="stop_price"):
        Order.new(**base, type=OrderType.STOP_LOSS_LIMIT, quantity=D(1), limit_price=D(2), created_at=1)
    with pytest.raises(ValueError, match="quantity"):
        Order.new(**base, type=OrderType.MARKET, quantity=D("0"), created_at=1)
    with pytest.raises(ValueError, match="time_in_force"):
        Order.new(**base, type=OrderType.MARKET, quantity=D(1), time_in_force=TimeInForce.IOC, created_at=1)


def test_venue_order_id_is_set_once() -> None:
    order = make_order(S.OPEN).with_venue_order_id("123", at=2_000)
    assert order.with_venue_order_id("123", at=3_000) is order
    with pytest.raises(ValueError):
        order.with_venue_order_id("456", at=3_000)


def test_dict_round_trip_with_dynamodb_numbers() -> None:
    order, _ = make_order(S.OPEN, quantity="2").apply_fill(make_fill("t1", "0.5"))
    data = order.to_dict()
    assert data["quantity"] == "2" and data["trade_ids"] == ["t1"] and data["state"] == "PARTIALLY_FILLED"
    assert Order.from_dict(data) == order
    stored = {**data, "created_at": D(data["created_at"]), "version": D(data["version"])}
    assert Order.from_dict(stored) == order
    fill = make_fill("t9", "0.1")
    assert Fill.from_dict(fill.to_dict()) == fill


# ---- property: random sequences of events never reach an illegal state silently ----


@dataclass(frozen=True)
class Step:
    kind: str  # "transition", "fill", "venue"
    state: OrderState = S.NEW
    status: str = ""
    trade_id: str = ""
    quantity: Decimal = Decimal(0)


steps = st.one_of(
    st.builds(Step, kind=st.just("transition"), state=st.sampled_from(OrderState)),
    st.builds(
        Step,
        kind=st.just("fill"),
        trade_id=st.sampled_from([f"t{i}" for i in range(6)]),
        quantity=st.sampled_from([D("0.1"), D("0.25"), D("0.5"), D("1")]),
    ),
    st.builds(
        Step,
        kind=st.just("venue"),
        status=st.sampled_from(sorted(VENUE_STATUS_TO_STATE)),
        quantity=st.sampled_from([D(0), D("0.5"), D(1), D(2)]),
    ),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(steps, max_size=30))
def test_random_event_sequences_respect_the_machine(sequence: list[Step]) -> None:
    order = make_order(S.NEW)
    applied: dict[str, Decimal] = {}
    for at, step in enumerate(sequence, start=2_000):
        before = order
        try:
            if step.kind == "transition":
                order = order.transition(step.state, at=at)
            elif step.kind == "fill":
                fill = make_fill(step.trade_id, str(step.quantity), ts=at)
                order, was_applied = order.apply_fill(fill)
                assert was_applied == (step.trade_id not in applied)
                if was_applied:
                    applied[step.trade_id] = step.quantity
            else:
                order = order.apply_venue_status(step.status, step.quantity, at=at)
        except (IllegalTransition, OverfillError):
            assert order is before
            continue
        if order is before:
            continue
        assert order.version == before.version + 1 and order.updated_at >= before.updated_at
        if before.is_terminal:
            assert order.state is before.state  # terminal states absorb
        elif order.state is not before.state or step.kind == "transition":
            assert order.state in TRANSITIONS[before.state]
        assert 0 <= order.filled_quantity <= order.quantity
        assert order.filled_quantity == sum(applied.values(), D(0))
        assert order.trade_ids == set(applied)
        assert Order.from_dict(order.to_dict()) == order
