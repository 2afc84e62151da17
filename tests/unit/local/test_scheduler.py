"""Rate parsing and the local scheduler, driven by an injected clock."""

from __future__ import annotations

from typing import Any

import pytest

from tradeops.local.scheduler import ScheduleExpressionError, Scheduler, parse_rate, scheduled_event
from tradeops.routes import SCHEDULES, ScheduleSpec


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 second)", 1),
        ("rate(30 seconds)", 30),
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86400),
        ("  rate( 10 minutes )  ", 600),
    ],
)
def test_parse_rate(expression: str, seconds: int) -> None:
    assert parse_rate(expression) == seconds


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("cron(0 12 * * ? *)", "cron schedules run only in AWS"),
        ("rate(5 minute)", r"write rate\(5 minutes\)"),
        ("rate(1 minutes)", r"write rate\(1 minute\)"),
        ("rate(0 minutes)", "at least 1"),
        ("rate(5 weeks)", "expected rate"),
        ("rate(-1 minutes)", "expected rate"),
        ("every 5 minutes", "expected rate"),
    ],
)
def test_parse_rate_refuses(expression: str, message: str) -> None:
    with pytest.raises(ScheduleExpressionError, match=message):
        parse_rate(expression)


def test_every_defined_schedule_runs_locally() -> None:
    for schedule in SCHEDULES:
        assert parse_rate(schedule.expression) >= 1


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _scheduler(
    schedules: list[ScheduleSpec], clock: Clock, sent: list[tuple[str, dict[str, Any]]]
) -> Scheduler:
    return Scheduler(
        schedules,
        lambda s, e: sent.append((s.name, e)),
        region="eu-west-1",
        account_id="111122223333",
        bus_name="tradeops",
        clock=clock,
    )


def test_fires_at_start_then_every_period() -> None:
    clock, sent = Clock(1000.0), []
    fast = ScheduleSpec("fast", "rate(10 seconds)", "alerts")
    slow = ScheduleSpec("slow", "rate(1 minute)", "alerts")
    scheduler = _scheduler([fast, slow], clock, sent)
    assert scheduler.tick() == [fast, slow]
    assert scheduler.tick() == []
    assert scheduler.seconds_until_next() == 10
    clock.now = 1009.9
    assert scheduler.tick() == []
    clock.now = 1010.0
    assert scheduler.tick() == [fast]
    clock.now = 1060.0
    assert scheduler.tick() == [fast, slow]
    assert [name for name, _ in sent] == ["fast", "slow", "fast", "fast", "slow"]


def test_missed_periods_fire_once_and_keep_the_phase() -> None:
    clock, sent = Clock(0.0), []
    scheduler = _scheduler([ScheduleSpec("s", "rate(10 seconds)", "alerts")], clock, sent)
    scheduler.tick()
    clock.now = 95.0  # nine periods slept through
    scheduler.tick()
    assert len(sent) == 2
    assert scheduler.seconds_until_next() == 5.0


def test_failed_send_is_reported_and_retried_next_tick() -> None:
    clock, errors, attempts = Clock(0.0), [], []

    def send(schedule: ScheduleSpec, envelope: dict[str, Any]) -> None:
        attempts.append(schedule.name)
        if len(attempts) == 1:
            raise ConnectionError("moto down")

    spec = ScheduleSpec("s", "rate(1 minute)", "alerts")
    scheduler = Scheduler(
        [spec],
        send,
        region="r",
        account_id="a",
        bus_name="b",
        clock=clock,
        on_error=lambda s, e: errors.append(e),
    )
    assert scheduler.tick() == []
    assert scheduler.tick() == [spec]
    assert len(attempts) == 2 and isinstance(errors[0], ConnectionError)


def test_failed_send_without_handler_raises() -> None:
    def send(schedule: ScheduleSpec, envelope: dict[str, Any]) -> None:
        raise ConnectionError("moto down")

    scheduler = Scheduler(
        [ScheduleSpec("s", "rate(1 minute)", "alerts")], send, region="r", account_id="a", bus_name="b"
    )
    with pytest.raises(ConnectionError):
        scheduler.tick()


def test_a_schedule_with_constant_input_delivers_exactly_that_input_as_in_aws() -> None:
    spec = ScheduleSpec("reconcile-every-minute", "rate(1 minute)", "reconcile", input={"mode": "full"})
    event = scheduled_event(spec, region="eu-west-1", account_id="111122223333", bus_name="tradeops", now=0.0)
    assert event == {"mode": "full"}


def test_scheduled_event_envelope() -> None:
    spec = ScheduleSpec("reconcile-every-minute", "rate(1 minute)", "reconcile")
    event = scheduled_event(spec, region="eu-west-1", account_id="111122223333", bus_name="tradeops", now=0.0)
    assert event["source"] == "aws.events"
    assert event["detail-type"] == "Scheduled Event"
    assert event["time"] == "1970-01-01T00:00:00Z"
    assert event["detail"] == {}
    assert event["resources"] == [
        "arn:aws:events:eu-west-1:111122223333:rule/tradeops/reconcile-every-minute"
    ]
    assert (event["version"], event["account"], event["region"]) == ("0", "111122223333", "eu-west-1")


def test_an_invalid_schedule_is_refused_at_construction() -> None:
    with pytest.raises(ScheduleExpressionError, match="cron"):
        _scheduler([ScheduleSpec("c", "cron(0 * * * ? *)", "alerts")], Clock(0.0), [])


def test_no_schedules_sleeps_forever() -> None:
    assert _scheduler([], Clock(0.0), []).seconds_until_next() == float("inf")
