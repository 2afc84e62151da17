"""``tradeops kill-switch``: halt trading now (optionally flattening), show the state, propose resuming.

Against the embedded stack (``.tradeops/endpoints.json``) or, with ``--aws``, the environment's AWS and
``TRADEOPS_*`` settings. Identity: ``--user`` logs a demo user in against the stack's Cognito pool
(as ``tradeops limits`` does; groups trader, risk or admin may engage), else ``--actor``, else the OS
user. The actor is journaled with the halt. Resuming is a four-eyes RESUME_TRADING proposal: ``tradeops
kill-switch resume`` proposes it, ``tradeops limits approve`` (another risk/admin user) applies it.

Exit codes: 0 done (trading HALTED by this command / status shown / resume proposed); 3 already HALTED
(nothing written; a ``--flatten`` request is still sent); 1 failed or refused (the message says whether
the halt was written); 2 usage, no embedded stack, or login failed.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from tradeops.change_management import Operator
    from tradeops.config import Settings

DEFAULT_ENDPOINTS = Path(".tradeops/endpoints.json")
EXIT_DONE = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_ALREADY_HALTED = 3
MAY_ENGAGE = frozenset({"trader", "risk", "admin"})

kill_switch_app = typer.Typer(help="Halt trading now; resuming needs a four-eyes approval.")

EndpointsOption = Annotated[Path, typer.Option(help="The embedded stack's endpoints file.")]
AwsOption = Annotated[bool, typer.Option("--aws", help="Use the environment's AWS and TRADEOPS_* settings.")]
UserOption = Annotated[str | None, typer.Option("--user", "-u", help="Demo user to log in as (Cognito).")]


def _stack(endpoints: Path, use_aws: bool) -> tuple[Settings, dict[str, Any] | None]:
    from tradeops.config import Settings
    from tradeops.local.endpoints import use_embedded_stack

    if use_aws:
        return Settings(), None
    embedded = use_embedded_stack(endpoints)
    if embedded is None:
        typer.echo(f"no embedded stack: {endpoints} not found (run `tradeops up`, or pass --aws)", err=True)
        raise typer.Exit(EXIT_USAGE)
    return embedded


def _login(settings: Settings, document: dict[str, Any] | None, username: str) -> Operator:
    from tradeops.aws.clients import client
    from tradeops.change_management import AuthenticationFailed, login

    if document is None:
        typer.echo("--user logs in to the embedded stack's demo pool; in AWS use --actor", err=True)
        raise typer.Exit(EXIT_USAGE)
    cognito: dict[str, Any] = document["cognito"]
    known = {u["username"]: u for u in document.get("demo_users", [])}
    password = known[username]["password"] if username in known else None
    if password is None:
        password = typer.prompt(f"password for {username}", hide_input=True)
    try:
        return login(
            client("cognito-idp", settings),
            client_id=cognito["client_id"],
            issuer=cognito["issuer"],
            username=username,
            password=str(password),
        )
    except AuthenticationFailed as exc:
        typer.echo(f"login failed: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None


def _kill_switch(settings: Settings) -> Any:
    from tradeops.aws.events import EventPublisher
    from tradeops.change_management import EVENT_SOURCE
    from tradeops.kill_switch import KillSwitch

    return KillSwitch(settings, EventPublisher(settings, EVENT_SOURCE))


def engage_command(
    reason: str, *, flatten: bool, actor: str | None, user: str | None, endpoints: Path, use_aws: bool
) -> int:
    """Engage the kill switch; returns the exit code (see the module docstring)."""
    from tradeops.aws.events import PublishError
    from tradeops.store.base import StoreError

    settings, document = _stack(endpoints, use_aws)
    if user is not None:
        operator = _login(settings, document, user)
        if not operator.groups & MAY_ENGAGE:
            typer.echo(f"refused: {operator.username} is not a trader, risk officer or admin", err=True)
            return EXIT_FAILED
        actor = operator.username
    who = actor or os.environ.get("TRADEOPS_ACTOR") or getpass.getuser()
    try:
        done = _kill_switch(settings).engage(reason, who, flatten=flatten)
    except PublishError as exc:
        typer.echo(f"HALTED and journaled, but not announced ({exc}): the gateway halts on its next refresh")
        return EXIT_FAILED
    except (StoreError, ValueError) as exc:
        typer.echo(f"kill switch failed: {exc}", err=True)
        return EXIT_FAILED
    record = done.control
    flattening = " and flattening" if done.flatten else ""
    if done.changed:
        typer.echo(f"HALTED{flattening} (version {record.version}, request {done.request_id}) by {who}")
        return EXIT_DONE
    typer.echo(
        f"already {record.state.value}{flattening}: set by {record.updated_by} (version {record.version}): "
        f"{record.reason}"
    )
    return EXIT_ALREADY_HALTED


@kill_switch_app.callback(invoke_without_command=True)
def kill_switch(
    ctx: typer.Context,
    reason: Annotated[str | None, typer.Option(help="Why (journaled, shown to operators).")] = None,
    flatten: Annotated[
        bool, typer.Option("--flatten", help="Also close positions with market orders.")
    ] = False,
    actor: Annotated[str | None, typer.Option(help="Who engages it (default: the OS user).")] = None,
    user: UserOption = None,
    endpoints: EndpointsOption = DEFAULT_ENDPOINTS,
    aws: AwsOption = False,
) -> None:
    """HALT trading: every open order is cancelled (with --flatten, positions are closed too)."""
    if ctx.invoked_subcommand is not None:
        return
    if not reason or not reason.strip():
        typer.echo("--reason is required to engage the kill switch", err=True)
        raise typer.Exit(EXIT_USAGE)
    raise typer.Exit(
        engage_command(reason, flatten=flatten, actor=actor, user=user, endpoints=endpoints, use_aws=aws)
    )


@kill_switch_app.command()
def status(endpoints: EndpointsOption = DEFAULT_ENDPOINTS, aws: AwsOption = False) -> None:
    """Show the trading state and who set it."""
    settings, _ = _stack(endpoints, aws)
    record = _kill_switch(settings).status()
    if record is None:
        typer.echo("ACTIVE (never set)")
        return
    typer.echo(f"{record.state.value} (version {record.version}) set by {record.updated_by}: {record.reason}")


@kill_switch_app.command()
def resume(
    reason: Annotated[str, typer.Option(help="Why trading may resume (journaled).")],
    user: Annotated[str, typer.Option("--user", "-u", help="Demo risk/admin user proposing it.")],
    endpoints: EndpointsOption = DEFAULT_ENDPOINTS,
) -> None:
    """Propose resuming; another risk/admin user approves with `tradeops limits approve <id>`."""
    from tradeops.change_management import ChangeConflict, NotAnApprover

    settings, document = _stack(endpoints, False)
    operator = _login(settings, document, user)
    try:
        proposal = _kill_switch(settings).request_resume(reason, operator)
    except (ChangeConflict, NotAnApprover) as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    typer.echo(
        f"{proposal.proposal_id} PENDING: approve with `tradeops limits approve {proposal.proposal_id}`"
    )
