"""Market-data WebSocket streams: Binance raw (`/ws...`) and combined (`/stream...`) sockets, fan-out."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from tradeops.aio import cancel_and_wait
from tradeops.sim.server.faults import FaultInjector

log = logging.getLogger(__name__)

STREAM_SUFFIXES = frozenset({"trade", "aggTrade", "ticker", "bookTicker", "depth@100ms", "kline_1m"})
MAX_QUEUED = 200_000
_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class Outbox:
    """A socket's send queue: producers append pre-encoded text, one writer task drains it in order."""

    __slots__ = ("_queue", "_task", "_wake", "closed", "ws")

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.closed = False
        self._queue: deque[str] = deque()
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._drain())

    def push(self, text: str) -> None:
        """Queue one message; a client too slow to keep ``MAX_QUEUED`` messages is disconnected."""
        if self.closed:
            return
        queue = self._queue
        if len(queue) >= MAX_QUEUED:
            self.closed = True
            queue.clear()
            asyncio.get_running_loop().create_task(self.ws.close(code=WSCloseCode.POLICY_VIOLATION))
            return
        queue.append(text)
        if len(queue) == 1:
            self._wake.set()

    def queued(self) -> int:
        """Messages waiting to be written."""
        return len(self._queue)

    async def _drain(self) -> None:
        queue, ws = self._queue, self.ws
        try:
            while not self.closed:
                await self._wake.wait()
                self._wake.clear()
                while queue:
                    await ws.send_str(queue.popleft())
        except (ConnectionError, RuntimeError):
            self.closed = True

    async def close(self) -> None:
        """Stop the writer (the socket itself is closed by its handler)."""
        self.closed = True
        await cancel_and_wait(self._task)


class StreamConn:
    """One market-stream socket: its port, subscriptions, framing and fault state."""

    __slots__ = ("combined", "id", "opened", "outbox", "path", "port", "stalled", "streams")

    def __init__(self, conn_id: int, port: str, path: str, combined: bool, outbox: Outbox) -> None:
        self.id = conn_id
        self.port = port
        self.path = path
        self.combined = combined
        self.outbox = outbox
        self.streams: set[str] = set()
        self.stalled = False
        self.opened = time.monotonic()

    def describe(self) -> dict[str, Any]:
        """JSON view for ``GET /_sim/streams``."""
        return {
            "id": self.id,
            "port": self.port,
            "path": self.path,
            "combined": self.combined,
            "streams": sorted(self.streams),
            "stalled": self.stalled,
            "queued": self.outbox.queued(),
        }


class StreamHub:
    """Subscriptions of every market-stream socket on every port, and the fan-out of venue events."""

    def __init__(self, venue_symbols: Iterable[str], faults: FaultInjector) -> None:
        self._symbols = {s.lower() for s in venue_symbols}
        self._faults = faults
        self._by_stream: dict[str, set[StreamConn]] = {}
        self._conns: dict[int, StreamConn] = {}
        self._ids = itertools.count(1)
        self.sent = 0

    def valid(self, stream: str) -> bool:
        """Whether ``stream`` names a stream this venue produces (``btcusdt@trade``...)."""
        symbol, sep, suffix = stream.partition("@")
        return bool(sep) and symbol in self._symbols and suffix in STREAM_SUFFIXES

    def publish(self, channel: str, payload: Any) -> None:
        """Send one venue event to every subscriber; encoded once per framing."""
        conns = self._by_stream.get(channel)
        if not conns:
            return
        raw = _DUMPS(payload)
        wrapped: str | None = None
        for conn in conns:
            if conn.stalled:
                continue
            if conn.combined:
                if wrapped is None:
                    wrapped = f'{{"stream":"{channel}","data":{raw}}}'
                conn.outbox.push(wrapped)
            else:
                conn.outbox.push(raw)
            self.sent += 1

    def connections(self) -> list[dict[str, Any]]:
        """Every open market-stream socket."""
        return [c.describe() for c in self._conns.values()]

    def apply_faults(self) -> None:
        """Refresh stalls and close sockets whose disconnect period elapsed (called periodically)."""
        now = time.monotonic()
        armed = self._faults.armed_since("stream_disconnect")
        for conn in list(self._conns.values()):
            conn.stalled, every = self._faults.stream_faults(conn.port, conn.id)
            if every is not None and now - max(conn.opened, armed or 0.0) >= every:
                conn.outbox.closed = True
                asyncio.get_running_loop().create_task(conn.outbox.ws.close(code=WSCloseCode.GOING_AWAY))

    async def close_all(self) -> None:
        """Close every market-stream socket (server shutdown)."""
        for conn in list(self._conns.values()):
            conn.outbox.closed = True
            await conn.outbox.ws.close(code=WSCloseCode.GOING_AWAY)

    def _subscribe(self, conn: StreamConn, streams: Iterable[str]) -> None:
        for stream in streams:
            conn.streams.add(stream)
            self._by_stream.setdefault(stream, set()).add(conn)

    def _unsubscribe(self, conn: StreamConn, streams: Iterable[str]) -> None:
        for stream in streams:
            conn.streams.discard(stream)
            subs = self._by_stream.get(stream)
            if subs is not None:
                subs.discard(conn)
                if not subs:
                    del self._by_stream[stream]

    async def handle(self, request: web.Request, port: str) -> web.WebSocketResponse:
        """Serve one socket: `/ws[/<streams>]`, `/stream/ws[/<streams>]` raw; `/stream?streams=` combined."""
        ws = web.WebSocketResponse(autoping=True, max_msg_size=65536)
        await ws.prepare(request)
        path = request.path
        combined = path.rstrip("/") == "/stream"
        initial = request.query.get("streams", "").split("/") if combined else path.split("/")
        conn = StreamConn(next(self._ids), port, path, combined, Outbox(ws))
        conn.stalled, _ = self._faults.stream_faults(port, conn.id)  # a reconnect inherits an armed stall
        self._conns[conn.id] = conn
        self._subscribe(conn, [s for s in initial if self.valid(s)])
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                reply = self._command(conn, msg.data)
                if reply is not None:
                    conn.outbox.push(reply)
        finally:
            self._unsubscribe(conn, list(conn.streams))
            del self._conns[conn.id]
            await conn.outbox.close()
        return ws

    def _command(self, conn: StreamConn, text: str) -> str | None:
        try:
            request = json.loads(text)
        except ValueError:
            return _error(3, "Invalid JSON: malformed request", None)
        if not isinstance(request, dict):
            return _error(3, "Invalid JSON: expected an object", None)
        req_id, method, params = request.get("id"), request.get("method"), request.get("params", [])
        if req_id is not None and not isinstance(req_id, int | str):
            return _error(2, "Invalid request: request ID must be an unsigned integer", None)
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                return _error(2, "Invalid request: params must be a list of stream names", req_id)
            bad = [p for p in params if not self.valid(p)]
            if bad:
                return _error(2, f"Invalid request: unknown stream {bad[0]!r}", req_id)
            if method == "SUBSCRIBE":
                self._subscribe(conn, params)
            else:
                self._unsubscribe(conn, params)
            return _DUMPS({"result": None, "id": req_id})
        if method == "LIST_SUBSCRIPTIONS":
            return _DUMPS({"result": sorted(conn.streams), "id": req_id})
        if method == "GET_PROPERTY" and params == ["combined"]:
            return _DUMPS({"result": conn.combined, "id": req_id})
        if (
            method == "SET_PROPERTY"
            and isinstance(params, list)
            and len(params) == 2
            and params[0] == "combined"
        ):
            if not isinstance(params[1], bool):
                return _error(1, "Invalid value type: expected Boolean", req_id)
            conn.combined = params[1]
            return _DUMPS({"result": None, "id": req_id})
        return _error(2, f"Invalid request: unknown method {method!r}", req_id)


def _error(code: int, msg: str, req_id: object) -> str:
    return _DUMPS({"error": {"code": code, "msg": msg}, "id": req_id})
