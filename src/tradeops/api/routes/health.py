"""``GET /api/health``: gateway leader and readiness, feeds, clock, broker, trading state, reconciliation.

The gateway part comes from the lease and the leader's status record (tradeops.store.status). A record
older than ``STALE_AFTER_MS`` (or no leader at all) means the gateway is not reporting: ``stale`` true,
``ready`` false, every feed STALE and broker connectivity unknown: a dead gateway shows as dead.
"""

from __future__ import annotations

from tradeops.api import responses as r
from tradeops.api.context import GATEWAY_LEASE, Call, Services
from tradeops.api.rbac import EVERYONE, RouteTable
from tradeops.api.serializers import run_out
from tradeops.domain.control import TradingState
from tradeops.store.recon import BreakStatus
from tradeops.store.status import GatewayStatus

STALE_AFTER_MS = 5_000
_MAX_COUNTED_BREAKS = 1000


def leader_status(services: Services, now: int) -> tuple[str | None, int | None, GatewayStatus | None]:
    """(leader owner, lease expiry, the leader's status record) — the record may be stale or missing."""
    lease = services.leases.get(GATEWAY_LEASE)
    if lease is None or not lease.is_held(now):
        return None, None if lease is None else lease.expires_at_ms, None
    return lease.owner, lease.expires_at_ms, services.status.get(lease.owner)


def fresh_status(services: Services, now: int) -> GatewayStatus | None:
    """The leader's status record if it is fresh (what marks and feed states may be read from)."""
    _, _, status = leader_status(services, now)
    if status is None or now - status.updated_at > STALE_AFTER_MS:
        return None
    return status


def _gateway(services: Services, now: int) -> tuple[r.GatewayHealth, GatewayStatus | None, bool]:
    leader, expires_at, status = leader_status(services, now)
    stale = status is None or now - status.updated_at > STALE_AFTER_MS
    failing = list(status.failing) if status is not None else []
    if leader is None and "leader" not in failing:
        failing.append("leader")
    if stale:
        failing.append("status_stale")
    gateway = r.GatewayHealth(
        leader=leader,
        lease_expires_at=expires_at,
        ready=bool(status is not None and status.ready and not stale),
        failing=failing,
        updated_at=None if status is None else status.updated_at,
        stale=stale,
    )
    return gateway, status, stale


def _feeds(status: GatewayStatus | None, stale: bool, now: int) -> list[r.FeedHealth]:
    if status is None:
        return []
    age = max(0, now - status.updated_at)
    feeds = []
    for feed in status.feeds:
        state = "STALE" if stale else {"ok": "OK", "degraded": "DEGRADED"}.get(feed.quality, "STALE")
        staleness = feed.staleness_ms
        if stale:
            staleness = (staleness or 0) + age
        feeds.append(
            r.FeedHealth(symbol=feed.symbol, state=state, staleness_ms=staleness, source=feed.source)
        )
    return feeds


def trading_out(services: Services) -> r.TradingOut:
    record = services.control.trading()
    if record is None:  # the gateway's default before anyone set a state
        return r.TradingOut(state=TradingState.ACTIVE.value, reason=None, updated_by=None, updated_at=None)
    return r.TradingOut(
        state=record.state.value,
        reason=record.reason,
        updated_by=record.updated_by,
        updated_at=record.updated_at,
    )


def _reconciliation(services: Services) -> r.ReconHealth:
    runs = services.recon.list_runs(services.account, limit=1)
    breaks = services.recon.list_breaks(BreakStatus.OPEN, limit=_MAX_COUNTED_BREAKS)
    return r.ReconHealth(
        last_run=run_out(runs.items[0]) if runs.items else None, open_breaks=len(breaks.items)
    )


def register(table: RouteTable) -> None:
    @table.route(
        "GET", "/api/health", roles=EVERYONE, tag="health", response=r.HealthOut,
        summary="Gateway leader/readiness, feeds, clock, broker, trading state, reconciliation",
    )  # fmt: skip
    def health(call: Call) -> r.HealthOut:
        services = call.services
        now = services.clock_ms()
        gateway, status, stale = _gateway(services, now)
        return r.HealthOut(
            gateway=gateway,
            feeds=_feeds(status, stale, now),
            clock=r.ClockHealth(offset_ms=None if status is None or stale else status.clock_offset_ms),
            broker=r.BrokerHealth(connected=None if status is None or stale else status.broker_connected),
            trading=trading_out(services),
            reconciliation=_reconciliation(services),
        )
