"""Reconciling during trading: what one side records a moment before the other is not a break yet.

The positions projection is written behind the fills (the gateway flushes it after recording them), so
a snapshot can hold fills the stored position does not count yet; the diff waits for the settle period
before calling that a POSITION_MISMATCH, and still reports at once a drift no young fill explains.
Likewise an order sent (or filled) after our snapshot was read waits for the settle period, and a
balance is compared only with the trades made before the venue read it (those made while it was read,
or about when our baseline was read, may count either way).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from tradeops.domain.orders import Order
from tradeops.domain.reconcile import BreakClass, Grace, LocalBook, VenueBalance, VenueReport, diff

from ._desk import SYMBOL, Desk

D = Decimal
SETTLE = Grace().settle_ms


def busy_desk() -> tuple[Desk, Decimal]:
    """Two fills on one symbol a moment ago; returns the desk and the position before them (0.5)."""
    desk = Desk()
    desk.trade(desk.submit("i-old"), "0.5")
    desk.tick(60_000)
    desk.trade(desk.submit("i-a"), "0.25")
    desk.trade(desk.submit("i-b"), "0.125")
    return desk, D("0.5")


def test_projection_lacking_young_fills_in_any_order_is_not_yet_a_break() -> None:
    desk, before = busy_desk()
    book = desk.book()
    for counted in (before, before + D("0.125"), before + D("0.25"), before + D("0.375")):
        lagging = replace(book, positions={SYMBOL: counted})
        assert diff(lagging, desk.report(after=SETTLE // 2)).clean, counted


def test_projection_still_lacking_fills_after_the_settle_period_is_a_break() -> None:
    desk, before = busy_desk()
    lagging = replace(desk.book(), positions={SYMBOL: before + D("0.25")})
    result = diff(lagging, desk.report(after=SETTLE))
    assert result.counts == {BreakClass.POSITION_MISMATCH: 1}
    assert result.breaks[0].evidence["difference"] == "-0.125"


def test_drift_no_young_fill_explains_is_a_break_at_once() -> None:
    desk, before = busy_desk()
    for drifted in (before + D("0.1"), before - D("0.25"), before + D("0.5")):
        book = replace(desk.book(), positions={SYMBOL: drifted})
        result = diff(book, desk.report(after=SETTLE // 2))
        assert result.counts == {BreakClass.POSITION_MISMATCH: 1}, drifted


def without(book: LocalBook, coid: str) -> LocalBook:
    return replace(book, orders=tuple(o for o in book.orders if o.client_order_id != coid))


def test_venue_order_sent_after_our_snapshot_waits_for_the_settle_period() -> None:
    desk = Desk()
    coid = desk.submit("i-late")
    book = without(desk.book(), coid)  # read just before the gateway journaled and sent it
    assert diff(book, desk.report(after=SETTLE // 2)).clean
    assert diff(book, desk.report(after=SETTLE)).counts == {BreakClass.VENUE_ORDER_UNKNOWN_LOCALLY: 1}
    report = desk.report(after=SETTLE // 2)
    foreign = replace(report.open_orders[0], client_order_id="manual-1")  # not an id the gateway makes
    manual = replace(report, open_orders=(foreign,), recent_orders=(foreign,))
    assert diff(book, manual).counts == {BreakClass.VENUE_ORDER_UNKNOWN_LOCALLY: 1}  # at once


def test_young_trade_on_an_order_our_snapshot_holds_as_new_is_not_yet_a_break() -> None:
    desk = Desk()
    coid = desk.submit("i-fast")
    submitted = desk.orders[coid]
    held_new = Order.new(
        client_order_id=coid,
        intent_id="i-fast",
        strategy="demo",
        symbol=SYMBOL,
        side=submitted.side,
        type=submitted.type,
        quantity=submitted.quantity,
        limit_price=submitted.limit_price,
        created_at=submitted.created_at,
    )
    desk.trade(coid, "1", local=False)  # filled before our snapshot saw it leave NEW
    rest = without(desk.book(), coid)
    book = replace(rest, orders=(*rest.orders, held_new))
    assert diff(book, desk.report(after=SETTLE // 2)).clean  # its balance effect counted, not a break
    assert BreakClass.STATE_MISMATCH in diff(book, desk.report(after=SETTLE)).counts


def read_balances_then_trade() -> tuple[Desk, VenueReport, int]:
    """A fill our journal lacks, traded just after the venue's balances were read: the report's balances
    are those from before it, its trade list has it. Returns the desk, the report and the trade time."""
    desk = Desk()
    coid = desk.submit("i-after")
    before = desk.report(after=0).balances
    fill = desk.trade(coid, "0.5", local=False)
    report = replace(desk.report(after=SETTLE // 2), balances=before)
    return desk, report, fill.ts


def test_trade_after_the_balances_were_read_is_not_expected_in_them() -> None:
    desk, report, traded = read_balances_then_trade()
    assert diff(desk.book(), replace(report, balances_read=(traded - 20, traded - 10))).clean
    assert BreakClass.BALANCE_MISMATCH in diff(desk.book(), report).counts  # read at as_of: expected


def test_trade_while_the_balances_were_read_may_be_in_them_or_not() -> None:
    desk, report, traded = read_balances_then_trade()
    during = replace(report, balances_read=(traded - 10, traded + 10))
    assert diff(desk.book(), during).clean
    assert diff(desk.book(), replace(during, balances=desk.report().balances)).clean
    deposit = {**during.balances, "USDT": VenueBalance(during.balances["USDT"].free + D(100), D(0))}
    assert diff(desk.book(), replace(during, balances=deposit)).counts == {BreakClass.BALANCE_MISMATCH: 1}


def test_fill_about_when_the_baseline_was_read_may_be_in_it_or_not() -> None:
    """Our baseline was stamped just before a buy that it in fact holds: the projection adds the buy
    after the stamp a second time. Within ``baseline_ms`` of the stamp that may be so; further away the
    stamp is trusted and the difference is a break. Likewise a buy just before the stamp that the
    baseline in fact lacks."""
    desk = Desk()
    fill = desk.trade(desk.submit("i-1"), "0.5")
    book = desk.book()
    usdt = fill.price * D("0.5")
    window = Grace().baseline_ms
    counted_twice = replace(book, balances={**book.balances, "USDT": book.balances["USDT"] - usdt})
    missed = replace(book, balances={**book.balances, "USDT": book.balances["USDT"] + usdt})
    for local, stamp in ((counted_twice, fill.ts - window), (missed, fill.ts + window)):
        near = replace(local, balances_read_at={"USDT": stamp})
        assert diff(near, desk.report()).clean
        far = replace(local, balances_read_at={"USDT": stamp - window if stamp < fill.ts else stamp + window})
        assert BreakClass.BALANCE_MISMATCH in diff(far, desk.report()).counts
        assert BreakClass.BALANCE_MISMATCH in diff(local, desk.report()).counts  # no baseline stamp


def test_fill_we_lack_traded_before_our_baseline_was_read_is_in_it_already() -> None:
    """The gateway read the venue's balances (our baseline) after a fill it had not recorded yet: the
    baseline holds the fill, so importing it must not move our balances a second time."""
    desk = Desk()
    fill = desk.trade(desk.submit("i-unrecorded"), "0.5", local=False)
    in_baseline = replace(desk.book(), balances=dict(desk.venue_balances))  # read after the fill
    read_after = {asset: fill.ts + Grace().baseline_ms + 500 for asset in desk.venue_balances}
    stamped = replace(in_baseline, balances_read_at=read_after)
    result = diff(stamped, desk.report(after=SETTLE // 2))
    assert BreakClass.BALANCE_MISMATCH not in result.counts, result.breaks
    assert BreakClass.BALANCE_MISMATCH in diff(in_baseline, desk.report(after=SETTLE // 2)).counts
