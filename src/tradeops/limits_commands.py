"""``tradeops limits``: four-eyes control changes on the embedded stack (propose, approve, reject, list).

The identity comes from a login of a demo user against the stack's Cognito pool (the password from the
endpoints file's ``demo_users``, else a hidden prompt); the username and groups are read from the ID
token's claims without verifying its signature (the operator API verifies it: DESIGN §4.5). Passwords
and tokens are never printed. Heavy imports happen inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from decimal import Decimal

    from tradeops.change_management import ChangeService, Operator
    from tradeops.store.proposals import LimitProposal

DEFAULT_ENDPOINTS = Path(".tradeops/endpoints.json")

limits_app = typer.Typer(no_args_is_help=True)

EndpointsOption = Annotated[Path, typer.Option(help="The embedded stack's endpoints file.")]
UserOption = Annotated[str, typer.Option("--user", "-u", help="Demo user to act as (Cognito login).")]
KindOption = Annotated[str, typer.Option(help="LIMITS, STRATEGY or RESUME_TRADING.")]


@limits_app.callback()
def limits() -> None:
    """Four-eyes changes: limits, strategy flags/allocations, resuming trading after a kill switch."""


def _session(endpoints: Path, username: str) -> tuple[ChangeService, Operator]:
    from tradeops.aws.clients import client
    from tradeops.aws.events import EventPublisher
    from tradeops.change_management import EVENT_SOURCE, AuthenticationFailed, ChangeService, login
    from tradeops.domain.limits import RiskLimits
    from tradeops.local.endpoints import use_embedded_stack

    embedded = use_embedded_stack(endpoints)
    if embedded is None:
        typer.echo(f"no embedded stack: {endpoints} not found (run `tradeops up`)", err=True)
        raise typer.Exit(2)
    settings, document = embedded
    cognito: dict[str, Any] = document["cognito"]
    known = {u["username"]: u for u in document.get("demo_users", [])}
    password = known[username]["password"] if username in known else None
    if password is None:
        password = typer.prompt(f"password for {username}", hide_input=True)
    try:
        user = login(
            client("cognito-idp", settings),
            client_id=cognito["client_id"],
            issuer=cognito["issuer"],
            username=username,
            password=str(password),
        )
    except AuthenticationFailed as exc:
        typer.echo(f"login failed: {exc}", err=True)
        raise typer.Exit(2) from None
    service = ChangeService(
        settings, EventPublisher(settings, EVENT_SOURCE), baseline=RiskLimits.default_for_demo()
    )
    return service, user


def _parse_changes(pairs: list[str]) -> dict[str, Decimal]:
    from decimal import Decimal, InvalidOperation

    changes: dict[str, Decimal] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        try:
            value = Decimal(raw.strip())
        except InvalidOperation:
            value = Decimal("NaN")
        if not sep or not name.strip() or not value.is_finite():
            raise typer.BadParameter(f"expected name=decimal, got {pair!r}", param_hint="--set")
        changes[name.strip()] = value
    return changes


def _show(proposal: LimitProposal) -> None:
    changes = ", ".join(f"{name}={value}" for name, value in sorted(proposal.changes.items())) or "-"
    decided = f" by={proposal.decided_by}" if proposal.decided_by else ""
    note = f" note={proposal.note!r}" if proposal.note else ""
    typer.echo(
        f"{proposal.proposal_id} {proposal.status.value:<8} {proposal.kind.value} scope={proposal.scope} "
        f"{changes} proposed_by={proposal.proposed_by}{decided} reason={proposal.reason!r}{note}"
    )


def _run(action: Any) -> LimitProposal:
    """Run a service call, turning its refusals into a one-line error and exit code 1."""
    from tradeops.aws.events import PublishError
    from tradeops.change_management import ChangeConflict, InvalidChange, NotAnApprover
    from tradeops.store.base import StoreError

    try:
        result: LimitProposal = action()
    except PublishError as exc:
        typer.echo(
            f"applied and journaled, but not announced ({exc}): the gateway reloads it on its next refresh",
            err=True,
        )
        raise typer.Exit(1) from None
    except (InvalidChange, NotAnApprover, ChangeConflict, StoreError, ValueError) as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None
    return result


@limits_app.command()
def propose(
    scope: Annotated[str, typer.Option(help="Limits scope, strategy name, or 'trading'.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the journal).")],
    user: UserOption,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="name=value (repeatable), e.g. max_order_notional=15000")
    ] = None,
    kind: KindOption = "LIMITS",
    endpoints: EndpointsOption = DEFAULT_ENDPOINTS,
) -> None:
    """Propose a change; a different risk/admin user must approve it."""
    from tradeops.store.proposals import ProposalKind

    try:
        proposal_kind = ProposalKind(kind.upper())
    except ValueError:
        raise typer.BadParameter(f"unknown kind {kind!r}", param_hint="--kind") from None
    changes = _parse_changes(set_ or [])
    service, operator = _session(endpoints, user)
    _show(_run(lambda: service.propose(proposal_kind, scope, changes, reason, operator)))


@limits_app.command()
def approve(
    proposal_id: Annotated[str, typer.Argument(help="The proposal to approve.")],
    user: UserOption,
    endpoints: EndpointsOption = DEFAULT_ENDPOINTS,
) -> None:
    """Approve and apply a proposal (not your own)."""
    service, operator = _session(endpoints, user)
    _show(_run(lambda: service.approve(proposal_id, operator)))


@limits_app.command()
def reject(
    proposal_id: Annotated[str, typer.Argument(help="The proposal to reject.")],
    note: Annotated[str, typer.Option(help="Why it is rejected.")],
    user: UserOption,
    endpoints: EndpointsOption = DEFAULT_ENDPOINTS,
) -> None:
    """Reject a pending proposal."""
    service, operator = _session(endpoints, user)
    _show(_run(lambda: service.reject(proposal_id, operator, note)))


@limits_app.command("list")
def list_(
    user: UserOption,
    status: Annotated[str, typer.Option(help="open (PENDING), or any status name.")] = "open",
    endpoints: EndpointsOption = DEFAULT_ENDPOINTS,
) -> None:
    """List proposals in a status, newest first."""
    from tradeops.store.proposals import ProposalStatus

    wanted = "PENDING" if status.lower() == "open" else status.upper()
    try:
        proposal_status = ProposalStatus(wanted)
    except ValueError:
        raise typer.BadParameter(f"unknown status {status!r}", param_hint="--status") from None
    service, _ = _session(endpoints, user)
    page = service.list(proposal_status)
    for proposal in page.items:
        _show(proposal)
    if not page.items:
        typer.echo(f"no {proposal_status.value} proposals")
