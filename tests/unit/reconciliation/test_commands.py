"""`tradeops reconcile`: the command's contract without a stack (flags, missing stack, the table)."""

from __future__ import annotations

import io
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from tradeops.domain.reconcile import Break, BreakClass, BreakSubject, ProposedAction, ReconciliationResult
from tradeops.domain.values import Severity
from tradeops.reconcile_commands import EXIT_FAILED, reconcile, reconcile_once, render
from tradeops.reconciliation.service import ReconcileConfig, RunReport

app = typer.Typer()
app.command()(reconcile)


def test_without_once_it_refuses() -> None:
    result = CliRunner().invoke(app, [])
    assert result.exit_code == 2 and "--once" in result.output


def test_no_embedded_stack_is_a_failure(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--once", "--endpoints", str(tmp_path / "none.json")])
    assert result.exit_code == EXIT_FAILED and "not found" in result.output


def test_the_table_names_every_open_break() -> None:
    brk = Break(
        BreakClass.BALANCE_MISMATCH,
        BreakSubject(asset="USDT"),
        {"difference": "250"},
        Severity.WARNING,
        ProposedAction.ALERT_ONLY,
    )
    report = RunReport("run-1", 1_000, 1_250, ReconciliationResult(1_000, (brk,)), (brk,), 1, 0, True)
    out = io.StringIO()
    render(report, Console(file=out, width=300))
    text = out.getvalue()
    assert brk.break_id in text and "BALANCE_MISMATCH" in text and "difference=250" in text
    assert "BREAKS: 1 open break(s), 1 event(s) published, 0 closed, 250 ms" in text
    assert Decimal(brk.evidence["difference"]) == Decimal("250") and reconcile_once is not None


def test_importing_the_command_module_stays_light() -> None:
    code = "import sys, tradeops.reconcile_commands; print('ccxt' in sys.modules, 'pynamodb' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False False"


@pytest.mark.parametrize("window_ms", [59_999, 86_400_001])
def test_the_trade_window_is_bounded(window_ms: int) -> None:
    with pytest.raises(ValueError, match="window_ms"):
        ReconcileConfig(window_ms=window_ms)
