"""cancel_and_wait: the task is cancelled and has finished unwinding when it returns; None is a no-op."""

from __future__ import annotations

import asyncio

from tradeops.aio import cancel_and_wait


async def test_the_task_has_unwound_when_it_returns_and_none_is_nothing_to_do() -> None:
    cleaned = asyncio.Event()

    async def loop() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0)  # unwinding takes a turn of the loop
            cleaned.set()

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)
    await cancel_and_wait(task)
    assert task.cancelled() and cleaned.is_set()
    await cancel_and_wait(None)
    await cancel_and_wait(task)  # already finished: nothing more happens
