"""asyncio helpers shared by long-running loops."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any


async def wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait until ``event`` is set or ``timeout_s`` passes; True if it was set.

    Loops idle with this rather than ``asyncio.wait_for(event.wait(), t)`` under
    ``suppress(TimeoutError)``: on Python 3.11, ``wait_for`` can turn a cancellation that coincides with
    its timeout into ``TimeoutError``, which that suppression then swallows, so the loop never stops.
    ``asyncio.timeout`` keeps the two apart: a cancellation always propagates.
    """
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` (None: nothing to do) and wait until it has finished unwinding."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def acquire_within(lock: asyncio.Lock, timeout_s: float) -> bool:
    """Acquire ``lock`` unless ``timeout_s`` passes first (at once when it is free); True if acquired."""
    try:
        async with asyncio.timeout(max(0.0, timeout_s)):
            await lock.acquire()
    except TimeoutError:
        return False
    return True


async def until_stop_signal(*signals: signal.Signals) -> signal.Signals:
    """Wait for the first of ``signals`` (SIGINT and SIGTERM by default); the one that came.

    The handlers stay installed afterwards, so a second signal during the caller's shutdown is
    absorbed rather than killing the process mid-cleanup.
    """
    received: asyncio.Future[signal.Signals] = asyncio.get_running_loop().create_future()

    def note(sig: signal.Signals) -> None:
        if not received.done():
            received.set_result(sig)

    loop = asyncio.get_running_loop()
    for sig in signals or (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, note, sig)
    return await received
