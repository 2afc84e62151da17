"""Admin API under `/_sim/` (loopback only): ground truth, faults, prices, reset, API keys."""

from __future__ import annotations

import json
import secrets
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tradeops.sim.errors import SimError
from tradeops.sim.server.faults import FaultPlanError, parse_plan, validation_message
from tradeops.sim.server.rest import JSON_TYPE, dumps
from tradeops.sim.server.weights import DEFAULT_WEIGHT_PER_MINUTE

if TYPE_CHECKING:
    from tradeops.sim.server.app import SimServer

LOOPBACK = frozenset({"127.0.0.1", "::1"})
_DECIMAL = r"^-?[0-9]{1,20}(\.[0-9]{1,20})?$"


class KeyRequest(BaseModel):
    """``POST /_sim/keys``: both generated when absent; ``account_of`` shares another key's account."""

    model_config = ConfigDict(extra="forbid")
    api_key: str | None = Field(None, min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    secret: str | None = Field(None, min_length=16, max_length=128)
    balances: dict[str, str] | None = None
    account_of: str | None = None


class PriceRequest(BaseModel):
    """``POST /_sim/price``: set ``price``, or jump by ``jump_pct`` percent, and/or switch ``regime``."""

    model_config = ConfigDict(extra="forbid")
    symbol: str = Field(min_length=1, max_length=20)
    price: str | None = Field(None, pattern=_DECIMAL)
    jump_pct: str | None = Field(None, pattern=_DECIMAL)
    regime: str | None = Field(None, min_length=1, max_length=32)


def _bad(message: str) -> web.Response:
    return web.Response(status=400, text=dumps({"error": message}), content_type=JSON_TYPE)


def _ok(body: Any) -> web.Response:
    return web.Response(text=dumps(body), content_type=JSON_TYPE)


async def _json_body(request: web.Request) -> Any:
    text = await request.text()
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except ValueError as exc:
        raise _BadRequest(f"body is not valid JSON: {exc}") from None


class _BadRequest(Exception):
    pass


def _venue_symbol(symbol: str) -> str:
    return symbol.replace("/", "").upper()


class AdminApi:
    """Handlers of the `/_sim/` routes; every bad request gets a 400 that names the problem."""

    def __init__(self, server: SimServer) -> None:
        self._server = server

    def register(self, app: web.Application) -> None:
        """Add the admin routes to ``app``."""
        router = app.router
        router.add_get("/_sim/state", self.state)
        router.add_get("/_sim/faults", self.get_faults)
        router.add_post("/_sim/faults", self.post_faults)
        router.add_delete("/_sim/faults", self.delete_faults)
        router.add_post("/_sim/price", self.price)
        router.add_post("/_sim/reset", self.reset)
        router.add_get("/_sim/keys", self.get_keys)
        router.add_post("/_sim/keys", self.post_key)
        router.add_delete("/_sim/keys/{api_key}", self.delete_key)
        router.add_get("/_sim/streams", self.streams)

    @staticmethod
    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        """Loopback only; malformed JSON or venue refusals become 400s with a reason."""
        if not request.path.startswith("/_sim/"):
            response: web.StreamResponse = await handler(request)
            return response
        if request.remote not in LOOPBACK:
            return web.Response(status=403, text=dumps({"error": "admin API is loopback only"}))
        try:
            response = await handler(request)
        except _BadRequest as exc:
            return _bad(str(exc))
        except SimError as exc:
            status = exc.http_status if exc.http_status in (400, 404) else 400
            return web.Response(status=status, text=dumps({"error": exc.msg, "code": exc.code}))
        return response

    async def state(self, _request: web.Request) -> web.Response:
        return _ok(self._server.venue.state())

    async def get_faults(self, _request: web.Request) -> web.Response:
        return _ok({"faults": self._server.faults.describe()})

    async def post_faults(self, request: web.Request) -> web.Response:
        try:
            plan = parse_plan(await _json_body(request))
        except FaultPlanError as exc:
            return _bad(str(exc))
        server = self._server
        server.faults.configure(plan)
        self._apply_global_faults()
        return _ok({"faults": server.faults.describe()})

    async def delete_faults(self, _request: web.Request) -> web.Response:
        self._server.faults.clear()
        self._apply_global_faults()
        return _ok({"faults": []})

    def _apply_global_faults(self) -> None:
        server = self._server
        server.clock.skew_ms = server.faults.clock_skew_ms()
        limit = server.faults.weight_limit()
        if limit is None:
            server.limiter.configure(DEFAULT_WEIGHT_PER_MINUTE, 5, 60)
        else:
            server.limiter.configure(limit.per_minute, limit.ban_after, limit.ban_s)
        server.streams.apply_faults()

    async def price(self, request: web.Request) -> web.Response:
        try:
            body = PriceRequest.model_validate(await _json_body(request))
        except ValidationError as exc:
            return _bad(validation_message(exc))
        if body.price is None and body.jump_pct is None and body.regime is None:
            return _bad("give at least one of price, jump_pct, regime")
        if body.price is not None and body.jump_pct is not None:
            return _bad("give price or jump_pct, not both")
        result = self._server.venue.set_price(
            _venue_symbol(body.symbol),
            price=Decimal(body.price) if body.price is not None else None,
            jump_pct=Decimal(body.jump_pct) if body.jump_pct is not None else None,
            regime=body.regime,
        )
        return _ok(result if result is not None else {})

    async def reset(self, _request: web.Request) -> web.Response:
        server = self._server
        server.venue.reset()
        server.faults.clear()
        server.limiter.reset()
        self._apply_global_faults()
        return _ok({})

    async def get_keys(self, _request: web.Request) -> web.Response:
        return _ok({"keys": self._server.venue.keys()})

    async def post_key(self, request: web.Request) -> web.Response:
        try:
            body = KeyRequest.model_validate(await _json_body(request))
        except ValidationError as exc:
            return _bad(validation_message(exc))
        balances = None
        if body.balances is not None:
            balances = {}
            for asset, amount in body.balances.items():
                try:
                    balances[asset.upper()] = Decimal(amount)
                except ArithmeticError:
                    return _bad(f"balances.{asset}: {amount!r} is not a decimal")
                if not balances[asset.upper()].is_finite() or balances[asset.upper()] < 0:
                    return _bad(f"balances.{asset}: must be a finite amount >= 0")
        api_key = body.api_key or secrets.token_hex(16)
        secret = body.secret or secrets.token_hex(32)
        self._server.venue.add_key(api_key, secret, balances=balances, account_of=body.account_of)
        return _ok({"api_key": api_key, "secret": secret})

    async def delete_key(self, request: web.Request) -> web.Response:
        api_key = request.match_info["api_key"]
        self._server.venue.revoke_key(api_key)
        self._server.users.terminate_key(api_key)
        return _ok({"revoked": api_key})

    async def streams(self, _request: web.Request) -> web.Response:
        server = self._server
        return _ok(
            {
                "market": server.streams.connections(),
                "market_messages_sent": server.streams.sent,
                "user_subscriptions": server.users.subscriber_count(),
                "user_events_dropped": server.users.dropped,
            }
        )
