"""``GET /api/health`` and marks from the gateway status record: a live leader, then a dead one."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradeops.domain.orders import Fill
from tradeops.domain.values import Side
from tradeops.store.leases import LeaseStore
from tradeops.store.positions import PositionRecord, PositionStore
from tradeops.store.snapshots import SnapshotRecord, SnapshotStore
from tradeops.store.status import FeedStatus, GatewayStatus, StatusStore

from ._rig import ROLE_USERS, ApiRig

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
VIEWER = ROLE_USERS["viewer"]


def report(owner: str, at: int) -> GatewayStatus:
    return GatewayStatus(
        owner=owner,
        leader=True,
        ready=True,
        failing=(),
        feeds=(
            FeedStatus("BTC/USDT", "ok", 15, "primary", Decimal("30000")),
            FeedStatus("ETH/USDT", "degraded", 900, "backup", Decimal("2000")),
        ),
        clock_offset_ms=-12,
        broker_connected=True,
        updated_at=at,
    )


def test_a_live_leader_then_a_dead_one(api_rig: ApiRig, monkeypatch: pytest.MonkeyPatch) -> None:
    settings, now = api_rig.settings, api_rig.services.clock_ms()
    monkeypatch.setattr(api_rig.services, "clock_ms", lambda: now)  # staleness judged at a fixed instant
    lease = LeaseStore(settings).acquire("gateway", "gw-a", 60_000, now)
    assert lease is not None
    StatusStore(settings).put(report("gw-a", now))
    account = settings.account
    PositionStore(settings).put(
        PositionRecord(account, "BTC/USDT", Decimal("0.5"), Decimal("29000"), Decimal(3), now)
    )
    snapshots = SnapshotStore(settings)
    for ts, equity in ((now - 3000, "100000"), (now - 2000, "100900"), (now - 1000, "100400")):
        amounts = {"equity": Decimal(equity), "cash": Decimal("85000"), "realized_pnl": Decimal(3)}
        snapshots.put(
            SnapshotRecord(
                account,
                ts,
                **amounts,
                unrealized_pnl=Decimal(500),
                gross_exposure=Decimal(15000),
                net_exposure=Decimal(15000),
            )
        )

    status, health = api_rig.call("GET", "/api/health", user=VIEWER)
    assert status == 200
    gateway = health["gateway"]
    assert (gateway["leader"], gateway["ready"], gateway["stale"]) == ("gw-a", True, False)
    assert health["feeds"] == [
        {"symbol": "BTC/USDT", "state": "OK", "staleness_ms": 15, "source": "primary"},
        {"symbol": "ETH/USDT", "state": "DEGRADED", "staleness_ms": 900, "source": "backup"},
    ]
    assert health["clock"] == {"offset_ms": -12} and health["broker"] == {"connected": True}

    status, positions = api_rig.call("GET", "/api/positions", user=VIEWER)
    btc = next(p for p in positions["items"] if p["symbol"] == "BTC/USDT")
    assert (btc["mark_price"], btc["unrealized_pnl"]) == ("30000", "500.0")
    status, portfolio = api_rig.call("GET", "/api/portfolio", user=VIEWER)
    assert portfolio["equity"] == "100400" and portfolio["high_water_mark"] == "100900"
    assert portfolio["drawdown"] == "500" and portfolio["pnl_today"] == "400"
    assert portfolio["exposure"][0] == {
        "symbol": "BTC/USDT", "quantity": "0.5", "mark_price": "30000", "notional": "15000.0"
    }  # fmt: skip

    StatusStore(settings).put(report("gw-a", now - 60_000))  # the leader stopped reporting
    status, health = api_rig.call("GET", "/api/health", user=VIEWER)
    assert status == 200
    assert health["gateway"]["stale"] is True and health["gateway"]["ready"] is False
    assert {f["state"] for f in health["feeds"]} == {"STALE"}
    assert health["broker"] == {"connected": None}
    status, positions = api_rig.call("GET", "/api/positions", user=VIEWER)
    assert all(p["mark_price"] is None for p in positions["items"])

    LeaseStore(settings).release(lease)  # no leader at all
    status, health = api_rig.call("GET", "/api/health", user=VIEWER)
    assert health["gateway"]["leader"] is None and "leader" in health["gateway"]["failing"]


def test_trades_list_newest_first_across_symbols(api_rig: ApiRig) -> None:
    from tradeops.store.fills import FillStore

    fills = FillStore(api_rig.settings)
    for n, symbol in enumerate(["BTC/USDT", "ETH/USDT", "BTC/USDT"]):
        fills.put(Fill("toen-x", f"t{n}", symbol, Side.BUY, Decimal("1.5"), Decimal("2"), Decimal(0), "USDT",
                       5_000 + n, False))  # fmt: skip
    status, page = api_rig.call("GET", "/api/trades?from=5000&to=5002&limit=2", user=VIEWER)
    assert status == 200 and [t["trade_id"] for t in page["items"]] == ["t2", "t1"]
    status, rest = api_rig.call(
        "GET", f"/api/trades?from=5000&to=5002&cursor={page['next_cursor']}", user=VIEWER
    )
    assert [t["trade_id"] for t in rest["items"]] == ["t0"] and rest["next_cursor"] is None
