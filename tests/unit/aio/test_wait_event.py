"""wait_event: set -> True, timeout -> False, and a cancellation is never mistaken for a timeout."""

from __future__ import annotations

import asyncio

import pytest

from tradeops.aio import wait_event


async def test_a_set_event_returns_true_and_a_timeout_false() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    event.set()
    assert await wait_event(event, 0.01) is True


@pytest.mark.parametrize("cancel_after_s", [0.0, 0.004, 0.005, 0.006, 0.01])
async def test_cancellation_propagates_even_at_the_moment_of_the_timeout(cancel_after_s: float) -> None:
    """A loop that idles with wait_event stops when cancelled, however the cancel and timeout race."""
    iterations = 0

    async def loop() -> None:
        nonlocal iterations
        while True:
            iterations += 1
            await wait_event(asyncio.Event(), 0.005)

    task = asyncio.create_task(loop())
    await asyncio.sleep(cancel_after_s)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 1.0)
    assert task.cancelled()
