"""Public market-data responses (exchangeInfo, depth, tickers, trades, klines) and stream publishing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tradeops.sim import formats
from tradeops.sim.engine import Engine
from tradeops.sim.errors import INTEGER_RANGE, SimError, illegal_chars, invalid_parameter, mandatory
from tradeops.sim.market import SymbolState
from tradeops.sim.orders import ORDER_TYPES
from tradeops.sim.trading import symbol_state

ZERO = Decimal(0)
RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
]


def int_param(name: str, value: object, default: int, low: int, high: int) -> int:
    """A query integer (string or int); below `low` is invalid, above `high` is capped like Binance."""
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise illegal_chars(name, INTEGER_RANGE)
    if isinstance(value, str):
        if not value.isdigit() or len(value) > 20:
            raise illegal_chars(name, INTEGER_RANGE)
        value = int(value)
    if value < low:
        raise invalid_parameter()
    return min(value, high)


def optional_int(name: str, value: object) -> int | None:
    return None if value is None or value == "" else int_param(name, value, 0, 0, 2**63 - 1)


def symbol_info(st: SymbolState) -> dict[str, Any]:
    f = st.filters
    fmt = formats.fmt
    return {
        "symbol": st.venue_id,
        "status": "TRADING",
        "baseAsset": st.base,
        "baseAssetPrecision": 8,
        "quoteAsset": st.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": list(ORDER_TYPES),
        "icebergAllowed": False,
        "ocoAllowed": True,
        "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": fmt(f.tick_size),
                "maxPrice": fmt(f.max_price),
                "tickSize": fmt(f.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": fmt(f.min_qty),
                "maxQty": fmt(f.max_qty),
                "stepSize": fmt(f.step_size),
            },
            {
                "filterType": "MIN_NOTIONAL",
                "minNotional": fmt(f.min_notional),
                "applyToMarket": True,
                "avgPriceMins": 5,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": fmt(f.min_notional),
                "applyMinToMarket": True,
                "maxNotional": fmt(f.max_notional),
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": fmt(f.min_qty),
                "maxQty": fmt(f.max_qty),
                "stepSize": fmt(f.step_size),
            },
        ],
        "permissions": ["SPOT"],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "NONE",
        "allowedSelfTradePreventionModes": ["NONE"],
    }


def exchange_info(engine: Engine, symbol: str | None, now: int) -> dict[str, Any]:
    states = [symbol_state(engine, symbol)] if symbol else list(engine.symbols.values())
    return {
        "timezone": "UTC",
        "serverTime": now,
        "rateLimits": RATE_LIMITS,
        "exchangeFilters": [],
        "symbols": [symbol_info(st) for st in states],
    }


def depth(engine: Engine, symbol: str, limit: object) -> dict[str, Any]:
    st = symbol_state(engine, symbol)
    last_id, bids, asks = st.book.snapshot(int_param("limit", limit, 100, 1, 5000))
    fmt = formats.fmt
    return {
        "lastUpdateId": last_id,
        "bids": [[fmt(p), fmt(q)] for p, q in bids],
        "asks": [[fmt(p), fmt(q)] for p, q in asks],
    }


def top(st: SymbolState) -> tuple[tuple[Decimal, Decimal], tuple[Decimal, Decimal]]:
    book = st.book
    bid, ask = book.best_bid(), book.best_ask()
    b = (bid, book.pub_bids.get(bid, ZERO)) if bid is not None else (ZERO, ZERO)
    a = (ask, book.pub_asks.get(ask, ZERO)) if ask is not None else (ZERO, ZERO)
    return b, a


def ticker(st: SymbolState, now: int) -> dict[str, Any]:
    bid, ask = top(st)
    tape = st.tape
    return formats.ticker_rest(st.venue_id, tape.stats(now), tape.last_price, tape.last_qty, bid, ask, now)


def book_ticker(st: SymbolState) -> dict[str, Any]:
    (bp, bq), (ap, aq) = top(st)
    fmt = formats.fmt
    return {
        "symbol": st.venue_id,
        "bidPrice": fmt(bp),
        "bidQty": fmt(bq),
        "askPrice": fmt(ap),
        "askQty": fmt(aq),
    }


def recent_trades(engine: Engine, symbol: str, limit: object) -> list[dict[str, Any]]:
    st = symbol_state(engine, symbol)
    n = int_param("limit", limit, 500, 1, 1000)
    recent = st.tape.recent
    return [formats.trade_json(p) for p in list(recent)[-n:]]


def klines(
    engine: Engine, symbol: str, interval: str | None, start: object, end: object, limit: object
) -> list[list[object]]:
    st = symbol_state(engine, symbol)
    if not interval:
        raise mandatory("interval")
    start_ms, end_ms = optional_int("startTime", start), optional_int("endTime", end)
    if start_ms is not None and end_ms is not None and end_ms < start_ms:
        raise SimError(-1130, "Invalid data sent for a parameter.")
    return st.tape.klines(interval, start_ms, end_ms, int_param("limit", limit, 500, 1, 1000))


def publish(engine: Engine, st: SymbolState, now: int) -> None:
    """Emit one step's market events for a symbol: depth diff, bookTicker, 24h ticker, current kline."""
    emit = engine.emit
    fmt = formats.fmt
    diff = st.book.flush()
    if diff is not None:
        first, last, bids, asks = diff
        emit(
            st.ch_depth,
            {
                "e": "depthUpdate",
                "E": now,
                "s": st.venue_id,
                "U": first,
                "u": last,
                "b": [[fmt(p), fmt(q)] for p, q in bids],
                "a": [[fmt(p), fmt(q)] for p, q in asks],
            },
            None,
        )
    (bp, bq), (ap, aq) = top(st)
    emit(
        st.ch_book,
        {"u": st.book.update_id, "s": st.venue_id, "b": fmt(bp), "B": fmt(bq), "a": fmt(ap), "A": fmt(aq)},
        None,
    )
    emit(st.ch_ticker, formats.ticker_event(ticker(st, now), now), None)
    if st.tape.current is not None:
        emit(st.ch_kline, formats.kline_event(st.venue_id, st.tape.current, now), None)
