"""The positions projection on moto: replayed from fills, advanced by new fills, the same after a restart."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import pytest

from tradeops.config import Settings
from tradeops.domain.orders import Fill
from tradeops.domain.values import Side
from tradeops.gateway.positions import PositionProjector
from tradeops.store.fills import FillStore
from tradeops.store.positions import PositionRecord, PositionStore
from tradeops.store.provision import create_tables
from tradeops.store.tables import FILLS, POSITIONS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
SYMBOL = "SOL/USDT"


def fill(trade_id: str, side: Side, quantity: str, price: str, ts: int) -> Fill:
    return Fill("cid-1", trade_id, SYMBOL, side, D(price), D(quantity), D(0), "USDT", ts, False)


@pytest.fixture
def stores(aws_settings: Settings) -> tuple[FillStore, PositionStore]:
    create_tables(aws_settings, (FILLS, POSITIONS))
    return FillStore(aws_settings), PositionStore(aws_settings)


def projector(stores: tuple[FillStore, PositionStore]) -> PositionProjector:
    return PositionProjector(*stores, "main", [SYMBOL, "BTC/USDT"], flush_interval_s=0.05)


async def test_positions_follow_the_fills_and_survive_a_restart(
    stores: tuple[FillStore, PositionStore],
) -> None:
    fills, positions = stores
    for f in (fill("t2", Side.BUY, "1", "110", 2), fill("t1", Side.BUY, "1", "100", 1)):
        fills.put(f)
    first = projector(stores)
    await first.load()
    stored = positions.get("main", SYMBOL)
    assert stored is not None and (stored.quantity, stored.avg_entry_price) == (D(2), D(105))
    flat = positions.get("main", "BTC/USDT")
    assert flat is not None and flat.quantity == 0 and flat.avg_entry_price is None

    loop = asyncio.create_task(first.run())
    sell = fill("t3", Side.SELL, "0.5", "120", 3)
    fills.put(sell)
    first.on_fill(sell)
    first.on_fill(sell)  # the same venue trade twice changes nothing
    await asyncio.sleep(0.3)
    loop.cancel()
    await asyncio.gather(loop, return_exceptions=True)
    after = positions.get("main", SYMBOL)
    assert after is not None
    assert (after.quantity, after.avg_entry_price, after.realized_pnl) == (D("1.5"), D(105), D("7.5"))

    restarted = projector(stores)  # a new leader rebuilds the same numbers from the same fills
    await restarted.load()
    again = positions.get("main", SYMBOL)
    assert again is not None and (again.quantity, again.realized_pnl) == (after.quantity, after.realized_pnl)


async def test_an_older_write_never_replaces_a_newer_one(stores: tuple[FillStore, PositionStore]) -> None:
    fills, positions = stores
    positions.put(PositionRecord("main", SYMBOL, D(9), D(1), D(0), updated_at=10**15))
    fills.put(fill("t1", Side.BUY, "1", "100", 1))
    stale = PositionProjector(*stores, "main", [SYMBOL], clock_ms=lambda: 5)
    await stale.load()  # a deposed leader's late flush: refused by the store, logged, not raised
    kept = positions.get("main", SYMBOL)
    assert kept is not None and kept.quantity == D(9)
