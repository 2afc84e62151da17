"""Restart safety on the real stores (moto) with the in-memory venue double of the OMS tests.

A stored deadline is re-armed by a new manager's ``recover()``; the startup reconciliation applies the
safe breaks through the OMS, adopts (never cancels) a venue-only order, records the run, publishes only
what needs an operator, and retries a failing venue read; the balances baseline is written whole,
debounced after fills.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tradeops.config import Settings
from tradeops.domain.events import EventDetail, TradeIntent
from tradeops.domain.orders import OrderState
from tradeops.domain.reconcile import Grace
from tradeops.domain.values import OrderType, Side
from tradeops.gateway.balance_baseline import BalanceBaseline
from tradeops.gateway.oms import OrderManager
from tradeops.gateway.oms_ports import OmsConfig
from tradeops.gateway.startup_recon import STARTUP_TRIGGER, StartupReconciler, StartupRetry, external_orders
from tradeops.gateway.wiring import GatewayConfig
from tradeops.reconciliation.service import ReconcileConfig
from tradeops.store.balances import BalanceRecord, BalanceStore
from tradeops.store.fills import FillStore
from tradeops.store.journal import JournalStore
from tradeops.store.orders import OrderStore
from tradeops.store.provision import create_tables
from tradeops.store.recon import BreakStatus, ReconStore, RunOutcome
from tradeops.venue.outcomes import Accepted, Retryable


def _load(name: str, file: str) -> ModuleType:
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(file))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


fakes = _load("oms_test_fakes", "test_oms_fakes.py")
S = OrderState
FAST = OmsConfig(
    resolve_initial_delay_s=0.02,
    resolve_max_delay_s=0.05,
    not_found_checks=3,
    not_found_grace_s=0.3,
    request_retry_default_s=0.01,
    expiry_check_s=0.05,
)
NO_SETTLE = ReconcileConfig(symbols=("BTC/USDT",), grace=Grace(settle_ms=0, not_found_ms=60_000))
BALANCES = {"USDT": (Decimal("1000"), Decimal(0)), "BTC": (Decimal("1"), Decimal(0))}


class ReconVenue(fakes.FakeVenue):  # type: ignore[misc, name-defined]
    """The OMS venue double plus what the reconciliation reads: balances; ``fail_reads`` fails them."""

    fail_reads = 0
    balance_reads = 0

    async def fetch_balances(self) -> Any:
        await asyncio.sleep(0)
        self.balance_reads += 1
        if self.fail_reads:
            self.fail_reads -= 1
            return Retryable("503 Service Unavailable", "ExchangeNotAvailable")
        return Accepted(dict(BALANCES))


class Published:
    """The reconcile service's publisher: records ``publish_many``."""

    def __init__(self) -> None:
        self.events: list[EventDetail] = []

    def publish_many(self, events: Sequence[EventDetail]) -> None:
        self.events.extend(events)


@pytest.fixture
def tables(aws_settings: Settings) -> Settings:
    create_tables(aws_settings)
    return aws_settings


@pytest.fixture
async def managers(tables: Settings) -> AsyncIterator[Callable[..., OrderManager]]:
    built: list[OrderManager] = []

    def build(venue: Any, token: int = 1) -> OrderManager:
        stores = JournalStore(tables), OrderStore(tables), FillStore(tables)
        manager = OrderManager(venue, *stores, fakes.RecordingEvents(), lambda: token, FAST)
        built.append(manager)
        return manager

    yield build
    for manager in built:
        await manager.close()


def an_intent(n: str, *, market: bool = False, expires_in_s: float | None = None) -> TradeIntent:
    expires = None if expires_in_s is None else datetime.now(UTC) + timedelta(seconds=expires_in_s)
    return TradeIntent(
        correlation_id=f"corr-{n}",
        intent_id=f"intent-{n}",
        strategy="demo",
        symbol="BTC/USDT",
        side=Side.BUY,
        type=OrderType.MARKET if market else OrderType.LIMIT,
        quantity=Decimal("0.5"),
        limit_price=None if market else Decimal("100"),
        expires_at=expires,
    )


async def until(check: Callable[[], Any], timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


# ---- the deadline survives a restart ---------------------------------------------------------------
async def test_the_order_store_round_trips_the_deadline(tables: Settings) -> None:
    manager = OrderManager(
        fakes.FakeVenue(), JournalStore(tables), OrderStore(tables), FillStore(tables),
        fakes.RecordingEvents(), lambda: 1, FAST,
    )  # fmt: skip
    order = await manager.accept_intent(an_intent("rt", expires_in_s=60))
    assert order.expires_at_ms is not None
    stored = OrderStore(tables).get(order.client_order_id)
    assert stored == order and stored.expires_at_ms == order.expires_at_ms
    (listed,) = OrderStore(tables).by_status(S.NEW).items
    assert listed.expires_at_ms == order.expires_at_ms
    plain = await manager.accept_intent(an_intent("plain"))
    assert OrderStore(tables).get(plain.client_order_id).expires_at_ms is None  # type: ignore[union-attr]


async def test_a_restarted_manager_cancels_an_open_order_when_its_stored_deadline_passes(
    managers: Callable[..., OrderManager],
) -> None:
    venue = fakes.FakeVenue()
    first = managers(venue)  # never started: its in-memory expiry dies with it
    order = await first.submit(await first.accept_intent(an_intent("exp", expires_in_s=3.0)))
    assert order.state is S.OPEN
    await first.close()

    second = managers(venue, token=2)
    await second.recover()
    second.start()
    await until(lambda: _state_is(second, order.client_order_id, S.CANCELED))
    assert (await second.get(order.client_order_id)).reason == "expired"
    assert venue.orders[order.client_order_id].status == "CANCELED"


async def test_a_recovered_new_order_past_its_deadline_is_never_sent(
    managers: Callable[..., OrderManager],
) -> None:
    venue = fakes.FakeVenue()
    first = managers(venue)
    waiting = await first.accept_intent(an_intent("late", expires_in_s=0.2))  # crashed before the submit
    await first.close()
    await asyncio.sleep(0.3)

    second = managers(venue, token=2)
    report = await second.recover()
    assert [o.client_order_id for o in report.awaiting_submit] == [waiting.client_order_id]
    denied = await second.submit(report.awaiting_submit[0])
    assert denied.state is S.DENIED and denied.reason == "expired"
    assert venue.submit_requests == []


async def _state_is(manager: OrderManager, cid: str, state: OrderState) -> bool:
    return (await manager.get(cid)).state is state


# ---- startup reconciliation ------------------------------------------------------------------------
def reconciler(tables: Settings, venue: Any, oms: OrderManager, published: Published) -> StartupReconciler:
    retry = StartupRetry(first_s=0.01, max_s=0.02)
    return StartupReconciler(tables, venue, oms, config=NO_SETTLE, publisher=published, retry=retry)  # type: ignore[arg-type]


async def test_startup_reconciliation_applies_safe_breaks_and_adopts_a_venue_only_order(
    tables: Settings, managers: Callable[..., OrderManager]
) -> None:
    venue = ReconVenue()
    before = managers(venue)
    silent = await before.submit(await before.accept_intent(an_intent("silent")))
    canceled = await before.submit(await before.accept_intent(an_intent("gone")))
    await before.close()
    venue.fill(silent.client_order_id, Decimal("0.5"))  # filled while no gateway was listening
    gone = venue.orders[canceled.client_order_id]
    venue.orders[canceled.client_order_id] = replace(gone, status="CANCELED", updated_at=gone.created_at)
    venue.orders["manual-1"] = replace(gone, client_order_id="manual-1", venue_order_id="9999")  # not ours

    oms = managers(venue, token=2)  # no recover(): the reconciliation alone must find and apply them
    published = Published()
    report = await reconciler(tables, venue, oms, published).run()

    assert (await oms.get(silent.client_order_id)).state is S.FILLED
    assert (await oms.get(silent.client_order_id)).filled_quantity == Decimal("0.5")
    assert (await oms.get(canceled.client_order_id)).state is S.CANCELED
    assert venue.orders["manual-1"].status == "NEW"  # adopted, never cancelled
    (external,) = external_orders(report)
    assert external.subject.venue_order_id == "9999" and report.open_breaks == (external,)
    assert {b.proposed_action.value for b in report.applied} >= {"IMPORT_FILL"}
    assert [e.DETAIL_TYPE for e in published.events] == ["Reconciliation Break"]  # only the operator's

    store = ReconStore(tables)
    run = store.get_run(tables.account, report.started_at)
    assert run is not None and run.outcome is RunOutcome.BREAKS
    assert run.summary["trigger"] == STARTUP_TRIGGER and run.summary["applied"] == len(report.applied)
    for brk in report.applied:
        record = store.get_break(brk.break_id)
        assert record is not None and record.status is BreakStatus.APPLIED
    assert report.balances_baselined is False  # no baseline yet: balances not compared


async def test_a_stored_fill_its_order_never_counted_is_applied_at_startup(
    tables: Settings, managers: Callable[..., OrderManager]
) -> None:
    venue = ReconVenue()
    before = managers(venue)
    order = await before.submit(await before.accept_intent(an_intent("torn")))
    trade = venue.fill(order.client_order_id, Decimal("0.5"))
    # The venue's FILLED status was recorded, then the fill went to the fills table and the process died
    # before the order counted it: a terminal order owing its fill, which no poll looks at again.
    filled = await before.records.update(
        order.client_order_id, lambda o: o.apply_venue_status("FILLED", Decimal("0.5"), o.updated_at)
    )
    assert filled.state is S.FILLED and filled.filled_quantity == 0
    FillStore(tables).put(trade)
    await before.close()

    oms = managers(venue, token=2)
    report = await reconciler(tables, venue, oms, Published()).run()
    healed = await oms.get(order.client_order_id)
    assert healed.filled_quantity == Decimal("0.5") and trade.trade_id in healed.trade_ids
    assert report.healed_fills == 1 and report.clean


async def test_a_failing_venue_read_is_retried_and_each_failure_recorded(
    tables: Settings, managers: Callable[..., OrderManager]
) -> None:
    venue = ReconVenue()
    venue.fail_reads = 2
    oms = managers(venue)
    startup = reconciler(tables, venue, oms, Published())
    report = await startup.run()
    assert startup.attempts == 3 and report.clean
    runs = ReconStore(tables).list_runs(tables.account).items
    assert sorted(r.outcome.value for r in runs) == ["clean", "failed", "failed"]


async def test_with_a_baseline_the_startup_pass_compares_balances(
    tables: Settings, managers: Callable[..., OrderManager]
) -> None:
    venue = ReconVenue()
    oms = managers(venue)
    store = BalanceStore(tables)
    baseline = BalanceBaseline(venue.fetch_balances, store, tables.account)
    assert await baseline.write_now()
    clean = await reconciler(tables, venue, oms, Published()).run()
    assert clean.balances_baselined and clean.clean

    later = int(time.time() * 1000) + 1_000
    store.put(BalanceRecord(tables.account, "USDT", Decimal("900"), Decimal(0), later))  # a wrong belief
    broken = await reconciler(tables, venue, oms, Published()).run()
    assert [b.break_class.value for b in broken.open_breaks] == ["BALANCE_MISMATCH"]


# ---- the balances baseline -------------------------------------------------------------------------
async def test_a_snapshot_zeroes_assets_the_venue_no_longer_reports(tables: Settings) -> None:
    store, account = BalanceStore(tables), tables.account
    store.put(BalanceRecord(account, "DOGE", Decimal("5"), Decimal(0), 10))
    store.put(BalanceRecord(account, "ETH", Decimal("1"), Decimal(0), 10_000))  # newer than the snapshot
    written = store.put_snapshot(account, BALANCES, 5_000)
    records = {r.asset: r for r in store.for_account(account)}
    assert written == 3 and set(records) == {"BTC", "DOGE", "ETH", "USDT"}
    assert records["DOGE"].total == 0 and records["DOGE"].updated_at == 5_000
    assert records["ETH"].total == Decimal("1") and records["ETH"].updated_at == 10_000
    assert records["USDT"].free == Decimal("1000")


async def test_fills_trigger_one_debounced_snapshot(tables: Settings) -> None:
    venue = ReconVenue()
    baseline = BalanceBaseline(
        venue.fetch_balances, BalanceStore(tables), tables.account, interval_s=30, debounce_s=0.2
    )
    task = asyncio.create_task(baseline.run())
    try:
        for _ in range(5):  # a burst of fills
            baseline.fills_changed()
            await asyncio.sleep(0.05)
        await until(lambda: _written(baseline, 1))
        await asyncio.sleep(0.4)
        assert baseline.written == 1 and venue.balance_reads == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _written(baseline: BalanceBaseline, count: int) -> bool:
    return baseline.written >= count


# ---- process identity ------------------------------------------------------------------------------
def test_the_gateway_owner_is_read_from_the_environment() -> None:
    assert GatewayConfig.from_env({"TRADEOPS_GATEWAY_OWNER": "gw-crash-2"}).owner == "gw-crash-2"
    generated = GatewayConfig.from_env({}).owner
    assert generated and generated != GatewayConfig.from_env({}).owner  # host-pid-random when unset
