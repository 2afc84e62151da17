"""The operator API and the built UI on one origin, for ``tradeops up`` (``python -m tradeops.local.web``).

A small aiohttp server: ``/api/...`` goes to the Chalice app through Chalice's own local API Gateway
emulation (``chalice.local.LocalGateway``: the same proxy events and routing as API Gateway), anything
else is a file of the built UI (``frontend/dist``), with ``index.html`` for SPA routes and a clear 503
page when the UI has not been built.

Chalice keeps the current request on the app object, so each worker thread has an app of its own (all
sharing one :class:`~tradeops.api.context.Services`): API calls run concurrently, bounded by the number
of workers, and the event loop never blocks on DynamoDB. Slow routes (``/api/audit/verify`` recomputes
every hash chain) run in a lane of their own so the UI's one-second polls never queue behind them. A
lane with too many calls waiting answers 503 with ``Retry-After`` instead of queueing without bound.

The Cognito issuer, client id and JWKS URL come from ``TRADEOPS_COGNITO_*`` (``tradeops up`` passes
the embedded pool's, see :func:`cognito_env`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from chalice.app import Chalice
from chalice.config import Config
from chalice.local import LocalGateway, LocalGatewayException

from tradeops.aio import until_stop_signal
from tradeops.local.provision import CognitoResources

if TYPE_CHECKING:
    from tradeops.api.context import Services

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    ),
}
NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>tradeops: UI not built</title></head><body><h1>The operator UI has not been built</h1>
<p>Build it with <code>make frontend</code> (from the repository root), then reload.
The API is up: <a href="/api/openapi.json">/api/openapi.json</a>.</p>
</body></html>"""
MAX_BODY_BYTES = 1024 * 1024
API_WORKERS = 4
"""Concurrent API calls of the main lane (polls, reads, mutations)."""
SLOW_ROUTES = ("/api/audit/verify",)
"""Path prefixes served by the slow lane (one call at a time)."""
MAX_WAITING_PER_WORKER = 16
"""Calls a lane lets wait per worker before it answers 503 (a bound, not a queue without end)."""


def cognito_env(cognito: CognitoResources) -> dict[str, str]:
    """The ``TRADEOPS_COGNITO_*`` variables of the API for the embedded pool."""
    return {
        "TRADEOPS_COGNITO_ISSUER": cognito.issuer,
        "TRADEOPS_COGNITO_CLIENT_ID": cognito.client_id,
        "TRADEOPS_COGNITO_JWKS_URL": cognito.jwks_url,
    }


class LazyEnv(Mapping[str, str]):
    """An environment computed when a child (re)starts: e.g. from the latest provisioning result."""

    def __init__(self, build: Callable[[], Mapping[str, str]]) -> None:
        self._build = build

    def __getitem__(self, key: str) -> str:
        return self._build()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(dict(self._build()))

    def __len__(self) -> int:
        return len(self._build())


class SharedServices:
    """One :class:`Services` for every app of the server, built on first use (thread-safe)."""

    def __init__(self, build: Callable[[], Services]) -> None:
        self._build = build
        self._services: Services | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Services:
        with self._lock:
            if self._services is None:
                self._services = self._build()
            return self._services


ApiReply = tuple[int, dict[str, str], bytes]


class ApiLane:
    """``workers`` threads, each with its own Chalice app; at most ``max_waiting`` calls wait for one."""

    def __init__(self, name: str, app_factory: Callable[[], Chalice], workers: int, max_waiting: int) -> None:
        if workers < 1 or max_waiting < 0:
            raise ValueError("a lane needs at least one worker and a non-negative wait bound")
        config = Config.create(lambda_timeout=30, lambda_memory_size=512)
        self._gateways: queue.SimpleQueue[LocalGateway] = queue.SimpleQueue()
        for _ in range(workers):
            self._gateways.put(LocalGateway(app_factory(), config))
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"api-{name}")
        self._capacity = workers + max_waiting
        self._admitted = 0  # touched on the event loop only

    async def call(self, method: str, path: str, headers: dict[str, str], body: bytes | None) -> ApiReply:
        if self._admitted >= self._capacity:
            busy = {"error": {"code": "busy", "message": "the API is busy; retry shortly", "fields": {}}}
            reply_headers = {"Content-Type": "application/json", "Retry-After": "1"}
            return 503, reply_headers, json.dumps(busy).encode()
        self._admitted += 1
        work = asyncio.get_running_loop().run_in_executor(
            self._executor, self._call, method, path, headers, body
        )
        work.add_done_callback(self._release)  # a call stays counted until its thread is done with it
        return await asyncio.shield(work)  # a client that goes away does not free a busy worker

    def _release(self, _: asyncio.Future[ApiReply]) -> None:
        self._admitted -= 1

    def _call(self, method: str, path: str, headers: dict[str, str], body: bytes | None) -> ApiReply:
        gateway = self._gateways.get()  # as many gateways as threads: never waits
        try:
            reply: dict[str, Any] = gateway.handle_request(method, path, headers, body)
        except LocalGatewayException as exc:
            return exc.CODE, {"Content-Type": "application/json"}, exc.body or b""
        finally:
            self._gateways.put(gateway)
        payload = reply.get("body") or b""
        data = payload.encode() if isinstance(payload, str) else bytes(payload)
        names = {str(k): str(v) for k, v in (reply.get("headers") or {}).items()}
        return int(reply["statusCode"]), names, data

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class WebServer:
    """Serves apps of ``app_factory`` under ``/api/`` and the files of ``ui_dir`` elsewhere on ``host:port``.

    ``app_factory`` is called once per worker (``workers`` for the main lane, one for the slow lane):
    give every app the same Services (e.g. ``lambda: create_app(services)``).
    """

    def __init__(
        self,
        app_factory: Callable[[], Chalice],
        ui_dir: Path | None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        workers: int = API_WORKERS,
    ) -> None:
        self._main = ApiLane("main", app_factory, workers, workers * MAX_WAITING_PER_WORKER)
        self._slow = ApiLane("slow", app_factory, 1, MAX_WAITING_PER_WORKER)
        self._ui_dir = None if ui_dir is None else ui_dir.resolve()
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_route("*", "/api/{tail:.*}", self._api)
        app.router.add_route("GET", "/{tail:.*}", self._static)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        self._main.close()
        self._slow.close()

    async def _api(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        lane = self._slow if request.path.startswith(SLOW_ROUTES) else self._main
        status, reply_headers, payload = await lane.call(
            request.method, request.path_qs, headers, body or None
        )
        response = web.Response(status=status, body=payload)
        for name, value in reply_headers.items():
            response.headers[name] = value
        return response

    async def _static(self, request: web.Request) -> web.StreamResponse:
        index = None if self._ui_dir is None else self._ui_dir / "index.html"
        if self._ui_dir is None or index is None or not index.is_file():
            headers = dict(SECURITY_HEADERS)
            return web.Response(status=503, text=NOT_BUILT, content_type="text/html", headers=headers)
        target = (self._ui_dir / request.match_info["tail"]).resolve()
        if not target.is_relative_to(self._ui_dir) or not target.is_file():
            target = index  # an SPA route (or an attempt to leave the directory): the app's shell
        headers = dict(SECURITY_HEADERS)
        headers["Cache-Control"] = "no-cache" if target == index else "public, max-age=3600"
        return web.FileResponse(target, headers=headers)


async def serve(host: str, port: int, ui_dir: Path | None) -> None:
    """Run until SIGINT/SIGTERM with the API configured from the environment."""
    from tradeops.api import create_app
    from tradeops.api.app import services_from_env

    shared = SharedServices(services_from_env)
    server = WebServer(lambda: create_app(shared), ui_dir, host=host, port=port)
    await server.start()
    print(f"tradeops web: API and UI on {server.url}", flush=True)
    try:
        await until_stop_signal()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tradeops.local.web", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ui-dir", type=Path, default=Path("frontend/dist"))
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port, args.ui_dir))


if __name__ == "__main__":
    main()
