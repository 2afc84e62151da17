"""Every REST endpoint of the simulator through the unmodified ccxt.binance class."""

from __future__ import annotations

import time
from typing import Any

import ccxt
import pytest
from ccxt.async_support import binance

pytestmark = pytest.mark.integration
S = "BTC/USDT"


async def _mid(ex: binance) -> float:
    ticker = await ex.fetch_ticker(S)
    return (float(ticker["bid"]) + float(ticker["ask"])) / 2


def _px(ex: binance, price: float) -> float:
    return float(ex.price_to_precision(S, price))


async def test_market_data(ex: binance, eventually: Any) -> None:
    assert {"BTC/USDT", "ETH/USDT", "SOL/USDT"} <= set(ex.markets)
    assert ex.markets[S]["precision"]["price"] == 0.01
    ticker = await ex.fetch_ticker(S)
    assert 0 < ticker["bid"] < ticker["ask"] and ticker["last"] > 0
    book = await ex.fetch_order_book(S, limit=10)
    assert len(book["bids"]) == 10 and len(book["asks"]) == 10
    assert book["bids"][0][0] < book["asks"][0][0]
    assert [b[0] for b in book["bids"]] == sorted((b[0] for b in book["bids"]), reverse=True)

    async def has_trades() -> bool:
        return len(await ex.fetch_trades(S, limit=20)) > 0

    await eventually(has_trades)
    trades = await ex.fetch_trades(S, limit=20)
    assert all(t["symbol"] == S and t["amount"] > 0 for t in trades)
    candles = await ex.fetch_ohlcv(S, "1m", limit=5)
    assert candles and all(len(c) == 6 and c[2] >= c[3] for c in candles)
    assert abs(await ex.fetch_time() - time.time() * 1000) < 2000
    balance = await ex.fetch_balance()
    assert balance["USDT"]["free"] == 100000 and balance["BTC"]["total"] == 1


async def test_limit_gtc_lifecycle(ex: binance) -> None:
    price = float(ex.price_to_precision(S, await _mid(ex) * 0.9))
    order = await ex.create_order(S, "limit", "buy", 0.01, price, {"clientOrderId": "gtc-1"})
    assert order["status"] == "open" and order["clientOrderId"] == "gtc-1"
    assert (await ex.fetch_order(order["id"], S))["status"] == "open"
    by_client = await ex.fetch_order("", S, {"origClientOrderId": "gtc-1"})
    assert by_client["id"] == order["id"]
    assert order["id"] in [o["id"] for o in await ex.fetch_open_orders(S)]
    balance = await ex.fetch_balance()
    assert balance["USDT"]["used"] == pytest.approx(0.01 * price)
    canceled = await ex.cancel_order(order["id"], S)
    assert canceled["status"] == "canceled"
    assert (await ex.fetch_order(order["id"], S))["status"] == "canceled"
    assert (await ex.fetch_balance())["USDT"]["used"] == 0


@pytest.mark.parametrize("tif", ["IOC", "FOK"])
async def test_ioc_fok(ex: binance, tif: str) -> None:
    mid = await _mid(ex)
    far = await ex.create_order(
        S, "limit", "buy", 0.01, float(ex.price_to_precision(S, mid * 0.9)), {"timeInForce": tif}
    )
    assert far["status"] == "expired" and far["filled"] == 0
    crossing = ex.price_to_precision(S, mid * 1.01)
    filled = await ex.create_order(S, "limit", "buy", 0.01, float(crossing), {"timeInForce": tif})
    assert filled["status"] == "closed" and filled["filled"] == 0.01


async def test_market_orders_and_my_trades(ex: binance) -> None:
    by_amount = await ex.create_order(S, "market", "buy", 0.01)
    assert by_amount["status"] == "closed" and by_amount["filled"] == 0.01
    assert by_amount["fee"] is not None and by_amount["fee"]["currency"] == "BTC"
    by_cost = await ex.create_market_buy_order_with_cost(S, 100)
    assert by_cost["status"] == "closed" and by_cost["cost"] == pytest.approx(100, rel=0.01)
    sell = await ex.create_order(S, "market", "sell", 0.005)
    assert sell["status"] == "closed"
    mine = await ex.fetch_my_trades(S)
    assert {by_amount["id"], by_cost["id"], sell["id"]} <= {t["order"] for t in mine}
    assert all(t["fee"]["cost"] > 0 for t in mine)
    balance = await ex.fetch_balance()
    assert balance["BTC"]["total"] > 1


async def test_limit_maker(ex: binance) -> None:
    mid = await _mid(ex)
    resting = await ex.create_order(
        S, "limit", "buy", 0.01, float(ex.price_to_precision(S, mid * 0.95)), {"postOnly": True}
    )
    assert resting["status"] == "open" and resting["postOnly"]
    with pytest.raises(ccxt.InvalidOrder):
        await ex.create_order(
            S, "limit", "buy", 0.01, float(ex.price_to_precision(S, mid * 1.05)), {"postOnly": True}
        )


async def _jump(admin: Any, pct: str) -> None:
    status, body = await admin.call("POST", "/price", {"symbol": S, "jump_pct": pct})
    assert status == 200, body


@pytest.mark.parametrize(("kind", "jump"), [("stopLossPrice", "-7"), ("takeProfitPrice", "7")])
async def test_stop_orders_trigger(ex: binance, admin: Any, eventually: Any, kind: str, jump: str) -> None:
    mid = await _mid(ex)
    trigger, limit = (mid * 0.95, mid * 0.90) if kind == "stopLossPrice" else (mid * 1.05, mid * 1.03)
    order = await ex.create_order(
        S,
        "limit",
        "sell",
        0.01,
        float(ex.price_to_precision(S, limit)),
        {kind: ex.price_to_precision(S, trigger)},
    )
    expected = "STOP_LOSS_LIMIT" if kind == "stopLossPrice" else "TAKE_PROFIT_LIMIT"
    assert order["info"]["type"] == expected and order["status"] == "open"
    await _jump(admin, jump)

    async def filled() -> bool:
        return (await ex.fetch_order(order["id"], S))["status"] == "closed"

    await eventually(filled)


async def test_oco_one_cancels_other(ex: binance, admin: Any, eventually: Any) -> None:
    mid = await _mid(ex)
    response = await ex.privatePostOrderOco(
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "quantity": "0.01",
            "price": ex.price_to_precision(S, mid * 1.05),
            "stopPrice": ex.price_to_precision(S, mid * 0.95),
            "stopLimitPrice": ex.price_to_precision(S, mid * 0.94),
            "stopLimitTimeInForce": "GTC",
        }
    )
    list_id = response["orderListId"]
    assert response["listOrderStatus"] == "EXECUTING" and len(response["orders"]) == 2
    assert len(await ex.privateGetOpenOrderList()) == 1
    await _jump(admin, "7")

    async def done() -> bool:
        listed = await ex.privateGetOrderList({"orderListId": list_id})
        return bool(listed["listOrderStatus"] == "ALL_DONE")

    await eventually(done)
    statuses = sorted([(await ex.fetch_order(str(o["orderId"]), S))["status"] for o in response["orders"]])
    assert statuses[0] == "closed" and statuses[1] in ("canceled", "expired")


async def test_oco_cancel_and_new_style(ex: binance) -> None:
    mid = await _mid(ex)
    response = await ex.privatePostOrderListOco(
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "quantity": "0.01",
            "aboveType": "LIMIT_MAKER",
            "abovePrice": ex.price_to_precision(S, mid * 1.05),
            "belowType": "STOP_LOSS_LIMIT",
            "belowStopPrice": ex.price_to_precision(S, mid * 0.95),
            "belowPrice": ex.price_to_precision(S, mid * 0.94),
            "belowTimeInForce": "GTC",
        }
    )
    canceled = await ex.privateDeleteOrderList({"symbol": "BTCUSDT", "orderListId": response["orderListId"]})
    assert canceled["listOrderStatus"] == "ALL_DONE"
    assert await ex.fetch_open_orders(S) == []


async def test_cancel_all_orders(ex: binance) -> None:
    price = float(ex.price_to_precision(S, await _mid(ex) * 0.8))
    for _ in range(3):
        await ex.create_order(S, "limit", "buy", 0.01, price)
    assert len(await ex.fetch_open_orders(S)) == 3
    await ex.cancel_all_orders(S)
    assert await ex.fetch_open_orders(S) == []
    assert len(await ex.fetch_orders(S)) == 3
