"""The supervisor with real child processes: readiness, restart with backoff, stop of whole groups."""

from __future__ import annotations

import itertools
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from tradeops.local.supervisor import ChildFailed, ChildSpec, State, Supervisor, http_ready

from .conftest import alive

CRASHER = (
    "import pathlib, sys, time; pathlib.Path(sys.argv[1]).open('a').write(f'{time.monotonic()}\\n'); "
    + ("time.sleep(0.3); sys.exit(3)")
)
STUBBORN = (
    "import pathlib, signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
    "pathlib.Path(sys.argv[1]).write_text(str(p.pid)); time.sleep(60)"
)


def _wait_for(predicate: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_a_crashed_child_is_restarted_with_growing_backoff(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    readies: list[int] = []
    supervisor = Supervisor(tmp_path / "logs", backoff_initial_s=0.2, backoff_max_s=0.8, poll_s=0.02)
    supervisor.register(
        ChildSpec("crasher", [sys.executable, "-c", CRASHER, str(starts)], on_ready=lambda: readies.append(1))
    )
    stop = threading.Event()
    supervisor.start(stop)
    timer = threading.Timer(3.5, stop.set)
    timer.start()
    try:
        supervisor.run(stop)
    finally:
        timer.cancel()
        supervisor.stop()
    times = [float(line) for line in starts.read_text().split()]
    [(name, _, state, restarts, _)] = supervisor.rows()
    assert (name, state) == ("crasher", State.STOPPED)
    assert len(times) >= 4 and restarts == len(times) - 1
    assert len(readies) == len(times)  # on_ready runs after every (re)start
    gaps = [b - a - 0.3 for a, b in itertools.pairwise(times)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4 and gaps[2] >= 0.8  # 0.2, 0.4, 0.8 (capped)
    assert "starting crasher" in supervisor.log_path("crasher").read_text()


def test_stop_kills_the_whole_group_even_when_sigterm_is_ignored(tmp_path: Path) -> None:
    grandchild_file = tmp_path / "grandchild"
    supervisor = Supervisor(tmp_path / "logs", grace_s=0.5)
    supervisor.register(
        ChildSpec(
            "stubborn", [sys.executable, "-c", STUBBORN, str(grandchild_file)], ready=grandchild_file.exists
        )
    )
    supervisor.start(threading.Event())
    child = supervisor.pids()["stubborn"]
    grandchild = int(grandchild_file.read_text())
    assert os.getpgid(grandchild) == child  # the child leads its own process group
    started = time.monotonic()
    supervisor.stop()
    assert time.monotonic() - started < 3
    assert _wait_for(lambda: not alive(child) and not alive(grandchild), 5)
    assert supervisor.pids() == {}


def test_a_child_exiting_during_start_fails_with_its_log(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path / "logs")
    supervisor.register(
        ChildSpec(
            "broken", [sys.executable, "-c", "print('bad config'); raise SystemExit(4)"], ready=lambda: False
        )
    )
    with pytest.raises(ChildFailed, match=r"broken exited with code 4: .*bad config"):
        supervisor.start(threading.Event())
    supervisor.stop()


def test_a_child_not_ready_in_time_fails(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path / "logs")
    supervisor.register(
        ChildSpec(
            "slow",
            [sys.executable, "-c", "import time; time.sleep(30)"],
            ready=lambda: False,
            ready_timeout_s=0.5,
        )
    )
    with pytest.raises(ChildFailed, match=r"slow was not ready within 0\.5 s"):
        supervisor.start(threading.Event())
    pid = supervisor.rows()[0][1]
    supervisor.stop()
    assert pid is not None and _wait_for(lambda: not alive(pid), 5)


def test_a_failing_on_ready_hook_fails_the_start(tmp_path: Path) -> None:
    def hook() -> None:
        raise RuntimeError("provisioning failed")

    supervisor = Supervisor(tmp_path / "logs")
    supervisor.register(
        ChildSpec("svc", [sys.executable, "-c", "import time; time.sleep(30)"], on_ready=hook)
    )
    with pytest.raises(ChildFailed, match="svc: provisioning failed"):
        supervisor.start(threading.Event())
    supervisor.stop()


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path)
    supervisor.register(ChildSpec("a", ["true"]))
    with pytest.raises(ValueError, match="already registered"):
        supervisor.register(ChildSpec("a", ["true"]))


def test_children_publish_their_url_under_their_endpoint_key(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path)
    supervisor.register(ChildSpec("sim", ["true"], url="http://127.0.0.1:4701", endpoint="sim"))
    supervisor.register(ChildSpec("runner", ["true"]))
    supervisor.register(ChildSpec("aws", ["true"], url="http://127.0.0.1:4700"))
    assert supervisor.endpoints() == {"sim": "http://127.0.0.1:4701"}


def test_http_ready_needs_an_answer_below_500(moto_endpoint: str) -> None:
    # the dashboard page, not data.json: the session's shared moto serializes all its state for that,
    # which outgrew the probe's 1 s on a loaded CI machine
    assert http_ready(f"{moto_endpoint}/moto-api/")
    assert not http_ready("http://127.0.0.1:9/")  # discard port: nothing listens
    assert not http_ready("not a url")
