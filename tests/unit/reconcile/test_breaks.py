"""One test per break class, on the drills of issue 7, plus the rules that keep the diff safe."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from tradeops.domain.events import ReconciliationBreak
from tradeops.domain.orders import TRANSITIONS, OrderState
from tradeops.domain.reconcile import (
    BalanceTolerance,
    Break,
    BreakClass,
    BreakSubject,
    Grace,
    LocalBook,
    OrderQuery,
    ProposedAction,
    ReconciliationResult,
    Tolerances,
    VenueBalance,
    VenueOrderReport,
    alerts,
    diff,
    safe_actions,
)
from tradeops.domain.values import Severity, Side

from ._desk import SYMBOL, T0, Desk, apply_safe

D = Decimal
C, A = BreakClass, ProposedAction


def only(result: ReconciliationResult) -> Break:
    assert len(result.breaks) == 1, [(b.break_class, dict(b.evidence)) for b in result.breaks]
    return result.breaks[0]


def test_consistent_desk_is_clean() -> None:
    desk = Desk()
    a, b, c = desk.submit("i-1"), desk.submit("i-2", Side.SELL, "0.5", "31000"), desk.submit("i-3")
    desk.trade(a, "0.4")
    desk.trade(a, "0.6")
    desk.trade(b, "0.2", fee="1.5", fee_asset="USDT")
    desk.cancel(c)
    result = diff(desk.book(), desk.report())
    assert result.clean and result.counts == {} and result.summary()["total"] == 0


def test_order_placed_on_the_venue_by_another_client_is_adopted_never_cancelled() -> None:
    desk = Desk()
    desk.submit("i-1")
    venue = desk.report()
    foreign = VenueOrderReport(
        "web_8f3kq", "99001", SYMBOL, Side.SELL, "LIMIT", "NEW", D("0.3"), D(0), D("35000"), T0 + 5_000
    )
    venue = replace(
        venue, open_orders=(*venue.open_orders, foreign), recent_orders=(*venue.recent_orders, foreign)
    )
    brk = only(diff(desk.book(), venue))
    assert (brk.break_class, brk.proposed_action, brk.severity) == (
        C.VENUE_ORDER_UNKNOWN_LOCALLY,
        A.ADOPT_EXTERNAL,
        Severity.WARNING,
    )
    assert not brk.safe and brk.proposed_state is None
    assert brk.subject.client_order_id == "web_8f3kq" and brk.subject.venue_order_id == "99001"
    assert brk.evidence["venue_status"] == "NEW" and brk.evidence["matches_our_id_pattern"] == "false"
    assert alerts(diff(desk.book(), venue)) == (brk,) and safe_actions(diff(desk.book(), venue)) == ()


def test_unknown_venue_order_with_our_id_pattern_is_critical() -> None:
    desk, lost = Desk(), Desk()
    lost_id = lost.submit("i-lost")
    desk.submit("i-1")
    venue = desk.report()
    lost_report = replace(lost.venue_orders[lost_id], venue_order_id="55555")
    venue = replace(venue, recent_orders=(*venue.recent_orders, lost_report))
    brk = only(diff(desk.book(), venue))
    assert brk.break_class is C.VENUE_ORDER_UNKNOWN_LOCALLY and brk.severity is Severity.CRITICAL
    assert brk.evidence["matches_our_id_pattern"] == "true"


@pytest.mark.parametrize("qty", ["0.4", "1"])
def test_dropped_execution_report_is_one_missing_fill(qty: str) -> None:
    desk = Desk()
    coid = desk.submit("i-1")
    dropped = desk.trade(coid, qty, local=False)
    brk = only(diff(desk.book(), desk.report()))
    assert (brk.break_class, brk.proposed_action, brk.safe) == (C.MISSING_FILL, A.IMPORT_FILL, True)
    assert brk.fill == dropped and brk.subject.trade_id == dropped.trade_id
    assert brk.evidence["venue_qty"] == qty and brk.evidence["local_state"] == "OPEN"


def test_trade_younger_than_the_settle_period_is_not_yet_a_break() -> None:
    desk = Desk()
    desk.trade(desk.submit("i-1"), "0.4", local=False)
    assert diff(desk.book(), desk.report(after=1_000)).clean
    assert only(diff(desk.book(), desk.report(after=5_000))).break_class is C.MISSING_FILL


def test_order_cancelled_on_the_venue_side_applies_the_proven_state() -> None:
    desk = Desk()
    coid = desk.submit("i-1")
    desk.trade(coid, "0.25")
    desk.cancel(coid, local=False)
    brk = only(diff(desk.book(), desk.report()))
    assert (brk.break_class, brk.proposed_action, brk.proposed_state) == (
        C.STATE_MISMATCH,
        A.APPLY_VENUE_STATE,
        OrderState.CANCELED,
    )
    assert brk.proven and brk.safe and brk.venue_order == desk.venue_orders[coid]
    assert OrderState.CANCELED in TRANSITIONS[desk.orders[coid].state]
    assert brk.evidence["local_state"] == "PARTIALLY_FILLED" and brk.evidence["venue_status"] == "CANCELED"


def test_terminal_local_order_is_never_moved_backwards() -> None:
    desk = Desk()
    coid = desk.submit("i-1")
    desk.cancel(coid)
    desk.venue_orders[coid] = replace(desk.venue_orders[coid], status="NEW")
    brk = only(diff(desk.book(), desk.report()))
    assert (brk.break_class, brk.proposed_action, brk.severity) == (
        C.STATE_MISMATCH,
        A.ALERT_ONLY,
        Severity.CRITICAL,
    )
    assert brk.proposed_state is None and not brk.safe


def test_deposit_is_a_balance_mismatch() -> None:
    desk = Desk()
    desk.trade(desk.submit("i-1"), "0.5")
    desk.venue_balances["USDT"] += D("2500")
    brk = only(diff(desk.book(), desk.report()))
    assert (brk.break_class, brk.proposed_action, brk.subject.asset) == (
        C.BALANCE_MISMATCH,
        A.ALERT_ONLY,
        "USDT",
    )
    assert brk.severity is Severity.WARNING and D(brk.evidence["difference"]) == 2500
    desk.venue_balances["USDT"] -= D("5000")  # money gone that we cannot explain is critical
    assert only(diff(desk.book(), desk.report())).severity is Severity.CRITICAL


def test_fee_and_dust_within_tolerance_are_not_breaks() -> None:
    desk = Desk()
    desk.trade(desk.submit("i-1"), "1", fee="0.00075")
    desk.venue_balances["BNB"] -= D("0.00000003")  # fee rounding on the venue
    desk.venue_balances["USDT"] += D("0.004")  # quote dust
    tolerances = Tolerances(
        balances={"BNB": BalanceTolerance(absolute=D("0.0000001"))},
        default_balance=BalanceTolerance(absolute=D("0.00000001"), relative=D("0.00000001")),
    )
    assert diff(desk.book(), desk.report(), tolerances=tolerances).clean
    assert {b.subject.asset for b in diff(desk.book(), desk.report()).breaks} == {"BNB", "USDT"}
    desk.venue_balances["BNB"] -= D("0.001")
    assert only(diff(desk.book(), desk.report(), tolerances=tolerances)).subject.asset == "BNB"


class TestSubmitThenTimeoutDroppedByTheVenue:
    """The submit timed out (UNKNOWN) and the venue never received the order."""

    def desk(self) -> tuple[Desk, str]:
        desk = Desk()
        coid = desk.submit("i-lost")
        desk.orders[coid] = replace(desk.orders[coid], state=OrderState.UNKNOWN, venue_order_id=None)
        del desk.venue_orders[coid]
        return desk, coid

    def test_absent_order_is_queried_first(self) -> None:
        desk, coid = self.desk()
        brk = only(diff(desk.book(), desk.report(after=10_000)))
        assert (brk.break_class, brk.proposed_action) == (C.LOCAL_OPEN_ORDER_UNKNOWN_TO_VENUE, A.QUERY_ORDER)
        assert brk.proposed_state is None and brk.subject.client_order_id == coid

    def test_not_found_before_the_grace_period_is_not_terminal(self) -> None:
        desk, coid = self.desk()
        desk.queries.append(OrderQuery(coid, desk.clock + 10_000))
        brk = only(diff(desk.book(), desk.report(after=20_000)))
        assert brk.proposed_action is A.QUERY_ORDER and brk.proposed_state is None and not brk.proven
        assert brk.evidence["not_found_at"] == str(desk.clock + 10_000)

    def test_past_grace_without_query_evidence_is_unproven(self) -> None:
        desk, _ = self.desk()
        brk = only(diff(desk.book(), desk.report(after=120_000)))
        assert brk.proposed_action is A.QUERY_ORDER
        assert brk.proposed_state is OrderState.REJECTED and not brk.proven

    def test_not_found_after_the_grace_period_resolves_to_rejected(self) -> None:
        desk, coid = self.desk()
        created = desk.orders[coid].created_at
        desk.queries += [OrderQuery(coid, created + 10_000), OrderQuery(coid, created + 61_000)]
        brk = only(diff(desk.book(), desk.report(after=120_000), grace=Grace(not_found_ms=60_000)))
        assert (brk.break_class, brk.proposed_action) == (C.UNKNOWN_ORDER_RESOLVABLE, A.APPLY_VENUE_STATE)
        assert brk.proposed_state is OrderState.REJECTED and brk.proven and brk.safe
        assert OrderState.REJECTED in TRANSITIONS[OrderState.UNKNOWN]
        healed = apply_safe(desk.book(), (brk,))
        assert diff(healed, desk.report(after=120_000)).clean

    def test_acknowledged_order_not_found_is_an_alert_not_a_terminal_state(self) -> None:
        desk, coid = self.desk()
        desk.orders[coid] = replace(desk.orders[coid], state=OrderState.OPEN)
        desk.queries.append(OrderQuery(coid, desk.clock + 90_000))
        brk = only(diff(desk.book(), desk.report(after=120_000)))
        assert (brk.break_class, brk.proposed_action, brk.proposed_state) == (
            C.LOCAL_OPEN_ORDER_UNKNOWN_TO_VENUE, A.ALERT_ONLY, None,
        )  # fmt: skip

    def test_unknown_after_a_cancel_timeout_is_never_called_rejected(self) -> None:
        desk, coid = self.desk()
        desk.orders[coid] = replace(desk.orders[coid], venue_order_id="10001")  # acknowledged before
        desk.queries.append(OrderQuery(coid, desk.clock + 90_000))
        brk = only(diff(desk.book(), desk.report(after=120_000)))
        assert brk.proposed_action is A.ALERT_ONLY and brk.proposed_state is None
        unproven = only(diff(desk.book(), replace(desk.report(after=120_000), queries=())))
        assert unproven.proposed_action is A.QUERY_ORDER and unproven.proposed_state is OrderState.EXPIRED

    def test_fresh_submission_is_not_expected_on_the_venue_yet(self) -> None:
        desk, _ = self.desk()
        assert diff(desk.book(), desk.report(after=1_000)).clean


def test_unknown_order_found_on_the_venue_is_resolvable() -> None:
    desk = Desk()
    coid = desk.submit("i-1")
    desk.orders[coid] = replace(desk.orders[coid], state=OrderState.UNKNOWN, venue_order_id=None)
    venue = desk.report()
    venue = replace(
        venue,
        open_orders=(),
        recent_orders=(),
        queries=(OrderQuery(coid, venue.as_of, desk.venue_orders[coid]),),
    )
    brk = only(diff(desk.book(), venue))
    assert (brk.break_class, brk.proposed_action, brk.proposed_state) == (
        C.UNKNOWN_ORDER_RESOLVABLE,
        A.APPLY_VENUE_STATE,
        OrderState.OPEN,
    )
    assert brk.evidence["venue_order_id"] == desk.venue_orders[coid].venue_order_id
    assert diff(apply_safe(desk.book(), (brk,)), venue).clean


def test_fill_quantity_differs_from_the_venue_trade() -> None:
    desk = Desk()
    coid = desk.submit("i-1")
    fill = desk.trade(coid, "0.5")
    desk.fills[-1] = replace(fill, quantity=D("0.4"))
    result = diff(desk.book(), desk.report())
    brk = next(b for b in result.breaks if b.break_class is C.FILL_QUANTITY_MISMATCH)
    assert brk.subject.trade_id == fill.trade_id and brk.evidence["local_qty"] == "0.4"
    assert brk.proposed_action is A.ALERT_ONLY and result.counts[C.FILL_QUANTITY_MISMATCH] == 1


def test_executed_quantity_without_trades_to_import_is_an_alert() -> None:
    desk = Desk()
    coid = desk.submit("i-1")
    desk.trade(coid, "1", local=False)
    venue = replace(desk.report(), trades=(), since=desk.clock + 1)  # trade before the window
    result = diff(desk.book(), venue)
    assert result.counts == {C.STATE_MISMATCH: 1, C.FILL_QUANTITY_MISMATCH: 1, C.BALANCE_MISMATCH: 3}
    state = next(b for b in result.breaks if b.break_class is C.STATE_MISMATCH)
    assert state.proposed_state is OrderState.FILLED and state.proven
    quantity = next(b for b in result.breaks if b.break_class is C.FILL_QUANTITY_MISMATCH)
    assert (
        quantity.evidence["venue_executed"] == "1" and quantity.evidence["local_filled_after_imports"] == "0"
    )


def test_venue_trade_that_would_overfill_is_not_imported() -> None:
    desk = Desk()
    coid = desk.submit("i-1", qty="1")
    desk.trade(coid, "1")
    extra = replace(desk.trades[-1], trade_id="77777", qty=D("0.1"))
    venue = replace(desk.report(), trades=(*desk.trades, extra))
    result = diff(desk.book(), venue)
    assert not any(b.proposed_action is A.IMPORT_FILL for b in result.breaks)
    assert any(
        b.break_class is C.FILL_QUANTITY_MISMATCH and b.subject.trade_id == "77777" for b in result.breaks
    )


def test_local_fill_the_venue_never_reported_is_an_alert() -> None:
    desk = Desk()
    coid = desk.submit("i-1")
    desk.trade(coid, "0.5")
    desk.trades.clear()
    desk.venue_orders[coid] = replace(desk.venue_orders[coid], status="NEW", executed_qty=D(0))
    result = diff(
        desk.book(), desk.report(), tolerances=Tolerances(default_balance=BalanceTolerance(absolute=D(10**9)))
    )
    brk = only(result)
    assert brk.break_class is C.FILL_QUANTITY_MISMATCH and brk.evidence["venue_trade"] == "absent"


def test_position_projection_drift_is_a_position_mismatch() -> None:
    desk = Desk()
    desk.trade(desk.submit("i-1"), "0.5")
    drifted = replace(desk.book(), positions={SYMBOL: D("0.7")})
    brk = only(diff(drifted, desk.report()))
    assert (brk.break_class, brk.proposed_action, brk.subject.symbol) == (
        C.POSITION_MISMATCH,
        A.ALERT_ONLY,
        SYMBOL,
    )
    assert brk.evidence["local_position"] == "0.7" and brk.evidence["position_from_local_fills"] == "0.5"
    assert diff(drifted, desk.report(), tolerances=Tolerances(position=D("0.2"))).clean


def test_missing_fill_is_not_also_a_position_or_balance_break() -> None:
    desk = Desk()
    coid = desk.submit("i-1")
    desk.trade(coid, "0.5", local=False)
    desk.trade(coid, "0.5", local=False)
    result = diff(desk.book(), desk.report())
    assert result.counts == {C.MISSING_FILL: 2}


def test_break_ids_are_stable_and_events_validate() -> None:
    desk = Desk()
    a, b = desk.submit("i-1"), desk.submit("i-2")
    desk.trade(a, "0.5", local=False)
    desk.cancel(b, local=False)
    desk.venue_balances["BTC"] += D(1)
    first = diff(desk.book(), desk.report())
    book = desk.book()
    shuffled = LocalBook(book.orders[::-1], book.fills[::-1], book.positions, book.balances)
    second = diff(shuffled, replace(desk.report(after=90_000), trades=tuple(reversed(desk.trades))))
    assert [x.break_id for x in first.breaks] == [x.break_id for x in second.breaks]
    assert len({x.break_id for x in first.breaks}) == 3
    for brk in first.breaks:
        event = ReconciliationBreak(event_id="e-1", correlation_id="c-1", **brk.event_fields())
        assert event.break_id == brk.break_id and all(isinstance(v, str) for v in event.evidence.values())
    summary = first.summary()
    assert summary["by_class"] == {"STATE_MISMATCH": 1, "MISSING_FILL": 1, "BALANCE_MISMATCH": 1}
    assert (summary["safe"], summary["alerts"]) == (2, 1)


def test_applying_safe_actions_leaves_no_safe_actions() -> None:
    desk = Desk()
    a, b, c = desk.submit("i-1"), desk.submit("i-2", Side.SELL), desk.submit("i-3")
    desk.trade(a, "0.3", local=False)
    desk.trade(a, "0.7", local=False)
    desk.trade(b, "0.2")
    desk.cancel(b, local=False)
    desk.trade(c, "0.1", local=False)
    venue = desk.report()
    first = diff(desk.book(), venue)
    assert first.counts == {C.STATE_MISMATCH: 1, C.MISSING_FILL: 3} and not alerts(first)
    healed = apply_safe(desk.book(), safe_actions(first))
    again = diff(healed, venue)
    assert safe_actions(again) == () and again.clean
    assert diff(healed, venue).summary() == again.summary()


def test_inputs_refuse_floats_and_inconsistent_values() -> None:
    with pytest.raises(ValueError):
        VenueOrderReport("x", "1", SYMBOL, Side.BUY, "LIMIT", "WORKING", D(1), D(0), D(1), 0)
    with pytest.raises(ValueError):
        VenueOrderReport("x", "1", SYMBOL, Side.BUY, "LIMIT", "NEW", D(1), D(2), D(1), 0)
    with pytest.raises(ValueError):
        VenueBalance(0.5, D(0))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Break(
            C.MISSING_FILL,
            BreakSubject(symbol=SYMBOL, client_order_id="x"),
            {},
            Severity.INFO,
            A.APPLY_VENUE_STATE,
        )
    with pytest.raises(ValueError):
        Break(
            C.MISSING_FILL, BreakSubject(symbol=SYMBOL, client_order_id="x"), {}, Severity.INFO, A.IMPORT_FILL
        )
