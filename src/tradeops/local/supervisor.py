"""Supervises the embedded stack's child processes: start, readiness, restart with backoff, clean stop.

Adding a process is one registration (``endpoint`` publishes ``url`` in endpoints.json)::

    supervisor.register(ChildSpec("sim", [sys.executable, "-m", "tradeops.sim", "--port", "4701"],
                                  ready="http://127.0.0.1:4701/_sim/state", url="http://127.0.0.1:4701",
                                  endpoint="sim"))

Each child runs in its own process group (so a stop reaches its descendants too), with its output in
``<log_dir>/<name>.log``. On Linux it also gets ``PR_SET_PDEATHSIG`` = SIGTERM, and Python children of
this package watch their parent (``tradeops.local.child``), so nothing outlives a SIGKILLed supervisor.
Spawns happen only on the thread that calls ``start``/``run`` (PDEATHSIG follows the forking thread).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import enum
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tradeops.local.child import SUPERVISOR_PID_ENV

Readiness = str | Callable[[], bool] | None

_PR_SET_PDEATHSIG = 1


class ChildFailed(RuntimeError):
    """A child exited or did not become ready while the stack was starting."""


class State(enum.StrEnum):
    STARTING = "starting"
    READY = "ready"
    BACKOFF = "backoff"
    STOPPED = "stopped"


@dataclass(frozen=True)
class ChildSpec:
    """How to run and check one child. ``ready`` is a URL (ready once it answers below 500) or a callable.

    ``on_ready`` runs in the supervisor after every (re)start becomes ready (e.g. re-provision moto).
    ``endpoint`` is the key under which ``url`` is published in ``endpoints.json`` (e.g. ``"sim"``).
    """

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    ready: Readiness = None
    url: str | None = None
    ready_timeout_s: float = 30.0
    on_ready: Callable[[], None] | None = None
    endpoint: str | None = None


@dataclass
class _Child:
    spec: ChildSpec
    proc: subprocess.Popen[bytes] | None = None
    state: State = State.STOPPED
    restarts: int = 0
    failures: int = 0
    started_at: float = 0.0
    ready_at: float = 0.0
    next_start_at: float = 0.0
    detail: str = ""


def http_ready(url: str, timeout_s: float = 1.0) -> bool:
    """True once ``url`` answers with a status below 500."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return int(response.status) < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (OSError, ValueError):
        return False


def _pdeathsig_preexec() -> Callable[[], None] | None:
    """A preexec function setting PR_SET_PDEATHSIG (Linux), or None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    prctl = libc.prctl
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


class Supervisor:
    """Starts registered children in order, keeps them running, and stops them (reverse order)."""

    def __init__(
        self,
        log_dir: Path,
        *,
        on_change: Callable[[Supervisor], None] | None = None,
        grace_s: float = 5.0,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 30.0,
        stable_after_s: float = 30.0,
        poll_s: float = 0.2,
    ) -> None:
        self._log_dir = log_dir
        self._on_change = on_change
        self._grace_s = grace_s
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._stable_after_s = stable_after_s
        self._poll_s = poll_s
        self._children: dict[str, _Child] = {}
        self._preexec = _pdeathsig_preexec()

    def register(self, spec: ChildSpec) -> None:
        if spec.name in self._children:
            raise ValueError(f"child {spec.name!r} is already registered")
        self._children[spec.name] = _Child(spec)

    def rows(self) -> list[tuple[str, int | None, str, int, str]]:
        """(name, pid, state, restarts, url) per child, in registration order."""
        return [
            (
                c.spec.name,
                c.proc.pid if c.proc and c.proc.poll() is None else None,
                c.state,
                c.restarts,
                c.spec.url or "",
            )
            for c in self._children.values()
        ]

    def endpoints(self) -> dict[str, str]:
        """``endpoint -> url`` of every child that publishes one."""
        return {
            c.spec.endpoint: c.spec.url for c in self._children.values() if c.spec.endpoint and c.spec.url
        }

    def pids(self) -> dict[str, int]:
        return {c.spec.name: c.proc.pid for c in self._children.values() if c.proc and c.proc.poll() is None}

    def log_path(self, name: str) -> Path:
        return self._log_dir / f"{name}.log"

    def start(self, stop: threading.Event) -> None:
        """Start the children in order, each ready (``on_ready`` done) before the next; raises ChildFailed."""
        for child in self._children.values():
            self._spawn(child)
            deadline = time.monotonic() + child.spec.ready_timeout_s
            while not self._start_ready(child):
                if stop.is_set():
                    raise ChildFailed("interrupted while starting")
                if child.proc is not None and child.proc.poll() is not None:
                    raise ChildFailed(
                        f"{child.spec.name} exited with code {child.proc.returncode}: {self._tail(child)}"
                    )
                if time.monotonic() > deadline:
                    raise ChildFailed(
                        f"{child.spec.name} was not ready within {child.spec.ready_timeout_s:g} s: "
                        f"{self._tail(child)}"
                    )
                stop.wait(self._poll_s)
            self._changed()

    def run(self, stop: threading.Event) -> None:
        """Watch the children until ``stop`` is set: restart crashed ones with exponential backoff."""
        while not stop.wait(self._poll_s):
            changed = False
            now = time.monotonic()
            for child in self._children.values():
                changed |= self._watch(child, now)
            if changed:
                self._changed()

    def stop(self) -> None:
        """Stop the children in reverse start order: SIGTERM to the process group, SIGKILL after the grace."""
        for child in reversed(self._children.values()):
            if child.proc is not None and child.proc.poll() is None:
                self._terminate(child)
            child.state = State.STOPPED
        self._changed()

    def _spawn(self, child: _Child) -> None:
        self._log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **child.spec.env, SUPERVISOR_PID_ENV: str(os.getpid())}
        with open(self.log_path(child.spec.name), "ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S%z')} starting {child.spec.name}\n".encode())
            log.flush()
            child.proc = subprocess.Popen(
                list(child.spec.argv),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                process_group=0,
                preexec_fn=self._preexec,
                close_fds=True,
            )
        child.state = State.STARTING
        child.started_at = time.monotonic()
        child.detail = ""

    def _start_ready(self, child: _Child) -> bool:
        try:
            return self._check_ready(child)
        except Exception as exc:
            raise ChildFailed(f"{child.spec.name}: {exc}") from exc

    def _check_ready(self, child: _Child) -> bool:
        ready = child.spec.ready
        ok = ready is None or (http_ready(ready) if isinstance(ready, str) else ready())
        if ok and child.spec.on_ready is not None:
            child.spec.on_ready()
        if ok:
            child.state = State.READY
            child.ready_at = time.monotonic()
        return ok

    def _watch(self, child: _Child, now: float) -> bool:
        """Advance one child's state; True if it changed."""
        proc = child.proc
        if child.state == State.BACKOFF:
            if now < child.next_start_at:
                return False
            child.restarts += 1
            self._spawn(child)
            return True
        if proc is None or child.state == State.STOPPED:
            return False
        if proc.poll() is not None:
            self._signal_group(child, signal.SIGKILL)
            return self._back_off(child, now, f"exited with code {proc.returncode}")
        if child.state == State.STARTING:
            try:
                if self._check_ready(child):
                    return True
            except Exception as exc:
                self._terminate(child)
                return self._back_off(child, now, f"on_ready failed: {exc}")
            if now - child.started_at > child.spec.ready_timeout_s:
                self._terminate(child)
                return self._back_off(child, now, "not ready in time")
        elif child.failures and now - child.ready_at > self._stable_after_s:
            child.failures = 0
        return False

    def _back_off(self, child: _Child, now: float, reason: str) -> bool:
        delay = min(self._backoff_initial_s * 2**child.failures, self._backoff_max_s)
        child.failures += 1
        child.state = State.BACKOFF
        child.next_start_at = now + delay
        child.detail = reason
        print(
            f"supervisor: {child.spec.name} {reason}; restarting in {delay:.0f} s",
            file=sys.stderr,
            flush=True,
        )
        return True

    def _terminate(self, child: _Child) -> None:
        if child.proc is None:
            return
        self._signal_group(child, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.proc.wait(timeout=self._grace_s)
        self._signal_group(child, signal.SIGKILL)  # the child if it ignored SIGTERM, and any descendants
        child.proc.wait()

    @staticmethod
    def _signal_group(child: _Child, sig: signal.Signals) -> None:
        if child.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.proc.pid, sig)

    def _tail(self, child: _Child, lines: int = 5) -> str:
        try:
            text = self.log_path(child.spec.name).read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return "(no log)"
        return " | ".join(line.strip() for line in text if line.strip()) or "(no output)"

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self)


def print_table(supervisor: Supervisor, out: IO[str] | None = None) -> None:
    """The health table of the children (rich)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="tradeops embedded stack", title_justify="left")
    for column in ("name", "pid", "state", "restarts", "url"):
        table.add_column(column)
    colours = {State.READY: "green", State.STARTING: "yellow", State.BACKOFF: "red", State.STOPPED: "dim"}
    for name, pid, state, restarts, url in supervisor.rows():
        table.add_row(name, str(pid or "-"), f"[{colours[State(state)]}]{state}[/]", str(restarts), url)
    Console(file=out).print(table)
