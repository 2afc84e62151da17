"""EventPublisher: real envelopes through moto's EventBridge to SQS; partial failures retried or raised."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tradeops.aws.clients import client
from tradeops.aws.events import MAX_ENTRIES_PER_CALL, EventPublisher, PublishError, batches, entry_size
from tradeops.config import Settings
from tradeops.domain.events import RiskBreach, to_entry
from tradeops.domain.values import Severity

pytestmark = pytest.mark.integration


def _breach(n: int = 0, message: str = "notional over limit") -> RiskBreach:
    return RiskBreach(
        correlation_id=f"corr-{n}",
        rule="max_notional",
        symbol="BTC/USDT",
        limit=Decimal("1000.00"),
        value=Decimal("1500.10"),
        severity=Severity.CRITICAL,
        message=message,
    )


def _bus_to_queue(settings: Settings) -> str:
    """Create the bus, a queue and a rule delivering every tradeops event to it; return the queue URL."""
    events, sqs = client("events", settings), client("sqs", settings)
    events.create_event_bus(Name=settings.bus_name)
    queue_url = sqs.create_queue(QueueName=f"{settings.bus_name}-tap")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="tap",
        EventBusName=settings.bus_name,
        EventPattern=json.dumps({"source": [{"prefix": "tradeops."}]}),
    )
    events.put_targets(Rule="tap", EventBusName=settings.bus_name, Targets=[{"Id": "q", "Arn": queue_arn}])
    return str(queue_url)


def _receive(settings: Settings, queue_url: str, expected: int) -> list[dict[str, Any]]:
    sqs, bodies = client("sqs", settings), []
    for _ in range(10):
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        bodies += [json.loads(m["Body"]) for m in messages.get("Messages", [])]
        if len(bodies) >= expected:
            break
    return bodies


def test_published_events_arrive_as_full_envelopes_with_decimal_strings(aws_settings: Settings) -> None:
    queue_url = _bus_to_queue(aws_settings)
    events = [_breach(i) for i in range(12)]  # more than one PutEvents batch
    EventPublisher(aws_settings, "tradeops.risk").publish_many(events)
    bodies = _receive(aws_settings, queue_url, len(events))
    assert sorted(body["detail"]["event_id"] for body in bodies) == sorted(e.event_id for e in events)
    envelope = bodies[0]
    assert (envelope["source"], envelope["detail-type"]) == ("tradeops.risk", "Risk Breach")
    assert {"version", "id", "time", "region", "resources"} <= envelope.keys()
    assert (envelope["detail"]["limit"], envelope["detail"]["value"]) == ("1000.00", "1500.10")
    assert envelope["detail"]["schema_version"] == 1 and envelope["detail"]["correlation_id"].startswith(
        "corr-"
    )


def test_publisher_refuses_a_source_outside_tradeops(aws_settings: Settings) -> None:
    with pytest.raises(ValueError, match="tradeops"):
        EventPublisher(aws_settings, "aws.cloudwatch")


def _stubbed(settings: Settings) -> tuple[Any, Stubber, list[float]]:
    events = boto3.session.Session().client("events", region_name=settings.region)
    return events, Stubber(events), []


def _ok(n: int) -> dict[str, Any]:
    return {"FailedEntryCount": 0, "Entries": [{"EventId": f"ok-{i}"} for i in range(n)]}


def test_failed_entries_and_only_those_are_retried_with_backoff(aws_settings: Settings) -> None:
    events_client, stub, sleeps = _stubbed(aws_settings)
    publisher = EventPublisher(
        aws_settings, "tradeops.risk", events_client=events_client, sleep=sleeps.append
    )
    batch = [_breach(i) for i in range(3)]
    entries = [to_entry(e, "tradeops.risk", aws_settings.bus_name) for e in batch]
    refused = {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}
    stub.add_response(
        "put_events",
        {"FailedEntryCount": 1, "Entries": [{"EventId": "a"}, refused, {"EventId": "c"}]},
        {"Entries": entries},
    )
    stub.add_response("put_events", {"FailedEntryCount": 1, "Entries": [refused]}, {"Entries": [entries[1]]})
    stub.add_response("put_events", _ok(1), {"Entries": [entries[1]]})
    with stub:
        publisher.publish_many(batch)
    stub.assert_no_pending_responses()
    assert sleeps == [0.1, 0.2]


def test_entries_still_refused_after_every_attempt_raise_with_their_event_ids(aws_settings: Settings) -> None:
    events_client, stub, sleeps = _stubbed(aws_settings)
    publisher = EventPublisher(
        aws_settings, "tradeops.risk", events_client=events_client, max_attempts=3, sleep=sleeps.append
    )
    first, second = _breach(1), _breach(2)
    throttled = {"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}
    stub.add_response("put_events", {"FailedEntryCount": 1, "Entries": [{"EventId": "a"}, throttled]})
    stub.add_response("put_events", {"FailedEntryCount": 1, "Entries": [throttled]})
    stub.add_response("put_events", {"FailedEntryCount": 1, "Entries": [throttled]})
    with stub, pytest.raises(PublishError) as caught:
        publisher.publish_many([first, second])
    stub.assert_no_pending_responses()
    assert caught.value.failures == {second.event_id: "ThrottlingException: Rate exceeded"}
    assert second.event_id in str(caught.value) and first.event_id not in str(caught.value)
    assert sleeps == [0.1, 0.2]


def test_a_failing_batch_does_not_hold_back_the_next_one(aws_settings: Settings) -> None:
    events_client, stub, _ = _stubbed(aws_settings)
    publisher = EventPublisher(
        aws_settings, "tradeops.risk", events_client=events_client, max_attempts=1, sleep=lambda _: None
    )
    events = [_breach(i) for i in range(MAX_ENTRIES_PER_CALL + 2)]
    refused = {"ErrorCode": "InternalFailure", "ErrorMessage": "boom"}
    stub.add_response("put_events", {"FailedEntryCount": 10, "Entries": [refused] * 10})
    stub.add_response("put_events", _ok(2))
    with stub, pytest.raises(PublishError) as caught:
        publisher.publish_many(events)
    stub.assert_no_pending_responses()
    assert set(caught.value.failures) == {e.event_id for e in events[:10]}


def test_a_failed_call_names_its_batch_and_every_later_one(aws_settings: Settings) -> None:
    events_client, stub, _ = _stubbed(aws_settings)
    publisher = EventPublisher(
        aws_settings, "tradeops.risk", events_client=events_client, sleep=lambda _: None
    )
    events = [_breach(i) for i in range(2 * MAX_ENTRIES_PER_CALL + 1)]
    refused = {"ErrorCode": "InternalFailure", "ErrorMessage": "boom"}
    stub.add_response("put_events", _ok(MAX_ENTRIES_PER_CALL))
    stub.add_response("put_events", {"FailedEntryCount": 1, "Entries": [refused] + [{"EventId": "x"}] * 9})
    stub.add_client_error("put_events", "ResourceNotFoundException", "Event bus tradeops does not exist.")
    with stub, pytest.raises(PublishError, match="does not exist") as caught:
        publisher.publish_many(events)
    stub.assert_no_pending_responses()
    # the refused entry of batch 2 (its retry call failed) and all of batch 3; not the accepted ones
    expected = {events[MAX_ENTRIES_PER_CALL].event_id, events[-1].event_id}
    assert set(caught.value.failures) == expected


def test_publishing_to_a_missing_bus_raises_instead_of_dropping(aws_settings: Settings) -> None:
    event = _breach()
    with pytest.raises(PublishError) as caught:
        EventPublisher(aws_settings, "tradeops.risk").publish(event)
    assert list(caught.value.failures) == [event.event_id]


def test_batches_respect_the_entry_count_and_byte_limits() -> None:
    big = {"Source": "tradeops.x", "DetailType": "Risk Breach", "Detail": "x" * 100_000}
    small = {"Source": "tradeops.x", "DetailType": "Risk Breach", "Detail": "{}"}
    assert [len(b) for b in batches([(str(i), small) for i in range(25)])] == [10, 10, 5]
    assert [len(b) for b in batches([(str(i), big) for i in range(5)])] == [2, 2, 1]
    assert (
        entry_size({**small, "Time": "2025-01-01T00:00:00Z", "Resources": ["arn:x"]}) == 10 + 11 + 2 + 5 + 14
    )
    with pytest.raises(PublishError, match="over the"):
        list(batches([("huge", {**big, "Detail": "x" * 300_000})]))
