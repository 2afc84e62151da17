"""The whole local path with the real alerts function: routing data -> rule -> queue -> runner -> store."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tradeops.aws.clients import client
from tradeops.config import Settings
from tradeops.domain.alerts import AlertStatus
from tradeops.domain.events import RiskBreach, to_entry
from tradeops.domain.values import Severity
from tradeops.local.endpoints import settings_env
from tradeops.local.provision import provision
from tradeops.local.runner import FunctionRunner
from tradeops.routes import FUNCTIONS_BY_NAME
from tradeops.store.alerts import AlertStore

FUNCTIONS_DIR = Path(__file__).resolve().parents[3] / "functions"


def test_a_risk_breach_becomes_an_open_alert_record(
    local_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    provisioned = provision(local_settings, demo_password="Demo-password-1")
    for key, value in settings_env(local_settings).items():  # as the runner process gets them
        monkeypatch.setenv(key, value)
    alerts = FUNCTIONS_BY_NAME["alerts"]
    runner = FunctionRunner(local_settings, FUNCTIONS_DIR, functions=[alerts], wait_time_s=1)
    breach = RiskBreach(
        correlation_id="corr-real-alerts",
        rule="max_notional",
        symbol="BTC/USDT",
        limit=Decimal("10000"),
        value=Decimal("12500.5"),
        severity=Severity.CRITICAL,
        message="notional above limit",
    )
    entry = to_entry(breach, "tradeops.risk", local_settings.bus_name)
    assert client("events", local_settings).put_events(Entries=[entry])["FailedEntryCount"] == 0

    assert runner.poll_once(alerts) == 1
    [alert] = AlertStore(local_settings).list().items
    assert alert.status == AlertStatus.OPEN
    assert alert.severity == Severity.CRITICAL
    assert alert.count == 1
    sqs = client("sqs", local_settings)
    attrs = sqs.get_queue_attributes(QueueUrl=provisioned.queues["fn-alerts"], AttributeNames=["All"])
    attrs = attrs["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == attrs["ApproximateNumberOfMessagesNotVisible"] == "0"
