"""until_stop_signal: returns the signal that came, and absorbs a second one during shutdown."""

from __future__ import annotations

import asyncio
import os
import signal

from tradeops.aio import until_stop_signal


async def test_the_first_signal_is_returned_and_a_second_is_absorbed() -> None:
    waiting = asyncio.create_task(until_stop_signal(signal.SIGUSR1, signal.SIGUSR2))
    await asyncio.sleep(0)  # let it install the handlers
    assert not waiting.done()
    os.kill(os.getpid(), signal.SIGUSR2)
    assert await asyncio.wait_for(waiting, 2) is signal.SIGUSR2
    os.kill(os.getpid(), signal.SIGUSR1)  # the default action would end this process
    await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    assert loop.remove_signal_handler(signal.SIGUSR1) and loop.remove_signal_handler(signal.SIGUSR2)
