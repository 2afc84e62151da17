"""SnapshotWriter with an in-memory sink: correct marks, skip on a missing price, bounded cadence."""

from __future__ import annotations

import asyncio
import itertools
import threading
from decimal import Decimal

import pytest

from tradeops.domain.orders import Fill
from tradeops.domain.portfolio import Portfolio
from tradeops.domain.values import Side
from tradeops.gateway.snapshots import SnapshotWriter, needed_symbols
from tradeops.store.snapshots import SnapshotRecord

pytestmark = pytest.mark.timeout(20)

D = Decimal


class MemorySink:
    def __init__(self) -> None:
        self.records: list[SnapshotRecord] = []
        self.fail = False
        self.delay_s = 0.0
        self.lock = threading.Lock()

    def put(self, snapshot: SnapshotRecord) -> None:
        if self.delay_s:
            threading.Event().wait(self.delay_s)
        if self.fail:
            raise ConnectionError("dynamodb throttled")
        with self.lock:
            self.records.append(snapshot)


def portfolio_with_btc() -> Portfolio:
    portfolio = Portfolio("USDT", {"USDT": D("1000")})
    portfolio.apply_fill(Fill("c1", "t1", "BTC/USDT", Side.BUY, D("100"), D("2"), D("0"), "USDT", 1, False))
    return portfolio


def test_needed_symbols_cover_positions_and_cash_assets() -> None:
    portfolio = Portfolio("USDT", {"USDT": D("10"), "ETH": D("1")})
    portfolio.apply_fill(Fill("c1", "t1", "BTC/USDT", Side.BUY, D("100"), D("1"), D("0"), "USDT", 1, False))
    assert needed_symbols(portfolio) == ["BTC/USDT", "ETH/USDT"]


async def test_writes_marked_totals() -> None:
    sink = MemorySink()
    mids = {"BTC/USDT": D("110")}
    writer = SnapshotWriter(portfolio_with_btc(), mids.get, sink, account="main", now_ms=lambda: 5_432)
    record = await writer.write_once()
    assert record == SnapshotRecord(
        account="main",
        ts=5_000,
        equity=D("1020"),  # 800 cash + 2 BTC at 110
        cash=D("800"),
        realized_pnl=D("0"),
        unrealized_pnl=D("20"),
        gross_exposure=D("220"),
        net_exposure=D("220"),
    )
    assert sink.records == [record]
    assert writer.last_snapshot is not None
    assert writer.last_snapshot.positions["BTC/USDT"].gross_exposure == D("220")


async def test_missing_price_skips_instead_of_writing_a_wrong_equity() -> None:
    sink = MemorySink()
    mids: dict[str, Decimal] = {}
    writer = SnapshotWriter(portfolio_with_btc(), mids.get, sink, account="main", now_ms=lambda: 1_000)
    assert await writer.write_once() is None
    assert sink.records == [] and writer.skipped == 1
    mids["BTC/USDT"] = D("0")  # a non-positive mid is no price either
    assert await writer.write_once() is None

    def lookup_fails(symbol: str) -> Decimal | None:
        raise KeyError(symbol)

    failing = SnapshotWriter(portfolio_with_btc(), lookup_fails, sink, account="main", now_ms=lambda: 1)
    assert await failing.write_once() is None
    assert sink.records == []


async def test_flat_portfolio_needs_no_price_and_closed_positions_need_none() -> None:
    sink = MemorySink()
    portfolio = portfolio_with_btc()
    portfolio.apply_fill(Fill("c2", "t2", "BTC/USDT", Side.SELL, D("120"), D("2"), D("0"), "USDT", 2, False))
    writer = SnapshotWriter(lambda: portfolio, lambda _s: None, sink, account="main", now_ms=lambda: 2_000)
    record = await writer.write_once()
    assert record is not None
    assert (record.equity, record.realized_pnl, record.gross_exposure) == (D("1040"), D("40"), D("0"))


async def test_write_failure_is_counted_and_not_raised() -> None:
    sink = MemorySink()
    sink.fail = True
    writer = SnapshotWriter(portfolio_with_btc(), {"BTC/USDT": D("100")}.get, sink, account="a")
    assert await writer.write_once() is None
    assert writer.failed == 1 and writer.last_snapshot is None


async def test_loop_writes_once_per_interval_and_never_bursts_when_late() -> None:
    sink = MemorySink()
    sink.delay_s = 0.12  # each write takes longer than two intervals
    writer = SnapshotWriter(
        portfolio_with_btc(), {"BTC/USDT": D("100")}.get, sink, account="a", interval_s=0.05
    )
    writer.start()
    await asyncio.sleep(0.6)
    await writer.stop()
    await writer.stop()
    stamps = [record.ts for record in sink.records]
    assert 2 <= len(stamps) <= 6  # at most one write in flight, missed ticks are not caught up
    assert stamps == sorted(set(stamps))
    assert all(later - earlier >= 100 for earlier, later in itertools.pairwise(stamps))


async def test_loop_cadence_on_time() -> None:
    sink = MemorySink()
    writer = SnapshotWriter(
        portfolio_with_btc(), {"BTC/USDT": D("100")}.get, sink, account="a", interval_s=0.05
    )
    writer.start()
    with pytest.raises(RuntimeError):
        writer.start()
    await asyncio.sleep(0.5)
    await writer.stop()
    count = len(sink.records)
    assert 4 <= count <= 11
    assert all(record.ts % 50 == 0 for record in sink.records)
    await asyncio.sleep(0.1)
    assert len(sink.records) == count  # stopped means stopped


def test_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError):
        SnapshotWriter(Portfolio("USDT"), lambda _s: None, MemorySink(), account="")
    with pytest.raises(ValueError):
        SnapshotWriter(Portfolio("USDT"), lambda _s: None, MemorySink(), account="a", interval_s=0)
