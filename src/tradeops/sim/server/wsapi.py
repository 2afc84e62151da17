"""WebSocket API (`/ws-api/v3`): signed user-data-stream subscriptions and the delivery of user events."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from tradeops.sim.errors import SimError
from tradeops.sim.server.auth import SecretLookup, verify_ws
from tradeops.sim.server.faults import FaultInjector
from tradeops.sim.server.streams import Outbox

log = logging.getLogger(__name__)
_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class _Session:
    __slots__ = ("outbox", "subscriptions")

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self.subscriptions: dict[int, str] = {}  # subscriptionId -> api key


class UserStreamHub:
    """Who listens to which API key's user events, and the WS-API request handling."""

    def __init__(self, secret_for: SecretLookup, clock: Callable[[], int], faults: FaultInjector) -> None:
        self._secret_for = secret_for
        self._clock = clock
        self._faults = faults
        self._by_key: dict[str, list[tuple[_Session, int]]] = {}
        self._ids = itertools.count(0)
        self._sessions: set[_Session] = set()
        self.dropped = 0

    def publish(self, api_key: str | None, payload: dict[str, Any]) -> None:
        """Deliver one user event to every subscription of ``api_key`` unless a fault drops it."""
        subs = self._by_key.get(api_key) if api_key is not None else None
        if not subs:
            return
        if self._faults.drop_user_event(api_key, str(payload.get("e"))):
            self.dropped += 1
            return
        raw = _DUMPS(payload)
        for session, sub_id in subs:
            session.outbox.push(f'{{"subscriptionId":{sub_id},"event":{raw}}}')

    def terminate_key(self, api_key: str) -> None:
        """End every subscription of a revoked key with Binance's ``eventStreamTerminated``."""
        for session, sub_id in self._by_key.pop(api_key, []):
            session.subscriptions.pop(sub_id, None)
            event = {"e": "eventStreamTerminated", "E": self._clock()}
            session.outbox.push(_DUMPS({"subscriptionId": sub_id, "event": event}))

    def subscriber_count(self) -> int:
        """Open user-data subscriptions (for ``/_sim/streams``)."""
        return sum(len(v) for v in self._by_key.values())

    def _add(self, session: _Session, api_key: str) -> int:
        sub_id = next(self._ids)
        session.subscriptions[sub_id] = api_key
        self._by_key.setdefault(api_key, []).append((session, sub_id))
        return sub_id

    def _remove(self, session: _Session, sub_id: int) -> bool:
        api_key = session.subscriptions.pop(sub_id, None)
        if api_key is None:
            return False
        remaining = [(s, i) for s, i in self._by_key.get(api_key, []) if i != sub_id]
        if remaining:
            self._by_key[api_key] = remaining
        else:
            self._by_key.pop(api_key, None)
        return True

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """Serve one WS-API socket until the client leaves."""
        ws = web.WebSocketResponse(autoping=True, max_msg_size=65536)
        await ws.prepare(request)
        session = _Session(Outbox(ws))
        self._sessions.add(session)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    session.outbox.push(self._request(session, msg.data))
        finally:
            self._sessions.discard(session)
            for sub_id in list(session.subscriptions):
                self._remove(session, sub_id)
            await session.outbox.close()
        return ws

    async def close_all(self) -> None:
        """Close every WS-API socket (server shutdown)."""
        for session in list(self._sessions):
            await session.outbox.ws.close(code=WSCloseCode.GOING_AWAY)

    def _request(self, session: _Session, text: str) -> str:
        try:
            request = json.loads(text)
        except ValueError:
            return _reply(None, 400, error=SimError(-1000, "Malformed request: invalid JSON."))
        if not isinstance(request, dict):
            return _reply(None, 400, error=SimError(-1000, "Malformed request: expected an object."))
        req_id = request.get("id")
        method, params = request.get("method"), request.get("params", {})
        if not isinstance(params, dict):
            return _reply(req_id, 400, error=SimError(-1000, "Malformed request: params must be an object."))
        try:
            return _reply(req_id, 200, result=self._dispatch(session, method, params))
        except SimError as exc:
            return _reply(req_id, exc.http_status, error=exc)

    def _dispatch(self, session: _Session, method: object, params: dict[str, Any]) -> Any:
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": self._clock()}
        if method == "userDataStream.subscribe.signature":
            api_key = verify_ws(params, self._secret_for, self._clock())
            return {"subscriptionId": self._add(session, api_key)}
        if method == "userDataStream.unsubscribe":
            raw = params.get("subscriptionId")
            if raw is None:
                for sub_id in list(session.subscriptions):
                    self._remove(session, sub_id)
                return {}
            if not isinstance(raw, int) or not self._remove(session, raw):
                raise SimError(-2011, "Invalid subscriptionId.")
            return {}
        if method == "session.subscriptions":
            return [{"subscriptionId": sub_id} for sub_id in sorted(session.subscriptions)]
        raise SimError(-1020, f"Unsupported method {method!r}.")


def _reply(req_id: object, status: int, *, result: Any = None, error: SimError | None = None) -> str:
    if error is not None:
        return _DUMPS({"id": req_id, "status": status, "error": error.to_json()})
    return _DUMPS({"id": req_id, "status": status, "result": result})
