"""Binance error codes reach ccxt as the right exceptions; malformed input never yields a 500."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp
import ccxt
import pytest
from ccxt.async_support import binance

from tradeops.sim.server import RunningSim
from tradeops.venue.sim_exchange import make_ccxt_exchange

pytestmark = pytest.mark.integration
S = "BTC/USDT"
KEY = "test-key-0001"
SECRET = "test-secret-0001-0123456789abcdef"


async def test_order_errors_map_to_ccxt(ex: binance) -> None:
    with pytest.raises(ccxt.InsufficientFunds):
        await ex.create_order(S, "market", "buy", 100)
    with pytest.raises(ccxt.InvalidOrder):  # PRICE_FILTER: above maxPrice
        await ex.create_order(S, "limit", "buy", 0.001, 2_000_000)
    with pytest.raises(ccxt.OrderNotFound):
        await ex.fetch_order("987654321", S)
    with pytest.raises(ccxt.OrderNotFound):
        await ex.cancel_order("987654321", S)
    price = float(ex.price_to_precision(S, (await ex.fetch_ticker(S))["bid"] * 0.9))
    await ex.create_order(S, "limit", "buy", 0.001, price, {"clientOrderId": "dup-1"})
    with pytest.raises(ccxt.InvalidOrder):
        await ex.create_order(S, "limit", "buy", 0.001, price, {"clientOrderId": "dup-1"})


async def test_authentication_errors(sim: RunningSim, ex: binance) -> None:
    wrong_secret = make_ccxt_exchange(sim.url, KEY, "not-the-secret")
    unknown_key = make_ccxt_exchange(sim.url, "no-such-key", SECRET)
    try:
        with pytest.raises(ccxt.AuthenticationError, match="-1022"):
            await wrong_secret.fetch_balance()
        with pytest.raises(ccxt.AuthenticationError, match="-2015"):
            await unknown_key.fetch_balance()
    finally:
        await wrong_secret.close()
        await unknown_key.close()


async def test_clock_skew_gives_invalid_nonce(ex: binance, admin: Any) -> None:
    await admin.faults({"kind": "clock_skew", "ms": 30_000})
    assert await ex.fetch_time() - time.time() * 1000 > 25_000
    with pytest.raises(ccxt.InvalidNonce):
        await ex.fetch_balance()
    await admin.call("DELETE", "/faults")
    assert (await ex.fetch_balance())["USDT"]["free"] > 0


async def test_rate_limit_429_then_418(sim: RunningSim, ex: binance, admin: Any) -> None:
    if time.time() % 60 > 58:  # keep the whole test inside one weight minute
        await asyncio.sleep(60 - time.time() % 60 + 0.05)
    statuses = []
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{sim.url}/api/v3/ping") as r:
            used = int(r.headers["X-MBX-USED-WEIGHT-1M"])
        await admin.faults({"kind": "weight_limit", "per_minute": used + 40, "ban_after": 2, "ban_s": 30})
        for _ in range(12):
            async with http.get(f"{sim.url}/api/v3/depth", params={"symbol": "BTCUSDT", "limit": "5"}) as r:
                statuses.append(r.status)
                assert int(r.headers["X-MBX-USED-WEIGHT-1M"]) > used
                if r.status in (418, 429):
                    assert int(r.headers["Retry-After"]) >= 1
                    assert (await r.json())["code"] == -1003
    assert statuses == [200] * 8 + [429, 429, 418, 418]
    with pytest.raises(ccxt.DDoSProtection):  # the key has its own budget; weight 20 per call
        for _ in range(10):
            await ex.fetch_balance()


async def test_maintenance_is_503(ex: binance, admin: Any) -> None:
    await admin.faults({"kind": "maintenance", "duration_s": 30})
    with pytest.raises(ccxt.OnMaintenance):
        await ex.fetch_ticker(S)
    with pytest.raises(ccxt.ExchangeNotAvailable):
        await ex.create_order(S, "market", "buy", 0.001)
    await admin.call("DELETE", "/faults")
    assert (await ex.fetch_ticker(S))["last"] > 0


def _signed(params: dict[str, str], secret: str = SECRET) -> str:
    query = urlencode({**params, "timestamp": str(int(time.time() * 1000))})
    return query + "&signature=" + hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()


MALFORMED: list[tuple[str, str, str, int]] = [
    ("POST", "order", "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=abc&price=100&timeInForce=GTC", -1100),
    ("POST", "order", "side=BUY&type=MARKET&quantity=0.001", -1102),
    ("POST", "order", "symbol=BTCUSDT&side=UP&type=MARKET&quantity=0.001", -1117),
    ("POST", "order", "symbol=NOPE&side=BUY&type=MARKET&quantity=0.001", -1121),
    ("POST", "order", "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=0.001&price=100", -1102),
    ("POST", "order", "symbol=BTCUSDT&side=BUY&type=BOGUS&quantity=0.001", -1116),
    ("POST", "order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001&quantity=1", -1101),
    ("POST", "order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=", -1105),
    ("GET", "order", "symbol=BTCUSDT&orderId=-5", -1100),
    ("GET", "order", "symbol=BTCUSDT", -1102),
    ("DELETE", "order", "symbol=BTCUSDT&orderId=12x", -1100),
    ("GET", "allOrders", "symbol=BTCUSDT&limit=zz", -1100),
    ("GET", "myTrades", "", -1102),
]


@pytest.mark.parametrize(("method", "path", "params", "code"), MALFORMED)
async def test_malformed_signed_params(
    sim: RunningSim, method: str, path: str, params: str, code: int
) -> None:
    raw = (params + "&" if params else "") + f"timestamp={int(time.time() * 1000)}"
    query = raw + "&signature=" + hmac.new(SECRET.encode(), raw.encode(), hashlib.sha256).hexdigest()
    async with (
        aiohttp.ClientSession(headers={"X-MBX-APIKEY": KEY}) as http,
        http.request(method, f"{sim.url}/api/v3/{path}?{query}") as r,
    ):
        body = await r.json()
        assert 400 <= r.status < 500, body
        assert body["code"] == code, body


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("depth?limit=10", -1102),
        ("depth?symbol=BTCUSDT&limit=x", -1100),
        ("depth?symbol=ZZZ", -1121),
        ("klines?symbol=BTCUSDT&interval=7q", -1120),
        ("trades?symbol=BTCUSDT&limit=abc", -1100),
        ("ticker/24hr?symbols=notjson", -1100),
        ("order?symbol=BTCUSDT&orderId=1", -2014),
    ],
)
async def test_malformed_public_params(sim: RunningSim, path: str, code: int) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{sim.url}/api/v3/{path}") as r:
        body = await r.json()
        assert 400 <= r.status < 500 and body["code"] == code, body


async def test_signature_and_timestamp_rules(sim: RunningSim) -> None:
    stale = "symbol=BTCUSDT&timestamp=" + str(int(time.time() * 1000) - 20_000)
    stale += "&signature=" + hmac.new(SECRET.encode(), stale.encode(), hashlib.sha256).hexdigest()
    cases = [
        (f"{_signed({'symbol': 'BTCUSDT'})}0", -1022),
        ("symbol=BTCUSDT&timestamp=1", -1102),
        (stale, -1021),
        (_signed({"symbol": "BTCUSDT", "recvWindow": "70000"}), -1131),
    ]
    async with aiohttp.ClientSession(headers={"X-MBX-APIKEY": KEY}) as http:
        for query, code in cases:
            async with http.get(f"{sim.url}/api/v3/openOrders?{query}") as r:
                assert (await r.json())["code"] == code
        body = _signed({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET"})
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        async with http.post(f"{sim.url}/api/v3/order?quantity=0.001", data=body, headers=form) as r:
            assert r.status == 400 and (await r.json())["code"] == -1022  # query+body signed together
        query, body = (
            "symbol=BTCUSDT&side=BUY",
            f"type=MARKET&quantity=0.001&timestamp={int(time.time() * 1000)}",
        )
        signature = hmac.new(SECRET.encode(), (query + body).encode(), hashlib.sha256).hexdigest()
        async with http.post(
            f"{sim.url}/api/v3/order?{query}", data=f"{body}&signature={signature}", headers=form
        ) as r:
            assert r.status == 200 and (await r.json())["status"] == "FILLED"
