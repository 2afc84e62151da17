"""The risk monitor and its Lambda handler on moto: breaches act once, per policy, through the kill switch."""

from __future__ import annotations

import importlib.util
import uuid
from decimal import Decimal as D
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tradeops.config import Settings
from tradeops.domain.alerts import alert_id_for
from tradeops.domain.control import TradingState
from tradeops.domain.events import EventDetail, KillSwitchEngaged, RiskBreach
from tradeops.domain.risk_monitor import DAY_MS, BreachRule
from tradeops.local.lambda_context import make_context
from tradeops.local.provision import provision
from tradeops.risk_monitor import SOURCE, RiskMonitor
from tradeops.routes import FUNCTIONS_BY_NAME
from tradeops.store.alerts import AlertStore
from tradeops.store.control import ControlStore
from tradeops.store.limits import LimitStore, LimitVersion
from tradeops.store.positions import PositionRecord, PositionStore
from tradeops.store.snapshots import SnapshotRecord, SnapshotStore

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]
HANDLER_PATH = Path(__file__).resolve().parents[3] / "functions" / "risk_monitor" / "handler.py"
DAY = 20_000 * DAY_MS
NOW = DAY + 3_600_000


class Sink:
    def __init__(self) -> None:
        self.events: list[EventDetail] = []

    def publish(self, event: EventDetail) -> None:
        self.events.append(event)


def _load_handler_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"risk_monitor_handler_{uuid.uuid4().hex[:8]}", HANDLER_PATH
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def snapshot(settings: Settings, ts: int, equity: str, gross: str = "0") -> None:
    SnapshotStore(settings).put(
        SnapshotRecord(settings.account, ts, D(equity), D(equity), D(0), D(0), D(gross), D(gross))
    )


@pytest.fixture
def stack(aws_settings: Settings) -> Settings:
    provision(aws_settings)
    limits = {"max_daily_loss": D(1000), "max_drawdown": D("0.5"), "max_gross_exposure": D(50000)}
    LimitStore(aws_settings).put_version(LimitVersion("global", 1, limits, "risk-a", "risk-b", "p-1", 1))
    return aws_settings


def monitor(settings: Settings, sink: Sink) -> RiskMonitor:
    return RiskMonitor(settings, sink, clock_ms=lambda: NOW)


def test_no_snapshot_means_nothing_to_judge(stack: Settings) -> None:
    report = monitor(stack, Sink()).run_once("test")
    assert report.snapshot_ts is None and report.breaches == ()


def test_the_view_reads_the_days_first_equity_mark_and_positions(stack: Settings) -> None:
    snapshot(stack, DAY - 1000, "50000")  # yesterday: not part of today's start or mark
    snapshot(stack, DAY + 1000, "100000")
    snapshot(stack, DAY + 2000, "103000")
    snapshot(stack, DAY + 3000, "101000")
    PositionStore(stack).put(PositionRecord(stack.account, "BTC/USDT", D("-0.5"), D(60000), D(0), 1))
    view = monitor(stack, Sink()).read_view()
    assert view is not None
    assert (view.ts, view.equity, view.start_of_day_equity, view.high_water_mark) == (
        DAY + 3000,
        D(101000),
        D(100000),
        D(103000),
    )
    assert dict(view.position_notionals) == {"BTC/USDT": D(30000)}


def test_a_daily_loss_halts_once_publishes_and_opens_an_alert(stack: Settings) -> None:
    snapshot(stack, DAY + 1000, "100000")
    snapshot(stack, DAY + 2000, "98500", gross="60000")
    sink = Sink()
    report = monitor(stack, sink).run_once("test")
    assert [b.rule for b in report.breaches] == [BreachRule.DAILY_LOSS, BreachRule.GROSS_EXPOSURE]
    assert report.trading_state is TradingState.HALTED and len(report.acted) == 2
    record = ControlStore(stack).trading()
    assert record is not None and record.state is TradingState.HALTED and record.updated_by == "risk-monitor"
    breaches = [e for e in sink.events if isinstance(e, RiskBreach)]
    assert [(b.rule, b.value) for b in breaches] == [("DAILY_LOSS", D(1500)), ("GROSS_EXPOSURE", D(60000))]
    assert len([e for e in sink.events if isinstance(e, KillSwitchEngaged)]) == 1
    stored = AlertStore(stack).get(alert_id_for(SOURCE, "risk:DAILY_LOSS:*"))
    assert stored is not None and stored.alert.active

    published = len(sink.events)
    again = monitor(stack, sink).run_once("test")  # the same breaches: already acted on
    assert again.acted == () and len(sink.events) == published
    assert ControlStore(stack).trading() == record


def test_a_resolved_alert_rearms_the_breach(stack: Settings) -> None:
    snapshot(stack, DAY + 1000, "100000", gross="60000")
    sink = Sink()
    first = monitor(stack, sink).run_once("test")
    assert first.trading_state is TradingState.REDUCING
    alerts = AlertStore(stack)
    alert_id = alert_id_for(SOURCE, "risk:GROSS_EXPOSURE:*")
    alerts.resolve(alert_id, "operator reduced it")
    second = monitor(stack, sink).run_once("test")
    assert len(second.acted) == 1
    ids = [e.event_id for e in sink.events if isinstance(e, RiskBreach)]
    assert len(ids) == 2 and ids[0] != ids[1]  # a new episode, a new event


def test_the_handler_runs_on_the_schedule_and_on_fills_once_per_envelope(
    stack: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _load_handler_module()
    sink = Sink()
    handler = module.make_handler(stack, monitor(stack, sink))
    context = make_context(FUNCTIONS_BY_NAME["risk_monitor"], region=stack.region, account_id="123456789012")
    snapshot(stack, DAY + 1000, "100000")
    scheduled = _envelope("Scheduled Event", {}, "aws.events")
    assert handler(scheduled, context)["breaches"] == []
    snapshot(stack, DAY + 2000, "98000")
    fill = _envelope("Order Filled", {"trade_id": "t1", "client_order_id": "c1"}, "tradeops.gateway")
    result = handler(fill, context)
    assert result["breaches"] == ["DAILY_LOSS"] and result["trading_state"] == "HALTED"
    assert handler(fill, context) == result  # the same envelope again: the stored result, no new pass
    with pytest.raises(module.UnsupportedTrigger):
        handler(_envelope("Order Updated", {}, "tradeops.gateway"), context)


def _envelope(detail_type: str, detail: dict[str, Any], source: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": "123456789012",
        "time": "2025-05-06T07:08:09Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }
