"""The Strategy interface and the runner that feeds a strategy and publishes its Trade Intents.

A :class:`Strategy` sees market views (:class:`~tradeops.gateway.quality.MarketView`), its own fills
and a timer, and answers with zero or more :class:`~tradeops.domain.events.TradeIntent`, built with
:meth:`Strategy.intent` so every intent gets its id from the strategy's :class:`IntentIds`.

Intent ids are ``<strategy>-<n>``, ``n`` a strictly increasing decision sequence. The runner starts it
at ``max(last published + 1, start_ms * 1000)``: the last published intent id (when the app knows it)
restores the sequence exactly, and the wall-clock floor keeps it increasing across restarts without any
persistence (a collision would need more than 1000 intents per millisecond of wall time since the
previous start). Ids are therefore deterministic given (strategy, start, decisions). A re-published
intent keeps its id, so a duplicate is harmless: intake and OMS are idempotent by ``intent_id``.

:class:`StrategyRunner` calls ``on_timer(now)`` then ``on_market(view, now)`` for each of the strategy's
symbols every ``interval_s``, skips decisions while the strategy is disabled (the control table's flag),
and hands each intent to an :data:`IntentSink`: the intake's ``submit_local`` in process, or
:func:`eventbridge_sink` (source ``tradeops.strategy``) for an out-of-process strategy.
"""

from __future__ import annotations

import asyncio
import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from aws_lambda_powertools import Metrics

from tradeops.aio import cancel_and_wait
from tradeops.aws.events import EventPublisher
from tradeops.domain.events import TradeIntent
from tradeops.domain.orders import Fill
from tradeops.domain.values import OrderType, Side, TimeInForce
from tradeops.gateway.clock import wall_ms
from tradeops.gateway.quality import MarketView
from tradeops.observability import MetricUnit, emit_metric, get_logger

__all__ = [
    "STRATEGY_SOURCE",
    "IntentIds",
    "IntentSink",
    "Strategy",
    "StrategyRunner",
    "eventbridge_sink",
    "sequence_of",
]

log = get_logger("tradeops.strategy")

STRATEGY_SOURCE = "tradeops.strategy"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_]{0,47}$")

IntentSink = Callable[[TradeIntent], Awaitable[Any]]
"""Takes one intent; raising means "not delivered" (the runner logs and counts it)."""


def sequence_of(strategy: str, intent_id: str) -> int | None:
    """The decision sequence in ``intent_id`` if it is one of ``strategy``'s ids, else None."""
    prefix = f"{strategy}-"
    rest = intent_id.removeprefix(prefix)
    return int(rest) if intent_id.startswith(prefix) and rest.isdigit() else None


class IntentIds:
    """The strategy's strictly increasing intent ids ``<strategy>-<n>``."""

    def __init__(self, strategy: str, start: int) -> None:
        if start < 0:
            raise ValueError("the sequence starts at a non-negative number")
        self.strategy = strategy
        self._next = start

    @classmethod
    def resume(cls, strategy: str, *, start_ms: int, last_intent_id: str | None = None) -> IntentIds:
        """Continue after ``last_intent_id`` (if given and ours), never below the ``start_ms`` floor."""
        last = None if last_intent_id is None else sequence_of(strategy, last_intent_id)
        return cls(strategy, max(start_ms * 1000, -1 if last is None else last + 1))

    def next(self) -> str:
        value, self._next = self._next, self._next + 1
        return f"{self.strategy}-{value}"


class Strategy(ABC):
    """A trading strategy: pure decisions from market views, fills and time; no I/O of its own."""

    def __init__(self, name: str, symbols: Sequence[str]) -> None:
        if not _NAME_RE.match(name):
            raise ValueError(f"strategy name {name!r} must match {_NAME_RE.pattern}")
        if not symbols:
            raise ValueError("a strategy trades at least one symbol")
        self.name = name
        self.symbols = tuple(symbols)
        self.ids = IntentIds(name, 0)

    @abstractmethod
    def on_market(self, view: MarketView, now_ms: int) -> Sequence[TradeIntent]:
        """React to the latest view of one of :attr:`symbols` at local time ``now_ms``."""

    def on_fill(self, fill: Fill) -> Sequence[TradeIntent]:
        """React to a fill of one of this strategy's orders (default: nothing)."""
        return ()

    def on_timer(self, now_ms: int) -> Sequence[TradeIntent]:
        """Called once per runner tick before the market views (default: nothing)."""
        return ()

    def intent(
        self,
        *,
        now_ms: int,
        symbol: str,
        side: Side,
        quantity: Decimal,
        limit_price: Decimal | None = None,
        time_in_force: TimeInForce | None = None,
        stop_loss: Decimal | None = None,
        take_profit: Decimal | None = None,
        expires_in_ms: int | None = None,
    ) -> TradeIntent:
        """A validated intent with the next id (also its event and correlation id), stamped at ``now_ms``:
        deterministic, no hidden clock or randomness."""
        intent_id = self.ids.next()
        occurred = _utc(now_ms)
        expires = None if expires_in_ms is None else _utc(now_ms + expires_in_ms)
        return TradeIntent(
            event_id=intent_id,
            correlation_id=intent_id,
            occurred_at=occurred,
            intent_id=intent_id,
            strategy=self.name,
            symbol=symbol,
            side=side,
            type=OrderType.MARKET if limit_price is None else OrderType.LIMIT,
            quantity=quantity,
            limit_price=limit_price,
            time_in_force=time_in_force,
            stop_loss=stop_loss,
            take_profit=take_profit,
            expires_at=expires,
        )


def _utc(epoch_ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=epoch_ms)


def eventbridge_sink(publisher: EventPublisher) -> IntentSink:
    """Publish intents on the bus (blocking PutEvents in a thread); the publisher's source must be
    ``tradeops.strategy`` so the intents rule routes them to the gateway's queue."""
    if publisher.source != STRATEGY_SOURCE:
        raise ValueError(f"strategy intents are published from {STRATEGY_SOURCE!r}, not {publisher.source!r}")

    async def publish(intent: TradeIntent) -> None:
        await asyncio.to_thread(publisher.publish, intent)

    return publish


class StrategyRunner:
    """Drives one strategy on a timer and delivers its intents to ``sink``."""

    def __init__(
        self,
        strategy: Strategy,
        view: Callable[[str], MarketView],
        sink: IntentSink,
        *,
        interval_s: float = 1.0,
        enabled: Callable[[str], bool] | None = None,
        last_intent_id: str | None = None,
        now_ms: Callable[[], int] = wall_ms,
        metrics: Metrics | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.strategy = strategy
        self._view = view
        self._sink = sink
        self._interval_s = interval_s
        self._enabled = enabled
        self._now_ms = now_ms
        self._metrics = metrics
        strategy.ids = IntentIds.resume(strategy.name, start_ms=now_ms(), last_intent_id=last_intent_id)
        self._task: asyncio.Task[None] | None = None
        self._was_enabled = True
        self.published = 0
        self.failed = 0

    async def tick(self) -> list[TradeIntent]:
        """One decision round; returns the intents delivered."""
        name = self.strategy.name
        enabled = self._enabled is None or self._enabled(name)
        if enabled != self._was_enabled:
            self._was_enabled = enabled
            log.info("strategy %s", "enabled" if enabled else "disabled", extra={"strategy": name})
        if not enabled:
            return []
        now = self._now_ms()
        intents = list(self.strategy.on_timer(now))
        for symbol in self.strategy.symbols:
            intents.extend(self.strategy.on_market(self._view(symbol), now))
        return await self._deliver(intents)

    async def on_fill(self, fill: Fill) -> list[TradeIntent]:
        """Give the strategy one of its fills; its reaction is delivered at once."""
        return await self._deliver(list(self.strategy.on_fill(fill)))

    async def _deliver(self, intents: list[TradeIntent]) -> list[TradeIntent]:
        delivered: list[TradeIntent] = []
        for intent in intents:
            try:
                outcome = await self._sink(intent)
            except Exception as exc:
                self.failed += 1
                log.error(
                    "intent not delivered",
                    extra={"intent_id": intent.intent_id, "strategy": intent.strategy, "error": repr(exc)},
                )
                if self._metrics is not None:
                    emit_metric(self._metrics, "StrategyIntentsFailed", 1, MetricUnit.Count)
                continue
            self.published += 1
            delivered.append(intent)
            log.info(
                "intent published",
                extra={
                    "intent_id": intent.intent_id,
                    "symbol": intent.symbol,
                    "side": intent.side,
                    "quantity": str(intent.quantity),
                    "outcome": repr(outcome) if outcome is not None else None,
                },
            )
        return delivered

    async def run(self) -> None:
        """Tick every ``interval_s`` until cancelled; a failing tick is logged and the loop goes on."""
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("strategy tick failed", extra={"strategy": self.strategy.name})
            await asyncio.sleep(self._interval_s)

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("strategy runner already started")
        self._task = asyncio.get_running_loop().create_task(self.run(), name=f"strategy-{self.strategy.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
