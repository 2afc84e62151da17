"""functions/alerts/handler.py end to end on moto: envelopes in, alert records out, idempotent."""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tradeops.config import Settings
from tradeops.domain.alerts import AlertStatus, alert_id_for
from tradeops.domain.events import EventSchemaError
from tradeops.domain.values import Severity
from tradeops.local.lambda_context import LambdaContext, make_context
from tradeops.observability import ScrubbingFormatter
from tradeops.routes import FUNCTIONS_BY_NAME
from tradeops.store.alerts import AlertStore

pytestmark = pytest.mark.integration

HANDLER_PATH = Path(__file__).resolve().parents[3] / "functions" / "alerts" / "handler.py"


def _load_module() -> ModuleType:
    """Import the handler file the way the Lambda runtime does: a fresh top-level module (cold start)."""
    name = f"alerts_handler_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, HANDLER_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MODULE = _load_module()


def _context() -> LambdaContext:
    return make_context(FUNCTIONS_BY_NAME["alerts"], region="us-east-1", account_id="123456789012")


def _envelope(detail_type: str, detail: dict[str, Any], source: str = "tradeops.risk") -> dict[str, Any]:
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


def _detail(seconds: int = 0, **fields: Any) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "event_id": uuid.uuid4().hex,
        "occurred_at": f"2025-05-06T07:08:{seconds:02d}Z",
        "correlation_id": fields.pop("correlation_id", "corr-handler"),
        **fields,
    }


def _breach(seconds: int = 0, **overrides: Any) -> dict[str, Any]:
    fields = {
        "rule": "max_notional",
        "symbol": "BTC/USDT",
        "limit": "1000",
        "value": "1200.5",
        "severity": "critical",
        "message": "too big",
        **overrides,
    }
    return _envelope("Risk Breach", _detail(seconds, **fields))


@pytest.fixture
def invoke(alerts_settings: Settings) -> Any:
    handler = MODULE.make_handler(alerts_settings)
    return lambda event: handler(event, _context())


@pytest.fixture
def read_logs() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Reads the JSON lines the function logged so far in this test (same formatter as its own handler)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(ScrubbingFormatter(service="alerts"))
    logging.getLogger("alerts").addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logging.getLogger("alerts").removeHandler(handler)


def _alert(settings: Settings, source: str, key: str) -> Any:
    stored = AlertStore(settings).get(alert_id_for(source, key))
    return stored.alert if stored else None


def test_risk_breach_opens_a_critical_alert_and_emits_metrics(
    invoke: Any, alerts_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    result = invoke(_breach())
    alert = _alert(alerts_settings, "tradeops.risk", "risk:max_notional:BTC/USDT")
    assert result == {"alert_id": alert.alert_id, "outcome": "raised", "status": "open"}
    assert (alert.status, alert.severity, alert.count) == (AlertStatus.OPEN, Severity.CRITICAL, 1)
    assert alert.details["value"] == "1200.5"
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    raised = [doc for doc in emf if "AlertsRaised" in doc]
    assert len(raised) == 1 and raised[0]["severity"] == "critical" and raised[0]["service"] == "alerts"
    assert any("EventsReceived" in doc for doc in emf)


def test_the_same_envelope_delivered_twice_counts_once(invoke: Any, alerts_settings: Settings) -> None:
    envelope = _breach()
    first = invoke(envelope)
    assert invoke(json.loads(json.dumps(envelope))) == first  # replayed from the idempotency record
    alert = _alert(alerts_settings, "tradeops.risk", "risk:max_notional:BTC/USDT")
    assert alert.count == 1


def test_a_distinct_event_with_the_same_key_bumps_the_count(invoke: Any, alerts_settings: Settings) -> None:
    invoke(_breach(0))
    assert invoke(_breach(5, value="1300"))["outcome"] == "refreshed"
    alert = _alert(alerts_settings, "tradeops.risk", "risk:max_notional:BTC/USDT")
    assert alert.count == 2 and "1300" in alert.title


def test_recovered_market_data_and_reconnected_broker_resolve_their_alerts(
    invoke: Any, alerts_settings: Settings
) -> None:
    md = {"symbol": "ETH/USDT", "feed": "binance-ws", "staleness_ms": 5000, "severity": "warning"}
    invoke(_envelope("Market Data Degraded", _detail(0, condition="stale", **md), source="tradeops.gateway"))
    invoke(
        _envelope("Market Data Degraded", _detail(9, condition="recovered", **md), source="tradeops.gateway")
    )
    market = _alert(alerts_settings, "tradeops.gateway", "market-data:ETH/USDT:binance-ws")
    assert market.status is AlertStatus.RESOLVED and market.resolution.startswith("Market data recovered")

    broker = {"venue": "binance", "reason": "ws closed"}
    down = invoke(
        _envelope(
            "Broker Connectivity Changed", _detail(1, state="disconnected", **broker), "tradeops.gateway"
        )
    )
    assert down["outcome"] == "raised"
    assert _alert(alerts_settings, "tradeops.gateway", "broker:binance").severity is Severity.CRITICAL
    up = invoke(
        _envelope("Broker Connectivity Changed", _detail(2, state="connected", **broker), "tradeops.gateway")
    )
    assert up == {"alert_id": down["alert_id"], "outcome": "resolved", "status": "resolved"}


def test_invalid_detail_raises_a_schema_error_naming_the_field_logged_with_correlation_id(
    invoke: Any, alerts_settings: Settings, read_logs: Callable[[], list[dict[str, Any]]]
) -> None:
    envelope = _breach(correlation_id="corr-bad-1", limit=1000.5)  # floats are refused for money
    with pytest.raises(EventSchemaError) as caught:
        invoke(envelope)
    assert caught.value.fields == ("limit",) and "corr-bad-1" in str(caught.value)
    with pytest.raises(EventSchemaError):  # a retry fails again: it is never marked done and dropped
        invoke(envelope)
    assert _alert(alerts_settings, "tradeops.risk", "risk:max_notional:BTC/USDT") is None
    rejected = [line for line in read_logs() if line["message"] == "event rejected"]
    assert len(rejected) == 2
    assert rejected[0]["correlation_id"] == "corr-bad-1" and rejected[0]["event_id"] == envelope["id"]
    assert "limit" in rejected[0]["error"] and rejected[0]["level"] == "ERROR"


def test_alarm_state_change_alarm_then_ok(invoke: Any, alerts_settings: Settings) -> None:
    def alarm(value: str, previous: str, ts: str) -> dict[str, Any]:
        detail = {
            "alarmName": "tradeops-alerts-errors",
            "state": {"value": value, "reason": "Threshold Crossed", "timestamp": ts},
            "previousState": {"value": previous, "reason": "", "timestamp": "2025-05-06T07:00:00.000+0000"},
            "configuration": {"description": "Lambda errors severity=critical", "metrics": []},
        }
        return _envelope("CloudWatch Alarm State Change", detail, source="aws.cloudwatch")

    raised = invoke(alarm("ALARM", "OK", "2025-05-06T07:08:00.000+0000"))
    alert = _alert(alerts_settings, "aws.cloudwatch", "alarm:tradeops-alerts-errors")
    assert raised["outcome"] == "raised" and alert.severity is Severity.CRITICAL
    assert invoke(alarm("OK", "ALARM", "2025-05-06T07:09:00.000+0000"))["outcome"] == "resolved"
    assert (
        _alert(alerts_settings, "aws.cloudwatch", "alarm:tradeops-alerts-errors").status
        is AlertStatus.RESOLVED
    )


def test_module_handler_reads_its_settings_from_the_environment_at_cold_start(
    alerts_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEOPS_AWS_ENDPOINT_URL", str(alerts_settings.aws_endpoint_url))
    monkeypatch.setenv("TRADEOPS_REGION", alerts_settings.region)
    monkeypatch.setenv("TRADEOPS_TABLE_PREFIX", alerts_settings.table_prefix)
    cold = _load_module()
    assert cold.handler(_breach(), _context())["outcome"] == "raised"
    assert _alert(alerts_settings, "tradeops.risk", "risk:max_notional:BTC/USDT").count == 1
