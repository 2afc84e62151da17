"""Intake of trade intents (issue 4, item 2): the ``intents`` SQS queue and in-process strategies.

The rule ``trade-intents`` puts every ``Trade Intent`` envelope on the ``intents`` queue; the intake
long-polls it, checks the envelope (``tradeops.*`` source, detail type) and the detail, and hands each
valid :class:`TradeIntent` to ``on_intent``. :meth:`IntentIntake.submit_local` takes the same path.

Contract with ``on_intent`` (the OMS): ``ACCEPTED`` only once the intent is durably journaled;
``DUPLICATE`` if its journal already holds that ``intent_id`` (the durable idempotency check: a
redelivery after a restart never makes a second order); ``REJECTED`` with a reason code (unknown symbol
or strategy...) for an intent it refuses, publishing nothing itself; an exception means "retry later".
``is_known(intent_id)`` is the same durable lookup, asked before rejecting an expired intent (it may
have been accepted in time). A bounded in-memory map of settled ids is the fast path and copies of one
intent are settled one at a time. A message is deleted only after ACCEPTED/DUPLICATE; after a failure it
returns after ``retry_delay_s``, and after ``max_receive_count`` receives the redrive policy dead-letters it.

Rejections (bad envelope, schema errors, expired, refused by ``on_intent``) publish one "Order Rejected"
event, then the message is moved to the DLQ explicitly (its body, the reason as message attributes):
published once, not on every receive. Its ``event_id`` derives from the intent id, so a crash between
publishing and moving republishes the *same* event, which idempotent consumers drop. A detail without a
usable ``intent_id`` is rejected as ``unparsed-<SQS message id>``.

Backpressure: at most ``max_in_flight`` intents (queued and local) at once; the poller receives only as
many messages as there are free slots. :meth:`IntentIntake.stop` stops polling, hands messages received
after the stop back at once, and waits for those in flight.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from tradeops.aws.clients import client as aws_client
from tradeops.config import Settings
from tradeops.domain.events import EventDetail, OrderRejected, TradeIntent
from tradeops.gateway.intake_messages import (
    EnvelopeMeta,
    IntakeOutcome,
    IntakeStatus,
    InvalidIntent,
    RejectReason,
    decode_message,
    rejection_event_id,
)
from tradeops.observability import correlation_scope, get_logger
from tradeops.routes import QUEUES_BY_NAME

_log = get_logger("tradeops-gateway")
ATTR_REASON = "tradeops-reject-reason"
ATTR_MESSAGE = "tradeops-reject-message"
ATTR_ORIGINAL_ID = "tradeops-original-message-id"


__all__ = [
    "ATTR_MESSAGE",
    "ATTR_ORIGINAL_ID",
    "ATTR_REASON",
    "EnvelopeMeta",
    "IntakeConfig",
    "IntakeOutcome",
    "IntakeStats",
    "IntakeStatus",
    "IntakeStopped",
    "IntentIntake",
    "InvalidIntent",
    "RejectReason",
    "decode_message",
    "rejection_event_id",
]


@dataclass(frozen=True)
class IntakeConfig:
    max_in_flight: int = 16
    wait_time_s: int = 10
    """SQS long-poll wait (0..20); also bounds how long :meth:`IntentIntake.stop` waits for the poller."""
    retry_delay_s: int | None = 5
    """Visibility of a message whose processing failed; None keeps the queue's visibility timeout."""
    remembered_intents: int = 100_000

    def __post_init__(self) -> None:
        if self.max_in_flight < 1 or self.remembered_intents < 1 or not 0 <= self.wait_time_s <= 20:
            raise ValueError("max_in_flight and remembered_intents must be >= 1, wait_time_s in 0..20")
        if self.retry_delay_s is not None and not 0 <= self.retry_delay_s <= 43_200:
            raise ValueError("retry_delay_s must be in 0..43200")


@dataclass
class IntakeStats:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    failed: int = 0
    dead_lettered: int = 0


class IntakeStopped(RuntimeError):
    """The intake is stopping or stopped and takes no more intents."""


class EventSink(Protocol):
    """Publishes one event (blocking); :class:`tradeops.aws.events.EventPublisher` is one."""

    def publish(self, event: EventDetail) -> None: ...


OnIntent = Callable[[TradeIntent, EnvelopeMeta], Awaitable[IntakeOutcome]]
IsKnown = Callable[[str], Awaitable[bool]]


@dataclass
class _KeyLock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


async def _given(outcome: IntakeOutcome) -> IntakeOutcome:
    return outcome


def _now() -> datetime:
    return datetime.now(UTC)


class IntentIntake:
    """Consumes trade intents from the ``intents`` queue and in-process strategies; see the module doc."""

    def __init__(
        self,
        settings: Settings,
        on_intent: OnIntent,
        is_known: IsKnown,
        publisher: EventSink,
        *,
        config: IntakeConfig | None = None,
        sqs_client: Any | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._settings = settings
        self._on_intent = on_intent
        self._is_known = is_known
        self._publisher = publisher
        self._config = config or IntakeConfig()
        self._sqs = sqs_client if sqs_client is not None else aws_client("sqs", settings)
        self._clock = clock
        self._seen: OrderedDict[str, IntakeOutcome] = OrderedDict()
        self._locks: dict[str, _KeyLock] = {}
        self._slots = asyncio.Condition()
        self._in_flight = 0
        self._stopping = False
        self._tasks: set[asyncio.Task[bool]] = set()
        self._poller: asyncio.Task[None] | None = None
        self._queue_url = ""
        self._dlq_url = ""
        self.stats = IntakeStats()

    @property
    def in_flight(self) -> int:
        """Slots in use: intents being processed plus those a pending receive may return."""
        return self._in_flight

    async def start(self) -> None:
        """Resolve the queue URLs and start long-polling the ``intents`` queue."""
        if self._poller is not None or self._stopping:
            raise RuntimeError("IntentIntake.start() may be called once, before stop()")
        self._queue_url, self._dlq_url = await asyncio.to_thread(self._resolve_urls)
        self._poller = asyncio.create_task(self._poll(), name="intents-poller")

    async def stop(self) -> None:
        """Stop polling and wait for the intents in flight; messages not yet started go back at once."""
        async with self._slots:
            self._stopping = True
            self._slots.notify_all()
        if self._poller is not None:
            await self._poller
        async with self._slots:  # queued and local intents alike
            await self._slots.wait_for(lambda: self._in_flight == 0)

    async def submit_local(self, intent: TradeIntent, *, source: str = "tradeops.strategy") -> IntakeOutcome:
        """Take an intent from an in-process strategy; exceptions of ``on_intent`` propagate."""
        if not await self._reserve(1):
            raise IntakeStopped("the intake is stopping")
        try:
            meta = EnvelopeMeta("local", source, self._clock(), event_id=intent.event_id)
            with correlation_scope(intent.correlation_id):
                return await self._settle(
                    intent.intent_id, intent.correlation_id, lambda: self._decide(intent, meta)
                )
        finally:
            await self._release(1)

    async def process_message(self, message: dict[str, Any]) -> bool:
        """Handle one received SQS message; True once it left the queue (deleted or dead-lettered)."""
        message_id = str(message.get("MessageId") or uuid.uuid4().hex)
        receive_count = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        try:
            intent, envelope = decode_message(str(message.get("Body", "")), message_id)
        except InvalidIntent as invalid:
            intent_id, correlation_id = invalid.intent_id, invalid.correlation_id
            decide = functools.partial(_given, invalid.outcome)
        else:
            event_id = envelope.get("id")
            event_id = event_id if isinstance(event_id, str) else None
            meta = EnvelopeMeta("sqs", envelope["source"], self._clock(), event_id, message_id, receive_count)
            intent_id, correlation_id = intent.intent_id, intent.correlation_id
            decide = functools.partial(self._decide, intent, meta)
        with correlation_scope(correlation_id):
            try:
                outcome = await self._settle(intent_id, correlation_id, decide)
            except Exception as exc:
                self.stats.failed += 1
                extra = {"intent_id": intent_id, "receive_count": receive_count}
                _log.exception("intent %s not settled, will be retried: %s", intent_id, exc, extra=extra)
                await self._retry_later(message)
                return False
            if outcome.status is IntakeStatus.REJECTED:
                return await self._dead_letter(message, outcome)
            return await self._delete(message)

    async def _settle(
        self, intent_id: str, correlation_id: str, decide: Callable[[], Awaitable[IntakeOutcome]]
    ) -> IntakeOutcome:
        """The idempotent path of both channels: one decision per intent id, one rejection event."""
        entry = self._locks.setdefault(intent_id, _KeyLock())
        entry.users += 1
        try:
            async with entry.lock:  # copies of one intent are settled one after another
                known = self._seen.get(intent_id)
                if known is not None:
                    self._seen.move_to_end(intent_id)
                    if known.status is IntakeStatus.REJECTED:
                        return known  # published already: the caller only dead-letters this copy
                    self.stats.duplicates += 1
                    return IntakeOutcome.duplicate()
                outcome = await decide()
                if outcome.status is IntakeStatus.REJECTED:
                    await self._publish_rejection(intent_id, correlation_id, outcome)
                elif outcome.status is IntakeStatus.ACCEPTED:
                    self.stats.accepted += 1
                else:
                    self.stats.duplicates += 1
                self._seen[intent_id] = outcome
                while len(self._seen) > self._config.remembered_intents:
                    self._seen.popitem(last=False)
                return outcome
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._locks[intent_id]

    async def _decide(self, intent: TradeIntent, meta: EnvelopeMeta) -> IntakeOutcome:
        expires_at = intent.expires_at
        if expires_at is not None and expires_at <= self._clock():
            # Taken in time before a restart? Then this is a redelivery, not a rejection.
            if await self._is_known(intent.intent_id):
                return IntakeOutcome.duplicate()
            message = f"intent expired at {expires_at.isoformat()} before intake"
            return IntakeOutcome.rejected(RejectReason.INTENT_EXPIRED, message)
        outcome = await self._on_intent(intent, meta)
        if not isinstance(outcome, IntakeOutcome):
            raise TypeError(f"on_intent returned {type(outcome).__name__}, not an IntakeOutcome")
        return outcome

    async def _publish_rejection(self, intent_id: str, correlation_id: str, outcome: IntakeOutcome) -> None:
        event = OrderRejected(
            event_id=rejection_event_id(intent_id),
            correlation_id=correlation_id,
            intent_id=intent_id,
            client_order_id=None,
            reason=str(outcome.reason),
            message=outcome.message[:2000],
        )
        await asyncio.to_thread(self._publisher.publish, event)
        self.stats.rejected += 1
        _log.warning("intent %s rejected: %s", intent_id, outcome.message, extra={"reason": outcome.reason})

    async def _dead_letter(self, message: dict[str, Any], outcome: IntakeOutcome) -> bool:
        attributes = {
            ATTR_REASON: {"DataType": "String", "StringValue": str(outcome.reason)},
            ATTR_MESSAGE: {"DataType": "String", "StringValue": outcome.message[:4000] or "-"},
            ATTR_ORIGINAL_ID: {"DataType": "String", "StringValue": str(message.get("MessageId", "-"))},
        }
        try:
            await asyncio.to_thread(
                self._sqs.send_message,
                QueueUrl=self._dlq_url,
                MessageBody=message.get("Body") or "-",
                MessageAttributes=attributes,
            )
        except Exception as exc:
            self.stats.failed += 1
            _log.exception("could not move message %s to the DLQ: %s", message.get("MessageId"), exc)
            await self._retry_later(message)
            return False
        self.stats.dead_lettered += 1
        return await self._delete(message)

    async def _delete(self, message: dict[str, Any]) -> bool:
        # If this fails the message comes back and is then recognised as a duplicate.
        return await self._try("delete", self._sqs.delete_message, message)

    async def _retry_later(self, message: dict[str, Any]) -> None:
        if self._config.retry_delay_s is not None:  # else the queue's own visibility timeout applies
            visibility = self._config.retry_delay_s
            await self._try(
                "delay", self._sqs.change_message_visibility, message, VisibilityTimeout=visibility
            )

    async def _try(self, what: str, call: Callable[..., Any], message: dict[str, Any], **kwargs: Any) -> bool:
        """One SQS call on a received message, in a thread; False (logged) if it failed."""
        try:
            await asyncio.to_thread(
                call, QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"], **kwargs
            )
        except Exception as exc:
            _log.warning("could not %s message %s: %s", what, message.get("MessageId"), exc)
            return False
        return True

    async def _poll(self) -> None:
        backoff = 0.5
        while True:
            slots = await self._reserve(10)
            if not slots:
                return
            try:
                response = await asyncio.to_thread(
                    self._sqs.receive_message,
                    QueueUrl=self._queue_url,
                    MaxNumberOfMessages=slots,
                    WaitTimeSeconds=self._config.wait_time_s,
                    MessageSystemAttributeNames=["ApproximateReceiveCount"],
                )
            except Exception as exc:
                await self._release(slots)
                _log.error("receiving intents failed: %s", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)  # also bounds how long stop() may wait
                continue
            backoff, messages = 0.5, list(response.get("Messages", []))
            if self._stopping:  # hand them back at once rather than after the visibility timeout
                await self._release(slots)
                if messages:
                    _log.info("stopping: handing %d received intents back to the queue", len(messages))
                for message in messages:
                    await self._try(
                        "return", self._sqs.change_message_visibility, message, VisibilityTimeout=0
                    )
                return
            await self._release(slots - len(messages))
            for message in messages:
                task = asyncio.create_task(self._process_and_release(message))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _process_and_release(self, message: dict[str, Any]) -> bool:
        try:
            return await self.process_message(message)
        except Exception:
            _log.exception("unexpected error processing message %s", message.get("MessageId"))
            return False
        finally:
            await self._release(1)

    async def _reserve(self, most: int) -> int:
        """Take 1..``most`` free slots, waiting for at least one; 0 once stopping."""
        async with self._slots:
            await self._slots.wait_for(lambda: self._stopping or self._in_flight < self._config.max_in_flight)
            if self._stopping:
                return 0
            taken = min(most, self._config.max_in_flight - self._in_flight)
            self._in_flight += taken
            return taken

    async def _release(self, count: int) -> None:
        if count:
            async with self._slots:
                self._in_flight -= count
                self._slots.notify_all()

    def _resolve_urls(self) -> tuple[str, str]:
        spec = QUEUES_BY_NAME["intents"]
        url: str = self._sqs.get_queue_url(QueueName=self._settings.queue_name(spec.name))["QueueUrl"]
        dlq: str = self._sqs.get_queue_url(QueueName=self._settings.queue_name(spec.dlq_name))["QueueUrl"]
        return url, dlq
