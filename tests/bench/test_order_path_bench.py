"""Order-path benchmark (issue 4): intent -> risk -> journal -> ccxt -> simulator ack, against bare ccxt.

Gateway side: :meth:`TradingSession.on_intent` (the intake's contract: ``accept_intent`` journals the intent
and the NEW order, ``RiskGate.decide``, ``OrderManager.submit``) on the real ``OrderManager`` and the real
``VenueAdapter`` (built as ``GatewayApp`` builds it, over ``wiring.rest_factory``), with the journal,
orders and fills on the in-memory backends of ``_memory.py``. Baseline: an unmodified ccxt binance
calling ``create_order`` on the same simulator process with the same order (0.001 BTC, limit IOC below
the bid: it expires unfilled, so both sides do the same venue work). The two sides alternate in blocks
of ``BLOCK`` so load from other processes on this shared machine hits both alike; each side's p50/p99
and the p50 ratio are reported (goal <= 1.25). A perf_counter breakdown of the gateway side names where
its overhead goes. ``BENCH_ORDER_INTENTS`` sets the number of measured intents per side (default 400).

A second test reports the journal's append latency on the embedded DynamoDB (moto server).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import statistics
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from tradeops.config import Settings
from tradeops.domain.control import TradingState
from tradeops.domain.events import TradeIntent
from tradeops.domain.limits import RiskLimits
from tradeops.domain.orders import Order, OrderState
from tradeops.domain.portfolio import Portfolio
from tradeops.domain.values import OrderType, Side, TimeInForce
from tradeops.gateway.intake import EnvelopeMeta
from tradeops.gateway.oms import OrderManager
from tradeops.gateway.quality import Feed, FeedQuality, MarketView
from tradeops.gateway.risk_gate import BalanceCache, RiskGate
from tradeops.gateway.session import SessionTuning, TradingSession
from tradeops.gateway.wiring import GatewayConfig, rest_factory
from tradeops.store.journal import JournalStore
from tradeops.store.provision import create_tables
from tradeops.venue.adapter import VenueAdapter
from tradeops.venue.credentials import ExchangeCredentials
from tradeops.venue.outcomes import Accepted
from tradeops.venue.ratelimit import WeightBudget
from tradeops.venue.sim_exchange import make_ccxt_exchange

from ._memory import CountingEvents, MemoryFills, MemoryJournal, MemoryOrders

if TYPE_CHECKING:
    from .conftest import Report, SimLauncher

pytestmark = [pytest.mark.bench, pytest.mark.timeout(900)]
SYMBOL = "BTC/USDT"
QUANTITY = Decimal("0.001")
BLOCK = 20
INTENTS = int(os.environ.get("BENCH_ORDER_INTENTS", "400"))
GOAL_RATIO = 1.25
HOP = "thread: "
T = TypeVar("T")


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class StaticCredentials:
    """The ``CredentialsProvider`` surface the adapter uses, holding the simulator's key (no AWS)."""

    def __init__(self, api_key: str, secret: str) -> None:
        self.current = ExchangeCredentials(api_key, secret, "bench")

    async def reload(self) -> ExchangeCredentials:
        return self.current


class Sections:
    """Wall time spent in named sections of the gateway path, per call (ms)."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}

    def timed(self, name: str, call: Callable[..., Awaitable[T]]) -> Callable[..., Coroutine[Any, Any, T]]:
        async def wrapper(*args: Any, **kwargs: Any) -> T:
            started = time.perf_counter()
            try:
                return await call(*args, **kwargs)
            finally:
                self.samples.setdefault(name, []).append((time.perf_counter() - started) * 1000)

        return wrapper

    def timed_sync(self, name: str, call: Callable[..., T]) -> Callable[..., T]:
        def wrapper(*args: Any, **kwargs: Any) -> T:
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                self.samples.setdefault(name, []).append((time.perf_counter() - started) * 1000)

        return wrapper


def fresh_view(quotes: dict[str, tuple[Decimal, Decimal]]) -> Callable[[str], MarketView]:
    """An OK, just-received view per symbol from the last quotes read off the simulator."""

    def view(symbol: str) -> MarketView:
        bid, ask = quotes[symbol]
        now = time.time_ns() // 1_000_000
        return MarketView(
            symbol, FeedQuality.OK, frozenset(), Feed.PRIMARY, bid, ask, (bid + ask) / 2, now, 0
        )

    return view


async def build_session(
    ready: dict[str, str], quotes: dict[str, tuple[Decimal, Decimal]], sections: Sections
) -> tuple[TradingSession, VenueAdapter, MemoryJournal]:
    """A leader's session with the real OMS, risk gate and adapter; stores in memory."""
    config = GatewayConfig(sim_url=ready["url"], symbols=(SYMBOL,))
    # The simulator's weight limit is lifted (conftest), so the adapter's budget is too: latency, not pacing.
    adapter = VenueAdapter(
        rest_factory(config),
        WeightBudget(1_000_000_000),
        StaticCredentials(ready["api_key"], ready["api_secret"]),  # type: ignore[arg-type]
        use_exchange_info_limit=False,
    )
    instruments = await adapter.load_instruments()
    assert isinstance(instruments, Accepted)
    adapter.submit = sections.timed("venue submit (ccxt create_order)", adapter.submit)  # type: ignore[method-assign]
    balances = BalanceCache(sections.timed("venue balances (risk gate refresh)", adapter.fetch_balances))
    journal, orders, events = MemoryJournal(), MemoryOrders(), CountingEvents()
    # Each of these runs in a worker thread (asyncio.to_thread): counted to show the hand-offs per intent.
    journal.append = sections.timed_sync(HOP + "journal append", journal.append)  # type: ignore[method-assign]
    orders.put = sections.timed_sync(HOP + "orders put", orders.put)  # type: ignore[method-assign]
    events.publish = sections.timed_sync(HOP + "event publish", events.publish)  # type: ignore[method-assign]
    oms = OrderManager(adapter, journal, orders, MemoryFills(), events, lambda: 1)  # type: ignore[arg-type]
    held = {asset: free + locked for asset, (free, locked) in (await balances.get()).items()}
    portfolio = Portfolio("USDT", held)
    limits = dataclasses.replace(
        RiskLimits.default_for_demo(), max_orders_per_second=Decimal(1_000_000), order_burst=1_000_000
    )
    risk = RiskGate(
        limits=limits,
        instruments=instruments.value,
        symbols=(SYMBOL,),
        view=fresh_view(quotes),
        portfolio=lambda: portfolio,
        balances=balances,
        working_orders=oms.working_orders,
        trading_state=lambda: TradingState.ACTIVE,
        strategy_enabled=lambda _strategy: True,
    )
    risk.decide = sections.timed("risk decide (incl. balances)", risk.decide)  # type: ignore[method-assign]

    def fenced(reason: str) -> None:
        raise AssertionError(f"fenced in a benchmark: {reason}")

    app = SimpleNamespace(publisher=events, on_fenced=fenced)
    session = TradingSession(app, 1, SessionTuning())  # type: ignore[arg-type]
    session.oms, session.risk, session.portfolio = oms, risk, portfolio
    return session, adapter, journal


def bench_intent(number: int, price: Decimal) -> TradeIntent:
    return TradeIntent(
        correlation_id=f"bench-{number}",
        intent_id=f"bench-{number}",
        strategy="demo",
        symbol=SYMBOL,
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=QUANTITY,
        limit_price=price,
        time_in_force=TimeInForce.IOC,
    )


async def gateway_block(session: TradingSession, first: int, price: Decimal) -> list[float]:
    """``BLOCK`` intents through ``on_intent``, one at a time; ms from intent to the order's final state."""
    meta = EnvelopeMeta("local", "tradeops.strategy", datetime.now(UTC))
    oms = session.oms
    assert oms is not None
    samples = []
    for number in range(first, first + BLOCK):
        intent = bench_intent(number, price)
        started = time.perf_counter()
        await session.on_intent(intent, meta)
        samples.append((time.perf_counter() - started) * 1000)
        cid = oms.records.working()  # nothing may stay working: IOC below the bid expires at once
        assert not cid, f"orders left working: {[o.client_order_id for o in cid]}"
    return samples


async def bare_block(exchange: Any, first: int, price: Decimal) -> list[float]:
    """``BLOCK`` bare ``create_order`` calls with the adapter's request shape (client id, FULL response)."""
    samples = []
    for number in range(first, first + BLOCK):
        params = {"newClientOrderId": f"bare-{number}", "newOrderRespType": "FULL", "timeInForce": "IOC"}
        started = time.perf_counter()
        order = await exchange.create_order(SYMBOL, "limit", "buy", str(QUANTITY), str(price), params)
        samples.append((time.perf_counter() - started) * 1000)
        assert order["status"] == "expired", order["status"]
    return samples


async def passive_price(exchange: Any, quotes: dict[str, tuple[Decimal, Decimal]]) -> Decimal:
    """0.5% under the current bid (inside the 1% price collar, never crossing): an IOC that expires."""
    ticker = await exchange.fetch_ticker(SYMBOL)
    bid, ask = Decimal(str(ticker["bid"])), Decimal(str(ticker["ask"]))
    quotes[SYMBOL] = (bid, ask)
    return (bid * Decimal("0.995")).quantize(Decimal("0.01"))


async def profile_gateway(
    session: TradingSession, exchange: Any, quotes: dict[str, tuple[Decimal, Decimal]]
) -> str:
    """cProfile of a few gateway blocks (event-loop thread only): the top functions by own time."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for block in range(5):
        await gateway_block(session, 900_000 + block * BLOCK, await passive_price(exchange, quotes))
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
    return out.getvalue()


async def thread_hop_ms(count: int = 300) -> float:
    """p50 of one ``asyncio.to_thread`` round trip of a no-op in this process, now (ms)."""
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await asyncio.to_thread(int)
        samples.append((time.perf_counter() - started) * 1000)
    return pct(samples, 0.5)


class HopCounter:
    """Counts ``asyncio.to_thread`` calls (the gateway's worker-thread hand-offs) while installed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = asyncio.to_thread

        async def counted(func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
            self.count += 1
            return await original(func, *args, **kwargs)

        monkeypatch.setattr(asyncio, "to_thread", counted)


def breakdown(sections: Sections, intents: int, hops: int, hop_ms: float) -> list[tuple[str, str, str]]:
    """Rows: each section's p50 per call and calls per intent; the thread hand-offs and their cost."""
    rows = []
    for name, samples in sorted(sections.samples.items()):
        calls = len(samples) / intents
        rows.append(
            (f"  in gateway: {name}, p50", f"{statistics.median(samples):.3f} ms", f"x{calls:.1f}/intent")
        )
    per_intent = hops / intents
    rows.append(
        (
            "  worker-thread hand-offs per intent (to_thread)",
            f"{per_intent:.1f}",
            f"round trip p50 {hop_ms:.3f} ms",
        )
    )
    rows.append(("  hand-offs x round trip, per intent", f"{per_intent * hop_ms:.2f} ms", ""))
    return rows


async def test_order_path_against_bare_ccxt(
    sim_launcher: SimLauncher, report: Report, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready = await sim_launcher()
    quotes: dict[str, tuple[Decimal, Decimal]] = {}
    sections = Sections()
    exchange = make_ccxt_exchange(ready["url"], ready["api_key"], ready["api_secret"])
    exchange.enableRateLimit = False
    await exchange.load_markets()
    await passive_price(exchange, quotes)
    session, adapter, journal = await build_session(ready, quotes, sections)
    try:
        price = await passive_price(exchange, quotes)
        await bare_block(exchange, 0, price)  # warm-up both sides: connections, caches, first imports
        await gateway_block(session, 0, price)
        sections.samples.clear()
        hops = HopCounter(monkeypatch)  # the bare side makes none (asserted below)
        gateway: list[float] = []
        bare: list[float] = []
        rounds = max(1, INTENTS // BLOCK)
        for round_ in range(1, rounds + 1):
            price = await passive_price(exchange, quotes)
            first = round_ * BLOCK
            if round_ % 2:  # alternate which side goes first, so neither always follows the other
                bare += await bare_block(exchange, first, price)
                gateway += await gateway_block(session, first, price)
            else:
                gateway += await gateway_block(session, first, price)
                bare += await bare_block(exchange, first, price)
        ratio = pct(gateway, 0.5) / pct(bare, 0.5)
        before_bare = hops.count
        await bare_block(exchange, 10 * INTENTS, price)
        assert hops.count == before_bare, "bare ccxt used a worker thread: the hops are not all the gateway's"
        monkeypatch.undo()
        rows = breakdown(sections, len(gateway), hops.count, await thread_hop_ms())
        profile = "" if ratio <= GOAL_RATIO else await profile_gateway(session, exchange, quotes)
    finally:
        await adapter.close()
        await exchange.close()
    assert journal.verify("orders") is None
    met = "met" if ratio <= GOAL_RATIO else "NOT met"
    report("intents per side (alternating blocks of 20)", f"{len(gateway):,}", "")
    report("bare ccxt create_order p50 / p99", f"{pct(bare, 0.5):.2f} / {pct(bare, 0.99):.2f} ms", "")
    report("gateway intent -> ack p50 / p99", f"{pct(gateway, 0.5):.2f} / {pct(gateway, 0.99):.2f} ms", "")
    report("ratio gateway / bare at p50", f"{ratio:.2f}x", f"goal <= {GOAL_RATIO}x: {met}")
    report("added by the gateway at p50", f"{pct(gateway, 0.5) - pct(bare, 0.5):.2f} ms", "")
    report("ratio gateway / bare at p99", f"{pct(gateway, 0.99) / pct(bare, 0.99):.2f}x", "")
    for row in rows:
        report(*row)
    if profile:
        print(f"\norder path profile (goal missed), top functions by own time:\n{profile}")
    assert all(s > 0 for s in gateway + bare) and 0 < ratio < 1_000


def test_journal_append_latency_on_embedded_dynamodb(aws_settings: Settings, report: Report) -> None:
    """Appends of an order-sized entry to the journal table on moto, alternating with the in-memory one."""
    from tradeops.store.tables import JOURNAL

    create_tables(aws_settings, [JOURNAL])
    store, memory = JournalStore(aws_settings), MemoryJournal()
    order = Order.new(client_order_id="toen-bench", intent_id="bench", strategy="demo", symbol=SYMBOL,
                      side=Side.BUY, type=OrderType.LIMIT, quantity=QUANTITY, limit_price=Decimal("59000.00"),
                      time_in_force=TimeInForce.IOC, created_at=1_700_000_000_000)  # fmt: skip
    payload = {"order": order.transition(OrderState.SUBMITTING, 1_700_000_000_001).to_dict()}
    dynamo: list[float] = []
    in_memory: list[float] = []
    for block in range(13):  # the first block warms up (connections, table metadata)
        for samples, journal in ((dynamo, store), (in_memory, memory)):
            for _ in range(25):
                started = time.perf_counter()
                journal.append("bench", "order_state", payload, "gateway", 1)
                if block:
                    samples.append((time.perf_counter() - started) * 1000)
    assert store.verify("bench") is None and memory.verify("bench") is None
    report("appends per backend", f"{len(dynamo):,}", "")
    report(
        "journal append on moto DynamoDB p50 / p99",
        f"{pct(dynamo, 0.5):.2f} / {pct(dynamo, 0.99):.2f} ms",
        "",
    )
    report(
        "journal append in memory p50 / p99", f"{pct(in_memory, 0.5):.3f} / {pct(in_memory, 0.99):.3f} ms", ""
    )
    assert pct(dynamo, 0.5) > 0 and pct(in_memory, 0.5) > 0
