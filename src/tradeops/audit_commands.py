"""``tradeops audit``: the auditor's commands (``verify``). Heavy imports happen inside the commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from tradeops.config import Settings

DEFAULT_ENDPOINTS = Path(".tradeops/endpoints.json")

audit_app = typer.Typer(no_args_is_help=True)


@audit_app.callback()
def audit() -> None:
    """Audit the journal: the hash chain, the WORM archive and the table agree."""


def _settings(endpoints: Path, use_aws: bool) -> Settings:
    from tradeops.config import Settings
    from tradeops.local.endpoints import use_embedded_stack

    embedded = None if use_aws else use_embedded_stack(endpoints)
    return embedded[0] if embedded else Settings()


@audit_app.command()
def verify(
    stream: Annotated[
        list[str] | None, typer.Option("--stream", "-s", help="Only this journal stream (repeatable).")
    ] = None,
    endpoints: Annotated[
        Path, typer.Option(help="The embedded stack's endpoints file (used when it exists).")
    ] = DEFAULT_ENDPOINTS,
    aws: Annotated[
        bool, typer.Option("--aws", help="Use the environment's AWS and TRADEOPS_* settings.")
    ] = False,
) -> None:
    """Recompute the journal's hash chain across the WORM archive and DynamoDB; exit 1 on the first break."""
    from tradeops.audit import verify as verify_journal
    from tradeops.aws.archive import WormArchive
    from tradeops.store.journal import JournalStore

    settings = _settings(endpoints, aws)
    reports = verify_journal(WormArchive(settings), JournalStore(settings), stream)
    broken = False
    for report in reports:
        finding = report.first_finding
        if finding is None:
            lag = report.table_head - report.archived_through
            note = f", {lag} newer entr{'y' if lag == 1 else 'ies'} not yet archived" if lag > 0 else ""
            typer.echo(
                f"OK     stream={report.stream} archived=1..{report.archived_through} "
                f"({report.batches} batches) table=1..{report.table_head}{note}"
            )
        else:
            broken = True
            typer.echo(f"BROKEN stream={finding.stream} seq={finding.seq} reason={finding.reason}")
    if not reports:
        typer.echo("no journal streams found")
    raise typer.Exit(1 if broken else 0)
