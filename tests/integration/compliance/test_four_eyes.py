"""Four-eyes changes against moto: limits, strategies and resuming trading each need a second approver."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from tradeops.change_management import ChangeConflict, ChangeService, InvalidChange, NotAnApprover
from tradeops.config import Settings
from tradeops.domain.control import TradingState
from tradeops.domain.events import ControlChanged
from tradeops.store.base import StaleWrite
from tradeops.store.control import ControlStore
from tradeops.store.journal import JournalStore
from tradeops.store.limits import LimitStore
from tradeops.store.proposals import FourEyesViolation, ProposalKind, ProposalStatus, ProposalStore

from .conftest import ADMIN, RISK, RISK2, TRADER, Recorder

pytestmark = pytest.mark.integration


def test_limits_need_a_second_approver_and_then_take_effect(
    service: ChangeService, tables: Settings, sink: Recorder
) -> None:
    proposal = service.propose(
        ProposalKind.LIMITS, "global", {"max_order_notional": D(15000)}, "tighten after review", RISK
    )
    with pytest.raises(FourEyesViolation):
        service.approve(proposal.proposal_id, RISK)
    with pytest.raises(NotAnApprover):
        service.approve(proposal.proposal_id, TRADER)
    limits = LimitStore(tables)
    assert limits.latest("global") is None and sink.events == []

    applied = service.approve(proposal.proposal_id, RISK2)
    assert (applied.status, applied.decided_by) == (ProposalStatus.APPLIED, RISK2.username)
    version = limits.latest("global")
    assert version is not None and version.version == 1
    assert (version.proposed_by, version.approved_by) == (RISK.username, RISK2.username)
    assert version.limits["max_order_notional"] == D(15000)
    assert version.limits["max_order_quantity.BTC/USDT"] == D("0.5")  # the rest from the baseline
    with pytest.raises(StaleWrite):
        service.approve(proposal.proposal_id, ADMIN)

    (event,) = sink.events
    assert isinstance(event, ControlChanged)
    assert (event.key, event.actor, event.correlation_id) == (
        "limits#global",
        RISK2.username,
        proposal.proposal_id,
    )
    assert event.value["proposed_by"] == RISK.username and event.value["version"] == 1

    entries = JournalStore(tables).read("control")
    assert [e.kind for e in entries] == ["change_proposed", "change_approved", "change_applied"]
    assert entries[0].actor == RISK.username
    assert entries[0].payload["diff"] == {"max_order_notional": {"from": "20000", "to": "15000"}}
    for entry in entries[1:]:
        assert entry.actor == RISK2.username
        assert (entry.payload["proposed_by"], entry.payload["decided_by"]) == (RISK.username, RISK2.username)

    second = service.propose(ProposalKind.LIMITS, "global", {"order_burst": D(5)}, "slower", RISK2)
    service.approve(second.proposal_id, ADMIN)
    latest = limits.latest("global")
    assert latest is not None and latest.version == 2
    assert (latest.limits["order_burst"], latest.limits["max_order_notional"]) == (D(5), D(15000))


def test_reject_path_leaves_limits_unchanged(
    service: ChangeService, tables: Settings, sink: Recorder
) -> None:
    proposal = service.propose(ProposalKind.LIMITS, "global", {"max_open_orders": D(10)}, "fewer", RISK)
    with pytest.raises(NotAnApprover):
        service.reject(proposal.proposal_id, TRADER, "no")
    rejected = service.reject(proposal.proposal_id, RISK2, "not now")
    assert (rejected.status, rejected.decided_by, rejected.note) == (
        ProposalStatus.REJECTED,
        RISK2.username,
        "not now",
    )
    with pytest.raises(StaleWrite):
        service.approve(proposal.proposal_id, ADMIN)
    assert LimitStore(tables).latest("global") is None and sink.events == []
    assert [p.proposal_id for p in service.list(ProposalStatus.REJECTED).items] == [proposal.proposal_id]
    assert service.list(ProposalStatus.PENDING).items == ()
    last = JournalStore(tables).read("control")[-1]
    assert (last.kind, last.actor, last.payload["proposed_by"], last.payload["note"]) == (
        "change_rejected",
        RISK2.username,
        RISK.username,
        "not now",
    )


def test_invalid_limits_are_refused_at_proposal_naming_the_field(service: ChangeService) -> None:
    for changes, field in (
        ({"price_collar_bps": D(20_000)}, "price_collar_bps"),
        ({"max_order_quantity.BTC/USDT": D(-1)}, "max_order_quantity.BTC/USDT"),
        ({"typo_limit": D(1)}, "typo_limit"),
    ):
        with pytest.raises(InvalidChange) as raised:
            service.propose(ProposalKind.LIMITS, "global", changes, "bad", RISK)
        assert raised.value.field == field and field in str(raised.value)
    with pytest.raises(NotAnApprover):
        service.propose(ProposalKind.LIMITS, "global", {"order_burst": D(5)}, "trader", TRADER)
    assert service.list(ProposalStatus.PENDING).items == ()


def test_strategy_change_updates_the_control_table(
    service: ChangeService, tables: Settings, sink: Recorder
) -> None:
    with pytest.raises(InvalidChange) as raised:
        service.propose(ProposalKind.STRATEGY, "demo", {"enabled": D(2)}, "bad flag", RISK)
    assert raised.value.field == "enabled"
    proposal = service.propose(
        ProposalKind.STRATEGY, "demo", {"enabled": D(1), "allocation": D("25000.50")}, "go live", RISK
    )
    assert ControlStore(tables).strategy("demo") is None
    service.approve(proposal.proposal_id, ADMIN)
    record = ControlStore(tables).strategy("demo")
    assert record is not None and (record.enabled, record.allocation, record.updated_by) == (
        True,
        D("25000.50"),
        ADMIN.username,
    )
    assert isinstance(sink.events[-1], ControlChanged) and sink.events[-1].key == "strategy#demo"


def test_resume_trading_after_a_halt_needs_a_second_approver(
    service: ChangeService, tables: Settings, sink: Recorder
) -> None:
    control = ControlStore(tables)
    with pytest.raises(ChangeConflict):
        service.propose(ProposalKind.RESUME_TRADING, "trading", {}, "nothing halted", RISK)
    halted = control.put_trading(
        TradingState.HALTED,
        reason="kill switch",
        updated_by="trader@tradeops.example",
        updated_at=1,
        expected_version=None,
    )
    proposal = service.propose(ProposalKind.RESUME_TRADING, "trading", {}, "incident closed", RISK)
    with pytest.raises(FourEyesViolation):
        service.approve(proposal.proposal_id, RISK)
    current = control.trading()
    assert current is not None and current.state is TradingState.HALTED
    service.approve(proposal.proposal_id, RISK2)
    resumed = control.trading()
    assert resumed is not None
    assert (resumed.state, resumed.updated_by, resumed.version) == (
        TradingState.ACTIVE,
        RISK2.username,
        halted.version + 1,
    )
    event = sink.events[-1]
    assert isinstance(event, ControlChanged) and event.key == "trading" and event.value["state"] == "ACTIVE"


def test_an_interrupted_approval_is_finished_once_by_the_same_approver(
    service: ChangeService, tables: Settings, sink: Recorder
) -> None:
    proposal = service.propose(ProposalKind.LIMITS, "global", {"max_open_orders": D(30)}, "more", RISK)
    # The approver's process died right after the APPROVED transition (nothing applied yet).
    ProposalStore(tables).transition(
        proposal.proposal_id,
        from_status=ProposalStatus.PENDING,
        to_status=ProposalStatus.APPROVED,
        by=RISK2.username,
        at=1,
    )
    with pytest.raises(StaleWrite):
        service.approve(proposal.proposal_id, ADMIN)  # someone else cannot take it over
    applied = service.approve(proposal.proposal_id, RISK2)
    assert applied.status is ProposalStatus.APPLIED
    history = LimitStore(tables).history("global")
    assert [(v.version, v.approved_by, v.limits["max_open_orders"]) for v in history] == [
        (1, RISK2.username, D(30))
    ]
    assert len(sink.events) == 1


def test_resume_from_reducing_is_pinned_to_the_state_it_was_proposed_in(
    service: ChangeService, tables: Settings, sink: Recorder
) -> None:
    control = ControlStore(tables)
    reducing = control.put_trading(
        TradingState.REDUCING, reason="gross exposure", updated_by="risk-monitor", updated_at=1,
        expected_version=None,
    )  # fmt: skip
    stale = service.propose(ProposalKind.RESUME_TRADING, "trading", {}, "exposure back in", RISK)
    assert dict(stale.changes) == {"from_version": D(reducing.version)}
    halted = control.put_trading(
        TradingState.HALTED, reason="kill switch", updated_by="trader@tradeops.example", updated_at=2,
        expected_version=reducing.version,
    )  # fmt: skip
    with pytest.raises(ChangeConflict, match="propose the resume again"):
        service.approve(stale.proposal_id, RISK2)  # the kill switch came after the proposal: not undone
    current = control.trading()
    assert current is not None and current.state is TradingState.HALTED
    fresh = service.propose(ProposalKind.RESUME_TRADING, "trading", {}, "incident closed", RISK)
    service.approve(fresh.proposal_id, RISK2)
    resumed = control.trading()
    assert resumed is not None and (resumed.state, resumed.version) == (
        TradingState.ACTIVE,
        halted.version + 1,
    )
    with pytest.raises(InvalidChange):
        service.propose(ProposalKind.RESUME_TRADING, "trading", {"from_version": D(1)}, "forged", RISK)
