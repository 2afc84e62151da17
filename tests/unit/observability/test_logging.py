"""One JSON log format with correlation ids kept per call; EMF metrics with per-metric dimensions."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import uuid
from datetime import datetime
from typing import Any

import pytest

from tradeops.observability import (
    correlation_id,
    correlation_id_from_event,
    correlation_scope,
    emit_metric,
    get_logger,
    metrics,
)


def _logger() -> tuple[Any, io.StringIO, str]:
    stream, service = io.StringIO(), f"log-{uuid.uuid4().hex[:8]}"
    return get_logger(service, stream=stream), stream, service


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_lines_are_json_with_level_location_message_utc_timestamp_and_service() -> None:
    logger, stream, service = _logger()
    logger.info("hello %s", "world", extra={"symbol": "BTC/USDT"})
    (line,) = _lines(stream)
    assert line["level"] == "INFO" and line["message"] == "hello world" and line["service"] == service
    assert line["symbol"] == "BTC/USDT" and line["location"].startswith("test_lines_are_json")
    assert datetime.fromisoformat(line["timestamp"]).utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert "correlation_id" not in line


def test_the_same_service_name_returns_the_same_configured_logger() -> None:
    first, stream, service = _logger()
    get_logger(service).info("via a second handle")
    assert get_logger(service).name == first.name == service
    assert _lines(stream)[0]["message"] == "via a second handle"


def test_correlation_id_is_kept_through_the_scope_and_only_there() -> None:
    logger, stream, _ = _logger()
    with correlation_scope("corr-42"):
        logger.info("inside")
        with correlation_scope("corr-inner"):
            logger.info("nested")
        logger.info("inside again")
    logger.info("outside")
    assert [line.get("correlation_id") for line in _lines(stream)] == [
        "corr-42",
        "corr-inner",
        "corr-42",
        None,
    ]
    assert correlation_id() is None


def test_correlation_ids_do_not_leak_between_threads_or_tasks() -> None:
    logger, stream, _ = _logger()
    barrier = threading.Barrier(2)

    def work(cid: str) -> None:
        with correlation_scope(cid):
            barrier.wait()
            logger.info(cid)

    threads = [threading.Thread(target=work, args=(f"thread-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    async def task(cid: str) -> None:
        with correlation_scope(cid):
            await asyncio.sleep(0)
            logger.info(cid)

    async def both() -> None:
        await asyncio.gather(task("task-a"), task("task-b"))

    asyncio.run(both())
    for line in _lines(stream):
        assert line["correlation_id"] == line["message"]


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"id": "e", "detail": {"correlation_id": "c-1"}}, "c-1"),
        ({"correlation_id": "c-2"}, "c-2"),
        ({"id": "e", "detail": {"alarmName": "x"}}, None),
        ({"detail": {"correlation_id": 12}}, None),
    ],
)
def test_correlation_id_comes_from_the_event_detail(event: dict[str, Any], expected: str | None) -> None:
    assert correlation_id_from_event(event) == expected


def test_emit_metric_writes_one_emf_document_with_its_dimensions(capsys: pytest.CaptureFixture[str]) -> None:
    emf = metrics(service="alerts-test")
    emit_metric(emf, "AlertsRaised", severity="critical")
    document = json.loads(capsys.readouterr().out)
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "tradeops"
    assert directive["Dimensions"] == [["service", "severity"]]
    assert directive["Metrics"] == [{"Name": "AlertsRaised", "Unit": "Count"}]
    assert (document["AlertsRaised"], document["service"], document["severity"]) == (
        [1.0],
        "alerts-test",
        "critical",
    )
