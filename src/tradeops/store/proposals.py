"""Four-eyes change proposals (limits, strategy changes, resuming after the kill switch).

A proposal moves PENDING -> APPROVED | REJECTED | CANCELED | EXPIRED, and APPROVED -> APPLIED. Every
transition is one UpdateItem conditioned on the current status (and, for approval, on the approver not
being the proposer), so two approvers cannot both approve and nobody approves their own proposal.
``changes`` is a map of exact Decimals: limit values for LIMITS; ``enabled`` (0/1) and ``allocation``
for STRATEGY; for RESUME_TRADING only ``from_version``, the trading record's version it resumes from
(set by the change service).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import ClassVar

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from tradeops.config import Settings
from tradeops.store.base import (
    DecimalMapAttribute,
    IntAttribute,
    Page,
    StaleWrite,
    StoreError,
    TableModel,
    bind_model,
    collect_page,
    decode_cursor,
    is_condition_failure,
    page_size_or_error,
    require_decimal,
    sort_key_range,
)
from tradeops.store.tables import LIMIT_PROPOSALS, TableSpec


class ProposalKind(StrEnum):
    LIMITS = "LIMITS"
    STRATEGY = "STRATEGY"
    RESUME_TRADING = "RESUME_TRADING"


class ProposalStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    APPLIED = "APPLIED"


PROPOSAL_TRANSITIONS: Mapping[ProposalStatus, frozenset[ProposalStatus]] = MappingProxyType(
    {
        ProposalStatus.PENDING: frozenset(
            {
                ProposalStatus.APPROVED,
                ProposalStatus.REJECTED,
                ProposalStatus.CANCELED,
                ProposalStatus.EXPIRED,
            }
        ),
        ProposalStatus.APPROVED: frozenset({ProposalStatus.APPLIED}),
    }
)


class ProposalNotFound(StoreError, KeyError):
    pass


class FourEyesViolation(StoreError, PermissionError):
    """The proposer tried to approve their own proposal (or someone else tried to cancel it)."""


@dataclass(frozen=True)
class LimitProposal:
    proposal_id: str
    kind: ProposalKind
    scope: str
    changes: Mapping[str, Decimal]
    reason: str
    proposed_by: str
    created_at: int
    status: ProposalStatus = ProposalStatus.PENDING
    decided_by: str | None = None
    decided_at: int | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if not self.proposal_id or not self.scope or not self.proposed_by:
            raise ValueError("a proposal needs an id, a scope and a proposer")
        if not self.reason.strip():
            raise ValueError("a proposal needs a reason")
        object.__setattr__(self, "kind", ProposalKind(self.kind))
        object.__setattr__(self, "status", ProposalStatus(self.status))
        for name, value in self.changes.items():
            require_decimal(value, f"change {name!r}")
        object.__setattr__(self, "changes", MappingProxyType(dict(self.changes)))


class _ByStatus(GlobalSecondaryIndex["ProposalItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    created_at = IntAttribute(range_key=True)


class ProposalItem(TableModel):
    SPEC: ClassVar[TableSpec] = LIMIT_PROPOSALS

    proposal_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()
    scope = UnicodeAttribute()
    changes = DecimalMapAttribute()
    reason = UnicodeAttribute()
    proposed_by = UnicodeAttribute()
    created_at = IntAttribute()
    status = UnicodeAttribute()
    decided_by = UnicodeAttribute(null=True)
    decided_at = IntAttribute(null=True)
    note = UnicodeAttribute(null=True)

    by_status = _ByStatus()


class ProposalStore:
    """Proposals in the limit_proposals table bound by ``settings``."""

    def __init__(self, settings: Settings) -> None:
        self._model = bind_model(ProposalItem, settings)

    def create(self, proposal: LimitProposal) -> None:
        """Store a new PENDING proposal; StaleWrite if its id exists already."""
        if proposal.status is not ProposalStatus.PENDING or proposal.decided_by is not None:
            raise ValueError("a new proposal must be PENDING and undecided")
        model = self._model
        item = model(
            proposal.proposal_id,
            kind=proposal.kind.value,
            scope=proposal.scope,
            changes=dict(proposal.changes),
            reason=proposal.reason,
            proposed_by=proposal.proposed_by,
            created_at=proposal.created_at,
            status=proposal.status.value,
        )
        try:
            item.save(condition=model.proposal_id.does_not_exist())
        except PutError as exc:
            if is_condition_failure(exc):
                raise StaleWrite(f"proposal {proposal.proposal_id!r} exists already") from exc
            raise

    def get(self, proposal_id: str) -> LimitProposal | None:
        try:
            return _to_proposal(self._model.get(proposal_id, consistent_read=True))
        except self._model.DoesNotExist:
            return None

    def by_status(
        self,
        status: ProposalStatus,
        *,
        created_from: int | None = None,
        created_to: int | None = None,
        limit: int = 100,
        cursor: str | None = None,
        newest_first: bool = True,
    ) -> Page[LimitProposal]:
        """Proposals in ``status`` created in [created_from, created_to] (ms), one page."""
        results = self._model.by_status.query(
            ProposalStatus(status).value,
            sort_key_range(self._model.created_at, created_from, created_to),
            limit=page_size_or_error(limit),
            last_evaluated_key=decode_cursor(cursor),
            scan_index_forward=not newest_first,
        )
        return collect_page(results, _to_proposal)

    def transition(
        self,
        proposal_id: str,
        *,
        from_status: ProposalStatus,
        to_status: ProposalStatus,
        by: str,
        at: int,
        note: str | None = None,
    ) -> LimitProposal:
        """Move a proposal ``from_status -> to_status`` atomically and return it as stored.

        Raises ValueError for a transition the table does not allow, :class:`ProposalNotFound`,
        :class:`FourEyesViolation` (self-approval, or cancel by someone else) and :class:`StaleWrite`
        when the proposal is no longer in ``from_status`` (e.g. another approver was first).
        """
        from_status, to_status = ProposalStatus(from_status), ProposalStatus(to_status)
        if to_status not in PROPOSAL_TRANSITIONS.get(from_status, frozenset()):
            raise ValueError(f"proposal transition {from_status.value} -> {to_status.value} is not allowed")
        if not by:
            raise ValueError("a transition needs the identity of who made it")
        if isinstance(at, bool) or not isinstance(at, int) or at < 0:
            raise ValueError(f"at must be epoch ms, got {at!r}")
        model = self._model
        condition: Condition = model.proposal_id.exists() & (model.status == from_status.value)
        if to_status is ProposalStatus.APPROVED:
            condition &= model.proposed_by != by
        elif to_status is ProposalStatus.CANCELED:
            condition &= model.proposed_by == by
        actions: list[Action] = [model.status.set(to_status.value)]
        if to_status is not ProposalStatus.APPLIED:
            actions += [model.decided_by.set(by), model.decided_at.set(at)]
        if note is not None:
            actions.append(model.note.set(note))
        item = model(proposal_id)
        try:
            item.update(actions=actions, condition=condition)
        except UpdateError as exc:
            if not is_condition_failure(exc):
                raise
            raise self._why_refused(proposal_id, from_status, to_status, by) from exc
        return _to_proposal(item)

    def _why_refused(
        self, proposal_id: str, from_status: ProposalStatus, to_status: ProposalStatus, by: str
    ) -> StoreError:
        current = self.get(proposal_id)
        if current is None:
            return ProposalNotFound(proposal_id)
        if current.status is not from_status:
            decided = f" by {current.decided_by}" if current.decided_by else ""
            return StaleWrite(
                f"proposal {proposal_id} is {current.status.value}{decided}, not {from_status.value}"
            )
        if to_status is ProposalStatus.APPROVED:
            return FourEyesViolation(f"{by} proposed {proposal_id} and cannot approve it")
        return FourEyesViolation(f"only the proposer {current.proposed_by} can cancel {proposal_id}")


def _to_proposal(item: ProposalItem) -> LimitProposal:
    return LimitProposal(
        proposal_id=item.proposal_id,
        kind=ProposalKind(item.kind),
        scope=item.scope,
        changes=item.changes,
        reason=item.reason,
        proposed_by=item.proposed_by,
        created_at=item.created_at,
        status=ProposalStatus(item.status),
        decided_by=item.decided_by,
        decided_at=item.decided_at,
        note=item.note,
    )
