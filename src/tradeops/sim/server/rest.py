"""REST `/api/v3/...`: the endpoint table (weights, security) and the request pipeline with its faults."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web

from tradeops.sim.errors import SimError, illegal_chars, invalid_symbol
from tradeops.sim.params import Params
from tradeops.sim.server.auth import parse_params, verify_rest
from tradeops.sim.server.weights import Weigher, by_symbol, depth_weight, fixed

if TYPE_CHECKING:
    from tradeops.sim.server.app import SimServer
    from tradeops.sim.venue import SimVenue

log = logging.getLogger(__name__)

Call = Callable[["SimVenue", str, dict[str, str]], Any]
Effect = Literal["none", "submit", "cancel"]
JSON_TYPE = "application/json"


def _default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_default).encode


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One REST endpoint: Binance request weight, whether it is SIGNED, what faults can hit it."""

    method: str
    path: str
    weight: Weigher
    call: Call
    signed: bool = False
    effect: Effect = "none"


def _limit(params: Params, default: int, maximum: int) -> int:
    value = params.integer("limit")
    if value is None:
        return default
    if not 1 <= value <= maximum:
        raise SimError(
            -1100, f"Illegal characters found in parameter 'limit'; legal range is '1..{maximum}'."
        )
    return value


def _symbols(params: Params) -> list[str] | None:
    """The ``symbols=["BTCUSDT",...]`` JSON array parameter, if sent."""
    raw = params.text("symbols")
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        raise illegal_chars("symbols", '["SYMBOL",...]') from None
    if not isinstance(value, list) or not value or not all(isinstance(s, str) for s in value):
        raise illegal_chars("symbols", '["SYMBOL",...]')
    return value


def _per_symbol(read: Callable[[str | None], Any]) -> Call:
    """A read that takes ``symbol`` or ``symbols`` or neither (all symbols)."""

    def call(_venue: SimVenue, _key: str, raw: dict[str, str]) -> Any:
        params = Params(raw)
        symbols = _symbols(params)
        if symbols is None:
            return read(params.text("symbol"))
        return [read(symbol) for symbol in symbols]

    return call


def _exchange_info(venue: SimVenue, _key: str, raw: dict[str, str]) -> Any:
    params = Params(raw)
    symbols = _symbols(params)
    info = venue.exchange_info(params.text("symbol"))
    if symbols is not None:
        listed = {s["symbol"]: s for s in info["symbols"]}
        missing = [s for s in symbols if s not in listed]
        if missing:
            raise invalid_symbol()
        info = {**info, "symbols": [listed[s] for s in symbols]}
    return info


def _depth(venue: SimVenue, _key: str, raw: dict[str, str]) -> Any:
    return venue.depth(Params(raw).required("symbol"), raw.get("limit"))


def _trades(venue: SimVenue, _key: str, raw: dict[str, str]) -> Any:
    return venue.recent_trades(Params(raw).required("symbol"), raw.get("limit"))


def _agg_trades(venue: SimVenue, _key: str, raw: dict[str, str]) -> Any:
    """``aggTrades`` from the recent tape: every print is its own aggregate (``a == f == l == id``)."""
    params = Params(raw)
    symbol = params.required("symbol")
    from_id, start, end = params.integer("fromId"), params.integer("startTime"), params.integer("endTime")
    limit = _limit(params, 500, 1000)
    rows = []
    for t in venue.recent_trades(symbol, 1000):
        if (from_id is not None and t["id"] < from_id) or (start is not None and t["time"] < start):
            continue
        if end is not None and t["time"] > end:
            continue
        rows.append(
            {
                "a": t["id"],
                "p": t["price"],
                "q": t["qty"],
                "f": t["id"],
                "l": t["id"],
                "T": t["time"],
                "m": t["isBuyerMaker"],
                "M": t["isBestMatch"],
            }
        )
    return rows[:limit] if from_id is not None or start is not None else rows[-limit:]


def _klines(venue: SimVenue, _key: str, raw: dict[str, str]) -> Any:
    return venue.klines(
        Params(raw).required("symbol"),
        Params(raw).required("interval"),
        raw.get("startTime"),
        raw.get("endTime"),
        raw.get("limit"),
    )


def _signed(name: str) -> Call:
    """A trading/account call forwarded to the venue method ``name(api_key, params)``."""

    def call(venue: SimVenue, api_key: str, raw: dict[str, str]) -> Any:
        forwarded = {k: v for k, v in raw.items() if k not in ("signature", "timestamp", "recvWindow")}
        return getattr(venue, name)(api_key, forwarded)

    return call


def endpoints() -> list[Endpoint]:
    """Every REST endpoint with Binance's published request weight."""
    return [
        Endpoint("GET", "/api/v3/ping", fixed(1), lambda _v, _k, _p: {}),
        Endpoint("GET", "/api/v3/time", fixed(1), lambda v, _k, _p: {"serverTime": v.server_time()}),
        Endpoint("GET", "/api/v3/exchangeInfo", fixed(20), _exchange_info),
        Endpoint("GET", "/api/v3/depth", depth_weight, _depth),
        Endpoint("GET", "/api/v3/trades", fixed(25), _trades),
        Endpoint("GET", "/api/v3/aggTrades", fixed(4), _agg_trades),
        Endpoint("GET", "/api/v3/klines", fixed(2), _klines),
        Endpoint(
            "GET", "/api/v3/ticker/24hr", by_symbol(2, 80), lambda v, k, p: _per_symbol(v.ticker_24h)(v, k, p)
        ),
        Endpoint(
            "GET",
            "/api/v3/ticker/bookTicker",
            by_symbol(2, 4),
            lambda v, k, p: _per_symbol(v.book_ticker)(v, k, p),
        ),
        Endpoint("POST", "/api/v3/order", fixed(1), _signed("new_order"), True, "submit"),
        Endpoint("GET", "/api/v3/order", fixed(4), _signed("query_order"), True),
        Endpoint("DELETE", "/api/v3/order", fixed(1), _signed("cancel_order"), True, "cancel"),
        Endpoint("GET", "/api/v3/openOrders", by_symbol(6, 80), _signed("open_orders"), True),
        Endpoint("DELETE", "/api/v3/openOrders", fixed(1), _signed("cancel_open_orders"), True, "cancel"),
        Endpoint("GET", "/api/v3/allOrders", fixed(20), _signed("all_orders"), True),
        Endpoint("GET", "/api/v3/myTrades", fixed(20), _signed("my_trades"), True),
        Endpoint("POST", "/api/v3/order/oco", fixed(1), _signed("new_oco"), True, "submit"),
        Endpoint("POST", "/api/v3/orderList/oco", fixed(1), _signed("new_oco"), True, "submit"),
        Endpoint("GET", "/api/v3/orderList", fixed(4), _signed("query_order_list"), True),
        Endpoint("DELETE", "/api/v3/orderList", fixed(1), _signed("cancel_order_list"), True, "cancel"),
        Endpoint("GET", "/api/v3/openOrderList", fixed(6), _signed("open_order_lists"), True),
        Endpoint("GET", "/api/v3/account", fixed(20), lambda v, k, _p: v.account(k), True),
    ]


def error_response(exc: SimError, headers: Mapping[str, str] | None = None) -> web.Response:
    """A Binance error body with the error's HTTP status."""
    return web.Response(
        status=exc.http_status, text=dumps(exc.to_json()), content_type=JSON_TYPE, headers=headers
    )


class RestApi:
    """Runs one REST request: params, weight, latency, 5xx, auth, venue call, lost-response faults."""

    def __init__(self, server: SimServer) -> None:
        self._server = server

    def register(self, app: web.Application) -> None:
        """Add every endpoint to ``app``'s router."""
        for endpoint in endpoints():
            app.router.add_route(endpoint.method, endpoint.path, self._handler(endpoint))

    def _handler(self, endpoint: Endpoint) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await self._run(endpoint, request)

        return handler

    async def _run(self, endpoint: Endpoint, request: web.Request) -> web.StreamResponse:
        server = self._server
        faults, clock = server.faults, server.clock
        api_key = request.headers.get("X-MBX-APIKEY")
        known = api_key is not None and server.venue.secret_for(api_key) is not None
        client = f"key:{api_key}" if known else f"ip:{request.remote}"
        query = request.rel_url.raw_query_string
        body = await request.text() if request.body_exists else ""
        early: SimError | None = None
        try:
            params = parse_params(query, body)
            weight = endpoint.weight(params)
        except SimError as exc:
            params, weight, early = {}, 1, exc
        verdict = server.limiter.charge(client, weight, clock())
        headers = {"X-MBX-USED-WEIGHT-1M": str(verdict.used)}
        if verdict.status != 200:
            headers["Retry-After"] = str(verdict.retry_after_s)
            return error_response(_limit_error(verdict.status, server.limiter.per_minute), headers)
        if early is not None:
            return error_response(early, headers)
        delay = faults.latency_s(endpoint.method, endpoint.path)
        if delay > 0:
            await asyncio.sleep(delay)
        http_fault = faults.http_error(endpoint.method, endpoint.path)
        if http_fault is not None and not http_fault.after_processing:
            return _fault_response(http_fault.status, http_fault.body)
        try:
            if endpoint.signed:
                verify_rest(api_key, params, query, body, server.venue.secret_for, clock())
            result = endpoint.call(server.venue, api_key or "", params)
            text = dumps(result)
        except SimError as exc:
            return error_response(exc, headers)
        except Exception:
            log.exception("unexpected error on %s %s", endpoint.method, endpoint.path)
            return error_response(
                SimError(-1000, "An unknown error occurred while processing the request.", 500)
            )
        if http_fault is not None:
            return _fault_response(http_fault.status, http_fault.body)
        hold_ms = None
        if endpoint.effect == "submit":
            hold_ms = faults.submit_timeout_ms()
        elif endpoint.effect == "cancel":
            hold_ms = faults.cancel_timeout_ms()
        if hold_ms is not None:
            await _lose_response(request, hold_ms)
        return web.Response(text=text, content_type=JSON_TYPE, headers=headers)


def _limit_error(status: int, per_minute: int) -> SimError:
    if status == 418:
        return SimError(
            -1003, "Way too many requests; IP banned. Please use the websocket for live updates.", 418
        )
    return SimError(
        -1003,
        f"Too much request weight used; current limit is {per_minute} request weight per 1 MINUTE. "
        "Please use the websocket for live updates to avoid polling the API.",
        429,
    )


def _fault_response(status: int, body: str) -> web.Response:
    if body == "json":
        err = SimError(-1001, "Internal error; unable to process your request. Please try again.", status)
        return error_response(err)
    return web.Response(status=status, text=f"{status} Server Error", content_type="text/plain")


async def _lose_response(request: web.Request, hold_ms: int) -> None:
    """Hold the connection, then drop it without a response; ends the handler by cancellation."""
    await asyncio.sleep(hold_ms / 1000)
    transport = request.transport
    if transport is not None:
        transport.abort()
    raise asyncio.CancelledError
