"""Shared plumbing of the supervised child processes: orderly stop on signals or when the parent dies.

The supervisor also sets ``PR_SET_PDEATHSIG`` on Linux; the parent watchdog here covers the other
platforms and the window before that call, so a child never outlives its supervisor.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType

SUPERVISOR_PID_ENV = "TRADEOPS_SUPERVISOR_PID"


def _parent_alive(expected: int) -> bool:
    return os.getppid() == expected


def stop_event(*, poll_s: float = 0.5) -> threading.Event:
    """An event set on SIGTERM/SIGINT/SIGHUP or when the supervising parent process goes away.

    Must be called from the main thread. Without ``TRADEOPS_SUPERVISOR_PID`` (a child started by hand)
    only the signals set it.
    """
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, handle)
    raw = os.environ.pop(SUPERVISOR_PID_ENV, "")  # not inherited by this child's own children
    if raw.isdigit():
        expected = int(raw)

        def watch() -> None:
            while not stop.wait(poll_s):
                if not _parent_alive(expected):
                    stop.set()

        if not _parent_alive(expected):
            stop.set()
        threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()
    return stop
