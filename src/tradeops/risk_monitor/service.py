"""One risk-monitor pass: read the account from the tables, evaluate it, act on new breaches.

Inputs (:meth:`RiskMonitor.read_view`): the latest portfolio snapshot; the day's snapshots (UTC) for
the start-of-day equity (the day's first snapshot) and the equity high-water mark (their maximum; the
store keeps no running mark, so a pass reads the day, one query page per 1000 snapshots); the position
notionals of the positions table at their average entry price (the tables hold no per-symbol mark).
Limits: the approved ``global`` version over the demo defaults (:func:`tradeops.gateway.wiring.load_limits`).

Acting on a breach (:meth:`RiskMonitor.act`), idempotent: a breach whose alert (source
:data:`SOURCE`, key ``risk:<rule>:<symbol>``) is active (open or acked) since today's start was acted
on already and is left alone; acknowledging the alert keeps it so, resolving it while the breach
persists re-arms it. Otherwise: trading moves per :data:`tradeops.domain.risk_monitor.POLICY` through
the kill switch (HALTED: :meth:`KillSwitch.engage`, which also cancels everything via the gateway and
publishes "Kill Switch Engaged"; REDUCING: :meth:`KillSwitch.restrict`; never loosening), then "Risk
Breach" is published and the alert opened. Every id is derived from the breach id and the alert's
episode, so a retried pass re-sends the same events (deduplicated downstream) and writes nothing twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from tradeops.change_management import EventSink
from tradeops.config import Settings
from tradeops.domain.alerts import alert_from_event, alert_id_for
from tradeops.domain.control import TradingState
from tradeops.domain.events import RiskBreach
from tradeops.domain.limits import RiskLimits
from tradeops.domain.risk_monitor import AccountView, Breach, breach_id, day_start_ms, evaluate
from tradeops.kill_switch import KillSwitch, event_id_for
from tradeops.observability import get_logger
from tradeops.store.alerts import AlertStore
from tradeops.store.positions import PositionStore
from tradeops.store.snapshots import SnapshotStore

__all__ = ["ACTOR", "SOURCE", "MonitorReport", "RiskMonitor"]

SOURCE = "tradeops.risk_monitor"
ACTOR = "risk-monitor"
_PAGE = 1000
log = get_logger("tradeops.risk_monitor")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _default_limits(settings: Settings) -> Callable[[], RiskLimits]:
    def load() -> RiskLimits:
        from tradeops.gateway.wiring import load_limits  # the one overlay of stored limits on the defaults
        from tradeops.store.limits import LimitStore

        return load_limits(LimitStore(settings))

    return load


@dataclass(frozen=True)
class MonitorReport:
    """One pass: the snapshot it judged (None: no snapshot yet), every breach, those acted on now."""

    trigger: str
    snapshot_ts: int | None
    breaches: tuple[Breach, ...]
    acted: tuple[str, ...]
    trading_state: TradingState | None


class RiskMonitor:
    """Post-trade limits of ``settings.account``; publishes through ``events`` (source :data:`SOURCE`)."""

    def __init__(
        self,
        settings: Settings,
        events: EventSink,
        *,
        limits: Callable[[], RiskLimits] | None = None,
        clock_ms: Callable[[], int] = _now_ms,
    ) -> None:
        self._account = settings.account
        self._snapshots = SnapshotStore(settings)
        self._positions = PositionStore(settings)
        self._alerts = AlertStore(settings)
        self._switch = KillSwitch(settings, events, clock_ms=clock_ms)
        self._events = events
        self._limits = limits or _default_limits(settings)
        self._clock_ms = clock_ms

    def read_view(self) -> AccountView | None:
        """The account as the tables show it now; None before the first snapshot."""
        latest = self._snapshots.latest(self._account)
        if latest is None:
            return None
        first: Decimal | None = None
        high: Decimal | None = None
        cursor: str | None = None
        while True:
            page = self._snapshots.between(
                self._account, ts_from=day_start_ms(latest.ts), ts_to=latest.ts, limit=_PAGE, cursor=cursor
            )
            for snapshot in page.items:
                first = snapshot.equity if first is None else first
                high = snapshot.equity if high is None else max(high, snapshot.equity)
            cursor = page.cursor
            if cursor is None:
                break
        notionals = {
            p.symbol: abs(p.quantity) * p.avg_entry_price
            for p in self._positions.for_account(self._account)
            if p.avg_entry_price is not None
        }
        return AccountView(
            ts=latest.ts,
            equity=latest.equity,
            gross_exposure=latest.gross_exposure,
            net_exposure=latest.net_exposure,
            start_of_day_equity=first,
            high_water_mark=high,
            position_notionals=notionals,
        )

    def run_once(self, trigger: str) -> MonitorReport:
        """Read, evaluate and act (see the module docstring)."""
        view = self.read_view()
        if view is None:
            log.warning("no portfolio snapshot yet: nothing to evaluate", extra={"trigger": trigger})
            return MonitorReport(trigger, None, (), (), None)
        breaches = evaluate(view, self._limits())
        acted = tuple(bid for b in breaches if (bid := self.act(b, view.ts)) is not None)
        control = self._switch.status()
        log.info(
            "risk evaluated",
            extra={
                "trigger": trigger,
                "snapshot_ts": view.ts,
                "equity": str(view.equity),
                "breaches": [b.rule.value for b in breaches],
                "acted": list(acted),
            },
        )
        return MonitorReport(trigger, view.ts, breaches, acted, None if control is None else control.state)

    def act(self, breach: Breach, ts: int) -> str | None:
        """Act on ``breach`` seen at ``ts`` unless it was acted on today; returns its id when acted on."""
        bid = breach_id(breach, ts)
        key = f"risk:{breach.rule.value}:{breach.symbol or '*'}"
        stored = self._alerts.get(alert_id_for(SOURCE, key))
        day_start = datetime.fromtimestamp(day_start_ms(ts) / 1000, UTC)
        if stored is not None and stored.alert.active and stored.alert.first_seen >= day_start:
            return None
        request_id = f"risk-{bid}-{0 if stored is None else stored.version}"
        log.warning(
            "risk breach",
            extra={"breach_id": bid, "action": breach.action.value, "detail": breach.message},
        )
        if breach.action is TradingState.HALTED:
            self._switch.engage(breach.message, ACTOR, request_id=request_id)
        else:
            self._switch.restrict(breach.message, ACTOR, request_id=request_id)
        event = RiskBreach(
            event_id=event_id_for(request_id, "risk-breach"),
            correlation_id=request_id,
            rule=breach.rule.value,
            symbol=breach.symbol,
            limit=breach.limit,
            value=breach.value,
            severity=breach.severity,
            message=breach.message,
        )
        self._events.publish(event)
        at = datetime.fromtimestamp(self._clock_ms() / 1000, UTC)
        detail = event.model_dump(mode="json")
        self._alerts.apply(
            alert_from_event(SOURCE, event.DETAIL_TYPE, detail, event_id=event.event_id, received_at=at)
        )
        return bid
