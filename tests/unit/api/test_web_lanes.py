"""The local web server's API lanes: concurrent calls, a slow route that cannot hold up the polls, a bound."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable

from aiohttp import ClientSession, ClientTimeout
from chalice.app import Chalice

from tradeops.local.web import ApiLane, WebServer

GATE_TIMEOUT_S = 30
ANSWER_TIMEOUT_S = 20


class Blocking:
    """Apps whose ``/api/block`` and ``/api/audit/verify`` wait on a gate (``/api/ping`` answers at once)."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.inside = 0
        self._lock = threading.Lock()

    def _wait(self) -> dict[str, bool]:
        with self._lock:
            self.inside += 1
        released = self.gate.wait(GATE_TIMEOUT_S)
        return {"released": released}

    def app(self) -> Chalice:
        app = Chalice(app_name="lanes")

        @app.route("/api/block")
        def block() -> dict[str, bool]:
            return self._wait()

        @app.route("/api/audit/verify")
        def verify() -> dict[str, bool]:
            return self._wait()

        @app.route("/api/ping")
        def ping() -> dict[str, bool]:
            return {"pong": True}

        return app


async def _status(client: ClientSession, url: str) -> int:
    async with client.get(url) as response:
        await response.read()
        return response.status


async def _until(check: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(ANSWER_TIMEOUT_S):
            while not check():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out after {ANSWER_TIMEOUT_S} s waiting for {what}") from None


async def test_a_lane_runs_as_many_calls_at_once_as_it_has_workers() -> None:
    apps = Blocking()
    lane = ApiLane("t", apps.app, workers=3, max_waiting=0)
    try:
        calls = [asyncio.create_task(lane.call("GET", "/api/block", {}, None)) for _ in range(3)]
        await _until(lambda: apps.inside == 3, "three calls inside their handlers at once")
        apps.gate.set()
        replies = await asyncio.gather(*calls)
        assert [status for status, _, _ in replies] == [200, 200, 200]
        assert all(b'"released":true' in body for _, _, body in replies)
    finally:
        apps.gate.set()
        lane.close()


async def test_a_full_lane_answers_503_with_retry_after_instead_of_queueing() -> None:
    apps = Blocking()
    lane = ApiLane("t", apps.app, workers=1, max_waiting=1)
    try:
        running = asyncio.create_task(lane.call("GET", "/api/block", {}, None))
        waiting = asyncio.create_task(lane.call("GET", "/api/block", {}, None))
        await _until(lambda: apps.inside == 1, "the first call inside its handler")
        status, headers, body = await lane.call("GET", "/api/ping", {}, None)
        assert status == 503 and headers["Retry-After"] == "1" and b'"busy"' in body
        apps.gate.set()
        assert [reply[0] for reply in await asyncio.gather(running, waiting)] == [200, 200]
        assert (await lane.call("GET", "/api/ping", {}, None))[0] == 200  # capacity is given back
    finally:
        apps.gate.set()
        lane.close()


async def test_audit_verify_runs_in_its_own_lane_and_never_holds_up_other_calls() -> None:
    apps = Blocking()
    server = WebServer(apps.app, None, workers=1)
    await server.start()
    try:
        async with ClientSession(timeout=ClientTimeout(total=ANSWER_TIMEOUT_S + GATE_TIMEOUT_S)) as client:
            verifies = [
                asyncio.create_task(_status(client, f"{server.url}/api/audit/verify")) for _ in range(2)
            ]
            try:
                await _until(lambda: apps.inside == 1, "a verification inside its handler")
                for _ in range(3):  # the only main-lane worker is free: the gate is still closed
                    async with asyncio.timeout(ANSWER_TIMEOUT_S):
                        async with client.get(f"{server.url}/api/ping") as ping:
                            assert ping.status == 200 and json.loads(await ping.text()) == {"pong": True}
                assert not apps.gate.is_set() and apps.inside == 1  # the second verification still waits
            finally:
                apps.gate.set()
                statuses = await asyncio.gather(*verifies)
            assert statuses == [200, 200]
    finally:
        apps.gate.set()
        await server.stop()
