"""IntentIntake against moto: bus -> rule "trade-intents" -> intents queue -> on_intent, DLQ, rejections.

The stack is provisioned by ``tradeops.local.provision`` (the same rules and queues as in AWS). The OMS
stand-in journals every accepted intent in the real journal table and answers duplicates from it, as
the contract asks. Order Rejected events are observed on a tap queue subscribed to the bus.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tradeops.aws.clients import client
from tradeops.aws.events import EventPublisher
from tradeops.config import Settings
from tradeops.domain.events import TradeIntent
from tradeops.domain.values import OrderType, Side
from tradeops.gateway.intake import ATTR_REASON, EnvelopeMeta, IntakeConfig, IntakeOutcome, IntentIntake
from tradeops.local.provision import provision
from tradeops.store.journal import JournalStore

pytestmark = [pytest.mark.integration, pytest.mark.timeout(40)]


class Stack:
    def __init__(self, settings: Settings, queues: dict[str, str], tap: str) -> None:
        self.settings, self.queues, self.tap = settings, queues, tap
        self.sqs = client("sqs", settings)
        self.events = client("events", settings)

    def count(self, logical: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queues[logical],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def drain(self, url: str) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while batch := self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageAttributeNames=["All"]
        ).get("Messages", []):
            messages += batch
            for message in batch:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return messages

    def put_raw(self, detail: dict[str, Any], source: str = "tradeops.strategy") -> None:
        entry = {"Source": source, "DetailType": "Trade Intent", "Detail": json.dumps(detail)}
        response = self.events.put_events(Entries=[{**entry, "EventBusName": self.settings.bus_name}])
        assert response["FailedEntryCount"] == 0


class JournalOms:
    """on_intent/is_known over the journal: an intent is journaled before it is acknowledged."""

    def __init__(self, settings: Settings, delay: float = 0.0) -> None:
        self.journal = JournalStore(settings)
        self.calls: list[tuple[str, EnvelopeMeta]] = []
        self.accepted: list[str] = []
        self.failures = 0
        self.reject: set[str] = set()
        self.delay, self.active, self.peak = delay, 0, 0

    async def on_intent(self, intent: TradeIntent, meta: EnvelopeMeta) -> IntakeOutcome:
        self.calls.append((intent.intent_id, meta))
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(self.delay)
            if self.failures:
                self.failures -= 1
                raise ConnectionError("injected: journal unreachable")
            if intent.symbol in self.reject:
                return IntakeOutcome.rejected("unknown_symbol", f"{intent.symbol} is not traded")
            if await self.is_known(intent.intent_id):
                return IntakeOutcome.duplicate()
            payload = intent.model_dump(mode="json")
            await asyncio.to_thread(
                self.journal.append, f"intent/{intent.intent_id}", "intent", payload, "gw", 1
            )
            self.accepted.append(intent.intent_id)
            return IntakeOutcome.accepted()
        finally:
            self.active -= 1

    async def is_known(self, intent_id: str) -> bool:
        return await asyncio.to_thread(self.journal.head, f"intent/{intent_id}") is not None


@pytest.fixture
def stack(aws_settings: Settings) -> Stack:
    settings = aws_settings
    resources = provision(settings)
    sqs, events = client("sqs", settings), client("events", settings)
    tap = sqs.create_queue(QueueName=f"{settings.bus_name}-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=tap, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": [{"prefix": "tradeops."}], "detail-type": ["Order Rejected"]}
    events.put_rule(Name="tap", EventBusName=settings.bus_name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule="tap", EventBusName=settings.bus_name, Targets=[{"Id": "tap", "Arn": arn}])
    return Stack(settings, resources.queues, tap)


Factory = Callable[..., Awaitable[IntentIntake]]


@pytest.fixture
async def make_intake(stack: Stack) -> AsyncIterator[Factory]:
    started: list[IntentIntake] = []

    async def make(oms: JournalOms, sqs_client: Any = None, **config: Any) -> IntentIntake:
        config = {"wait_time_s": 1, "retry_delay_s": 1, **config}
        publisher = EventPublisher(stack.settings, "tradeops.gateway")
        intake = IntentIntake(
            stack.settings,
            oms.on_intent,
            oms.is_known,
            publisher,
            config=IntakeConfig(**config),
            sqs_client=sqs_client,
        )
        await intake.start()
        started.append(intake)
        return intake

    yield make
    for intake in started:
        await intake.stop()


async def eventually(check: Callable[[], bool], timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def eventually_count(stack: Stack, logical: str, expected: int, timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while (count := await asyncio.to_thread(stack.count, logical)) != expected:
        assert time.monotonic() < deadline, f"{logical}: {count} messages, expected {expected}"
        await asyncio.sleep(0.1)


def _intent(**fields: Any) -> TradeIntent:
    intent_id = f"i-{uuid.uuid4().hex[:12]}"
    values: dict[str, Any] = {
        "intent_id": intent_id,
        "correlation_id": f"c-{intent_id}",
        "strategy": "demo",
        "symbol": "BTC/USDT",
        "side": Side.BUY,
        "type": OrderType.LIMIT,
        "quantity": Decimal("0.010"),
        "limit_price": Decimal("50000.5"),
        **fields,
    }
    return TradeIntent(**values)


def _envelope(intent: TradeIntent) -> str:
    return json.dumps(
        {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Trade Intent",
            "source": "tradeops.strategy",
            "time": "2026-01-05T12:00:00Z",
            "detail": intent.model_dump(mode="json"),
        }
    )


async def test_an_intent_put_on_the_bus_reaches_on_intent_once(stack: Stack, make_intake: Factory) -> None:
    oms = JournalOms(stack.settings)
    intake = await make_intake(oms)
    intent = _intent()
    EventPublisher(stack.settings, "tradeops.strategy").publish(intent)
    await eventually(lambda: oms.accepted == [intent.intent_id])
    await eventually_count(stack, "intents", 0)
    await asyncio.sleep(1.2)  # one more long poll: nothing comes back
    assert [call[0] for call in oms.calls] == [intent.intent_id]
    meta = oms.calls[0][1]
    assert (meta.channel, meta.source, meta.receive_count) == ("sqs", "tradeops.strategy", 1)
    assert meta.event_id and meta.message_id
    entries = oms.journal.read(f"intent/{intent.intent_id}")
    assert entries[0].payload["quantity"] == "0.010" and intake.stats.accepted == 1


async def test_a_redelivered_envelope_is_accepted_once_even_after_a_restart(
    stack: Stack, make_intake: Factory
) -> None:
    oms, intent = JournalOms(stack.settings), _intent()
    body = _envelope(intent)
    for _ in range(2):  # EventBridge delivers at least once
        stack.sqs.send_message(QueueUrl=stack.queues["intents"], MessageBody=body)
    first = await make_intake(oms)
    await eventually_count(stack, "intents", 0)
    assert oms.accepted == [intent.intent_id] and len(oms.calls) == 1  # the in-memory fast path
    await first.stop()
    second = await make_intake(oms)  # a restarted gateway: empty memory, the journal remembers
    stack.sqs.send_message(QueueUrl=stack.queues["intents"], MessageBody=body)
    await eventually_count(stack, "intents", 0)
    assert oms.accepted == [intent.intent_id] and len(oms.calls) == 2
    assert second.stats.duplicates == 1 and first.stats.duplicates == 1


async def test_a_schema_invalid_intent_is_rejected_once_and_dead_lettered(
    stack: Stack, make_intake: Factory
) -> None:
    oms = JournalOms(stack.settings)
    detail = _intent().model_dump(mode="json")
    detail["quantity"] = 0.5  # floats are refused for quantities
    for _ in range(2):  # the same bad intent delivered twice
        stack.put_raw(detail)
    await make_intake(oms)
    await eventually_count(stack, "intents-dlq", 2)
    await eventually_count(stack, "intents", 0)
    await asyncio.sleep(0.5)
    rejections = [json.loads(m["Body"]) for m in stack.drain(stack.tap)]
    assert len(rejections) == 1 and oms.calls == []
    event = rejections[0]
    assert (event["source"], event["detail-type"]) == ("tradeops.gateway", "Order Rejected")
    assert (
        event["detail"]["intent_id"] == detail["intent_id"] and event["detail"]["reason"] == "invalid_intent"
    )
    assert "quantity" in event["detail"]["message"]
    assert event["detail"]["correlation_id"] == detail["correlation_id"]
    dead = stack.drain(stack.queues["intents-dlq"])
    assert {m["MessageAttributes"][ATTR_REASON]["StringValue"] for m in dead} == {"invalid_intent"}
    assert json.loads(dead[0]["Body"])["detail"]["intent_id"] == detail["intent_id"]


async def test_a_failing_callback_leaves_the_message_for_a_retry(stack: Stack, make_intake: Factory) -> None:
    oms, intent = JournalOms(stack.settings), _intent()
    oms.failures = 1
    intake = await make_intake(oms, retry_delay_s=1)
    EventPublisher(stack.settings, "tradeops.strategy").publish(intent)
    await eventually(lambda: len(oms.calls) == 1)
    assert await asyncio.to_thread(stack.count, "intents") == 1  # not deleted
    await eventually(lambda: oms.accepted == [intent.intent_id])
    await eventually_count(stack, "intents", 0)
    assert [meta.receive_count for _, meta in oms.calls] == [1, 2]
    assert intake.stats.failed == 1 and stack.count("intents-dlq") == 0


async def test_expired_and_refused_intents_are_rejected_with_their_reason(
    stack: Stack, make_intake: Factory
) -> None:
    oms = JournalOms(stack.settings)
    oms.reject.add("DOGE/USDT")
    now = datetime.now(UTC)
    expired = _intent(occurred_at=now - timedelta(seconds=10), expires_at=now - timedelta(seconds=1))
    unknown = _intent(symbol="DOGE/USDT")
    EventPublisher(stack.settings, "tradeops.strategy").publish_many([expired, unknown])
    await make_intake(oms)
    await eventually_count(stack, "intents-dlq", 2)
    await eventually_count(stack, "intents", 0)
    await asyncio.sleep(0.5)
    reasons = {m["detail"]["intent_id"]: m["detail"]["reason"] for m in map(json.loads, _bodies(stack))}
    assert reasons == {expired.intent_id: "intent_expired", unknown.intent_id: "unknown_symbol"}
    assert [call[0] for call in oms.calls] == [unknown.intent_id] and oms.accepted == []


def _bodies(stack: Stack) -> list[str]:
    return [m["Body"] for m in stack.drain(stack.tap)]


async def test_backpressure_bounds_the_intents_in_flight(stack: Stack, make_intake: Factory) -> None:
    oms = JournalOms(stack.settings, delay=0.2)
    intents = [_intent() for _ in range(6)]
    for intent in intents:
        stack.sqs.send_message(QueueUrl=stack.queues["intents"], MessageBody=_envelope(intent))
    intake = await make_intake(oms, max_in_flight=2)
    await eventually(lambda: len(oms.accepted) == 6)
    assert oms.peak == 2 and sorted(oms.accepted) == sorted(i.intent_id for i in intents)
    await eventually_count(stack, "intents", 0)
    await intake.stop()
    assert intake.in_flight == 0


async def test_stop_finishes_the_intents_in_flight_and_stops_polling(
    stack: Stack, make_intake: Factory
) -> None:
    oms, first, later = JournalOms(stack.settings, delay=1.0), _intent(), _intent()
    intake = await make_intake(oms)
    EventPublisher(stack.settings, "tradeops.strategy").publish(first)
    await eventually(lambda: len(oms.calls) == 1)  # in flight for 1 s; the poller is in its next long poll
    started = time.monotonic()
    stopping = asyncio.create_task(intake.stop())
    await asyncio.sleep(0.05)
    # Arrives during the stop: handed back at once (visible), not held for the visibility timeout.
    await asyncio.to_thread(
        stack.sqs.send_message, QueueUrl=stack.queues["intents"], MessageBody=_envelope(later)
    )
    await stopping
    # ~1 s in flight + the 1 s long poll; far below the 30 s visibility timeout it must not wait out.
    assert time.monotonic() - started < 5.0
    assert oms.accepted == [first.intent_id] and [c[0] for c in oms.calls] == [first.intent_id]
    visible = stack.sqs.get_queue_attributes(
        QueueUrl=stack.queues["intents"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    assert (visible, stack.count("intents")) == ("1", 1)
    await asyncio.sleep(1.2)
    assert len(oms.calls) == 1  # nobody polls any more


class FlakySqs:
    """The real SQS client, failing the next ``fail[operation]`` calls of an operation."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.fail: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.real, name)

        def call(**kwargs: Any) -> Any:
            if self.fail.get(name, 0) > 0:
                self.fail[name] -= 1
                raise ConnectionError(f"injected {name} failure")
            return method(**kwargs)

        return call


async def test_sqs_failures_neither_lose_nor_duplicate_intents_or_rejections(
    stack: Stack, make_intake: Factory
) -> None:
    stack.sqs.set_queue_attributes(QueueUrl=stack.queues["intents"], Attributes={"VisibilityTimeout": "1"})
    oms, flaky, good = JournalOms(stack.settings), FlakySqs(stack.sqs), _intent()
    flaky.fail = {"receive_message": 2, "delete_message": 1}
    await make_intake(oms, sqs_client=flaky)
    EventPublisher(stack.settings, "tradeops.strategy").publish(good)
    await eventually_count(
        stack, "intents", 0, timeout=10
    )  # deleted on the redelivery after the failed delete
    assert oms.accepted == [good.intent_id] and flaky.fail == {"receive_message": 0, "delete_message": 0}
    assert [call[0] for call in oms.calls] == [good.intent_id]  # the redelivery hit the fast path
    bad = _intent().model_dump(mode="json")
    bad["symbol"] = "btc-usdt"
    flaky.fail = {"send_message": 1}  # moving it to the DLQ fails once
    stack.put_raw(bad)
    await eventually_count(stack, "intents-dlq", 1)
    await eventually_count(stack, "intents", 0)
    await asyncio.sleep(0.5)
    rejections = [json.loads(body) for body in _bodies(stack)]
    assert [r["detail"]["intent_id"] for r in rejections] == [bad["intent_id"]] and flaky.fail[
        "send_message"
    ] == 0
    assert stack.count("intents-dlq") == 1
