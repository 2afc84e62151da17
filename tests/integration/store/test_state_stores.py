"""Positions, balances, control, snapshots against moto: exact decimals, versions, no time travel, TTL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tradeops.config import Settings
from tradeops.domain.control import TradingState
from tradeops.store.balances import BalanceRecord, BalanceStore
from tradeops.store.base import StaleWrite
from tradeops.store.control import ControlStore
from tradeops.store.positions import PositionRecord, PositionStore
from tradeops.store.snapshots import SnapshotRecord, SnapshotStore

pytestmark = pytest.mark.integration

D = Decimal


def test_positions_round_trip_and_never_go_back_in_time(store_settings: Settings) -> None:
    positions = PositionStore(store_settings)
    btc = PositionRecord("main", "BTCUSDT", D("0.00000001"), D("12345678.12345678"), D("-1.50"), 10)
    flat = PositionRecord("main", "ETHUSDT", D("0"), None, D("0.00"), 10)
    positions.put(btc)
    positions.put(flat)
    positions.put(PositionRecord("other", "BTCUSDT", D("1"), D("1"), D("0"), 10))
    assert positions.get("main", "BTCUSDT") == btc
    assert [str(p.realized_pnl) for p in positions.for_account("main")] == ["-1.50", "0.00"]
    newer = PositionRecord("main", "BTCUSDT", D("0.00000002"), D("12345678"), D("-1.50"), 11)
    positions.put(newer)
    with pytest.raises(StaleWrite):
        positions.put(btc)  # a delayed update from t=10
    assert positions.get("main", "BTCUSDT") == newer
    assert positions.get("main", "XRPUSDT") is None


def test_position_records_refuse_bad_input() -> None:
    with pytest.raises(TypeError):
        PositionRecord("main", "BTCUSDT", 0.1, D("1"), D("0"), 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="flat"):
        PositionRecord("main", "BTCUSDT", D("0"), D("1"), D("0"), 1)
    with pytest.raises(ValueError, match="> 0"):
        PositionRecord("main", "BTCUSDT", D("-0.001"), D("0"), D("0"), 1)
    dust = PositionRecord("main", "BTCUSDT", D("-0.001"), None, D("0"), 1)  # fee dust: no cost basis
    assert dust.avg_entry_price is None


def test_balances_round_trip_and_never_go_back_in_time(store_settings: Settings) -> None:
    balances = BalanceStore(store_settings)
    usdt = BalanceRecord("main", "USDT", D("1000.12345678"), D("0.00000001"), 5)
    balances.put(usdt)
    balances.put(BalanceRecord("main", "BTC", D("0.5"), D("0"), 5))
    assert balances.get("main", "USDT") == usdt and usdt.total == D("1000.12345679")
    assert [b.asset for b in balances.for_account("main")] == ["BTC", "USDT"]
    balances.put(BalanceRecord("main", "USDT", D("999"), D("0"), 5))  # same instant: accepted
    with pytest.raises(StaleWrite):
        balances.put(BalanceRecord("main", "USDT", D("1"), D("0"), 4))
    with pytest.raises(ValueError):
        BalanceRecord("main", "USDT", D("-1"), D("0"), 4)


def test_trading_state_is_versioned(store_settings: Settings) -> None:
    control = ControlStore(store_settings)
    assert control.trading() is None
    active = control.put_trading(
        TradingState.ACTIVE, reason="bootstrap", updated_by="system", updated_at=1, expected_version=None
    )
    assert active.version == 1 and control.trading() == active
    halted = control.put_trading(
        TradingState.HALTED, reason="kill switch", updated_by="alice", updated_at=2, expected_version=1
    )
    with pytest.raises(StaleWrite):  # bob read version 1 too
        control.put_trading(
            TradingState.ACTIVE, reason="resume", updated_by="bob", updated_at=3, expected_version=1
        )
    with pytest.raises(StaleWrite):
        control.put_trading(
            TradingState.ACTIVE, reason="again", updated_by="bob", updated_at=3, expected_version=None
        )
    with pytest.raises(ValueError, match="reason"):
        control.put_trading(
            TradingState.ACTIVE, reason=" ", updated_by="bob", updated_at=3, expected_version=2
        )
    assert control.trading() == halted and halted.version == 2


def test_strategy_flags_are_versioned(store_settings: Settings) -> None:
    control = ControlStore(store_settings)
    kwargs: dict[str, Any] = {"updated_by": "alice", "updated_at": 1}
    mm = control.put_strategy("mm", enabled=True, allocation=D("5000.00"), expected_version=None, **kwargs)
    control.put_strategy("arb", enabled=False, allocation=None, expected_version=None, **kwargs)
    off = control.put_strategy(
        "mm", enabled=False, allocation=D("5000.00"), expected_version=mm.version, **kwargs
    )
    with pytest.raises(StaleWrite):
        control.put_strategy("mm", enabled=True, allocation=None, expected_version=mm.version, **kwargs)
    assert control.strategy("mm") == off and str(off.allocation) == "5000.00"
    assert [s.strategy for s in control.strategies()] == ["arb", "mm"]
    assert control.trading() is None  # strategy records are not the trading record
    with pytest.raises(TypeError):
        control.put_strategy("mm", enabled=True, allocation=5000.0, expected_version=2, **kwargs)  # type: ignore[arg-type]


def _snapshot(ts: int, equity: str = "10000.00") -> SnapshotRecord:
    return SnapshotRecord(
        "main", ts, D(equity), D("5000"), D("1.5"), D("-0.00000001"), D("5000"), D("4999.5")
    )


def test_snapshots_carry_ttl_in_seconds_and_query_by_range(store_settings: Settings, dynamodb: Any) -> None:
    snapshots = SnapshotStore(store_settings, retention_ms=60_000)
    for i in range(6):
        snapshots.put(_snapshot(1_700_000_000_000 + i * 1_000, equity=f"{10_000 + i}.00"))
    item = dynamodb.get_item(
        TableName=store_settings.table_name(snapshots._model.SPEC),
        Key={"account": {"S": "main"}, "ts": {"N": "1700000000000"}},
    )["Item"]
    assert item["expires_at"] == {"N": str(1_700_000_060)}
    page = snapshots.between("main", ts_from=1_700_000_001_000, ts_to=1_700_000_003_000)
    assert [s.equity for s in page.items] == [D("10001.00"), D("10002.00"), D("10003.00")]
    assert page.items[0].unrealized_pnl == D("-0.00000001")
    first = snapshots.between("main", limit=4)
    rest = snapshots.between("main", limit=4, cursor=first.cursor)
    assert len(first.items) == 4 and len(rest.items) == 2 and rest.cursor is None
    # Past its TTL but not yet swept by DynamoDB: hidden when the reader says what time it is.
    live = snapshots.between("main", now_ms=1_700_000_063_500)
    assert [s.ts for s in live.items] == [1_700_000_004_000, 1_700_000_005_000]
    assert snapshots.latest("main") == _snapshot(1_700_000_005_000, equity="10005.00")
