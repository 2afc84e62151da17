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


async def test_fee_dust_is_written_and_a_failing_symbol_does_not_hold_up_the_others(
    stores: tuple[FillStore, PositionStore],
) -> None:
    fills, positions = stores
    # short 1 SOL, then a buy of exactly 1 paying its fee in SOL: flat, then the fee leaves -0.001 SOL
    # of dust with no cost basis (average 0): it is stored without an entry price, not refused
    short = fill("t1", Side.SELL, "1", "100", 1)
    cover = Fill("cid-2", "t2", SYMBOL, Side.BUY, D("99"), D("1"), D("0.001"), "SOL", 2, False)
    btc = Fill("cid-3", "t3", "BTC/USDT", Side.BUY, D("60000"), D("0.01"), D(0), "USDT", 3, False)
    projection = projector(stores)
    await projection.load()
    real_put = positions.put
    refused: list[str] = []

    def put_failing_for_btc(record: PositionRecord) -> None:
        if record.symbol == "BTC/USDT" and not refused:
            refused.append(record.symbol)
            raise RuntimeError("throttled")
        real_put(record)

    positions.put = put_failing_for_btc  # type: ignore[method-assign]
    loop = asyncio.create_task(projection.run())
    for one in (short, cover, btc):
        fills.put(one)
        projection.on_fill(one)
    await asyncio.sleep(0.4)
    loop.cancel()
    await asyncio.gather(loop, return_exceptions=True)
    dust = positions.get("main", SYMBOL)
    assert dust is not None and (dust.quantity, dust.avg_entry_price) == (D("-0.001"), None)
    held = positions.get("main", "BTC/USDT")  # its first write failed; SOL was written regardless
    assert refused == ["BTC/USDT"] and held is not None and held.quantity == D("0.01")
