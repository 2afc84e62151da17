"""Risk limits with live utilisation, and the four-eyes proposals (limits, strategies, resume).

Proposals go through :class:`~tradeops.change_management.ChangeService`: only risk/admin propose, approve
and reject; the approver must differ from the proposer (403, checked atomically by the store). The same
approve/reject routes decide every kind of proposal. A pending proposal carries the diff it would make
now; a decided one carries none (its diff at proposal time is in the ``control`` journal stream).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tradeops.api import responses as r
from tradeops.api.context import Call, Services
from tradeops.api.errors import BadRequest, Conflict, Forbidden, NotFound
from tradeops.api.rbac import APPROVERS, EVERYONE, RouteTable
from tradeops.api.requests import LimitProposalBody, ProposalsQuery, RejectBody
from tradeops.api.routes.portfolio import marks
from tradeops.api.serializers import dec, opt_dec, proposal_out
from tradeops.change_management import ChangeConflict, InvalidChange, NotAnApprover, limits_doc
from tradeops.domain.control import TradingState
from tradeops.domain.limits import LimitsValidationError, RiskLimits
from tradeops.domain.orders import OrderState
from tradeops.store.base import StaleWrite
from tradeops.store.limits import LimitVersion
from tradeops.store.proposals import (
    FourEyesViolation,
    LimitProposal,
    ProposalKind,
    ProposalNotFound,
    ProposalStatus,
)

LIMITS_SCOPE = "global"
_UTILISATION_PLACES = Decimal("0.0001")
_COUNTED_STATES = (OrderState.OPEN, OrderState.PARTIALLY_FILLED)


def effective_limits(services: Services) -> tuple[LimitVersion | None, dict[str, Decimal]]:
    """The latest approved global version (None before the first) and its flat limits (else the defaults)."""
    latest = services.limits.latest(LIMITS_SCOPE)
    if latest is not None:
        return latest, dict(latest.limits)
    return None, limits_doc.flatten_limits(RiskLimits.default_for_demo())


def _currents(services: Services, flat: dict[str, Decimal]) -> dict[str, Decimal]:
    """What the limits that have a live measure measure now."""
    current: dict[str, Decimal] = {}
    snapshot = services.snapshots.latest(services.account)
    if snapshot is not None:
        current["max_gross_exposure"] = snapshot.gross_exposure
        current["max_net_exposure"] = abs(snapshot.net_exposure)
    prices = marks(services, services.clock_ms())
    for position in services.positions.for_account(services.account):
        mark = prices.get(position.symbol)
        if mark is not None:
            current[f"max_position_notional.{position.symbol}"] = abs(position.quantity * mark)
    open_orders = sum(len(services.orders.by_status(state, limit=1000).items) for state in _COUNTED_STATES)
    current["max_open_orders"] = Decimal(open_orders)
    return {name: value for name, value in current.items() if name in flat}


def _utilisation(current: Decimal | None, limit: Decimal) -> str | None:
    if current is None or limit <= 0:
        return None
    return dec((current / limit).quantize(_UTILISATION_PLACES))


def proposal_diff(services: Services, proposal: LimitProposal) -> dict[str, Any] | None:
    """The diff a pending proposal would make now (None when decided or no longer applicable)."""
    if proposal.status is not ProposalStatus.PENDING:
        return None
    if proposal.kind is ProposalKind.LIMITS:
        latest = services.limits.latest(proposal.scope)
        before = dict(latest.limits) if latest else limits_doc.flatten_limits(RiskLimits.default_for_demo())
        try:
            return dict(limits_doc.diff(before, limits_doc.apply_changes(before, proposal.changes)))
        except LimitsValidationError:
            return None
    if proposal.kind is ProposalKind.STRATEGY:
        control = services.control.strategy(proposal.scope)
        was: dict[str, Decimal | None] = {
            "enabled": None if control is None else Decimal(int(control.enabled)),
            "allocation": None if control is None else control.allocation,
        }
        return {
            name: {"from": opt_dec(was.get(name)), "to": dec(value)}
            for name, value in sorted(proposal.changes.items())
        }
    trading = services.control.trading()
    state = TradingState.ACTIVE if trading is None else trading.state
    return {"state": {"from": state.value, "to": TradingState.ACTIVE.value}}


def proposal_response(services: Services, proposal: LimitProposal) -> r.ProposalOut:
    return proposal_out(proposal, proposal_diff(services, proposal))


def change_errors(exc: Exception) -> Exception:
    """ChangeService and proposal store refusals as API errors (others unchanged)."""
    if isinstance(exc, NotAnApprover):
        return Forbidden(str(exc))
    if isinstance(exc, FourEyesViolation):
        return Forbidden(str(exc), code="four_eyes")
    if isinstance(exc, ProposalNotFound):
        return NotFound("no such proposal")
    if isinstance(exc, InvalidChange):
        return BadRequest(
            str(exc), fields={f"changes.{exc.field}" if exc.field != "scope" else "scope": str(exc)}
        )
    if isinstance(exc, ChangeConflict | StaleWrite):
        return Conflict(str(exc))
    if isinstance(exc, ValueError):
        return BadRequest(str(exc))
    return exc


def register(table: RouteTable) -> None:
    @table.route(
        "GET", "/api/limits", roles=EVERYONE, tag="risk", response=r.LimitsOut,
        summary="The effective global limits with current values and utilisation where measurable",
    )  # fmt: skip
    def limits(call: Call) -> r.LimitsOut:
        services = call.services
        latest, flat = effective_limits(services)
        current = _currents(services, flat)
        items = [
            r.LimitOut(
                name=name,
                scope=LIMITS_SCOPE,
                value=dec(value),
                current=None if name not in current else dec(current[name]),
                utilisation=_utilisation(current.get(name), value),
            )
            for name, value in sorted(flat.items())
        ]
        version = 0 if latest is None else latest.version
        return r.LimitsOut(
            version=version, approved_by=None if latest is None else latest.approved_by, items=items
        )

    @table.route(
        "GET", "/api/limits/proposals", roles=EVERYONE, tag="risk", query=ProposalsQuery,
        response=r.ProposalPage, summary="Proposals (limits, strategy, resume) in a status, newest first",
    )  # fmt: skip
    def list_proposals(call: Call) -> r.ProposalPage:
        query = call.query_as(ProposalsQuery)
        services = call.services
        page = services.proposals.by_status(query.status, limit=query.limit, cursor=query.cursor)
        return r.ProposalPage(
            items=[proposal_response(services, p) for p in page.items], next_cursor=page.cursor
        )

    @table.route(
        "POST", "/api/limits/proposals", roles=APPROVERS, tag="risk", body=LimitProposalBody,
        response=r.ProposalOut, status=201, errors=(409,),
        summary="Propose a limit change (another risk/admin user must approve it)",
    )  # fmt: skip
    def propose(call: Call) -> r.ProposalOut:
        body = call.body_as(LimitProposalBody)
        try:
            proposal = call.services.changes.propose(
                ProposalKind.LIMITS, body.scope, body.changes, body.reason, call.operator
            )
        except Exception as exc:
            raise change_errors(exc) from None
        return proposal_response(call.services, proposal)

    @table.route(
        "POST", "/api/limits/proposals/{id}/approve", roles=APPROVERS, tag="risk",
        response=r.ProposalOut, errors=(409,),
        summary="Approve and apply a proposal (403 when the approver proposed it)",
    )  # fmt: skip
    def approve(call: Call) -> r.ProposalOut:
        try:
            proposal = call.services.changes.approve(call.path["id"], call.operator)
        except Exception as exc:
            raise change_errors(exc) from None
        return proposal_response(call.services, proposal)

    @table.route(
        "POST", "/api/limits/proposals/{id}/reject", roles=APPROVERS, tag="risk", body=RejectBody,
        response=r.ProposalOut, errors=(409,), summary="Reject a pending proposal with a note",
    )  # fmt: skip
    def reject(call: Call) -> r.ProposalOut:
        body = call.body_as(RejectBody)
        try:
            proposal = call.services.changes.reject(call.path["id"], call.operator, body.note)
        except Exception as exc:
            raise change_errors(exc) from None
        return proposal_response(call.services, proposal)
