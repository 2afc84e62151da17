"""HealthServer over real HTTP on a loopback port: liveness, readiness and every way a check can fail."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tradeops.gateway.health import CheckResult, HealthServer

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
async def server() -> AsyncIterator[HealthServer]:
    health = HealthServer(check_timeout_s=0.2, heartbeat_interval_s=0.05)
    await health.start()
    try:
        yield health
    finally:
        await health.stop()


async def get(server: HealthServer, path: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(server.url + path) as response:
        return response.status, await response.json()


async def test_binds_loopback_on_an_ephemeral_port(server: HealthServer) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    assert server.port > 0


async def test_healthz_is_200_and_reports_loop_lag(server: HealthServer) -> None:
    await asyncio.sleep(0.12)
    status, body = await get(server, "/healthz")
    assert status == 200
    assert body["status"] == "alive"
    assert body["loop_lag_ms"] >= 0


async def test_readyz_without_checks_is_not_ready(server: HealthServer) -> None:
    status, body = await get(server, "/readyz")
    assert status == 503
    assert body["ready"] is False
    assert body["checks"] == {}


async def test_readyz_200_when_every_check_passes(server: HealthServer) -> None:
    async def connected() -> CheckResult:
        return CheckResult(True, "2 sockets")

    server.register("leader", lambda: True)
    server.register("venue_connected", connected)
    status, body = await get(server, "/readyz")
    assert status == 200
    assert body == {
        "ready": True,
        "checks": {
            "leader": {"ok": True, "detail": ""},
            "venue_connected": {"ok": True, "detail": "2 sockets"},
        },
        "failing": [],
    }


async def test_readyz_503_names_each_failing_check(server: HealthServer) -> None:
    async def hangs() -> bool:
        await asyncio.sleep(5)
        return True

    def raises() -> bool:
        raise RuntimeError("venue down")

    server.register("leader", lambda: True)
    server.register("market_data_fresh", lambda: CheckResult(False, "BTC/USDT stale"))
    server.register("reconciled", hangs)
    server.register("venue_connected", raises)
    server.register("weird", lambda: "yes")  # type: ignore[arg-type, return-value]
    status, body = await get(server, "/readyz")
    assert status == 503
    assert body["ready"] is False
    assert body["failing"] == ["market_data_fresh", "reconciled", "venue_connected", "weird"]
    checks = body["checks"]
    assert checks["leader"]["ok"] is True
    assert checks["market_data_fresh"]["detail"] == "BTC/USDT stale"
    assert "timed out" in checks["reconciled"]["detail"]
    assert "RuntimeError: venue down" in checks["venue_connected"]["detail"]
    assert "not bool or CheckResult" in checks["weird"]["detail"]


async def test_readiness_follows_the_state_it_checks(server: HealthServer) -> None:
    state = {"leader": False}
    server.register("leader", lambda: state["leader"])
    assert (await get(server, "/readyz"))[0] == 503
    state["leader"] = True
    assert (await get(server, "/readyz"))[0] == 200


async def test_checks_run_concurrently(server: HealthServer) -> None:
    async def slow() -> bool:
        await asyncio.sleep(0.1)
        return True

    for index in range(5):
        server.register(f"slow{index}", slow)
    loop = asyncio.get_running_loop()
    started = loop.time()
    ready, _ = await server.readiness()
    assert ready
    assert loop.time() - started < 0.19


def test_registration_refuses_bad_and_duplicate_names() -> None:
    health = HealthServer()
    health.register("leader", lambda: True)
    with pytest.raises(ValueError, match="already registered"):
        health.register("leader", lambda: True)
    with pytest.raises(ValueError, match="bad readiness check name"):
        health.register("Has Space", lambda: True)
    with pytest.raises(ValueError):
        HealthServer(port=70000)
    with pytest.raises(RuntimeError, match="not started"):
        _ = health.port


async def test_stop_is_idempotent_and_frees_the_port() -> None:
    health = HealthServer()
    await health.start()
    port = health.port
    await health.stop()
    await health.stop()
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as session:
            await session.get(f"http://127.0.0.1:{port}/healthz")
