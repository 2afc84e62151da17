"""Liveness and readiness endpoints of the gateway (ECS health check, ``tradeops up``'s ``gateway_health``).

``GET /healthz`` answers 200 whenever the process's event loop runs the handler: a wedged loop cannot
answer at all, so the caller's timeout is the failure signal. The body reports the loop lag measured by
a heartbeat task, for diagnosis.

``GET /readyz`` runs every registered readiness check (named callables, sync or async, each bounded by
``check_timeout_s``) concurrently and answers 200 only when all pass, 503 otherwise; with no check
registered it answers 503 (nothing vouches for readiness). The JSON body always lists every check with
its state and detail, and ``failing`` names the ones that did not pass. A check returns ``bool`` or a
:class:`CheckResult`; an exception or a timeout counts as failing, with the reason as detail. Sync
checks run on the loop: they must be cheap reads of in-memory state (is leader, venue connected).
"""

from __future__ import annotations

import asyncio
import inspect
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tradeops.aio import cancel_and_wait
from tradeops.observability import get_logger

__all__ = ["CheckResult", "HealthServer", "ReadinessCheck"]

log = get_logger("tradeops.gateway")

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one readiness check; ``detail`` says why (shown to operators, never secret)."""

    ok: bool
    detail: str = ""


ReadinessCheck = Callable[[], "bool | CheckResult | Awaitable[bool | CheckResult]"]


class HealthServer:
    """An aiohttp server with ``/healthz`` and ``/readyz``; bind loopback unless told otherwise."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        check_timeout_s: float = 1.0,
        heartbeat_interval_s: float = 0.5,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {port}")
        if check_timeout_s <= 0 or heartbeat_interval_s <= 0:
            raise ValueError("check_timeout_s and heartbeat_interval_s must be positive")
        self._host = host
        self._port = port
        self._check_timeout_s = check_timeout_s
        self._heartbeat_interval_s = heartbeat_interval_s
        self._checks: dict[str, ReadinessCheck] = {}
        self._runner: web.AppRunner | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._bound_port: int | None = None
        self._started = time.monotonic()
        self.loop_lag_ms = 0.0
        self._last_failing: list[str] | None = None

    # -- registration --------------------------------------------------------------------------------

    def register(self, name: str, check: ReadinessCheck) -> None:
        """Add readiness check ``name`` (lower-case, ``[a-z0-9_.-]``); a name can be registered once."""
        if not _NAME_RE.match(name):
            raise ValueError(f"bad readiness check name {name!r}")
        if name in self._checks:
            raise ValueError(f"readiness check {name!r} is already registered")
        if not callable(check):
            raise TypeError(f"readiness check {name!r} is not callable")
        self._checks[name] = check

    @property
    def check_names(self) -> tuple[str, ...]:
        return tuple(self._checks)

    # -- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and serve; :attr:`port` then holds the bound port (useful with port 0)."""
        if self._runner is not None:
            raise RuntimeError("health server already started")
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._bound_port = int(runner.addresses[0][1])
        self._heartbeat = asyncio.get_running_loop().create_task(self._beat(), name="health-heartbeat")
        log.info("health server listening", extra={"url": self.url})

    async def stop(self) -> None:
        """Stop serving (idempotent)."""
        heartbeat, self._heartbeat = self._heartbeat, None
        await cancel_and_wait(heartbeat)
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    @property
    def port(self) -> int:
        if self._bound_port is None:
            raise RuntimeError("health server not started")
        return self._bound_port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    # -- evaluation ----------------------------------------------------------------------------------

    async def readiness(self) -> tuple[bool, dict[str, CheckResult]]:
        """Run every check now: (all passed and at least one is registered, result per check)."""
        names = list(self._checks)
        results = await asyncio.gather(*(self._run_check(self._checks[name]) for name in names))
        states = dict(zip(names, results, strict=True))
        return bool(states) and all(result.ok for result in states.values()), states

    async def _run_check(self, check: ReadinessCheck) -> CheckResult:
        try:
            outcome = check()
            if inspect.isawaitable(outcome):
                async with asyncio.timeout(self._check_timeout_s):  # see tradeops.aio
                    outcome = await _awaited(outcome)
        except TimeoutError:
            return CheckResult(False, f"timed out after {self._check_timeout_s} s")
        except Exception as exc:
            return CheckResult(False, f"check raised {type(exc).__name__}: {exc}")
        if isinstance(outcome, CheckResult):
            return outcome
        if isinstance(outcome, bool):
            return CheckResult(outcome)
        return CheckResult(False, f"check returned {type(outcome).__name__}, not bool or CheckResult")

    async def _beat(self) -> None:
        interval = self._heartbeat_interval_s
        while True:
            before = time.monotonic()
            await asyncio.sleep(interval)
            self.loop_lag_ms = max(0.0, (time.monotonic() - before - interval) * 1000)

    # -- handlers ------------------------------------------------------------------------------------

    async def _healthz(self, _request: web.Request) -> web.Response:
        body = {
            "status": "alive",
            "uptime_s": round(time.monotonic() - self._started, 3),
            "loop_lag_ms": round(self.loop_lag_ms, 3),
        }
        return web.json_response(body, status=200)

    async def _readyz(self, _request: web.Request) -> web.Response:
        ready, states = await self.readiness()
        failing = [name for name, result in states.items() if not result.ok]
        body: dict[str, Any] = {
            "ready": ready,
            "checks": {name: {"ok": r.ok, "detail": r.detail} for name, r in states.items()},
            "failing": failing,
        }
        if not states:
            body["detail"] = "no readiness check registered"
        if failing != self._last_failing:
            self._last_failing = failing
            log.info("readiness changed", extra={"ready": ready, "failing": failing})
        return web.json_response(body, status=200 if ready else 503)


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable
