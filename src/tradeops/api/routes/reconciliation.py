"""Reconciliation: recent runs and open breaks; an operator resolves a break with a reason (journaled)."""

from __future__ import annotations

from tradeops.api import responses as r
from tradeops.api.context import Call
from tradeops.api.errors import Conflict, NotFound
from tradeops.api.rbac import APPROVERS, EVERYONE, RouteTable
from tradeops.api.requests import ResolveBody
from tradeops.api.serializers import break_out, run_out
from tradeops.store.recon import BreakNotFound, BreakNotOpen, BreakStatus

RECENT_RUNS = 20
OPEN_BREAKS = 200


def register(table: RouteTable) -> None:
    @table.route(
        "GET", "/api/reconciliation", roles=EVERYONE, tag="reconciliation", response=r.ReconciliationOut,
        summary="The latest reconciliation runs and the open breaks",
    )  # fmt: skip
    def reconciliation(call: Call) -> r.ReconciliationOut:
        recon = call.services.recon
        runs = recon.list_runs(call.services.account, limit=RECENT_RUNS)
        breaks = recon.list_breaks(BreakStatus.OPEN, limit=OPEN_BREAKS)
        return r.ReconciliationOut(
            runs=[run_out(run) for run in runs.items], open_breaks=[break_out(b) for b in breaks.items]
        )

    @table.route(
        "POST", "/api/reconciliation/breaks/{id}/resolve", roles=APPROVERS, tag="reconciliation",
        body=ResolveBody, response=r.BreakOut, errors=(409,),
        summary="Resolve an open break with a reason (404 unknown, 409 not open)",
    )  # fmt: skip
    def resolve(call: Call) -> r.BreakOut:
        body = call.body_as(ResolveBody)
        services = call.services
        try:
            record = services.recon.resolve(
                call.path["id"], user=call.user.username, reason=body.reason, at=services.clock_ms()
            )
        except BreakNotFound:
            raise NotFound("no such break") from None
        except BreakNotOpen as exc:
            raise Conflict(str(exc), code="break_not_open") from None
        return break_out(record)
