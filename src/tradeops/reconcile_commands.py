"""``tradeops reconcile --once``: one reconciliation pass, its breaks as a table; exit 0 clean, 3 breaks.

Heavy imports (ccxt, pynamodb, boto3) happen inside the command, so ``tradeops --help`` stays fast.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from tradeops.reconciliation.service import RunReport

DEFAULT_ENDPOINTS = Path(".tradeops/endpoints.json")
EXIT_CLEAN = 0
EXIT_FAILED = 1
EXIT_BREAKS = 3


def render(report: RunReport, console: Console) -> None:
    """The run's open breaks as a table, then one summary line."""
    from rich.table import Table

    table = Table(title=f"reconciliation run {report.run_id}", show_lines=False)
    for column in ("break id", "class", "severity", "subject", "action", "evidence"):
        table.add_column(column, overflow="fold")
    for brk in report.open_breaks:
        subject = brk.subject
        who = " ".join(
            value
            for value in (subject.symbol, subject.asset, subject.client_order_id, subject.venue_order_id)
            if value
        )
        evidence = ", ".join(f"{key}={value}" for key, value in sorted(brk.evidence.items()))
        table.add_row(
            brk.break_id,
            brk.break_class.value,
            brk.severity.value,
            who,
            brk.proposed_action.value,
            evidence,
        )
    if report.open_breaks:
        console.print(table)
    baseline = "" if report.balances_baselined else " (no balance baseline: balances not compared)"
    console.print(
        f"{'CLEAN' if report.clean else 'BREAKS'}: {len(report.open_breaks)} open break(s), "
        f"{report.published} event(s) published, {report.closed} closed, "
        f"{report.finished_at - report.started_at} ms{baseline}",
        soft_wrap=True,
    )


def reconcile_once(
    endpoints: Path,
    *,
    use_aws: bool = False,
    console: Console | None = None,
    symbols: list[str] | None = None,
) -> int:
    """One pass against the embedded stack described by ``endpoints`` (or AWS); returns the exit code."""
    from rich.console import Console

    from tradeops.config import Settings
    from tradeops.local.endpoints import use_embedded_stack
    from tradeops.reconciliation.runtime import run_pass
    from tradeops.reconciliation.service import DEFAULT_SYMBOLS, ReconcileConfig

    out = console or Console()
    if use_aws:
        settings, sim_url = Settings(), os.environ.get("TRADEOPS_SIM_URL") or None
    else:
        embedded = use_embedded_stack(endpoints)
        if embedded is None:
            out.print(
                f"no embedded stack: {endpoints} not found (run `tradeops up`, or pass --aws)", soft_wrap=True
            )
            return EXIT_FAILED
        settings, document = embedded
        sim_url = document.get("sim")
        if not isinstance(sim_url, str):
            out.print(
                f"{endpoints} names no simulator (key 'sim'): is `tradeops up` started?", soft_wrap=True
            )
            return EXIT_FAILED
    config = ReconcileConfig(symbols=tuple(symbols) if symbols else DEFAULT_SYMBOLS)
    try:
        report = asyncio.run(run_pass(settings, sim_url=sim_url, trigger="cli", config=config))
    except Exception as exc:  # the run is recorded as failed; say why and fail the command
        out.print(f"reconciliation failed: {type(exc).__name__}: {exc}", soft_wrap=True)
        return EXIT_FAILED
    render(report, out)
    return EXIT_CLEAN if report.clean else EXIT_BREAKS


def reconcile(
    once: Annotated[bool, typer.Option("--once", help="Run one pass and exit (the only mode).")] = False,
    symbol: Annotated[
        list[str] | None, typer.Option("--symbol", "-s", help="Symbol to cover (repeatable).")
    ] = None,
    endpoints: Annotated[Path, typer.Option(help="The embedded stack's endpoints file.")] = DEFAULT_ENDPOINTS,
    aws: Annotated[
        bool, typer.Option("--aws", help="Use the environment's AWS and TRADEOPS_* settings.")
    ] = False,
) -> None:
    """Reconcile the journal's book with the venue once; exit 0 when clean, 3 when breaks remain."""
    if not once:
        typer.echo("continuous reconciliation runs on the schedule; pass --once for one pass here", err=True)
        raise typer.Exit(2)
    raise typer.Exit(reconcile_once(endpoints, use_aws=aws, symbols=symbol))
