"""Order entry and queries: Binance parameter rules, filters, balance locks, then the engine."""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal
from typing import Any

from tradeops.sim import formats
from tradeops.sim.accounts import Account
from tradeops.sim.engine import Engine
from tradeops.sim.errors import (
    DUPLICATE,
    INSUFFICIENT_BALANCE,
    NO_SUCH_ORDER,
    SYMBOL_RANGE,
    UNKNOWN_ORDER,
    WOULD_TAKE,
    WOULD_TRIGGER,
    SimError,
    filter_failure,
    illegal_chars,
    invalid_parameter,
    invalid_symbol,
    not_required,
    rejected,
)
from tradeops.sim.market import SymbolState
from tradeops.sim.orders import LIMIT_TYPES, ORDER_TYPES, STOP_TYPES, Fill, Order
from tradeops.sim.params import Params

ZERO = Decimal(0)
MAX_DECIMALS = 8
_SYMBOL = re.compile(SYMBOL_RANGE)
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def symbol_state(engine: Engine, raw: str) -> SymbolState:
    st = engine.symbols.get(raw)
    if st is None:
        if not isinstance(raw, str) or not _SYMBOL.fullmatch(raw):
            raise illegal_chars("symbol", SYMBOL_RANGE)
        raise invalid_symbol()
    return st


def client_id_for(seed: int, kind: str, number: int) -> str:
    """A Binance-looking 22-character id derived from the seed (deterministic, no RNG draw)."""
    value = int.from_bytes(
        hashlib.blake2b(f"{seed}:{kind}:{number}".encode(), digest_size=16).digest(), "big"
    )
    chars = []
    for _ in range(22):
        value, digit = divmod(value, 62)
        chars.append(_ALPHABET[digit])
    return "".join(chars)


def _precision(name: str, value: Decimal | None) -> None:
    exponent = value.as_tuple().exponent if value is not None else 0
    if isinstance(exponent, int) and exponent < -MAX_DECIMALS:
        raise SimError(-1111, f"Parameter '{name}' has too much precision.")


def check_price(st: SymbolState, price: Decimal) -> None:
    f = st.filters
    if price < f.tick_size or price > f.max_price or price % f.tick_size != 0:
        raise filter_failure("PRICE_FILTER")


def check_qty(st: SymbolState, qty: Decimal, market: bool) -> None:
    f = st.filters
    if qty < f.min_qty or qty > f.max_qty or qty % f.step_size != 0:
        raise filter_failure(
            "MARKET_LOT_SIZE" if market and qty > 0 and qty % f.step_size == 0 else "LOT_SIZE"
        )


def check_notional(st: SymbolState, notional: Decimal) -> None:
    if notional < st.filters.min_notional or notional > st.filters.max_notional:
        raise filter_failure("NOTIONAL")


def fires_on_rise(order_type: str, side: str) -> bool:
    """Buy stop-losses and sell take-profits fire when the price rises to the stop; the others on a fall."""
    return (side == "BUY") == order_type.startswith("STOP_LOSS")


def would_trigger(order_type: str, side: str, stop: Decimal, last: Decimal) -> bool:
    return last >= stop if fires_on_rise(order_type, side) else last <= stop


def would_take(st: SymbolState, side: str, price: Decimal) -> bool:
    best = st.book.best_ask() if side == "BUY" else st.book.best_bid()
    return best is not None and (price >= best if side == "BUY" else price <= best)


class OrderSpec:
    """A validated order request, before any balance is touched."""

    __slots__ = ("cid", "price", "qty", "quote_qty", "side", "st", "stop", "tif", "type")

    def __init__(self, engine: Engine, account: Account, p: Params) -> None:
        self.st = symbol_state(engine, p.required("symbol"))
        self.side = p.side()
        self.type = p.enum("type", ORDER_TYPES, -1116, "Invalid orderType.")
        self.cid = p.client_id("newClientOrderId")
        t = self.type
        self.tif = p.time_in_force() if t in LIMIT_TYPES and t != "LIMIT_MAKER" else "GTC"
        if t not in LIMIT_TYPES or t == "LIMIT_MAKER":
            p.forbid("timeInForce")
        self.price = p.decimal("price", required=t in LIMIT_TYPES) or ZERO
        if t not in LIMIT_TYPES:
            p.forbid("price")
        self.stop = p.decimal("stopPrice", required=t in STOP_TYPES) or ZERO
        if t not in STOP_TYPES:
            p.forbid("stopPrice")
        self.quote_qty = ZERO
        if t == "MARKET" and p.has("quoteOrderQty"):
            if p.has("quantity"):
                raise not_required("quoteOrderQty")
            self.quote_qty = p.must_decimal("quoteOrderQty")
            self.qty = ZERO
        else:
            if t == "MARKET" and not p.has("quantity"):
                raise SimError(
                    -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"
                )
            p.forbid("quoteOrderQty")
            self.qty = p.must_decimal("quantity")
        for name, value in (
            ("price", self.price),
            ("stopPrice", self.stop),
            ("quantity", self.qty),
            ("quoteOrderQty", self.quote_qty),
        ):
            _precision(name, value)
        self.check(engine, account)

    def check(self, engine: Engine, account: Account) -> None:
        st = self.st
        if self.type in LIMIT_TYPES:
            check_price(st, self.price)
        if self.type in STOP_TYPES:
            check_price(st, self.stop)
        if self.quote_qty:
            check_notional(st, self.quote_qty)
        else:
            check_qty(st, self.qty, self.type == "MARKET")
            check_notional(st, self.qty * (self.price or self.stop or st.tape.last_price))
        if self.cid is not None and (st.venue_id, self.cid) in account.open:
            raise rejected(DUPLICATE)


def place(
    engine: Engine, account: Account, api_key: str, spec: OrderSpec, list_id: int = -1, lock: bool = True
) -> Order:
    """Check against the book and balances, lock funds (unless the caller locks) and register the order."""
    st = spec.st
    now = engine.clock()
    oid = engine.next_order_id
    cid = spec.cid or client_id_for(engine.config.seed, "order", oid)
    order = Order(
        oid,
        st.venue_id,
        account,
        api_key,
        cid,
        spec.side,
        spec.type,
        spec.tif,
        spec.price,
        spec.qty,
        now,
        stop_price=spec.stop,
        quote_qty=spec.quote_qty,
        update_time=now,
        list_id=list_id,
        seq=oid,
    )
    if spec.type == "MARKET":
        taker_buy = spec.side == "BUY"
        qty, cost = engine.simulate(st, taker_buy, spec.qty or None, spec.quote_qty or None)
        if spec.quote_qty:
            if qty <= 0:
                raise filter_failure("LOT_SIZE")
            order.orig_qty = qty
        free = account.available(st.quote if taker_buy else st.base)
        if (taker_buy and max(cost, spec.quote_qty) > free) or (not taker_buy and order.orig_qty > free):
            raise rejected(INSUFFICIENT_BALANCE)
    elif spec.type == "LIMIT_MAKER" and would_take(st, spec.side, spec.price):
        raise rejected(WOULD_TAKE)
    if spec.type in STOP_TYPES and would_trigger(spec.type, spec.side, spec.stop, st.tape.last_price):
        raise rejected(WOULD_TRIGGER)
    if lock:
        lock_for(engine, order, order.price * order.orig_qty)
    engine.next_order_id += 1
    if spec.type not in STOP_TYPES:
        order.working_time = now
    account.remember_open(order)
    return order


def lock_for(engine: Engine, order: Order, buy_amount: Decimal) -> None:
    """Lock what a working order may spend: the base quantity of a sell, `buy_amount` quote of a buy."""
    st = engine.symbols[order.symbol]
    if order.is_buy and order.type not in LIMIT_TYPES:
        return  # market buys pay from the free balance as they fill
    if order.type == "MARKET":
        return
    asset, amount = (st.quote, buy_amount) if order.is_buy else (st.base, order.orig_qty)
    order.account.lock(asset, amount)
    order.lock_asset, order.locked = asset, amount
    engine.touch(order.account, asset)


def start(engine: Engine, order: Order, fills: list[Fill]) -> None:
    """Report NEW, then park a stop or run a working order through the book."""
    st = engine.symbols[order.symbol]
    engine.report(order, "NEW")
    if order.type in STOP_TYPES:
        st.add_stop(order, fires_on_rise(order.type, order.side))
    else:
        engine.execute(st, order, fills)


def new_order(engine: Engine, api_key: str, params: dict[str, str]) -> dict[str, Any]:
    account = engine.keys.account(api_key)
    p = Params(params)
    spec = OrderSpec(engine, account, p)
    resp = p.resp_type("FULL" if spec.type in ("MARKET", "LIMIT") else "ACK")
    order = place(engine, account, api_key, spec)
    fills: list[Fill] = []
    start(engine, order, fills)
    engine.run_stops(spec.st)
    engine.flush_accounts()
    return formats.order_result(order, engine.clock(), fills, resp)


def find_order(engine: Engine, account: Account, p: Params, code: int, msg: str) -> Order:
    st = symbol_state(engine, p.required("symbol"))
    oid = p.integer("orderId")
    cid = p.text("origClientOrderId") or None
    if oid is None and cid is None:
        raise SimError(
            -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
        )
    order = account.find(st.venue_id, oid, cid)
    if order is None:
        raise SimError(code, msg)
    return order


def cancel_order(engine: Engine, api_key: str, params: dict[str, str]) -> dict[str, Any]:
    account = engine.keys.account(api_key)
    p = Params(params)
    order = find_order(engine, account, p, -2011, UNKNOWN_ORDER)
    cancel_id = p.client_id("newClientOrderId") or client_id_for(engine.config.seed, "cancel", order.order_id)
    if not order.is_open:
        raise SimError(-2011, UNKNOWN_ORDER)
    if order.list_id != -1:
        engine.cancel_list(engine.lists[order.list_id], cancel_id, order)
    else:
        engine.cancel(order, "CANCELED", cancel_id)
    engine.flush_accounts()
    return formats.cancel_json(order, cancel_id, engine.clock())


def cancel_open_orders(engine: Engine, api_key: str, params: dict[str, str]) -> list[dict[str, Any]]:
    account = engine.keys.account(api_key)
    st = symbol_state(engine, Params(params).required("symbol"))
    orders = sorted((o for o in account.open.values() if o.symbol == st.venue_id), key=lambda o: o.order_id)
    if not orders:
        raise SimError(-2011, UNKNOWN_ORDER)
    out: list[dict[str, Any]] = []
    for order in orders:
        if not order.is_open:
            continue
        cancel_id = client_id_for(engine.config.seed, "cancel", order.order_id)
        if order.list_id != -1:
            out.append(engine.cancel_list(engine.lists[order.list_id], cancel_id, None))
        else:
            engine.cancel(order, "CANCELED", cancel_id)
            out.append(formats.cancel_json(order, cancel_id, engine.clock()))
    engine.flush_accounts()
    return out


def query_order(engine: Engine, api_key: str, params: dict[str, str]) -> dict[str, Any]:
    account = engine.keys.account(api_key)
    return formats.order_json(find_order(engine, account, Params(params), -2013, NO_SUCH_ORDER))


def open_orders(engine: Engine, api_key: str, params: dict[str, str]) -> list[dict[str, Any]]:
    account = engine.keys.account(api_key)
    raw = Params(params).text("symbol")
    venue_id = symbol_state(engine, raw).venue_id if raw else None
    orders = (o for o in account.open.values() if venue_id is None or o.symbol == venue_id)
    return [formats.order_json(o) for o in sorted(orders, key=lambda o: o.order_id)]


def _window(p: Params) -> tuple[int | None, int | None, int]:
    start, end = p.integer("startTime"), p.integer("endTime")
    limit = p.integer("limit")
    if limit is not None and limit < 1:
        raise invalid_parameter()
    if start is not None and end is not None and end < start:
        raise invalid_parameter()
    return start, end, min(limit or 500, 1000)


def all_orders(engine: Engine, api_key: str, params: dict[str, str]) -> list[dict[str, Any]]:
    account = engine.keys.account(api_key)
    p = Params(params)
    st = symbol_state(engine, p.required("symbol"))
    start, end, limit = _window(p)
    from_id = p.integer("orderId")
    orders = [
        o
        for o in account.orders.values()
        if o.symbol == st.venue_id
        and (from_id is None or o.order_id >= from_id)
        and (start is None or o.time >= start)
        and (end is None or o.time <= end)
    ]
    orders.sort(key=lambda o: o.order_id)
    chosen = orders[:limit] if from_id is not None or start is not None else orders[-limit:]
    return [formats.order_json(o) for o in chosen]


def my_trades(engine: Engine, api_key: str, params: dict[str, str]) -> list[dict[str, Any]]:
    account = engine.keys.account(api_key)
    p = Params(params)
    st = symbol_state(engine, p.required("symbol"))
    start, end, limit = _window(p)
    order_id, from_id = p.integer("orderId"), p.integer("fromId")
    if from_id is not None and (start is not None or end is not None):
        raise SimError(-1128, "Combination of optional parameters invalid.")
    fills = [
        f
        for f in account.fills
        if f.symbol == st.venue_id
        and (order_id is None or f.order_id == order_id)
        and (from_id is None or f.trade_id >= from_id)
        and (start is None or f.time >= start)
        and (end is None or f.time <= end)
    ]
    chosen = fills[:limit] if from_id is not None or start is not None else fills[-limit:]
    return [formats.my_trade_json(f) for f in chosen]


def account_json(engine: Engine, api_key: str) -> dict[str, Any]:
    account = engine.keys.account(api_key)
    cfg = engine.config
    bps = int(cfg.maker_fee * 10_000), int(cfg.taker_fee * 10_000)
    balances = [
        {
            "asset": a,
            "free": formats.fmt(account.free.get(a, ZERO)),
            "locked": formats.fmt(account.locked.get(a, ZERO)),
        }
        for a in account.assets()
    ]
    return {
        "makerCommission": bps[0],
        "takerCommission": bps[1],
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": formats.fmt(cfg.maker_fee),
            "taker": formats.fmt(cfg.taker_fee),
            "buyer": "0.00000000",
            "seller": "0.00000000",
        },
        "canTrade": True,
        "canWithdraw": True,
        "canDeposit": True,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": account.update_time,
        "accountType": "SPOT",
        "balances": balances,
        "permissions": ["SPOT"],
        "uid": int(account.account_id[5:]),
    }
