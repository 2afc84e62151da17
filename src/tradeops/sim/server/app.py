"""The simulator's servers: the main port (REST, streams, WS-API, admin) and the market-data port."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from tradeops.sim.config import SimConfig
from tradeops.sim.server.admin import AdminApi
from tradeops.sim.server.clock import SkewableClock
from tradeops.sim.server.faults import FaultInjector
from tradeops.sim.server.rest import JSON_TYPE, RestApi, dumps
from tradeops.sim.server.streams import StreamHub
from tradeops.sim.server.weights import WeightLimiter
from tradeops.sim.server.wsapi import UserStreamHub
from tradeops.sim.venue import SimVenue, VenueEvent

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAINTENANCE = {"code": 1, "msg": "System is under maintenance."}
FAULT_TICK_S = 0.05


class SimServer:
    """One venue with its transport state: clock, faults, weight limiter, stream and user hubs."""

    def __init__(self, config: SimConfig, *, step_ms: float | None = None) -> None:
        self.config = config
        self.clock = SkewableClock()
        self.venue = SimVenue(config, self.clock)
        self.faults = FaultInjector(config.seed)
        self.limiter = WeightLimiter()
        self.streams = StreamHub((s.replace("/", "") for s in config.symbols), self.faults)
        self.users = UserStreamHub(self.venue.secret_for, self.clock, self.faults)
        self.step_ms = step_ms if step_ms is not None else float(config.tick_ms)
        self.venue.listen(self._on_event)

    def _on_event(self, event: VenueEvent) -> None:
        if event.channel == "user":
            self.users.publish(event.api_key, event.payload)
        else:
            self.streams.publish(event.channel, event.payload)

    @web.middleware
    async def _maintenance(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.faults.maintenance() and not request.path.startswith("/_sim/"):
            return web.Response(status=503, text=dumps(MAINTENANCE), content_type=JSON_TYPE)
        return await handler(request)

    def _stream_routes(self, app: web.Application, port: str) -> None:
        async def market(request: web.Request) -> web.StreamResponse:
            return await self.streams.handle(request, port)

        for path in ("/ws", "/ws/{tail:.*}", "/stream", "/stream/{tail:.*}"):
            app.router.add_get(path, market)

    def main_app(self) -> web.Application:
        """REST `/api/v3`, market streams, WS-API `/ws-api/v3` and the admin API."""
        app = web.Application(middlewares=[AdminApi.guard, self._maintenance])
        RestApi(self).register(app)
        AdminApi(self).register(app)
        self._stream_routes(app, "main")
        app.router.add_get("/ws-api/v3", self.users.handle)
        return app

    def md_app(self) -> web.Application:
        """The second market-data port: the same streams, so one feed can be faulted alone."""
        app = web.Application(middlewares=[self._maintenance])
        self._stream_routes(app, "md")
        return app

    async def run_steps(self) -> None:
        """Advance the venue one tick every ``step_ms`` of wall time, catching up if late (bounded)."""
        loop = asyncio.get_running_loop()
        interval = self.step_ms / 1000
        deadline = loop.time()
        while True:
            deadline += interval
            try:
                self.venue.step()
            except Exception:
                log.exception("venue step failed")
            delay = deadline - loop.time()
            if delay < -1.0:
                deadline = loop.time()
            await asyncio.sleep(max(delay, 0.0))

    async def run_fault_ticks(self) -> None:
        """Re-evaluate time-based stream faults (stalls, periodic disconnects)."""
        while True:
            self.streams.apply_faults()
            await asyncio.sleep(FAULT_TICK_S)


@dataclass
class RunningSim:
    """A started simulator: its URLs, the server object and how to stop it."""

    url: str
    md_url: str
    server: SimServer
    _runners: list[web.AppRunner] = field(repr=False)
    _tasks: list[asyncio.Task[None]] = field(repr=False)

    @property
    def admin_url(self) -> str:
        """Base URL of the admin API (``.../_sim``)."""
        return f"{self.url}/_sim"

    @property
    def venue(self) -> SimVenue:
        """The venue behind the servers (tests may read or step it directly)."""
        return self.server.venue

    async def close(self) -> None:
        """Stop stepping, close every socket and both servers."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.server.streams.close_all()
        await self.server.users.close_all()
        for runner in self._runners:
            await runner.cleanup()


def _require_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the simulator binds loopback addresses only, not {host!r}")


async def _serve(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = runner.addresses[0]
    return runner, int(bound[1])


async def start_sim(
    config: SimConfig,
    host: str = "127.0.0.1",
    port: int = 0,
    md_port: int = 0,
    *,
    step_ms: float | None = None,
) -> RunningSim:
    """Start the venue on ``host:port`` (main) and ``host:md_port`` (market data); port 0 picks one."""
    _require_loopback(host)
    server = SimServer(config, step_ms=step_ms)
    main_runner, main_port = await _serve(server.main_app(), host, port)
    try:
        md_runner, md_bound = await _serve(server.md_app(), host, md_port)
    except BaseException:
        await main_runner.cleanup()
        raise
    url_host = f"[{host}]" if ":" in host else host
    tasks = [
        asyncio.get_running_loop().create_task(server.run_steps(), name="sim-steps"),
        asyncio.get_running_loop().create_task(server.run_fault_ticks(), name="sim-fault-ticks"),
    ]
    return RunningSim(
        url=f"http://{url_host}:{main_port}",
        md_url=f"http://{url_host}:{md_bound}",
        server=server,
        _runners=[main_runner, md_runner],
        _tasks=tasks,
    )
