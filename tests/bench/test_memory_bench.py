"""Memory benchmark (issue 4): RSS stays flat over 1,000,000 streamed messages and 50,000 orders.

RSS is this process's ``VmRSS`` (``/proc/self/status``; psutil is not installed), read after a
``gc.collect()`` at the end of the warm-up, at every tenth of the run and at the end; growth is final
over warm-up (goal < 10%). The trajectory is printed so a slow leak shows as a steady climb.

Feed: the gateway's :class:`MarketData` (primary + backup connections, ticker/trades/book of three
symbols) on ``python -m tradeops.sim --tick-ms 1 --trades-per-step 10`` until ``BENCH_MEMORY_MESSAGES``
WebSocket messages (default 1,000,000; warm-up 10%) were handled by ccxt. Orders: ``BENCH_MEMORY_ORDERS``
intents (default 50,000; half market orders filled in one trade, half IOC limits that expire) through
``OrderManager.accept_intent`` + ``submit`` on an :class:`InstantVenue`, with the in-memory stores
bounded (``retain``) because in production the database is not in the gateway's memory; the warm-up
(12,000 orders) is past the OMS's 10,000-order terminal cache, so the cache is full when measuring.
"""

from __future__ import annotations

import asyncio
import gc
import os
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tradeops.domain.events import TradeIntent
from tradeops.domain.orders import OrderState
from tradeops.domain.values import OrderType, Side, TimeInForce
from tradeops.gateway.market_data import MarketData, MarketDataConfig, build_sim_exchanges
from tradeops.gateway.oms import OrderManager
from tradeops.gateway.oms_ports import OmsConfig
from tradeops.gateway.quality import SymbolThresholds

from ._memory import CountingEvents, InstantVenue, MemoryFills, MemoryJournal, MemoryOrders

if TYPE_CHECKING:
    from .conftest import Report, SimLauncher

pytestmark = [pytest.mark.bench, pytest.mark.timeout(1800)]
MESSAGES = int(os.environ.get("BENCH_MEMORY_MESSAGES", "1000000"))
ORDERS = int(os.environ.get("BENCH_MEMORY_ORDERS", "50000"))
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
GOAL_GROWTH_PCT = 10.0


def rss_mb() -> float:
    """This process's resident set size now (after a full collection), in MB."""
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def report_growth(report: Report, what: str, warm: float, samples: list[float]) -> float:
    growth = (samples[-1] - warm) / warm * 100
    met = "met" if growth < GOAL_GROWTH_PCT else "NOT met"
    report(f"{what}: RSS after warm-up", f"{warm:,.1f} MB", "")
    report(f"{what}: RSS at the end", f"{samples[-1]:,.1f} MB", f"peak of checkpoints {max(samples):,.1f} MB")
    report(f"{what}: growth after warm-up", f"{growth:+.1f}%", f"goal < {GOAL_GROWTH_PCT:.0f}%: {met}")
    report(f"{what}: trajectory (MB)", "", " ".join(f"{s:.0f}" for s in samples))
    return growth


async def test_rss_flat_over_streamed_messages(sim_launcher: SimLauncher, report: Report) -> None:
    ready = await sim_launcher("--tick-ms", "1", "--trades-per-step", "10")
    primary, backup, rest = build_sim_exchanges(ready["url"], ready["md_url"])
    await rest.close()
    handled = [0]
    for exchange in (primary, backup):
        handle = exchange.handle_message  # bound into each socket's client when it opens: wrap first

        def counted(client: Any, message: Any, handle: Any = handle) -> Any:
            handled[0] += 1
            return handle(client, message)

        exchange.handle_message = counted
    events: list[Any] = []
    config = MarketDataConfig({symbol: SymbolThresholds() for symbol in SYMBOLS})
    market_data = MarketData(primary, backup, None, config, on_event=events.append)
    await market_data.start()
    checkpoints: list[float] = []
    try:
        warm_until, step = MESSAGES // 10, max(1, MESSAGES // 10)
        while handled[0] < warm_until:
            await asyncio.sleep(0.2)
        warm = rss_mb()
        checkpoint = handled[0] // step
        while handled[0] < MESSAGES:
            await asyncio.sleep(0.2)
            if handled[0] // step > checkpoint:
                checkpoint = handled[0] // step
                checkpoints.append(rss_mb())
        checkpoints.append(rss_mb())
        caches = {
            "ccxt trades per symbol": max(
                len(ex.trades.get(s, ())) for ex in (primary, backup) for s in SYMBOLS
            ),
            "ccxt book levels per side": max(
                len(ex.orderbooks[s]["bids"])
                for ex in (primary, backup)
                for s in SYMBOLS
                if s in ex.orderbooks
            ),
            "ccxt tickers": max(len(ex.tickers) for ex in (primary, backup)),
        }
    finally:
        await market_data.stop()
    report("messages handled by ccxt", f"{handled[0]:,}", f"{len(events)} quality events")
    growth = report_growth(report, "feed", warm, checkpoints)
    for name, size in caches.items():
        report(f"bounded: {name}", f"{size:,}", "")
    assert handled[0] >= MESSAGES and -100 < growth < 1_000


def order_intent(number: int) -> TradeIntent:
    market = number % 2 == 0
    return TradeIntent(
        correlation_id=f"mem-{number}",
        intent_id=f"mem-{number}",
        strategy="demo",
        symbol=SYMBOLS[number % len(SYMBOLS)],
        side=Side.BUY if number % 4 < 2 else Side.SELL,
        type=OrderType.MARKET if market else OrderType.LIMIT,
        quantity=Decimal("0.01"),
        limit_price=None if market else Decimal("90.00"),
        time_in_force=None if market else TimeInForce.IOC,
    )


async def test_rss_flat_over_orders(report: Report) -> None:
    config = OmsConfig()
    venue, events, journal = InstantVenue(), CountingEvents(), MemoryJournal(retain=1_000)
    oms = OrderManager(
        venue, journal, MemoryOrders(retain=1_000), MemoryFills(retain=1_000), events, lambda: 1
    )  # type: ignore[arg-type]
    warm_until = min(ORDERS // 2, config.order_cache_size + 2_000)
    step = max(1, (ORDERS - warm_until) // 10)
    warm = 0.0
    checkpoints: list[float] = []
    final_states: dict[OrderState, int] = {}
    for number in range(ORDERS):
        order = await oms.submit(await oms.accept_intent(order_intent(number)))
        final_states[order.state] = final_states.get(order.state, 0) + 1
        if number + 1 == warm_until:
            warm = rss_mb()
        elif number + 1 > warm_until and (number + 1 - warm_until) % step == 0:
            checkpoints.append(rss_mb())
    if not checkpoints:
        checkpoints.append(rss_mb())
    await oms.close()
    assert final_states == {OrderState.FILLED: (ORDERS + 1) // 2, OrderState.EXPIRED: ORDERS // 2}
    assert journal.verify("orders") is None and venue.submitted == ORDERS
    report("orders through the OMS", f"{ORDERS:,}", f"{journal.appended:,} journal entries, {events.counts}")
    growth = report_growth(report, "orders", warm, checkpoints)
    records = oms.records
    report(
        "bounded: OMS terminal-order cache",
        f"{len(records.recent_terminal()):,}",
        f"max {config.order_cache_size:,}",
    )
    report(
        "bounded: OMS working orders / per-order locks",
        f"{len(records.working())} / {len(records._locks)}",
        "",
    )
    report(
        "bounded: OMS expiry deadlines / wanted cancels",
        f"{len(oms._deadlines)} / {len(oms._cancel_wanted)}",
        "",
    )
    assert len(records.recent_terminal()) <= config.order_cache_size and -100 < growth < 1_000
