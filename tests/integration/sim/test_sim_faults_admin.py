"""Faults as ccxt sees them, the admin API's ground truth, validation and key rotation."""

from __future__ import annotations

import time
from typing import Any

import ccxt
import pytest

from tradeops.sim.server import RunningSim

pytestmark = pytest.mark.integration
S = "BTC/USDT"


async def _far_bid(ex: Any) -> float:
    return float(ex.price_to_precision(S, (await ex.fetch_ticker(S))["bid"] * 0.9))


def _orders_by_client_id(state: dict[str, Any], client_id: str) -> list[dict[str, Any]]:
    return [o for o in state["orders"] if o["clientOrderId"] == client_id]


async def test_submit_then_timeout(ccxt_factory: Any, admin: Any) -> None:
    ex = await ccxt_factory()
    ex.timeout = 800
    await admin.faults({"kind": "submit_timeout", "hold_ms": 1500, "count": 1})
    with pytest.raises(ccxt.RequestTimeout):
        await ex.create_order(S, "market", "buy", 0.001, None, {"clientOrderId": "lost-1"})
    _, state = await admin.call("GET", "/state")
    [order] = _orders_by_client_id(state, "lost-1")
    assert order["status"] == "FILLED" and order["apiKey"] == "test-key-0001"
    second = await ex.create_order(S, "market", "buy", 0.001)  # count=1: the fault is spent
    assert second["status"] == "closed"
    _, faults = await admin.call("GET", "/faults")
    assert faults["faults"][0]["fired"] == 1


async def test_cancel_then_timeout(ccxt_factory: Any, admin: Any) -> None:
    ex = await ccxt_factory()
    ex.timeout = 800
    order = await ex.create_order(S, "limit", "buy", 0.001, await _far_bid(ex), {"clientOrderId": "c-1"})
    await admin.faults({"kind": "cancel_timeout", "hold_ms": 1500})
    with pytest.raises(ccxt.NetworkError):
        await ex.cancel_order(order["id"], S)
    _, state = await admin.call("GET", "/state")
    assert _orders_by_client_id(state, "c-1")[0]["status"] == "CANCELED"


async def test_http_5xx_and_latency(ex: Any, admin: Any) -> None:
    await admin.faults(
        {"kind": "http_error", "status": 502, "endpoint": "POST /api/v3/order", "after_processing": True},
        {"kind": "latency", "ms": 300, "jitter_ms": 20, "endpoint": "/api/v3/time"},
    )
    with pytest.raises(ccxt.ExchangeNotAvailable):
        await ex.create_order(S, "limit", "buy", 0.001, await _far_bid(ex), {"clientOrderId": "x-502"})
    _, state = await admin.call("GET", "/state")
    assert _orders_by_client_id(state, "x-502")[0]["status"] == "NEW"  # processed, answer lost
    started = time.monotonic()
    await ex.fetch_time()
    assert time.monotonic() - started >= 0.25


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"faults": [{"kind": "meteor"}]}, "faults.0"),
        ({"faults": [{"kind": "http_error", "probability": 2}]}, "probability"),
        ({"faults": [{"kind": "latency", "ms": 5, "endpoint": "order"}]}, "endpoint"),
        ({"faults": [{"kind": "stream_stall", "port": "backup"}]}, "port"),
        ({"faults": [], "surprise": 1}, "surprise"),
        ("not an object", "body"),
    ],
)
async def test_bad_fault_plans_are_400(admin: Any, body: Any, needle: str) -> None:
    status, reply = await admin.call("POST", "/faults", body)
    assert status == 400 and needle in reply["error"]


async def test_bad_admin_requests_are_400(admin: Any) -> None:
    assert (await admin.call("POST", "/price", {"symbol": "BTC/USDT"}))[0] == 400
    status, reply = await admin.call("POST", "/price", {"symbol": "NOPE/USDT", "price": "5"})
    assert status == 400 and "symbol" in reply["error"].lower()
    status, reply = await admin.call("POST", "/price", {"symbol": "BTC/USDT", "price": "abc"})
    assert status == 400 and "price" in reply["error"]
    status, reply = await admin.call("POST", "/keys", {"balances": {"USDT": "lots"}})
    assert status == 400 and "USDT" in reply["error"]
    assert (await admin.call("DELETE", "/keys/never-issued"))[0] == 404


async def test_price_reset_and_key_rotation(sim: RunningSim, ex: Any, admin: Any, ccxt_factory: Any) -> None:
    status, moved = await admin.call(
        "POST", "/price", {"symbol": "BTC/USDT", "price": "70000", "regime": "calm"}
    )
    assert status == 200 and moved["mid"].startswith("70000")
    status, issued = await admin.call("POST", "/keys", {"balances": {"USDT": "250"}})
    assert status == 200
    rotated, after_revoke = await ccxt_factory(), await ccxt_factory()
    for client in (rotated, after_revoke):
        client.apiKey, client.secret = issued["api_key"], issued["secret"]
    assert (await rotated.fetch_balance())["USDT"]["free"] == 250
    assert (await admin.call("DELETE", f"/keys/{issued['api_key']}"))[0] == 200
    with pytest.raises(ccxt.DDoSProtection, match="-2015"):  # ccxt reads -2015 after success as a ban
        await rotated.fetch_balance()
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        await after_revoke.fetch_balance()
    await ex.create_order(S, "market", "buy", 0.001)
    assert (await admin.call("POST", "/reset"))[0] == 200
    _, state = await admin.call("GET", "/state")
    assert state["balances"]["test-key-0001"]["USDT"]["free"] == "100000.00000000"
