"""Fixtures shared by the benchmarks: the simulator as a child process, and a figures table per test."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import aiohttp
import pytest

from tradeops.sim.commands import READY_PREFIX

SimLauncher = Callable[..., Awaitable[dict[str, str]]]
Report = Callable[[str, str, str], None]


async def _launch(procs: list[asyncio.subprocess.Process], *options: str) -> dict[str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tradeops.sim", "--port", "0", "--md-port", "0", "--balance", "USDT=1000000000",
        *options, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    procs.append(proc)
    assert proc.stdout is not None
    for _ in range(40):
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        if line.startswith(READY_PREFIX):
            ready: dict[str, str] = json.loads(line[len(READY_PREFIX) :])
            break
    else:
        raise AssertionError("simulator did not start")
    async with aiohttp.ClientSession() as http:
        fault = {"faults": [{"kind": "weight_limit", "per_minute": 1_000_000_000}]}
        async with http.post(f"{ready['admin_url']}/faults", json=fault) as resp:
            assert resp.status == 200
    return ready


@pytest.fixture
async def sim_launcher() -> AsyncIterator[SimLauncher]:
    """Start ``python -m tradeops.sim`` on free ports with extra CLI options (``"--tick-ms", "2"``).

    Each launch returns the SIM_READY document (url, md_url, admin_url, api_key, api_secret); the weight
    limit is lifted so benchmarks measure latency, not the venue's throttle. Every child is terminated
    after the test.
    """
    procs: list[asyncio.subprocess.Process] = []

    async def launch(*options: str) -> dict[str, str]:
        return await _launch(procs, *options)

    try:
        yield launch
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.terminate()
            await asyncio.wait_for(proc.wait(), 15)


@pytest.fixture
async def sim_process(sim_launcher: SimLauncher) -> dict[str, str]:
    """`python -m tradeops.sim` with default options on free ports; its SIM_READY document."""
    return await sim_launcher()


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Iterator[Report]:
    """``report(metric, value, goal)`` collects a figure; the test's figures print as one table at its end."""
    rows: list[tuple[str, str, str]] = []
    yield lambda metric, value, goal: rows.append((metric, value, goal))
    if rows:
        width = max(len(metric) for metric, _, _ in rows)
        lines = [f"  {metric:<{width}}  {value:>14}  {goal}" for metric, value, goal in rows]
        print(f"\n\n{request.node.name}\n" + "\n".join(lines))
