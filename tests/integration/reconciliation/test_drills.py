"""Reconciliation drills in their simplest form, against moto and an in-process simulator.

Each perturbs one side (an order placed by another client with our key, a fill the gateway never saw,
a venue-side cancel, a deposit) and asserts that one pass detects exactly it, records it, publishes what
the gateway must apply, and never touches the venue's orders.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console

from tradeops.domain.reconcile import Break, BreakClass, ProposedAction
from tradeops.domain.values import Side
from tradeops.local.endpoints import build_endpoints, write_endpoints
from tradeops.reconcile_commands import EXIT_BREAKS, EXIT_CLEAN, reconcile_once
from tradeops.store.journal import JournalStore
from tradeops.store.recon import BreakStatus, ReconStore, RunOutcome
from tradeops.venue.sim_exchange import make_ccxt_exchange

from ._stack import API_KEY, API_SECRET, SYMBOL, Stack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

FAR_BELOW = "50000"  # BTC/USDT trades near 60000: a buy here rests
THROUGH = "61000"  # a buy here crosses the book and fills at once


def classes(breaks: tuple[Break, ...]) -> list[tuple[str, str]]:
    return [(b.break_class.value, b.proposed_action.value) for b in breaks]


async def test_clean_state_has_no_breaks_and_records_a_clean_run(stack: Stack) -> None:
    await stack.gateway_order("intent-clean", price=FAR_BELOW)
    await stack.baseline_balances()
    report = await stack.run()
    assert report.clean and report.result.clean and report.balances_baselined
    run = ReconStore(stack.settings).get_run(stack.settings.account, report.started_at)
    assert run is not None and run.outcome is RunOutcome.CLEAN and run.finished_at is not None
    assert run.summary["total"] == 0 and stack.gateway_events() == []


async def test_external_order_is_adopted_never_cancelled(stack: Stack) -> None:
    await stack.baseline_balances()
    other = make_ccxt_exchange(stack.sim.url, API_KEY, API_SECRET)  # another process with our key
    try:
        await other.load_markets()
        placed = await other.create_order(
            SYMBOL, "limit", "buy", 0.01, 50000.0, {"newClientOrderId": "manual-1"}
        )
    finally:
        await other.close()
    report = await stack.run()
    assert classes(report.open_breaks) == [("VENUE_ORDER_UNKNOWN_LOCALLY", "ADOPT_EXTERNAL")]
    brk = report.open_breaks[0]
    assert brk.subject.venue_order_id == str(placed["id"])
    assert brk.evidence["matches_our_id_pattern"] == "false"
    still = await stack.venue.fetch_order(str(placed["id"]), SYMBOL)
    assert still["status"] == "open"  # reconciliation only reads
    events = stack.gateway_events()
    assert [e["detail-type"] for e in events] == ["Reconciliation Break"]
    assert events[0]["source"] == "tradeops.reconcile" and events[0]["detail"]["break_id"] == brk.break_id

    again = await stack.run()  # a redelivered schedule firing: same break, nothing republished
    assert [b.break_id for b in again.open_breaks] == [brk.break_id] and again.published == 0
    assert stack.gateway_events() == []
    stored = ReconStore(stack.settings).get_break(brk.break_id)
    assert stored is not None and stored.status is BreakStatus.OPEN and stored.occurrences == 2


async def test_fill_missing_locally_is_discovered_and_published(stack: Stack) -> None:
    await stack.baseline_balances()
    order = await stack.gateway_order("intent-fill", price=THROUGH)  # fills; the gateway saw no report
    report = await stack.run()
    assert classes(report.open_breaks) == [("MISSING_FILL", "IMPORT_FILL")]
    fill = report.open_breaks[0].fill
    assert fill is not None and fill.client_order_id == order.client_order_id
    events = {e["detail-type"]: e for e in stack.gateway_events()}
    assert set(events) == {"Reconciliation Break", "Fill Discovered"}
    discovered = events["Fill Discovered"]["detail"]
    assert discovered["trade_id"] == fill.trade_id
    assert discovered["break_id"] == report.open_breaks[0].break_id
    assert Decimal(discovered["quantity"]) == Decimal("0.01") and discovered["side"] == Side.BUY.value


async def test_venue_side_cancel_proposes_the_proven_venue_state(stack: Stack) -> None:
    await stack.baseline_balances()
    order = await stack.gateway_order("intent-cancel", price=FAR_BELOW)
    await stack.venue.cancel_order(None, SYMBOL, {"origClientOrderId": order.client_order_id})
    report = await stack.run()
    assert classes(report.open_breaks) == [("STATE_MISMATCH", "APPLY_VENUE_STATE")]
    brk = report.open_breaks[0]
    assert brk.proven and brk.proposed_state is not None and brk.proposed_state.value == "CANCELED"
    assert [e["detail-type"] for e in stack.gateway_events()] == ["Reconciliation Break"]


async def test_deposit_raises_a_balance_alert_and_operator_resolution_is_journaled(stack: Stack) -> None:
    await stack.baseline_balances()
    stack.sim.server.venue.engine.keys.accounts[API_KEY].credit("USDT", Decimal("250"))
    report = await stack.run()
    expected = (BreakClass.BALANCE_MISMATCH.value, ProposedAction.ALERT_ONLY.value)
    assert classes(report.open_breaks) == [expected]
    brk = report.open_breaks[0]
    assert brk.subject.asset == "USDT" and Decimal(brk.evidence["difference"]) == Decimal("250")

    store = ReconStore(stack.settings)
    reason, at = "deposit from treasury", report.finished_at
    resolved = store.resolve(brk.break_id, user="risk-alice", reason=reason, at=at)
    assert resolved.status is BreakStatus.RESOLVED and resolved.resolved_by == "risk-alice"

    (entry,) = JournalStore(stack.settings).read("reconciliation")
    assert entry.actor == "risk-alice" and entry.payload["reason"] == "deposit from treasury"
    acknowledged = await stack.run()  # same evidence: stays resolved, no longer counted open
    after = store.get_break(brk.break_id)
    assert acknowledged.clean and after is not None and after.status is BreakStatus.RESOLVED


async def test_cli_once_exit_codes(stack: Stack, tmp_path: Path, restore_environ: None) -> None:
    await stack.baseline_balances()
    endpoints = tmp_path / "endpoints.json"
    write_endpoints(endpoints, build_endpoints(stack.settings, stack.resources, sim=stack.sim.url))
    out = io.StringIO()
    console = Console(file=out, width=200)
    assert await asyncio.to_thread(reconcile_once, endpoints, console=console) == EXIT_CLEAN
    assert "CLEAN: 0 open break(s)" in out.getvalue()

    await stack.venue.create_order(SYMBOL, "limit", "buy", 0.01, 50000.0, {"newClientOrderId": "manual-2"})
    assert await asyncio.to_thread(reconcile_once, endpoints, console=console) == EXIT_BREAKS
    assert "VENUE_ORDER_UNKNOWN_LOCALLY" in out.getvalue() and "BREAKS: 1 open break(s)" in out.getvalue()
    assert reconcile_once(tmp_path / "missing.json", console=console) == 1


async def test_a_failed_publish_fails_the_run_and_the_next_run_publishes(stack: Stack) -> None:
    from tradeops.aws.events import EventPublisher, PublishError
    from tradeops.domain.events import EventDetail
    from tradeops.reconciliation.runtime import WEIGHT_LIMIT_PER_MINUTE, exchange_factory
    from tradeops.reconciliation.service import ReconcileConfig, ReconcileService
    from tradeops.venue.adapter import VenueAdapter
    from tradeops.venue.credentials import CredentialsProvider
    from tradeops.venue.ratelimit import WeightBudget

    class Refusing(EventPublisher):
        def publish_many(self, events: Iterable[EventDetail]) -> None:
            raise PublishError({event.event_id: "refused" for event in events})

    await stack.baseline_balances()
    stack.sim.server.venue.engine.keys.accounts[API_KEY].credit("BTC", Decimal("0.5"))
    budget = WeightBudget(WEIGHT_LIMIT_PER_MINUTE)
    adapter = VenueAdapter(exchange_factory(stack.sim.url), budget, CredentialsProvider(stack.settings))
    try:
        refusing = Refusing(stack.settings, "tradeops.reconcile")
        service = ReconcileService(stack.settings, adapter, config=ReconcileConfig(), publisher=refusing)
        with pytest.raises(PublishError):
            await service.run_once("test")
        failed = ReconStore(stack.settings).list_runs(stack.settings.account).items[0]
        assert failed.outcome is RunOutcome.FAILED and failed.error and "PublishError" in failed.error
        assert stack.gateway_events() == []
    finally:
        await adapter.close()
    report = await stack.run()  # the break is unchanged but was never published: published now
    assert report.published == 1
    assert [e["detail"]["break_class"] for e in stack.gateway_events()] == ["BALANCE_MISMATCH"]
