"""The control plane: kill switch, trading state and strategies.

Stricter is immediate, looser takes two people: the kill switch and a move to a more restrictive
state go through :class:`~tradeops.kill_switch.KillSwitch` at once (idempotent by the request id);
leaving HALTED or REDUCING for ACTIVE creates a RESUME proposal another risk/admin user approves (pinned
to the current trading version: a state change before the approval voids it). HALTED -> REDUCING is
refused with 409: resume to ACTIVE, or stay HALTED.
Strategy changes (enable, allocation) are STRATEGY proposals (four eyes); the strategy list also names
the strategies the effective limits allocate capital to (``demo``, ``manual``) before any change.
"""

from __future__ import annotations

from decimal import Decimal

from tradeops.api import responses as r
from tradeops.api.context import Call, Reply, Services
from tradeops.api.errors import BadRequest, Conflict
from tradeops.api.rbac import APPROVERS, EVERYONE, KILL_SWITCH, RouteTable
from tradeops.api.requests import KillSwitchBody, StrategyPatchBody, TradingStateBody
from tradeops.api.routes.limits import change_errors, effective_limits, proposal_response
from tradeops.api.serializers import dec, strategy_out
from tradeops.change_management import RESUME_SCOPE
from tradeops.domain.control import TradingState
from tradeops.kill_switch import severity_rank
from tradeops.store.proposals import ProposalKind

ALLOCATION_PREFIX = "strategy_allocations."


def known_strategies(services: Services) -> list[r.StrategyOut]:
    """Every strategy with a control record or an allocation in the effective limits, by name.

    A strategy without a control record runs with the gateway's defaults: enabled, the limits'
    allocation, version 0 (no change approved yet). A record's allocation, when set, wins.
    """
    _, flat = effective_limits(services)
    allocations = {
        name.removeprefix(ALLOCATION_PREFIX): value
        for name, value in flat.items()
        if name.startswith(ALLOCATION_PREFIX)
    }
    records = {control.strategy: control for control in services.control.strategies()}
    items = []
    for name in sorted(set(allocations) | set(records)):
        record = records.get(name)
        if record is None:
            items.append(
                r.StrategyOut(
                    strategy=name,
                    enabled=True,
                    allocation=dec(allocations[name]),
                    version=0,
                    canary=None,
                    updated_by=None,
                    updated_at=None,
                )
            )
        elif record.allocation is None and name in allocations:
            items.append(strategy_out(record).model_copy(update={"allocation": dec(allocations[name])}))
        else:
            items.append(strategy_out(record))
    return items


def register(table: RouteTable) -> None:
    @table.route(
        "POST", "/api/kill-switch", roles=KILL_SWITCH, tag="control", body=KillSwitchBody,
        response=r.KillSwitchOut, status=202, errors=(409,),
        summary="Halt now: cancel working orders (stops stay; flatten cancels them and closes positions)",
    )  # fmt: skip
    def kill_switch(call: Call) -> r.KillSwitchOut:
        body = call.body_as(KillSwitchBody)
        try:
            engagement = call.services.kill_switch.engage(
                body.reason, call.user.username, flatten=body.flatten, request_id=call.request_id
            )
        except Exception as exc:
            raise change_errors(exc) from None
        record = engagement.control
        return r.KillSwitchOut(
            state="HALTED",
            reason=record.reason,
            updated_by=record.updated_by,
            updated_at=record.updated_at,
            flatten=engagement.flatten,
        )

    @table.route(
        "POST", "/api/trading-state", roles=APPROVERS, tag="control", body=TradingStateBody,
        response=r.TradingStateOut, other_responses={202: r.ProposalEnvelope}, errors=(409,),
        summary="Stricter state: immediate (200); back to ACTIVE: a four-eyes RESUME proposal (202)",
    )  # fmt: skip
    def trading_state(call: Call) -> r.TradingStateOut | Reply:
        body = call.body_as(TradingStateBody)
        services = call.services
        current = services.control.trading()
        state = TradingState.ACTIVE if current is None else current.state
        target = TradingState(body.state)
        try:
            if target is state:
                return r.TradingStateOut(state=state.value)
            if severity_rank(target) > severity_rank(state):
                switch = services.kill_switch
                username = call.user.username
                if target is TradingState.HALTED:
                    done = switch.engage(body.reason, username, request_id=call.request_id)
                else:
                    done = switch.restrict(body.reason, username, request_id=call.request_id)
                return r.TradingStateOut(state=done.state.value)
            if target is not TradingState.ACTIVE:
                raise Conflict(
                    f"{state.value} -> {target.value} is not supported: "
                    "resuming (four eyes) is HALTED or REDUCING -> ACTIVE",
                    code="unsupported_transition",
                )
            proposal = services.changes.propose(
                ProposalKind.RESUME_TRADING, RESUME_SCOPE, {}, body.reason, call.operator
            )
        except Conflict:
            raise
        except Exception as exc:
            raise change_errors(exc) from None
        return Reply(r.ProposalEnvelope(proposal=proposal_response(services, proposal)), 202)

    @table.route(
        "GET", "/api/strategies", roles=EVERYONE, tag="control", response=r.StrategyList,
        summary="Strategies: enabled, allocation, version",
    )  # fmt: skip
    def strategies(call: Call) -> r.StrategyList:
        return r.StrategyList(items=known_strategies(call.services))

    @table.route(
        "PATCH", "/api/strategies/{id}", roles=APPROVERS, tag="control", body=StrategyPatchBody,
        response=r.ProposalEnvelope, status=202, errors=(409,),
        summary="Propose enabling/disabling a strategy or changing its allocation (four eyes)",
    )  # fmt: skip
    def patch_strategy(call: Call) -> r.ProposalEnvelope:
        body = call.body_as(StrategyPatchBody)
        changes: dict[str, Decimal] = {}
        if body.enabled is not None:
            changes["enabled"] = Decimal(int(body.enabled))
        if body.allocation is not None:
            changes["allocation"] = body.allocation
        if not changes:
            raise BadRequest("nothing to change", fields={"enabled": "set enabled and/or allocation"})
        services = call.services
        try:
            proposal = services.changes.propose(
                ProposalKind.STRATEGY, call.path["id"], changes, body.reason, call.operator
            )
        except Exception as exc:
            raise change_errors(exc) from None
        return r.ProposalEnvelope(proposal=proposal_response(services, proposal))
