"""Market streams and the user data stream through the unmodified ccxt.pro.binance class."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tradeops.sim.config import SimConfig
from tradeops.sim.server import RunningSim, start_sim
from tradeops.venue.sim_exchange import make_ccxt_exchange

pytestmark = pytest.mark.integration
S = "BTC/USDT"
KEY = "test-key-0001"
SECRET = "test-secret-0001-0123456789abcdef"


async def test_watch_ticker_and_trades(ccxt_factory: Any) -> None:
    ex = await ccxt_factory(pro=True)
    ticker = await asyncio.wait_for(ex.watch_ticker(S, {"name": "ticker"}), 10)
    assert ticker["symbol"] == S and 0 < ticker["bid"] < ticker["ask"]
    trades = await asyncio.wait_for(ex.watch_trades(S), 10)
    assert trades and all(t["symbol"] == S and t["price"] > 0 for t in trades)


@pytest.fixture
async def manual_sim() -> AsyncIterator[RunningSim]:
    """A simulator that only steps when the test says so."""
    running = await start_sim(SimConfig(seed=42), "127.0.0.1", 0, 0, step_ms=3_600_000)
    running.venue.add_key(KEY, SECRET)
    try:
        yield running
    finally:
        await running.close()


async def test_watch_order_book_matches_the_venue(manual_sim: RunningSim) -> None:
    ex = make_ccxt_exchange(manual_sim.url, KEY, SECRET, pro=True)
    ex.enableRateLimit = False

    async def stepper() -> None:
        for _ in range(500):
            manual_sim.venue.step()
            await asyncio.sleep(0.02)

    stepping = asyncio.create_task(stepper())
    try:
        await asyncio.wait_for(ex.watch_order_book(S), 10)
        stepping.cancel()
        await asyncio.sleep(0.3)  # let diffs in flight arrive
        for _ in range(5):
            manual_sim.venue.step()
            book = await asyncio.wait_for(ex.watch_order_book(S), 5)
            snapshot = manual_sim.venue.depth("BTCUSDT", 1000)
            if book["nonce"] == snapshot["lastUpdateId"]:
                break
        assert book["nonce"] == snapshot["lastUpdateId"]
        assert book["bids"] == [[float(p), float(q)] for p, q in snapshot["bids"]]
        assert book["asks"] == [[float(p), float(q)] for p, q in snapshot["asks"]]
    finally:
        stepping.cancel()
        await ex.close()


async def _user_subscribed(admin: Any) -> bool:
    return bool((await admin.call("GET", "/streams"))[1]["user_subscriptions"] > 0)


async def test_watch_orders_and_balance(ccxt_factory: Any, admin: Any, eventually: Any) -> None:
    ex = await ccxt_factory(pro=True)
    orders = asyncio.ensure_future(ex.watch_orders(S))
    await eventually(lambda: _user_subscribed(admin))
    balance = asyncio.ensure_future(ex.watch_balance())
    price = float(ex.price_to_precision(S, (await ex.fetch_ticker(S))["bid"] * 0.9))
    placed = await ex.create_order(S, "limit", "buy", 0.01, price)
    seen = await asyncio.wait_for(orders, 5)
    assert [o["id"] for o in seen] == [placed["id"]] and seen[0]["status"] == "open"
    assert (await asyncio.wait_for(balance, 5))["USDT"]["used"] == pytest.approx(0.01 * price)
    await ex.cancel_order(placed["id"], S)
    for _ in range(5):
        update = await asyncio.wait_for(ex.watch_orders(S), 5)
        if update[-1]["status"] == "canceled":
            break
    assert update[-1]["id"] == placed["id"] and update[-1]["status"] == "canceled"


async def test_dropped_execution_reports(ccxt_factory: Any, admin: Any, eventually: Any) -> None:
    ex = await ccxt_factory(pro=True)
    orders = asyncio.ensure_future(ex.watch_orders(S))
    await eventually(lambda: _user_subscribed(admin))
    await admin.faults({"kind": "drop_user_events", "event_types": ["executionReport"]})
    price = float(ex.price_to_precision(S, (await ex.fetch_ticker(S))["bid"] * 0.9))
    lost = await ex.create_order(S, "limit", "buy", 0.01, price)
    await asyncio.sleep(1.0)
    assert not orders.done()
    assert (await admin.call("GET", "/streams"))[1]["user_events_dropped"] >= 1
    assert lost["id"] in [o["id"] for o in await ex.fetch_open_orders(S)]
    await admin.call("DELETE", "/faults")
    kept = await ex.create_order(S, "limit", "buy", 0.01, price)
    assert [o["id"] for o in await asyncio.wait_for(orders, 5)] == [kept["id"]]


async def test_stalled_md_feed_while_main_flows(ccxt_factory: Any, admin: Any) -> None:
    main = await ccxt_factory(pro=True)
    backup = await ccxt_factory(pro=True, md=True)
    await asyncio.wait_for(main.watch_trades(S), 10)
    await asyncio.wait_for(backup.watch_trades(S), 10)
    ports = {c["port"] for c in (await admin.call("GET", "/streams"))[1]["market"]}
    assert ports == {"main", "md"}
    await admin.faults({"kind": "stream_stall", "port": "md"})
    await asyncio.sleep(0.2)
    stalled = asyncio.ensure_future(backup.watch_trades(S))
    fresh = await asyncio.wait_for(main.watch_trades(S), 5)
    assert fresh
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.shield(stalled), 1.0)
    await admin.call("DELETE", "/faults")
    assert await asyncio.wait_for(stalled, 5)


async def test_a_socket_opened_during_a_stall_is_stalled_from_its_first_message(
    sim: RunningSim, admin: Any
) -> None:
    await admin.faults({"kind": "stream_stall", "port": "md"})
    async with aiohttp.ClientSession() as http:
        md = await http.ws_connect(sim.md_url.replace("http", "ws") + "/ws/btcusdt@trade")
        with pytest.raises(TimeoutError):  # no burst of data before the next fault tick
            await md.receive(timeout=0.5)
        await md.close()


async def test_md_port_disconnects_every_n_seconds(sim: RunningSim, admin: Any) -> None:
    await admin.faults({"kind": "stream_disconnect", "port": "md", "every_s": 0.5})
    async with aiohttp.ClientSession() as http:
        md = await http.ws_connect(sim.md_url.replace("http", "ws") + "/ws/btcusdt@trade")
        main = await http.ws_connect(sim.url.replace("http", "ws") + "/ws/btcusdt@trade")
        started = time.monotonic()
        while not md.closed and time.monotonic() - started < 5:
            await md.receive(timeout=5)
        assert md.closed and md.close_code == 1001
        assert not main.closed
        msg = await main.receive(timeout=5)
        assert json.loads(msg.data)["e"] == "trade"
        await main.close()


async def test_raw_stream_protocol(sim: RunningSim) -> None:
    base = sim.url.replace("http", "ws")
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(base + "/stream?streams=btcusdt@trade/ethusdt@bookTicker")
        await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 1})
        await ws.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@nope"], "id": 2})
        await ws.send_json({"method": "UNSUBSCRIBE", "params": ["ethusdt@bookTicker"], "id": 3})
        replies: dict[int, Any] = {}
        streams = set()
        for _ in range(500):
            msg = json.loads((await ws.receive(timeout=5)).data)
            if "id" in msg:
                replies[msg["id"]] = msg
            else:
                assert msg["data"]["s"] in ("BTCUSDT", "ETHUSDT")
                streams.add(msg["stream"])
            if len(replies) == 3 and "btcusdt@trade" in streams:
                break
        assert replies[1]["result"] == ["btcusdt@trade", "ethusdt@bookTicker"]
        assert replies[2]["error"]["code"] == 2
        assert replies[3] == {"result": None, "id": 3}
        await ws.close()


async def test_ws_api_signature_checks(sim: RunningSim) -> None:
    params: dict[str, Any] = {"apiKey": KEY, "timestamp": int(time.time() * 1000)}
    payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    signature = hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()
    good = {**params, "signature": signature}
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(sim.url.replace("http", "ws") + "/ws-api/v3")
        requests = [
            {
                "id": "a",
                "method": "userDataStream.subscribe.signature",
                "params": {**good, "signature": "00"},
            },
            {"id": "b", "method": "userDataStream.subscribe.signature", "params": {**good, "apiKey": "nope"}},
            {"id": "c", "method": "userDataStream.subscribe.signature", "params": good},
            {"id": "d", "method": "session.subscriptions", "params": {}},
            {"id": "e", "method": "no.such.method"},
        ]
        replies = {}
        for request in requests:
            await ws.send_json(request)
            reply = json.loads((await ws.receive(timeout=5)).data)
            replies[reply["id"]] = reply
        assert replies["a"]["error"]["code"] == -1022
        assert replies["b"]["status"] == 401 and replies["b"]["error"]["code"] == -2015
        sub_id = replies["c"]["result"]["subscriptionId"]
        assert replies["d"]["result"] == [{"subscriptionId": sub_id}]
        assert replies["e"]["status"] == 400
        await ws.close()
