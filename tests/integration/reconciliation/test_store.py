"""Run records and the break lifecycle on moto: upserts by stable id, closing, operator resolution."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradeops.config import Settings
from tradeops.domain.orders import Fill
from tradeops.domain.reconcile import Break, BreakClass, BreakSubject, ProposedAction
from tradeops.domain.values import Severity, Side
from tradeops.store.base import StaleWrite
from tradeops.store.journal import JournalStore
from tradeops.store.provision import create_tables
from tradeops.store.recon import (
    RECONCILER,
    BreakNotFound,
    BreakNotOpen,
    BreakStatus,
    ReconStore,
    RunOutcome,
    Upsert,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

T0 = 1_700_000_000_000
FILL = Fill("toen-1", "5", "BTC/USDT", Side.BUY, Decimal("100"), Decimal("1"), Decimal("0"), "BNB", T0, False)


def balance_break(difference: str) -> Break:
    subject = BreakSubject(asset="USDT")
    evidence = {"difference": difference}
    return Break(BreakClass.BALANCE_MISMATCH, subject, evidence, Severity.WARNING, ProposedAction.ALERT_ONLY)


def missing_fill() -> Break:
    subject = BreakSubject(symbol="BTC/USDT", client_order_id="toen-1", trade_id="5")
    return Break(
        BreakClass.MISSING_FILL,
        subject,
        {"venue_qty": "1"},
        Severity.WARNING,
        ProposedAction.IMPORT_FILL,
        fill=FILL,
    )


@pytest.fixture
def store(aws_settings: Settings) -> ReconStore:
    create_tables(aws_settings)
    return ReconStore(aws_settings)


def test_runs_are_recorded_once_and_listed_newest_first(store: ReconStore) -> None:
    for n in range(3):
        store.start_run("main", T0 + n, f"run-{n}", "schedule")
        store.finish_run(
            "main", T0 + n, outcome=RunOutcome.CLEAN, finished_at=T0 + n + 5, summary={"total": 0}
        )
    with pytest.raises(StaleWrite):
        store.start_run("main", T0, "again", "schedule")
    first = store.list_runs("main", limit=2)
    assert [r.run_id for r in first.items] == ["run-2", "run-1"] and first.cursor is not None
    assert [r.run_id for r in store.list_runs("main", limit=2, cursor=first.cursor).items] == ["run-0"]
    assert first.items[0].summary == {"total": 0} and first.items[0].outcome is RunOutcome.CLEAN
    with pytest.raises(ValueError, match="final outcome"):
        store.finish_run("main", T0, outcome=RunOutcome.RUNNING, finished_at=T0, summary={})


def test_breaks_are_upserted_by_id_and_closed_when_no_longer_observed(store: ReconStore) -> None:
    fill, alert = missing_fill(), balance_break("250")
    assert [store.observe(b, T0) for b in (fill, alert)] == [Upsert.NEW, Upsert.NEW]
    assert store.observe(fill, T0 + 60_000) is Upsert.UNCHANGED
    assert store.observe(balance_break("300"), T0 + 60_000) is Upsert.CHANGED
    assert {b.break_id for b in store.list_breaks(BreakStatus.OPEN).items} == {fill.break_id, alert.break_id}

    closed = store.close_unobserved(T0 + 120_000, observed=set(), at=T0 + 121_000)
    by_id = {record.break_id: record for record in closed}
    assert by_id[fill.break_id].status is BreakStatus.APPLIED  # the gateway imported it
    assert by_id[alert.break_id].status is BreakStatus.RESOLVED
    assert by_id[alert.break_id].resolved_by == RECONCILER
    assert store.list_breaks(BreakStatus.OPEN).items == ()
    assert store.observe(fill, T0 + 180_000) is Upsert.REOPENED  # the apply did not take


def test_a_run_never_closes_what_it_observed_or_a_newer_run_saw(store: ReconStore) -> None:
    fill = missing_fill()
    store.observe(fill, T0 + 60_000)
    assert store.close_unobserved(T0 + 60_000, observed=set(), at=T0 + 61_000) == []  # seen by this run
    assert store.close_unobserved(T0 + 120_000, observed={fill.break_id}, at=T0 + 121_000) == []


def test_operator_resolution_is_journaled_and_acknowledges_the_same_evidence(
    store: ReconStore, aws_settings: Settings
) -> None:
    alert = balance_break("250")
    store.observe(alert, T0)
    with pytest.raises(ValueError, match="reason"):
        store.resolve(alert.break_id, user="alice", reason=" ", at=T0 + 1)
    with pytest.raises(BreakNotFound):
        store.resolve("rb-unknown", user="alice", reason="x", at=T0 + 1)
    resolved = store.resolve(alert.break_id, user="alice", reason="treasury deposit", at=T0 + 2)
    assert (resolved.status, resolved.resolved_by, resolved.reason) == (
        BreakStatus.RESOLVED,
        "alice",
        "treasury deposit",
    )
    (entry,) = JournalStore(aws_settings).read("reconciliation")
    assert entry.kind == "break_resolved" and entry.actor == "alice"
    assert entry.payload["break_id"] == alert.break_id
    with pytest.raises(BreakNotOpen):
        store.resolve(alert.break_id, user="bob", reason="again", at=T0 + 3)

    assert store.observe(alert, T0 + 60_000) is Upsert.ACKNOWLEDGED
    assert store.observe(balance_break("900"), T0 + 120_000) is Upsert.REOPENED  # new evidence
    reopened = store.get_break(alert.break_id)
    assert reopened is not None and reopened.status is BreakStatus.OPEN and reopened.resolved_by is None
