"""Reconciliation diff benchmark (issue 7): ``domain.reconcile.diff`` throughput and its growth, pure.

A consistent desk of 100,000 orders on 50 symbols (so 50 positions): every fifth order filled in one
trade (20,000 fills and trades), 5% still open, the rest cancelled; local balances and positions derived
from the fills as the gateway derives them. Ten executionReports are dropped (the venue has the trade,
the journal does not), so every run must name exactly those ten MISSING_FILL breaks: the diff is proven
to have compared, not just iterated. Sizes 10k / 25k / 50k / 100k are prefixes of the same desk (fills
and trades scale with them) and are timed round-robin, ``ROUNDS`` times each, median per size, so load
from other processes spreads over all sizes. Each run's CPU time (``process_time``: what other processes'
load disturbs least) and wall time are taken; the figures judged are the CPU medians, the wall ones are
shown beside them. Reported: orders/s per size (goal >= 200,000/s at 100k) and time per order at 100k
over 10k (1.0 is linear). ``BENCH_RECONCILE_ORDERS`` sets the largest size.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from tradeops.domain.ids import client_order_id
from tradeops.domain.orders import Fill, Order, OrderState
from tradeops.domain.reconcile import (
    BreakClass,
    LocalBook,
    VenueBalance,
    VenueOrderReport,
    VenueReport,
    VenueTrade,
    balance_delta,
    diff,
    net_positions,
)
from tradeops.domain.values import OrderType, Side

if TYPE_CHECKING:
    from .conftest import Report

pytestmark = pytest.mark.bench
D = Decimal
T0 = 1_700_000_000_000
LARGEST = int(os.environ.get("BENCH_RECONCILE_ORDERS", "100000"))
SIZES = sorted({max(1, LARGEST * share // 100) for share in (10, 25, 50, 100)})
SYMBOLS = tuple(f"X{n:02d}/USDT" for n in range(50))
DROPPED_REPORTS = 10
ROUNDS = 5
GOAL_ORDERS_PER_S = 200_000


@dataclass(frozen=True)
class Record:
    """One order on both sides: the journal's order and fills, the venue's report and trades."""

    order: Order
    fills: tuple[Fill, ...]
    report: VenueOrderReport
    trades: tuple[VenueTrade, ...]


def build_records(count: int) -> list[Record]:
    """``count`` orders, each consistent on both sides except the dropped executionReports."""
    records = []
    filled = 0
    drop_every = max(1, SIZES[0] // 5 // DROPPED_REPORTS)  # all dropped reports fall in the smallest size
    for n in range(count):
        at = T0 + n * 10
        symbol, side = SYMBOLS[(n // 5) % len(SYMBOLS)], Side.BUY if n % 3 else Side.SELL
        coid, venue_id = client_order_id(f"intent-{n}"), str(1_000_000 + n)
        price, qty = D("100.00") + n % 7, D("0.5")
        order = (
            Order.new(client_order_id=coid, intent_id=f"intent-{n}", strategy="demo", symbol=symbol,
                      side=side, type=OrderType.LIMIT, quantity=qty, limit_price=price, created_at=at)
            .transition(OrderState.SUBMITTING, at)
            .with_venue_order_id(venue_id, at)
            .transition(OrderState.OPEN, at)
        )  # fmt: skip
        fills: tuple[Fill, ...] = ()
        trades: tuple[VenueTrade, ...] = ()
        if n % 5 == 0:  # filled in one trade
            trade = VenueTrade(
                f"t{n}", coid, venue_id, symbol, side, price, qty, D("0.001"), "BNB", True, at + 1
            )
            trades = (trade,)
            status = "FILLED"
            if filled % drop_every == 0 and filled // drop_every < DROPPED_REPORTS:
                fills = ()  # the executionReport was dropped: the journal still has the order OPEN
            else:
                fills = (trade.to_fill(coid),)
                order, _ = order.apply_fill(fills[0])
            filled += 1
        elif n % 20 == 1:  # still working
            status = "NEW"
        else:
            status = "CANCELED"
            order = order.transition(OrderState.CANCELING, at + 1).transition(OrderState.CANCELED, at + 1)
        executed = qty if trades else D(0)
        report = VenueOrderReport(coid, venue_id, symbol, side, "LIMIT", status, qty, executed, price, at + 1)
        records.append(Record(order, fills, report, trades))
    return records


def desk(records: list[Record]) -> tuple[LocalBook, VenueReport]:
    """The journal's book and the venue's report of ``records`` (balances derived from the trades)."""
    start = {asset: D(1_000_000) for asset in ("USDT", "BNB", *(s.split("/")[0] for s in SYMBOLS))}
    local, venue = defaultdict(Decimal, start), defaultdict(Decimal, start)
    fills = tuple(fill for record in records for fill in record.fills)
    trades = tuple(trade for record in records for trade in record.trades)
    for fill in fills:
        for asset, amount in balance_delta(fill).items():
            local[asset] += amount
    for trade in trades:
        for asset, amount in balance_delta(trade.to_fill(trade.client_order_id or "")).items():
            venue[asset] += amount
    reports = tuple(record.report for record in records)
    last = max(record.report.update_time for record in records)
    read_at = dict.fromkeys(start, T0 - 10_000)  # the balances baseline, read before any trade
    book = LocalBook(tuple(r.order for r in records), fills, net_positions(fills), dict(local), read_at)
    report = VenueReport(
        as_of=last + 60_000,
        since=T0,
        symbols=frozenset(SYMBOLS),
        open_orders=tuple(r for r in reports if r.status == "NEW"),
        recent_orders=reports,
        trades=trades,
        balances={asset: VenueBalance(total, D(0)) for asset, total in venue.items()},
    )
    return book, report


def test_reconcile_diff_throughput_and_growth(report: Report) -> None:
    records = build_records(SIZES[-1])
    inputs = {size: desk(records[:size]) for size in SIZES}
    wall: dict[int, list[float]] = {size: [] for size in SIZES}
    cpu: dict[int, list[float]] = {size: [] for size in SIZES}
    diff(*inputs[SIZES[0]])  # warm-up
    for _ in range(ROUNDS):
        for size in SIZES:
            book, venue = inputs[size]
            expected = sum(1 for record in records[:size] if record.trades and not record.fills)
            gc.collect()
            started, started_cpu = time.perf_counter(), time.process_time()
            result = diff(book, venue)
            cpu[size].append(time.process_time() - started_cpu)
            wall[size].append(time.perf_counter() - started)
            classes = [b.break_class for b in result.breaks]
            assert classes == [BreakClass.MISSING_FILL] * expected, classes[:20]
    cpu_s = {size: statistics.median(samples) for size, samples in cpu.items()}
    wall_s = {size: statistics.median(samples) for size, samples in wall.items()}
    largest, smallest = SIZES[-1], SIZES[0]
    book, venue = inputs[largest]
    shape = f"{largest:,} / {len(venue.trades):,} / {len(book.positions)}"
    report("orders / venue trades / positions (largest)", shape, f"{len(book.fills):,} fills journaled")
    report("breaks found per run (dropped reports)", f"{DROPPED_REPORTS}", "MISSING_FILL each, every run")
    for size in SIZES:
        runs = f"{min(wall[size]) * 1e3:.0f}-{max(wall[size]) * 1e3:.0f} ms"
        spread = f"wall {size / wall_s[size]:,.0f}/s (runs {runs})"
        report(f"diff orders/s at {size:,}, CPU time", f"{size / cpu_s[size]:,.0f}", spread)
    rate = largest / cpu_s[largest]
    met = "met" if rate >= GOAL_ORDERS_PER_S else "NOT met"
    report(
        f"orders/s at {largest:,} (CPU, median of {ROUNDS})",
        f"{rate:,.0f}",
        f"goal >= {GOAL_ORDERS_PER_S:,}/s: {met}",
    )
    growth = (cpu_s[largest] / largest) / (cpu_s[smallest] / smallest)
    wall_growth = (wall_s[largest] / largest) / (wall_s[smallest] / smallest)
    report(
        f"time per order {largest:,} vs {smallest:,} (CPU)",
        f"{growth:.2f}x",
        f"1.0 = linear; wall {wall_growth:.2f}x",
    )
    assert all(m > 0 for m in wall_s.values()) and 0 < growth < 1_000
