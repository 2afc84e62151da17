"""IntentIntake without a queue: envelope decoding and the idempotent path (in-process submissions)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tradeops.config import Settings
from tradeops.domain.events import EventDetail, OrderRejected, TradeIntent
from tradeops.domain.values import OrderType, Side
from tradeops.gateway.intake import (
    EnvelopeMeta,
    IntakeConfig,
    IntakeOutcome,
    IntakeStatus,
    IntakeStopped,
    IntentIntake,
    InvalidIntent,
    RejectReason,
    decode_message,
    rejection_event_id,
)

pytestmark = pytest.mark.timeout(10)

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _intent(intent_id: str = "i-1", **fields: Any) -> TradeIntent:
    values: dict[str, Any] = {
        "intent_id": intent_id,
        "correlation_id": f"c-{intent_id}",
        "strategy": "demo",
        "symbol": "BTC/USDT",
        "side": Side.BUY,
        "type": OrderType.MARKET,
        "quantity": Decimal("0.01"),
        "occurred_at": NOW - timedelta(seconds=5),
        **fields,
    }
    return TradeIntent(**values)


def _body(
    detail: dict[str, Any], source: str = "tradeops.strategy", detail_type: str = "Trade Intent"
) -> str:
    return json.dumps({"id": "ev-1", "source": source, "detail-type": detail_type, "detail": detail})


class Sink:
    def __init__(self, failures: int = 0) -> None:
        self.events: list[OrderRejected] = []
        self.failures = failures

    def publish(self, event: EventDetail) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("EventBridge unavailable")
        assert isinstance(event, OrderRejected)
        self.events.append(event)


class Oms:
    """on_intent/is_known over a dict standing in for the journal; scripted outcomes and failures."""

    def __init__(self, delay: float = 0.0) -> None:
        self.journal: set[str] = set()
        self.calls: list[str] = []
        self.failures = 0
        self.reject: dict[str, str] = {}
        self.delay = delay
        self.active = 0
        self.peak = 0

    async def on_intent(self, intent: TradeIntent, meta: EnvelopeMeta) -> IntakeOutcome:
        self.calls.append(intent.intent_id)
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(self.delay)
            if self.failures:
                self.failures -= 1
                raise ConnectionError("journal unavailable")
            if intent.intent_id in self.reject:
                return IntakeOutcome.rejected("unknown_symbol", self.reject[intent.intent_id])
            if intent.intent_id in self.journal:
                return IntakeOutcome.duplicate()
            self.journal.add(intent.intent_id)
            return IntakeOutcome.accepted()
        finally:
            self.active -= 1

    async def is_known(self, intent_id: str) -> bool:
        return intent_id in self.journal


def _intake(oms: Oms, sink: Sink, **config: Any) -> IntentIntake:
    return IntentIntake(
        Settings(aws_endpoint_url="http://127.0.0.1:9"),
        oms.on_intent,
        oms.is_known,
        sink,
        config=IntakeConfig(**config),
        clock=lambda: NOW,
    )


def test_decode_accepts_a_trade_intent_envelope() -> None:
    original = _intent(limit_price=Decimal("50000.10"), type=OrderType.LIMIT)
    intent, envelope = decode_message(_body(original.model_dump(mode="json")), "m-1")
    assert intent == original and envelope["id"] == "ev-1"


@pytest.mark.parametrize(
    ("body", "reason", "intent_id", "needle"),
    [
        ("{not json", RejectReason.INVALID_ENVELOPE, "unparsed-m-1", "not JSON"),
        ("[1]", RejectReason.INVALID_ENVELOPE, "unparsed-m-1", "not an object"),
        (_body({"intent_id": "i-9"}, source="aws.events"), RejectReason.INVALID_ENVELOPE, "i-9", "source"),
        (
            _body({"intent_id": "i-9"}, detail_type="Order Updated"),
            RejectReason.INVALID_ENVELOPE,
            "i-9",
            "detail-type",
        ),
        (_body({"intent_id": "i-9", "quantity": 0.5}), RejectReason.INVALID_INTENT, "i-9", "quantity"),
        (
            _body({"intent_id": "has space", "quantity": "1"}),
            RejectReason.INVALID_INTENT,
            "unparsed-m-1",
            "symbol",
        ),
    ],
)
def test_decode_names_what_is_wrong(body: str, reason: RejectReason, intent_id: str, needle: str) -> None:
    with pytest.raises(InvalidIntent) as caught:
        decode_message(body, "m-1")
    assert caught.value.outcome.reason == reason and caught.value.intent_id == intent_id
    assert needle in caught.value.outcome.message


def test_outcome_requires_a_reason_code_exactly_for_rejections() -> None:
    with pytest.raises(ValueError):
        IntakeOutcome(IntakeStatus.REJECTED)
    with pytest.raises(ValueError):
        IntakeOutcome(IntakeStatus.ACCEPTED, "why")
    with pytest.raises(ValueError):
        IntakeOutcome.rejected("not a code", "spaces are not allowed in codes")


async def test_concurrent_copies_of_one_intent_reach_on_intent_once() -> None:
    oms, sink = Oms(delay=0.05), Sink()
    intake = _intake(oms, sink)
    outcomes = await asyncio.gather(*(intake.submit_local(_intent()) for _ in range(5)))
    assert oms.calls == ["i-1"]
    assert sorted(o.status for o in outcomes) == [IntakeStatus.ACCEPTED] + [IntakeStatus.DUPLICATE] * 4
    assert intake.stats.accepted == 1 and intake.stats.duplicates == 4


async def test_a_failed_on_intent_is_not_remembered_and_is_retried() -> None:
    oms, sink = Oms(), Sink()
    oms.failures = 1
    intake = _intake(oms, sink)
    with pytest.raises(ConnectionError):
        await intake.submit_local(_intent())
    assert (await intake.submit_local(_intent())).status is IntakeStatus.ACCEPTED
    assert oms.calls == ["i-1", "i-1"] and oms.journal == {"i-1"}


async def test_a_refused_intent_publishes_one_rejection_however_often_it_comes() -> None:
    oms, sink = Oms(), Sink()
    oms.reject["i-1"] = "symbol DOGE/USDT is not traded"
    intake = _intake(oms, sink)
    for _ in range(3):
        outcome = await intake.submit_local(_intent())
        assert (outcome.status, outcome.reason) == (IntakeStatus.REJECTED, "unknown_symbol")
    assert oms.calls == ["i-1"] and len(sink.events) == 1
    event = sink.events[0]
    assert (event.intent_id, event.reason, event.correlation_id) == ("i-1", "unknown_symbol", "c-i-1")
    assert event.event_id == rejection_event_id("i-1") and event.client_order_id is None


async def test_an_unpublished_rejection_is_published_on_the_next_attempt() -> None:
    oms, sink = Oms(), Sink(failures=1)
    oms.reject["i-1"] = "unknown strategy"
    intake = _intake(oms, sink)
    with pytest.raises(RuntimeError, match="EventBridge"):
        await intake.submit_local(_intent())
    assert (await intake.submit_local(_intent())).status is IntakeStatus.REJECTED
    assert len(sink.events) == 1 and intake.stats.rejected == 1


async def test_an_expired_intent_is_rejected_unless_it_was_taken_in_time() -> None:
    oms, sink = Oms(), Sink()
    intake = _intake(oms, sink)
    late = _intent("i-late", expires_at=NOW - timedelta(seconds=1))
    outcome = await intake.submit_local(late)
    assert (outcome.status, outcome.reason) == (IntakeStatus.REJECTED, RejectReason.INTENT_EXPIRED)
    assert oms.calls == [] and [e.reason for e in sink.events] == ["intent_expired"]
    oms.journal.add("i-old")  # accepted before a restart, redelivered after its expiry
    old = _intent("i-old", expires_at=NOW - timedelta(seconds=1))
    assert (await intake.submit_local(old)).status is IntakeStatus.DUPLICATE
    assert len(sink.events) == 1 and oms.calls == []
    fresh = _intent("i-fresh", expires_at=NOW + timedelta(seconds=1))
    assert (await intake.submit_local(fresh)).status is IntakeStatus.ACCEPTED


async def test_at_most_max_in_flight_intents_are_processed_at_once() -> None:
    oms, sink = Oms(delay=0.05), Sink()
    intake = _intake(oms, sink, max_in_flight=2)
    outcomes = await asyncio.gather(*(intake.submit_local(_intent(f"i-{n}")) for n in range(6)))
    assert all(o.status is IntakeStatus.ACCEPTED for o in outcomes)
    assert oms.peak == 2 and intake.in_flight == 0


async def test_the_fast_path_is_bounded_and_the_durable_check_covers_the_rest() -> None:
    oms, sink = Oms(), Sink()
    intake = _intake(oms, sink, remembered_intents=2)
    for n in range(3):
        await intake.submit_local(_intent(f"i-{n}"))
    assert (await intake.submit_local(_intent("i-2"))).status is IntakeStatus.DUPLICATE
    assert oms.calls == ["i-0", "i-1", "i-2"]  # i-2 remembered in memory
    assert (await intake.submit_local(_intent("i-0"))).status is IntakeStatus.DUPLICATE
    assert oms.calls == ["i-0", "i-1", "i-2", "i-0"]  # i-0 forgotten: the journal answered


async def test_a_wrong_callback_result_is_an_error_and_stop_refuses_new_intents() -> None:
    async def broken(intent: TradeIntent, meta: EnvelopeMeta) -> IntakeOutcome:
        return "accepted"  # type: ignore[return-value]

    oms, sink = Oms(), Sink()
    intake = IntentIntake(
        Settings(aws_endpoint_url="http://127.0.0.1:9"), broken, oms.is_known, sink, clock=lambda: NOW
    )
    with pytest.raises(TypeError):
        await intake.submit_local(_intent())
    await intake.stop()
    with pytest.raises(IntakeStopped):
        await intake.submit_local(_intent("i-2"))


async def test_stop_waits_for_local_intents_in_flight() -> None:
    oms, sink = Oms(delay=0.2), Sink()
    intake = _intake(oms, sink)
    pending = asyncio.create_task(intake.submit_local(_intent()))
    await asyncio.sleep(0.05)
    await intake.stop()
    assert pending.done() and pending.result().status is IntakeStatus.ACCEPTED
