"""Four-eyes change management: propose, approve (and apply) or reject control changes.

Kinds and what an APPROVED proposal applies:

* LIMITS (scope e.g. ``global``): the next :class:`~tradeops.store.limits.LimitVersion` of the scope,
  the flat limits map of :mod:`tradeops.change_management.limits_doc`. The result is validated as a
  whole RiskLimits document when proposed (the refusal names the field) and again when applied.
* STRATEGY (scope = strategy name; changes ``enabled`` 0/1 and/or ``allocation`` >= 0): the control
  table's strategy record.
* RESUME_TRADING (scope ``trading``): trading state HALTED or REDUCING -> ACTIVE, so a kill switch or a
  risk restriction is only undone by two people. The service pins the proposal to the trading record's
  version (``from_version``): if the state changes before approval (say a kill switch after a REDUCING
  resume was proposed), the approval is refused and the resume must be proposed again.

Only members of ``risk`` or ``admin`` propose, approve and reject; the approver must differ from the
proposer (checked atomically by the proposal store). Approval is PENDING -> APPROVED -> APPLIED; an
approval interrupted after APPROVED is finished by the same approver calling :meth:`approve` again
(applying is idempotent). Every step is journaled on stream ``control`` with both identities and the
diff, and each applied change publishes "Control Changed" so the gateway re-reads the control plane.
The event is a hint: if publishing fails, the change stays applied and journaled, the PublishError
propagates, and the gateway picks the change up at its next periodic refresh.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Protocol

from tradeops.change_management import limits_doc
from tradeops.change_management.identity import Operator
from tradeops.config import Settings
from tradeops.domain.control import TradingState
from tradeops.domain.events import ControlChanged, EventDetail
from tradeops.domain.limits import LimitsValidationError, RiskLimits
from tradeops.store.base import Page, StaleWrite
from tradeops.store.control import TRADING_KEY, ControlStore, TradingControl
from tradeops.store.journal import JournalStore
from tradeops.store.limits import LimitStore, LimitVersion
from tradeops.store.proposals import (
    LimitProposal,
    ProposalKind,
    ProposalNotFound,
    ProposalStatus,
    ProposalStore,
)

CONTROL_STREAM = "control"
EVENT_SOURCE = "tradeops.control"
RESUME_SCOPE = "trading"
FROM_VERSION = "from_version"
"""The one change of a RESUME_TRADING proposal: the trading record's version it resumes from."""
RESUMABLE = frozenset({TradingState.HALTED, TradingState.REDUCING})
STRATEGY_FIELDS = frozenset({"enabled", "allocation"})
_LIMIT_RETRIES = 3


class EventSink(Protocol):
    """Where events go (:class:`tradeops.aws.events.EventPublisher` fits)."""

    def publish(self, event: EventDetail) -> None: ...


class NotAnApprover(PermissionError):
    """The user is not in a group that may propose, approve or reject control changes."""


class InvalidChange(ValueError):
    """A proposal that cannot take effect; ``field`` names the offending change."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"change {field!r}: {problem}")
        self.field = field


class ChangeConflict(RuntimeError):
    """The control plane is not in the state the proposal needs (e.g. resume when not HALTED)."""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _strings(changes: Mapping[str, Decimal]) -> dict[str, str]:
    return {name: str(value) for name, value in sorted(changes.items())}


class ChangeService:
    """Four-eyes changes on the tables bound by ``settings``.

    ``baseline`` is the limits document a scope starts from before its first approved version (None:
    the first LIMITS proposal of a scope must set every field). ``fencing_token`` is the token of the
    journal's ``control`` stream writer (operator actions hold no lease: 0).
    """

    def __init__(
        self,
        settings: Settings,
        events: EventSink,
        *,
        baseline: RiskLimits | None = None,
        clock_ms: Callable[[], int] = _now_ms,
        fencing_token: int = 0,
    ) -> None:
        self._proposals = ProposalStore(settings)
        self._limits = LimitStore(settings)
        self._control = ControlStore(settings)
        self._journal = JournalStore(settings)
        self._events = events
        self._baseline = None if baseline is None else limits_doc.flatten_limits(baseline)
        self._clock_ms = clock_ms
        self._fencing_token = fencing_token

    # -- the three operator actions -------------------------------------------------------------------

    def propose(
        self, kind: ProposalKind, scope: str, changes: Mapping[str, Decimal], reason: str, user: Operator
    ) -> LimitProposal:
        """Record a PENDING proposal after checking it would take effect; InvalidChange names the field."""
        _require_approver(user, "propose")
        kind = ProposalKind(kind)
        changes = dict(changes)
        if kind is ProposalKind.RESUME_TRADING:
            changes = self._resume_changes(scope, changes)
        diff = self._diff(kind, scope, changes)
        proposal = LimitProposal(
            proposal_id=f"chg-{uuid.uuid4().hex}",
            kind=kind,
            scope=scope,
            changes=changes,
            reason=reason,
            proposed_by=user.username,
            created_at=self._clock_ms(),
        )
        self._proposals.create(proposal)
        self._journal_step("change_proposed", proposal, user.username, diff=diff)
        return proposal

    def approve(self, proposal_id: str, user: Operator) -> LimitProposal:
        """Approve (four eyes) and apply ``proposal_id``; returns it APPLIED.

        Raises NotAnApprover, ProposalNotFound, FourEyesViolation (own proposal), StaleWrite (decided
        already), InvalidChange / ChangeConflict (it can no longer take effect: it stays PENDING).
        """
        _require_approver(user, "approve")
        proposal = self._get(proposal_id)
        if proposal.status is ProposalStatus.APPROVED and proposal.decided_by == user.username:
            return self._apply(proposal, user)  # finish an interrupted approval
        if proposal.status is ProposalStatus.PENDING:
            self._diff(proposal.kind, proposal.scope, dict(proposal.changes))  # still valid now?
        approved = self._proposals.transition(
            proposal_id,
            from_status=ProposalStatus.PENDING,
            to_status=ProposalStatus.APPROVED,
            by=user.username,
            at=self._clock_ms(),
        )
        self._journal_step("change_approved", approved, user.username)
        return self._apply(approved, user)

    def reject(self, proposal_id: str, user: Operator, note: str) -> LimitProposal:
        """Reject a PENDING proposal with a note (any approver, the proposer included: it withdraws)."""
        _require_approver(user, "reject")
        if not note.strip():
            raise ValueError("a rejection needs a note")
        rejected = self._proposals.transition(
            proposal_id,
            from_status=ProposalStatus.PENDING,
            to_status=ProposalStatus.REJECTED,
            by=user.username,
            at=self._clock_ms(),
            note=note,
        )
        self._journal_step("change_rejected", rejected, user.username, note=note)
        return rejected

    def list(
        self, status: ProposalStatus, *, limit: int = 100, cursor: str | None = None
    ) -> Page[LimitProposal]:
        """Proposals in ``status``, newest first, one page."""
        return self._proposals.by_status(status, limit=limit, cursor=cursor)

    # -- validation and diffs -------------------------------------------------------------------------

    def _get(self, proposal_id: str) -> LimitProposal:
        proposal = self._proposals.get(proposal_id)
        if proposal is None:
            raise ProposalNotFound(proposal_id)
        return proposal

    def _diff(self, kind: ProposalKind, scope: str, changes: dict[str, Decimal]) -> dict[str, Any]:
        """The diff the change would make now; raises InvalidChange / ChangeConflict if it cannot apply."""
        if kind is ProposalKind.LIMITS:
            before, after = self._limits_after(scope, changes)
            return limits_doc.diff(before, after)
        if kind is ProposalKind.STRATEGY:
            return self._strategy_diff(scope, changes)
        current = self._resumable(changes)
        return {"state": {"from": current.state.value, "to": TradingState.ACTIVE.value}}

    def _resume_changes(self, scope: str, changes: Mapping[str, Decimal]) -> dict[str, Decimal]:
        """A resume takes no changes from the caller; it is pinned to the current trading version."""
        if scope != RESUME_SCOPE or changes:
            raise InvalidChange("scope", f"RESUME_TRADING has scope {RESUME_SCOPE!r} and no changes")
        current = self._control.trading()
        return {} if current is None else {FROM_VERSION: Decimal(current.version)}

    def _resumable(self, changes: Mapping[str, Decimal]) -> TradingControl:
        """The trading record a resume applies to: restrictive, and unchanged since it was proposed."""
        current = self._control.trading()
        if current is None or current.state not in RESUMABLE:
            state = None if current is None else current.state
            raise ChangeConflict(f"trading is {state or 'not set'}: nothing to resume")
        pinned = changes.get(FROM_VERSION)
        if pinned is not None and Decimal(current.version) != pinned:
            raise ChangeConflict(
                f"trading changed since the resume was proposed (version {pinned} -> {current.version}, "
                f"now {current.state}): propose the resume again"
            )
        return current

    def _limits_after(
        self, scope: str, changes: Mapping[str, Decimal]
    ) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
        if not changes:
            raise InvalidChange("changes", "a LIMITS proposal changes at least one limit")
        latest = self._limits.latest(scope)
        before = dict(latest.limits) if latest is not None else dict(self._baseline or {})
        try:
            return before, limits_doc.apply_changes(before, changes)
        except LimitsValidationError as exc:
            raise InvalidChange(exc.field, str(exc)) from exc

    def _strategy_diff(self, scope: str, changes: Mapping[str, Decimal]) -> dict[str, Any]:
        if not scope or "#" in scope:
            raise InvalidChange("scope", f"bad strategy name {scope!r}")
        if not changes:
            raise InvalidChange("changes", "a STRATEGY proposal sets enabled and/or allocation")
        for name in sorted(set(changes) - STRATEGY_FIELDS):
            raise InvalidChange(name, "unknown strategy field (enabled, allocation)")
        if "enabled" in changes and changes["enabled"] not in (Decimal(0), Decimal(1)):
            raise InvalidChange("enabled", f"must be 0 or 1, got {changes['enabled']}")
        allocation = changes.get("allocation")
        if allocation is not None and (not allocation.is_finite() or allocation < 0):
            raise InvalidChange("allocation", f"must be a finite amount >= 0, got {allocation}")
        current = self._control.strategy(scope)
        before = {
            "enabled": None if current is None else str(int(current.enabled)),
            "allocation": None if current is None or current.allocation is None else str(current.allocation),
        }
        return {
            name: {"from": before[name], "to": str(value)}
            for name, value in sorted(changes.items())
            if before[name] is None or Decimal(before[name] or 0) != value
        }

    # -- applying -------------------------------------------------------------------------------------

    def _apply(self, proposal: LimitProposal, user: Operator) -> LimitProposal:
        now = self._clock_ms()
        if proposal.kind is ProposalKind.LIMITS:
            key, value = self._apply_limits(proposal, now)
        elif proposal.kind is ProposalKind.STRATEGY:
            key, value = self._apply_strategy(proposal, now)
        else:
            key, value = self._apply_resume(proposal, now)
        applied = self._proposals.transition(
            proposal.proposal_id,
            from_status=ProposalStatus.APPROVED,
            to_status=ProposalStatus.APPLIED,
            by=user.username,
            at=now,
        )
        self._journal_step("change_applied", applied, user.username, key=key, result=value)
        self._events.publish(
            ControlChanged(
                correlation_id=proposal.proposal_id,
                key=key,
                value={**value, "proposal_id": proposal.proposal_id, "proposed_by": proposal.proposed_by},
                actor=user.username,
                reason=proposal.reason,
            )
        )
        return applied

    def _apply_limits(self, proposal: LimitProposal, now: int) -> tuple[str, dict[str, Any]]:
        approver = _approver(proposal)
        for _ in range(_LIMIT_RETRIES):
            latest = self._limits.latest(proposal.scope)
            if latest is not None and latest.proposal_id == proposal.proposal_id:
                version = latest  # applied before an interruption
            else:
                _, after = self._limits_after(proposal.scope, proposal.changes)
                version = LimitVersion(
                    scope=proposal.scope,
                    version=1 if latest is None else latest.version + 1,
                    limits=after,
                    proposed_by=proposal.proposed_by,
                    approved_by=approver,
                    proposal_id=proposal.proposal_id,
                    created_at=now,
                )
                try:
                    self._limits.put_version(version)
                except StaleWrite:
                    continue  # another approval took this version: rebuild on top of it
            return f"limits#{proposal.scope}", {"version": version.version, "approved_by": approver}
        raise StaleWrite(f"limits {proposal.scope!r}: {_LIMIT_RETRIES} attempts lost the race for a version")

    def _apply_strategy(self, proposal: LimitProposal, now: int) -> tuple[str, dict[str, Any]]:
        approver = _approver(proposal)
        current = self._control.strategy(proposal.scope)
        enabled = proposal.changes.get("enabled")
        allocation = proposal.changes.get("allocation")
        record = self._control.put_strategy(
            proposal.scope,
            enabled=(current.enabled if current else False) if enabled is None else enabled == 1,
            allocation=(current.allocation if current else None) if allocation is None else allocation,
            updated_by=approver,
            updated_at=now,
            expected_version=None if current is None else current.version,
        )
        value = {
            "enabled": record.enabled,
            "allocation": None if record.allocation is None else str(record.allocation),
            "version": record.version,
            "approved_by": approver,
        }
        return f"strategy#{proposal.scope}", value

    def _apply_resume(self, proposal: LimitProposal, now: int) -> tuple[str, dict[str, Any]]:
        approver = _approver(proposal)
        current = self._control.trading()
        if current is not None and current.state is TradingState.ACTIVE and current.updated_by == approver:
            return TRADING_KEY, {"state": current.state.value, "version": current.version}  # applied before
        current = self._resumable(proposal.changes)
        record = self._control.put_trading(
            TradingState.ACTIVE,
            reason=f"{proposal.reason} (proposal {proposal.proposal_id})",
            updated_by=approver,
            updated_at=now,
            expected_version=current.version,
        )
        return TRADING_KEY, {"state": record.state.value, "version": record.version, "approved_by": approver}

    def _journal_step(self, kind: str, proposal: LimitProposal, actor: str, **extra: Any) -> None:
        payload: dict[str, Any] = {
            "proposal_id": proposal.proposal_id,
            "kind": proposal.kind.value,
            "scope": proposal.scope,
            "changes": _strings(proposal.changes),
            "reason": proposal.reason,
            "proposed_by": proposal.proposed_by,
            "decided_by": proposal.decided_by,
            "status": proposal.status.value,
            **extra,
        }
        self._journal.append(CONTROL_STREAM, kind, payload, actor, self._fencing_token)


def _require_approver(user: Operator, action: str) -> None:
    if not user.may_approve:
        raise NotAnApprover(f"{user.username} may not {action} control changes (needs group risk or admin)")


def _approver(proposal: LimitProposal) -> str:
    if proposal.decided_by is None:
        raise RuntimeError(f"proposal {proposal.proposal_id} is {proposal.status.value} without an approver")
    return proposal.decided_by
