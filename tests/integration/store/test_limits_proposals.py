"""Limits and four-eyes proposals against moto: versions never overwritten, one approval only."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from tradeops.config import Settings
from tradeops.store.base import StaleWrite
from tradeops.store.limits import LimitStore, LimitVersion
from tradeops.store.proposals import (
    FourEyesViolation,
    LimitProposal,
    ProposalKind,
    ProposalNotFound,
    ProposalStatus,
    ProposalStore,
)

pytestmark = pytest.mark.integration

P = ProposalStatus


def _version(version: int, notional: str) -> LimitVersion:
    return LimitVersion(
        "global", version, {"max_notional": Decimal(notional)}, "alice", "bob", f"p{version}", version
    )


def test_limit_versions_are_append_only(store_settings: Settings) -> None:
    limits = LimitStore(store_settings)
    assert limits.latest("global") is None
    limits.put_version(_version(1, "1000.00"))
    limits.put_version(_version(2, "0.00000001"))
    with pytest.raises(StaleWrite, match="version 2 exists"):
        limits.put_version(_version(2, "999999"))
    latest = limits.latest("global")
    assert latest == _version(2, "0.00000001") and str(latest.limits["max_notional"]) == "1E-8"
    assert [v.version for v in limits.history("global")] == [1, 2]
    assert limits.history("symbol:BTCUSDT") == []


def test_limit_versions_need_two_people_and_decimals() -> None:
    with pytest.raises(ValueError, match="four eyes"):
        LimitVersion("global", 1, {}, "alice", "alice", "p1", 1)
    with pytest.raises(TypeError):
        LimitVersion("global", 1, {"max_notional": 1.5}, "alice", "bob", "p1", 1)  # type: ignore[dict-item]


def _proposal(pid: str = "p1", created_at: int = 100) -> LimitProposal:
    return LimitProposal(
        pid, ProposalKind.LIMITS, "global", {"max_notional": Decimal("2500.50")}, "raise", "alice", created_at
    )


def test_proposal_lifecycle(store_settings: Settings) -> None:
    proposals = ProposalStore(store_settings)
    proposals.create(_proposal())
    with pytest.raises(StaleWrite):
        proposals.create(_proposal())
    approved = proposals.transition(
        "p1", from_status=P.PENDING, to_status=P.APPROVED, by="bob", at=200, note="ok"
    )
    assert (approved.status, approved.decided_by, approved.decided_at, approved.note) == (
        P.APPROVED,
        "bob",
        200,
        "ok",
    )
    assert approved.changes == {"max_notional": Decimal("2500.50")}
    applied = proposals.transition("p1", from_status=P.APPROVED, to_status=P.APPLIED, by="gateway", at=300)
    assert applied.status is P.APPLIED and applied.decided_by == "bob"
    assert proposals.get("p1") == applied
    with pytest.raises(ValueError, match="not allowed"):
        proposals.transition("p1", from_status=P.APPLIED, to_status=P.PENDING, by="bob", at=400)


def test_self_approval_and_foreign_cancel_are_refused(store_settings: Settings) -> None:
    proposals = ProposalStore(store_settings)
    proposals.create(_proposal())
    with pytest.raises(FourEyesViolation, match="alice proposed"):
        proposals.transition("p1", from_status=P.PENDING, to_status=P.APPROVED, by="alice", at=200)
    with pytest.raises(FourEyesViolation, match="only the proposer"):
        proposals.transition("p1", from_status=P.PENDING, to_status=P.CANCELED, by="bob", at=200)
    with pytest.raises(ProposalNotFound):
        proposals.transition("nope", from_status=P.PENDING, to_status=P.APPROVED, by="bob", at=200)
    assert proposals.get("nope") is None
    stored = proposals.get("p1")
    assert stored is not None and stored.status is P.PENDING and stored.decided_by is None


def test_two_approvers_cannot_both_approve(store_settings: Settings) -> None:
    proposals = ProposalStore(store_settings)
    proposals.create(_proposal())

    def decide(who: str) -> str:
        to = P.APPROVED if who.startswith("approver") else P.REJECTED
        try:
            proposals.transition("p1", from_status=P.PENDING, to_status=to, by=who, at=200)
        except StaleWrite:
            return "lost"
        return "won"

    deciders = ["approver-1", "approver-2", "approver-3", "rejecter-1", "rejecter-2", "approver-4"]
    with ThreadPoolExecutor(len(deciders)) as pool:
        outcomes = list(pool.map(decide, deciders))
    assert outcomes.count("won") == 1
    stored = proposals.get("p1")
    assert stored is not None and stored.decided_by == deciders[outcomes.index("won")]


def test_proposals_by_status(store_settings: Settings) -> None:
    proposals = ProposalStore(store_settings)
    for i in range(5):
        proposals.create(_proposal(f"p{i}", created_at=100 + i))
    proposals.transition("p1", from_status=P.PENDING, to_status=P.REJECTED, by="bob", at=300)
    pending = proposals.by_status(P.PENDING, limit=2)
    rest = proposals.by_status(P.PENDING, limit=2, cursor=pending.cursor)
    assert [p.proposal_id for p in pending.items + rest.items] == ["p4", "p3", "p2", "p0"]
    assert [p.proposal_id for p in proposals.by_status(P.REJECTED).items] == ["p1"]
    assert [
        p.proposal_id for p in proposals.by_status(P.PENDING, created_from=102, newest_first=False).items
    ] == [
        "p2",
        "p3",
        "p4",
    ]


def test_proposals_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match="reason"):
        LimitProposal("p", ProposalKind.LIMITS, "global", {}, " ", "alice", 1)
    with pytest.raises(ValueError):
        LimitProposal("p", "NOT_A_KIND", "global", {}, "r", "alice", 1)  # type: ignore[arg-type]
