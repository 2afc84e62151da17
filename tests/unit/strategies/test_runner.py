"""StrategyRunner and intent ids: sequencing, restoration, the enable flag, sinks and their failures."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest

from tradeops.aws.events import EventPublisher
from tradeops.config import Settings
from tradeops.domain.events import TradeIntent
from tradeops.domain.orders import Fill
from tradeops.domain.values import Side
from tradeops.gateway.quality import Feed, FeedQuality, MarketView
from tradeops.strategies import IntentIds, Strategy, StrategyRunner, eventbridge_sink, sequence_of

pytestmark = pytest.mark.timeout(20)

NOW = 1_700_000_000_000


class EveryTick(Strategy):
    """Buys one unit per market view; answers a fill with a sell; records what it saw."""

    def __init__(self) -> None:
        super().__init__("probe", ["BTC/USDT", "ETH/USDT"])
        self.timers: list[int] = []
        self.seen: list[str] = []

    def on_timer(self, now_ms: int) -> Sequence[TradeIntent]:
        self.timers.append(now_ms)
        return ()

    def on_market(self, view: MarketView, now_ms: int) -> Sequence[TradeIntent]:
        self.seen.append(view.symbol)
        return (self.intent(now_ms=now_ms, symbol=view.symbol, side=Side.BUY, quantity=Decimal("1")),)

    def on_fill(self, fill: Fill) -> Sequence[TradeIntent]:
        return (self.intent(now_ms=fill.ts, symbol=fill.symbol, side=Side.SELL, quantity=fill.quantity),)


def ok_view(symbol: str) -> MarketView:
    return MarketView(
        symbol, FeedQuality.OK, frozenset(), Feed.PRIMARY, Decimal(99), Decimal(101), Decimal(100), 1, 1
    )


class Sink:
    def __init__(self) -> None:
        self.intents: list[TradeIntent] = []
        self.fail_ids: set[str] = set()

    async def __call__(self, intent: TradeIntent) -> str:
        if intent.intent_id in self.fail_ids:
            raise ConnectionError("intake stopped")
        self.intents.append(intent)
        return "accepted"


def test_ids_resume_after_the_last_published_and_never_below_the_clock_floor() -> None:
    assert IntentIds.resume("demo", start_ms=5).next() == "demo-5000"
    resumed = IntentIds.resume("demo", start_ms=5, last_intent_id="demo-9000")
    assert [resumed.next(), resumed.next()] == ["demo-9001", "demo-9002"]
    assert IntentIds.resume("demo", start_ms=5, last_intent_id="demo-12").next() == "demo-5000"
    assert IntentIds.resume("demo", start_ms=5, last_intent_id="other-9000").next() == "demo-5000"
    assert sequence_of("demo", "demo-42") == 42
    assert sequence_of("demo", "demo-x") is None
    assert sequence_of("demo", "demox-42") is None
    with pytest.raises(ValueError):
        IntentIds("demo", -1)


def test_strategy_names_cannot_make_ids_ambiguous() -> None:
    class Named(EveryTick):
        def __init__(self, name: str) -> None:
            Strategy.__init__(self, name, ["BTC/USDT"])

    with pytest.raises(ValueError):
        Named("my-strategy")
    with pytest.raises(ValueError):
        Named("")


async def test_tick_feeds_timer_then_every_symbol_and_publishes() -> None:
    strategy, sink = EveryTick(), Sink()
    runner = StrategyRunner(strategy, ok_view, sink, now_ms=lambda: NOW)
    delivered = await runner.tick()
    assert strategy.timers == [NOW]
    assert strategy.seen == ["BTC/USDT", "ETH/USDT"]
    assert [i.intent_id for i in delivered] == [f"probe-{NOW * 1000}", f"probe-{NOW * 1000 + 1}"]
    assert sink.intents == delivered and runner.published == 2


async def test_restart_continues_the_sequence() -> None:
    sink = Sink()
    first = StrategyRunner(EveryTick(), ok_view, sink, now_ms=lambda: NOW)
    await first.tick()
    last = sink.intents[-1].intent_id
    second = StrategyRunner(EveryTick(), ok_view, sink, now_ms=lambda: NOW - 60_000, last_intent_id=last)
    await second.tick()
    ids = [i.intent_id for i in sink.intents]
    assert len(set(ids)) == 4
    assert [sequence_of("probe", i) for i in ids] == sorted(sequence_of("probe", i) or 0 for i in ids)


async def test_disabled_strategy_makes_no_decisions() -> None:
    strategy, sink = EveryTick(), Sink()
    flags = {"probe": False}
    runner = StrategyRunner(strategy, ok_view, sink, enabled=flags.__getitem__, now_ms=lambda: NOW)
    assert await runner.tick() == []
    assert strategy.seen == [] and sink.intents == []
    flags["probe"] = True
    assert len(await runner.tick()) == 2


async def test_sink_failure_is_counted_and_the_rest_still_delivered() -> None:
    sink = Sink()
    runner = StrategyRunner(EveryTick(), ok_view, sink, now_ms=lambda: NOW)
    sink.fail_ids = {f"probe-{NOW * 1000}"}
    delivered = await runner.tick()
    assert [i.symbol for i in delivered] == ["ETH/USDT"]
    assert runner.failed == 1 and runner.published == 1


async def test_fills_are_answered_at_once() -> None:
    sink = Sink()
    runner = StrategyRunner(EveryTick(), ok_view, sink, now_ms=lambda: NOW)
    fill = Fill("c", "t", "BTC/USDT", Side.BUY, Decimal(100), Decimal("0.5"), Decimal(0), "USDT", NOW, True)
    [reply] = await runner.on_fill(fill)
    assert (reply.side, reply.quantity) == (Side.SELL, Decimal("0.5"))


async def test_run_loop_keeps_going_after_a_failing_tick() -> None:
    calls = {"n": 0}

    def flaky_view(symbol: str) -> MarketView:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("market data not started")
        return ok_view(symbol)

    sink = Sink()
    runner = StrategyRunner(EveryTick(), flaky_view, sink, interval_s=0.02)
    runner.start()
    await asyncio.sleep(0.15)
    await runner.stop()
    await runner.stop()
    assert sink.intents  # later ticks published despite the first one raising
    count = len(sink.intents)
    await asyncio.sleep(0.05)
    assert len(sink.intents) == count


class RecordingEvents:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.entries.extend(Entries)
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(i)} for i in range(len(Entries))]}


async def test_eventbridge_sink_publishes_trade_intents_from_the_strategy_source() -> None:
    settings = Settings(bus_name="tradeops-test")
    events = RecordingEvents()
    publish = eventbridge_sink(EventPublisher(settings, "tradeops.strategy", events_client=events))
    runner = StrategyRunner(EveryTick(), ok_view, publish, now_ms=lambda: NOW)
    await runner.tick()
    assert [(e["Source"], e["DetailType"], e["EventBusName"]) for e in events.entries] == [
        ("tradeops.strategy", "Trade Intent", "tradeops-test")
    ] * 2
    detail = json.loads(events.entries[0]["Detail"])
    assert detail["intent_id"] == detail["event_id"] == f"probe-{NOW * 1000}"
    assert detail["quantity"] == "1"
    with pytest.raises(ValueError, match=r"tradeops\.strategy"):
        eventbridge_sink(EventPublisher(settings, "tradeops.gateway", events_client=events))
