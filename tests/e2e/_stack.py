"""`tradeops up` for the browser tests: one stack per module, the UI and API on one origin.

The tests fail (never skip) when the built UI or the API/UI server is missing from the stack.
``TRADEOPS_E2E_ENDPOINTS=/path/endpoints.json`` points them at a stack already running instead (the
tests change its state: the kill-switch module leaves it HALTED).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DIST_INDEX = REPO / "frontend" / "dist" / "index.html"
START_TIMEOUT_S = 120
STOP_TIMEOUT_S = 30


@dataclass(frozen=True)
class Stack:
    """A running stack: its endpoints document and the demo logins by username."""

    endpoints: dict[str, Any]
    logs: Path | None

    @property
    def ui(self) -> str:
        return str(self.endpoints["ui"]).rstrip("/") + "/"

    def password(self, username: str) -> str:
        for user in self.endpoints["demo_users"]:
            if user["username"] == username:
                return str(user["password"])
        raise AssertionError(f"no demo user {username} in the endpoints document")

    def user_with(self, group: str, nth: int = 0) -> str:
        users = [u["username"] for u in self.endpoints["demo_users"] if group in u["groups"]]
        assert len(users) > nth, f"need {nth + 1} demo users in group {group}, have {users}"
        return str(users[nth])  # document order: risk@ before risk2@

    def best_bid(self, symbol: str) -> Decimal:
        """The simulator's best bid, to place a limit order that rests (and stays within the collar)."""
        url = f"{self.endpoints['sim']}/api/v3/ticker/bookTicker?symbol={symbol.replace('/', '')}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return Decimal(json.loads(response.read())["bidPrice"])

    def venue_open_orders(self, client_order_ids: set[str]) -> set[str]:
        """Which of ``client_order_ids`` the simulator (ground truth) still has open."""
        with urllib.request.urlopen(f"{self.endpoints['sim']}/_sim/state", timeout=10) as response:
            orders = json.loads(response.read())["orders"]
        open_states = {"NEW", "PARTIALLY_FILLED"}
        return {
            o["clientOrderId"]
            for o in orders
            if o["clientOrderId"] in client_order_ids and o["status"] in open_states
        }


def wait_for(check: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def _require_ui_and_api(endpoints: dict[str, Any], logs: Path | None) -> None:
    missing = [key for key in ("ui", "api", "demo_users", "sim") if key not in endpoints]
    hint = f" (logs in {logs})" if logs else ""
    if missing:
        pytest.fail(
            f"`tradeops up` publishes no {missing} in endpoints.json: the API/UI server is not running{hint}"
        )
    if _status(f"{endpoints['ui'].rstrip('/')}/") != 200:
        pytest.fail(f"the UI at {endpoints['ui']} does not answer 200{hint}")
    if _status(f"{endpoints['ui'].rstrip('/')}/api/auth/config") != 200:
        pytest.fail(f"GET /api/auth/config on the UI's origin {endpoints['ui']} does not answer 200{hint}")


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def run_stack(state_dir: Path) -> Iterator[Stack]:
    """Start `tradeops up` (demo strategy on), yield once its UI answers, stop it with SIGTERM."""
    existing = os.environ.get("TRADEOPS_E2E_ENDPOINTS")
    if existing:
        endpoints = json.loads(Path(existing).read_text())
        _require_ui_and_api(endpoints, None)
        yield Stack(endpoints, None)
        return
    if not DIST_INDEX.exists():
        pytest.fail(f"{DIST_INDEX} is missing: build the UI first (`make frontend`)")
    state_dir.mkdir(parents=True, exist_ok=True)
    out, err = state_dir / "up.out", state_dir / "up.err"
    command = "import typer; from tradeops.local.commands import up; typer.run(up)"
    argv = [sys.executable, "-c", command, "--state-dir", str(state_dir / "state"), "--port-base", "0"]
    argv += ["--functions-dir", str(REPO / "functions")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEOPS_")}
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=stdout, stderr=stderr, start_new_session=True)
    endpoints_path = state_dir / "state" / "endpoints.json"
    try:
        started = wait_for(
            lambda: endpoints_path.exists() or proc.poll() is not None, START_TIMEOUT_S, "endpoints.json"
        )
        if proc.poll() is not None or not started:
            pytest.fail(f"`tradeops up` exited with {proc.returncode} before it was ready:\n{_tail(err)}")
        endpoints = json.loads(endpoints_path.read_text())
        _require_ui_and_api(endpoints, state_dir)
        yield Stack(endpoints, state_dir)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
