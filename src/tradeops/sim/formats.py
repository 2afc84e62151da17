"""Builders of Binance's JSON payloads (REST responses and stream events) from engine records."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tradeops.sim.accounts import Account
from tradeops.sim.orders import STOP_TYPES, Fill, Order, OrderList
from tradeops.sim.tape import DayStats, Kline, Print

_CACHE: dict[Decimal, str] = {}
_CACHE_MAX = 200_000
STP_MODE = "NONE"


def fmt(value: Decimal) -> str:
    """Binance's 8-decimal string for a price or quantity (memoized: prices repeat on the grid)."""
    text = _CACHE.get(value)
    if text is None:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        text = _CACHE[value] = f"{value:.8f}"
    return text


def order_json(o: Order) -> dict[str, Any]:
    """GET /api/v3/order object."""
    out: dict[str, Any] = {
        "symbol": o.symbol,
        "orderId": o.order_id,
        "orderListId": o.list_id,
        "clientOrderId": o.client_order_id,
        "price": fmt(o.price),
        "origQty": fmt(o.orig_qty),
        "executedQty": fmt(o.executed),
        "cummulativeQuoteQty": fmt(o.cum_quote),
        "status": o.status,
        "timeInForce": o.tif,
        "type": o.type,
        "side": o.side,
        "stopPrice": fmt(o.stop_price),
        "icebergQty": fmt(Decimal(0)),
        "time": o.time,
        "updateTime": o.update_time,
        "isWorking": o.working_time != -1,
        "workingTime": o.working_time,
        "origQuoteOrderQty": fmt(o.quote_qty),
        "selfTradePreventionMode": STP_MODE,
    }
    return out


def order_result(o: Order, now: int, fills: list[Fill] | None, resp_type: str) -> dict[str, Any]:
    """POST /api/v3/order response in ACK, RESULT or FULL shape."""
    out: dict[str, Any] = {
        "symbol": o.symbol,
        "orderId": o.order_id,
        "orderListId": o.list_id,
        "clientOrderId": o.client_order_id,
        "transactTime": now,
    }
    if resp_type == "ACK":
        return out
    out.update(
        {
            "price": fmt(o.price),
            "origQty": fmt(o.orig_qty),
            "executedQty": fmt(o.executed),
            "origQuoteOrderQty": fmt(o.quote_qty),
            "cummulativeQuoteQty": fmt(o.cum_quote),
            "status": o.status,
            "timeInForce": o.tif,
            "type": o.type,
            "side": o.side,
            "workingTime": o.working_time,
            "selfTradePreventionMode": STP_MODE,
        }
    )
    if o.type in STOP_TYPES:
        out["stopPrice"] = fmt(o.stop_price)
    if resp_type == "FULL":
        out["fills"] = [
            {
                "price": fmt(f.price),
                "qty": fmt(f.qty),
                "commission": fmt(f.commission),
                "commissionAsset": f.commission_asset,
                "tradeId": f.trade_id,
            }
            for f in fills or ()
        ]
    return out


def cancel_json(o: Order, cancel_client_id: str, now: int) -> dict[str, Any]:
    """DELETE /api/v3/order response."""
    out = {
        "symbol": o.symbol,
        "origClientOrderId": o.client_order_id,
        "orderId": o.order_id,
        "orderListId": o.list_id,
        "clientOrderId": cancel_client_id,
        "transactTime": now,
        "price": fmt(o.price),
        "origQty": fmt(o.orig_qty),
        "executedQty": fmt(o.executed),
        "origQuoteOrderQty": fmt(o.quote_qty),
        "cummulativeQuoteQty": fmt(o.cum_quote),
        "status": o.status,
        "timeInForce": o.tif,
        "type": o.type,
        "side": o.side,
        "selfTradePreventionMode": STP_MODE,
    }
    if o.type in STOP_TYPES:
        out["stopPrice"] = fmt(o.stop_price)
    return out


def execution_report(
    o: Order,
    exec_type: str,
    now: int,
    fill: Fill | None = None,
    orig_client_id: str = "",
    client_id: str | None = None,
) -> dict[str, Any]:
    """User-stream executionReport; `client_id` is the cancel request's id for CANCELED reports."""
    return {
        "e": "executionReport",
        "E": now,
        "s": o.symbol,
        "c": client_id or o.client_order_id,
        "S": o.side,
        "o": o.type,
        "f": o.tif,
        "q": fmt(o.orig_qty),
        "p": fmt(o.price),
        "P": fmt(o.stop_price),
        "F": "0.00000000",
        "g": o.list_id,
        "C": orig_client_id,
        "x": exec_type,
        "X": o.status,
        "r": "NONE",
        "i": o.order_id,
        "l": fmt(fill.qty) if fill else "0.00000000",
        "z": fmt(o.executed),
        "L": fmt(fill.price) if fill else "0.00000000",
        "n": fmt(fill.commission) if fill else "0",
        "N": fill.commission_asset if fill else None,
        "T": fill.time if fill else now,
        "t": fill.trade_id if fill else -1,
        "I": o.seq,
        "w": o.is_open and o.working_time != -1,
        "m": fill.is_maker if fill else False,
        "M": False,
        "O": o.time,
        "Z": fmt(o.cum_quote),
        "Y": fmt(fill.quote_qty) if fill else "0.00000000",
        "Q": fmt(o.quote_qty),
        "W": o.working_time,
        "V": STP_MODE,
    }


def account_position(account: Account, assets: set[str], now: int) -> dict[str, Any]:
    zero = Decimal(0)
    return {
        "e": "outboundAccountPosition",
        "E": now,
        "u": now,
        "B": [
            {"a": a, "f": fmt(account.free.get(a, zero)), "l": fmt(account.locked.get(a, zero))}
            for a in sorted(assets)
        ],
    }


def list_status(ol: OrderList, now: int) -> dict[str, Any]:
    return {
        "e": "listStatus",
        "E": now,
        "s": ol.symbol,
        "g": ol.list_id,
        "c": "OCO",
        "l": ol.list_status_type,
        "L": ol.list_order_status,
        "r": "NONE",
        "C": ol.list_client_order_id,
        "T": now,
        "O": [{"s": o.symbol, "i": o.order_id, "c": o.client_order_id} for o in ol.legs],
    }


def order_list_json(ol: OrderList, reports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "orderListId": ol.list_id,
        "contingencyType": "OCO",
        "listStatusType": ol.list_status_type,
        "listOrderStatus": ol.list_order_status,
        "listClientOrderId": ol.list_client_order_id,
        "transactionTime": ol.transaction_time,
        "symbol": ol.symbol,
        "orders": [
            {"symbol": o.symbol, "orderId": o.order_id, "clientOrderId": o.client_order_id} for o in ol.legs
        ],
    }
    if reports is not None:
        out["orderReports"] = reports
    return out


def my_trade_json(f: Fill) -> dict[str, Any]:
    return {
        "symbol": f.symbol,
        "id": f.trade_id,
        "orderId": f.order_id,
        "orderListId": f.list_id,
        "price": fmt(f.price),
        "qty": fmt(f.qty),
        "quoteQty": fmt(f.quote_qty),
        "commission": fmt(f.commission),
        "commissionAsset": f.commission_asset,
        "time": f.time,
        "isBuyer": f.is_buyer,
        "isMaker": f.is_maker,
        "isBestMatch": True,
    }


def trade_json(p: Print) -> dict[str, Any]:
    return {
        "id": p.trade_id,
        "price": fmt(p.price),
        "qty": fmt(p.qty),
        "quoteQty": fmt(p.quote_qty),
        "time": p.time,
        "isBuyerMaker": p.buyer_maker,
        "isBestMatch": True,
    }


def trade_event(venue_id: str, p: Print, now: int) -> dict[str, Any]:
    return {
        "e": "trade",
        "E": now,
        "s": venue_id,
        "t": p.trade_id,
        "p": fmt(p.price),
        "q": fmt(p.qty),
        "T": p.time,
        "m": p.buyer_maker,
        "M": True,
    }


def agg_trade_event(venue_id: str, p: Print, now: int) -> dict[str, Any]:
    return {
        "e": "aggTrade",
        "E": now,
        "s": venue_id,
        "a": p.trade_id,
        "p": fmt(p.price),
        "q": fmt(p.qty),
        "f": p.trade_id,
        "l": p.trade_id,
        "T": p.time,
        "m": p.buyer_maker,
        "M": True,
    }


def kline_event(venue_id: str, k: Kline, now: int) -> dict[str, Any]:
    return {
        "e": "kline",
        "E": now,
        "s": venue_id,
        "k": {
            "t": k.open_time,
            "T": k.open_time + 59_999,
            "s": venue_id,
            "i": "1m",
            "f": k.first_id,
            "L": k.last_id,
            "o": fmt(k.open),
            "c": fmt(k.close),
            "h": fmt(k.high),
            "l": fmt(k.low),
            "v": fmt(k.volume),
            "n": k.count,
            "x": False,
            "q": fmt(k.quote_volume),
            "V": fmt(k.taker_base),
            "Q": fmt(k.taker_quote),
            "B": "0",
        },
    }


Level = tuple[Decimal, Decimal]


def ticker_rest(
    venue_id: str, st: DayStats, last: Decimal, last_qty: Decimal, bid: Level, ask: Level, now: int
) -> dict[str, Any]:
    change = last - st.open
    pct = (change * 100 / st.open).quantize(Decimal("0.001")) if st.open else Decimal(0)
    avg = st.quote_volume / st.volume if st.volume else last
    return {
        "symbol": venue_id,
        "priceChange": fmt(change),
        "priceChangePercent": f"{pct}",
        "weightedAvgPrice": fmt(avg.quantize(Decimal("0.00000001"))),
        "prevClosePrice": fmt(st.open),
        "lastPrice": fmt(last),
        "lastQty": fmt(last_qty),
        "bidPrice": fmt(bid[0]),
        "bidQty": fmt(bid[1]),
        "askPrice": fmt(ask[0]),
        "askQty": fmt(ask[1]),
        "openPrice": fmt(st.open),
        "highPrice": fmt(st.high),
        "lowPrice": fmt(st.low),
        "volume": fmt(st.volume),
        "quoteVolume": fmt(st.quote_volume),
        "openTime": st.open_time,
        "closeTime": now,
        "firstId": st.first_id,
        "lastId": st.last_id,
        "count": st.count,
    }


_TICKER_KEYS = (
    ("p", "priceChange"),
    ("P", "priceChangePercent"),
    ("w", "weightedAvgPrice"),
    ("x", "prevClosePrice"),
    ("c", "lastPrice"),
    ("Q", "lastQty"),
    ("b", "bidPrice"),
    ("B", "bidQty"),
    ("a", "askPrice"),
    ("A", "askQty"),
    ("o", "openPrice"),
    ("h", "highPrice"),
    ("l", "lowPrice"),
    ("v", "volume"),
    ("q", "quoteVolume"),
    ("O", "openTime"),
    ("C", "closeTime"),
    ("F", "firstId"),
    ("L", "lastId"),
    ("n", "count"),
)


def ticker_event(rest: dict[str, Any], now: int) -> dict[str, Any]:
    out: dict[str, Any] = {"e": "24hrTicker", "E": now, "s": rest["symbol"]}
    for short, long in _TICKER_KEYS:
        out[short] = rest[long]
    return out
