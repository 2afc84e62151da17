"""Rule -> SQS -> runner -> handler on moto, with real envelopes; failures retry and end in the DLQ."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tradeops.aws.clients import client
from tradeops.config import Settings
from tradeops.local.provision import ProvisionedResources, provision
from tradeops.local.runner import FunctionRunner
from tradeops.local.scheduler import Scheduler
from tradeops.observability import ScrubbingFormatter
from tradeops.routes import FUNCTIONS_BY_NAME, FunctionSpec, RuleSpec, ScheduleSpec

from .conftest import write_recording_handler

ALERTS = FUNCTIONS_BY_NAME["alerts"]


@pytest.fixture
def provisioned(local_settings: Settings) -> ProvisionedResources:
    return provision(local_settings, demo_password="Demo-password-1")


@pytest.fixture
def runner_log() -> Iterator[io.StringIO]:
    """The runner's JSON log lines (same formatter as in the runner process)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(ScrubbingFormatter(service="tradeops-runner"))
    logger = logging.getLogger("tradeops-runner")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def _calls(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _put(settings: Settings, detail_type: str, detail: dict[str, Any]) -> None:
    result = client("events", settings).put_events(
        Entries=[
            {
                "Source": "tradeops.risk",
                "DetailType": detail_type,
                "Detail": json.dumps(detail),
                "EventBusName": settings.bus_name,
            }
        ]
    )
    assert result["FailedEntryCount"] == 0


def _queue_depth(settings: Settings, url: str) -> int:
    attrs = client("sqs", settings).get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def test_risk_breach_reaches_the_alerts_handler_with_the_envelope_and_a_context(
    local_settings: Settings, provisioned: ProvisionedResources, tmp_path: Path
) -> None:
    calls = write_recording_handler(tmp_path, "alerts")
    runner = FunctionRunner(local_settings, tmp_path, functions=[ALERTS], wait_time_s=1)
    _put(local_settings, "Risk Breach", {"correlation_id": "corr-1", "rule": "max_notional"})
    _put(local_settings, "Trade Intent", {"correlation_id": "corr-2"})  # routed to the intents queue instead

    assert runner.poll_once(ALERTS) == 1
    [call] = _calls(calls)
    event = call["event"]
    assert (event["source"], event["detail-type"]) == ("tradeops.risk", "Risk Breach")
    assert event["detail"] == {"correlation_id": "corr-1", "rule": "max_notional"}
    assert set(event) >= {"id", "time", "version", "region", "resources"}
    assert call["function_name"] == "tradeops-alerts"
    assert call["function_version"] == "$LATEST"
    assert (
        call["invoked_function_arn"]
        == f"arn:aws:lambda:us-east-1:{provisioned.account_id}:function:tradeops-alerts"
    )
    assert call["memory_limit_in_mb"] == ALERTS.memory_mb
    assert call["log_group_name"] == "/aws/lambda/tradeops-alerts"
    assert 0 < call["remaining_ms"] <= ALERTS.timeout_s * 1000
    uuid.UUID(call["aws_request_id"])
    assert _queue_depth(local_settings, provisioned.queues["fn-alerts"]) == 0  # deleted on success
    assert _queue_depth(local_settings, provisioned.queues["intents"]) == 1


def test_a_failing_handler_is_retried_then_lands_in_the_dlq_with_the_error_logged(
    local_settings: Settings,
    provisioned: ProvisionedResources,
    tmp_path: Path,
    runner_log: io.StringIO,
) -> None:
    calls = write_recording_handler(tmp_path, "alerts")
    runner = FunctionRunner(local_settings, tmp_path, functions=[ALERTS], wait_time_s=1, retry_delay_s=0)
    _put(local_settings, "Risk Breach", {"correlation_id": "corr-fail", "fail": True})

    attempts = 0
    for _ in range(20):  # bounded: 5 receives are needed, each poll returns within wait_time_s
        attempts += runner.poll_once(ALERTS)
        if _queue_depth(local_settings, provisioned.queues["fn-alerts-dlq"]):
            break
    assert attempts == 5 and not _calls(calls)
    assert _queue_depth(local_settings, provisioned.queues["fn-alerts"]) == 0
    dead = client("sqs", local_settings).receive_message(QueueUrl=provisioned.queues["fn-alerts-dlq"])[
        "Messages"
    ]
    assert json.loads(dead[0]["Body"])["detail"]["correlation_id"] == "corr-fail"
    errors = [line for line in _lines(runner_log) if line["level"] == "ERROR"]
    assert [e["receive_count"] for e in errors] == [1, 2, 3, 4, 5]
    assert all(e["correlation_id"] == "corr-fail" and e["error_type"] == "RuntimeError" for e in errors)
    assert "handler refused the event" in errors[0]["error"]
    assert [e["to_dead_letter_queue_next"] for e in errors] == [False] * 4 + [True]


def test_an_undecodable_body_is_kept_not_dropped(
    local_settings: Settings,
    provisioned: ProvisionedResources,
    tmp_path: Path,
    runner_log: io.StringIO,
) -> None:
    write_recording_handler(tmp_path, "alerts")
    runner = FunctionRunner(local_settings, tmp_path, functions=[ALERTS], wait_time_s=1, retry_delay_s=30)
    client("sqs", local_settings).send_message(
        QueueUrl=provisioned.queues["fn-alerts"], MessageBody="not json"
    )
    assert runner.poll_once(ALERTS) == 1
    assert _queue_depth(local_settings, provisioned.queues["fn-alerts"]) == 1
    assert "undecodable" in _lines(runner_log)[-1]["message"]


def test_one_failing_function_does_not_block_another(local_settings: Settings, tmp_path: Path) -> None:
    good, bad = FunctionSpec("good"), FunctionSpec("bad")
    rules = [
        RuleSpec("to-good", {"detail-type": ["Good"]}, function="good"),
        RuleSpec("to-bad", {"detail-type": ["Bad"]}, function="bad"),
    ]
    provision(local_settings, functions=[good, bad], queues=[], rules=rules, demo_password="Demo-password-1")
    good_calls = write_recording_handler(tmp_path, "good")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "handler.py").write_text(
        "import time\ndef handler(event, context):\n    time.sleep(8)\n"
    )
    runner = FunctionRunner(local_settings, tmp_path, functions=[good, bad], wait_time_s=1)
    stop = threading.Event()
    threads = runner.start(stop)
    try:
        _put(local_settings, "Bad", {"correlation_id": "slow"})
        time.sleep(1.5)  # the bad function's thread is now stuck in its handler
        _put(local_settings, "Good", {"correlation_id": "fast"})
        deadline = time.monotonic() + 15
        while not _calls(good_calls) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [c["event"]["detail"]["correlation_id"] for c in _calls(good_calls)] == ["fast"]
    finally:
        stop.set()
    assert len(threads) == 2 and all(t.daemon for t in threads)


def test_scheduled_events_reach_the_function_as_aws_events(
    local_settings: Settings, provisioned: ProvisionedResources, tmp_path: Path
) -> None:
    calls = write_recording_handler(tmp_path, "alerts")
    runner = FunctionRunner(local_settings, tmp_path, functions=[ALERTS], wait_time_s=1)
    now = [1_000.0]
    schedule = ScheduleSpec("alerts-sweep", "rate(1 minute)", "alerts")
    scheduler = Scheduler(
        [schedule],
        runner.send_scheduled,
        region=local_settings.region,
        account_id=runner.account_id,
        bus_name=local_settings.bus_name,
        clock=lambda: now[0],
    )
    assert scheduler.tick() == [schedule]
    assert runner.poll_once(ALERTS) == 1
    event = _calls(calls)[0]["event"]
    assert (event["source"], event["detail-type"], event["detail"]) == ("aws.events", "Scheduled Event", {})
    assert event["resources"] == [
        f"arn:aws:events:us-east-1:{runner.account_id}:rule/{local_settings.bus_name}/alerts-sweep"
    ]
