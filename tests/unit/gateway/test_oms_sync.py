"""User-stream sync and the polling fallback against the in-memory venue double, on the real stores (moto)."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tradeops.config import Settings
from tradeops.domain.events import TradeIntent
from tradeops.domain.orders import OrderState
from tradeops.domain.values import OrderType, Side
from tradeops.gateway.oms import OrderManager
from tradeops.gateway.oms_ports import OmsConfig
from tradeops.gateway.oms_sync import (
    OrderPoller,
    UserStreamSync,
    fill_from_execution_report,
    order_from_execution_report,
)
from tradeops.store.fills import FillStore
from tradeops.store.journal import JournalStore
from tradeops.store.orders import OrderStore
from tradeops.store.provision import create_tables
from tradeops.venue.mapping import MappingError


def load_fakes() -> ModuleType:
    name = "oms_test_fakes"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("test_oms_fakes.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


fakes = load_fakes()
CONFIG = OmsConfig(
    poll_interval_s=5.0,
    poll_fast_interval_s=0.05,
    stream_silence_s=0.2,
    stream_reconnect_initial_s=0.01,
    resolve_initial_delay_s=0.02,
)
REPORT = {
    "e": "executionReport",
    "s": "BTCUSDT",
    "c": "toen-abc",
    "S": "BUY",
    "o": "LIMIT",
    "q": "0.50000000",
    "p": "100.00000000",
    "P": "0.00000000",
    "x": "TRADE",
    "X": "PARTIALLY_FILLED",
    "i": 42,
    "l": "0.20000000",
    "z": "0.20000000",
    "L": "99.50000000",
    "n": "0.00020000",
    "N": "BTC",
    "T": 1700000000123,
    "t": 777,
    "m": True,
    "O": 1700000000000,
}


@pytest.fixture
async def manager(aws_settings: Settings) -> AsyncIterator[OrderManager]:
    create_tables(aws_settings)
    store = (JournalStore(aws_settings), OrderStore(aws_settings), FillStore(aws_settings))
    oms = OrderManager(fakes.FakeVenue(), *store, fakes.RecordingEvents(), lambda: 1, CONFIG)
    yield oms
    await oms.close()


async def open_order(manager: OrderManager, n: str) -> str:
    intent = TradeIntent(
        correlation_id=f"c-{n}",
        intent_id=f"i-{n}",
        strategy="demo",
        symbol="BTC/USDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("0.5"),
        limit_price=Decimal("100"),
    )
    order = await manager.submit(await manager.accept_intent(intent))
    assert order.state is OrderState.OPEN
    return order.client_order_id


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def test_an_execution_report_maps_to_an_exact_order_and_fill() -> None:
    order = order_from_execution_report(REPORT, "BTC/USDT")
    assert (order.client_order_id, order.venue_order_id, order.status) == (
        "toen-abc",
        "42",
        "PARTIALLY_FILLED",
    )
    assert order.filled == Decimal("0.2") and order.quantity == Decimal("0.5") and order.stop_price is None
    fill = fill_from_execution_report(REPORT, "BTC/USDT")
    assert fill is not None
    assert (fill.trade_id, fill.price, fill.quantity, fill.fee) == (
        "777",
        Decimal("99.5"),
        Decimal("0.2"),
        Decimal("0.0002"),
    )
    assert fill.is_maker and fill.ts == 1700000000123 and fill.fee_asset == "BTC"
    assert fill_from_execution_report({**REPORT, "x": "NEW"}, "BTC/USDT") is None
    with pytest.raises(MappingError):
        order_from_execution_report({**REPORT, "c": ""}, "BTC/USDT")


async def test_the_stream_applies_reports_once_and_survives_a_dropped_socket(manager: OrderManager) -> None:
    cid = await open_order(manager, "s")
    venue: Any = manager.venue
    trade = venue.fill(cid, Decimal("0.5"))
    stream = fakes.QueueStream()
    stream.fail_next = 1
    sync = UserStreamSync(manager, stream)
    task = asyncio.create_task(sync.run())
    report = replace(venue.orders[cid], fills=())
    stream.orders.put_nowait([report])
    stream.fills.put_nowait([trade, trade])
    stream.fills.put_nowait([trade])

    async def filled() -> bool:
        order = await manager.get(cid)
        return order.state is OrderState.FILLED and order.filled_quantity == Decimal("0.5")

    async def drained() -> bool:
        return stream.fills.empty() and stream.orders.empty()

    await until(filled)
    await until(drained)
    await asyncio.sleep(0.1)  # the last duplicate is applied (as a no-op) before the assertions
    assert len(manager.records.recent_terminal()) == 1
    assert (await manager.get(cid)).trade_ids == frozenset({trade.trade_id})
    assert sync.silent_for_s() < 1.0
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert stream.closed


async def test_the_poller_records_fills_the_stream_never_delivered(manager: OrderManager) -> None:
    partial, full = await open_order(manager, "p1"), await open_order(manager, "p2")
    venue: Any = manager.venue
    venue.fill(partial, Decimal("0.1"))
    venue.fill(full, Decimal("0.2"))
    venue.fill(full, Decimal("0.3"))
    poller = OrderPoller(manager)
    await poller.poll_once()
    assert (await manager.get(partial)).filled_quantity == Decimal("0.1")
    assert (await manager.get(partial)).state is OrderState.PARTIALLY_FILLED
    assert (await manager.get(full)).state is OrderState.FILLED
    assert (await manager.get(full)).filled_quantity == Decimal("0.5")
    calls = venue.trade_list_calls
    await poller.poll_once()
    assert venue.trade_list_calls == calls  # nothing owed: no trade list fetched again


async def test_the_poll_interval_shortens_while_the_stream_is_silent(manager: OrderManager) -> None:
    now = [100.0]
    sync = UserStreamSync(manager, fakes.QueueStream(), monotonic=lambda: now[0])
    poller = OrderPoller(manager, sync)
    assert poller.interval_s() == CONFIG.poll_interval_s
    now[0] += CONFIG.stream_silence_s + 0.01
    assert poller.interval_s() == CONFIG.poll_fast_interval_s
    assert OrderPoller(manager).interval_s() == CONFIG.poll_fast_interval_s  # no stream at all


async def test_the_poller_runs_on_its_own_and_catches_a_fill(manager: OrderManager) -> None:
    cid = await open_order(manager, "r")
    venue: Any = manager.venue
    task = asyncio.create_task(OrderPoller(manager).run())
    venue.fill(cid, Decimal("0.5"))

    async def filled() -> bool:
        return (await manager.get(cid)).state is OrderState.FILLED

    await until(filled, timeout_s=2.0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
