"""OCO order lists: legacy `POST /api/v3/order/oco` and `POST /api/v3/orderList/oco` parameters."""

from __future__ import annotations

from typing import Any

from tradeops.sim import formats
from tradeops.sim.accounts import Account
from tradeops.sim.engine import Engine
from tradeops.sim.errors import (
    BAD_PRICES,
    DUPLICATE,
    INSUFFICIENT_BALANCE,
    WOULD_TAKE,
    SimError,
    mandatory,
    rejected,
)
from tradeops.sim.orders import LIMIT_TYPES, STOP_TYPES, OrderList
from tradeops.sim.params import Params
from tradeops.sim.trading import OrderSpec, client_id_for, lock_for, place, start, symbol_state, would_take

LEG_TYPES = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT", "LIMIT_MAKER")
PROFIT_TYPES = frozenset({"LIMIT_MAKER", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"})
LOSS_TYPES = frozenset({"STOP_LOSS", "STOP_LOSS_LIMIT"})
Leg = dict[str, str]


def _leg(p: Params, prefix: str, leg_type: str) -> Leg:
    """The single-order parameters of one leg of the newer endpoint (aboveX / belowX)."""
    leg: Leg = {"type": leg_type}
    for field, target in (
        ("Price", "price"),
        ("StopPrice", "stopPrice"),
        ("TimeInForce", "timeInForce"),
        ("ClientOrderId", "newClientOrderId"),
    ):
        value = p.text(prefix + field)
        if value is not None and value != "":
            leg[target] = value
    needs_price = leg_type in LIMIT_TYPES
    if needs_price and "price" not in leg:
        raise mandatory(prefix + "Price")
    if leg_type in STOP_TYPES and "stopPrice" not in leg:
        raise mandatory(prefix + "StopPrice")
    if needs_price and leg_type != "LIMIT_MAKER" and "timeInForce" not in leg:
        raise mandatory(prefix + "TimeInForce")
    return leg


def _legs(p: Params) -> tuple[Leg, Leg]:
    """(below, above) legs from either endpoint's parameters."""
    side = p.side()
    if p.has("aboveType") or p.has("belowType"):
        above_type = p.enum("aboveType", LEG_TYPES, -1116, "Invalid orderType.")
        below_type = p.enum("belowType", LEG_TYPES, -1116, "Invalid orderType.")
        profit, loss = (above_type, below_type) if side == "SELL" else (below_type, above_type)
        if profit not in PROFIT_TYPES or loss not in LOSS_TYPES:
            raise SimError(-1014, "Unsupported order combination.")
        return _leg(p, "below", below_type), _leg(p, "above", above_type)
    limit: Leg = {"type": "LIMIT_MAKER", "price": p.required("price")}
    stop: Leg = {"stopPrice": p.required("stopPrice")}
    if p.has("stopLimitPrice"):
        stop.update(
            type="STOP_LOSS_LIMIT",
            price=p.required("stopLimitPrice"),
            timeInForce=p.required("stopLimitTimeInForce"),
        )
    else:
        p.forbid("stopLimitTimeInForce")
        stop["type"] = "STOP_LOSS"
    for leg, key in ((limit, "limitClientOrderId"), (stop, "stopClientOrderId")):
        value = p.text(key)
        if value:
            leg["newClientOrderId"] = value
    return (stop, limit) if side == "SELL" else (limit, stop)


def _check_prices(spec_below: OrderSpec, spec_above: OrderSpec) -> None:
    """Above leg strictly above the last price, below leg strictly below (trigger or limit price)."""
    last = spec_below.st.tape.last_price

    def level(spec: OrderSpec) -> Any:
        return spec.price if spec.type == "LIMIT_MAKER" else spec.stop

    if not level(spec_below) < last < level(spec_above):
        raise rejected(BAD_PRICES)


def new_oco(engine: Engine, api_key: str, params: dict[str, str]) -> dict[str, Any]:
    account = engine.keys.account(api_key)
    p = Params(params)
    st = symbol_state(engine, p.required("symbol"))
    side = p.side()
    quantity = p.required("quantity")
    list_cid = p.client_id("listClientOrderId")
    p.resp_type("FULL")
    specs = []
    for leg in _legs(p):
        leg.update(symbol=st.venue_id, side=side, quantity=quantity)
        specs.append(OrderSpec(engine, account, Params(leg)))
    below, above = specs
    if below.cid is not None and below.cid == above.cid:
        raise rejected(DUPLICATE)
    _check_prices(below, above)
    if list_cid is not None and any(
        ol.list_client_order_id == list_cid and ol.is_open and ol.account is account
        for ol in engine.lists.values()
    ):
        raise rejected(DUPLICATE)
    holder_spec = below if below.type in LIMIT_TYPES else above
    asset, amount = (st.quote, max(s.price * s.qty for s in specs)) if side == "BUY" else (st.base, below.qty)
    if (side == "SELL" or holder_spec.type in LIMIT_TYPES) and account.available(asset) < amount:
        raise rejected(INSUFFICIENT_BALANCE)
    for spec in specs:
        if spec.type == "LIMIT_MAKER" and would_take(st, side, spec.price):
            raise rejected(WOULD_TAKE)
    list_id = engine.next_list_id
    legs = [place(engine, account, api_key, s, list_id, lock=False) for s in specs]
    lock_for(engine, legs[specs.index(holder_spec)], amount)
    engine.next_list_id += 1
    now = engine.clock()
    ol = OrderList(
        list_id,
        st.venue_id,
        account,
        api_key,
        list_cid or client_id_for(engine.config.seed, "list", list_id),
        legs,
        transaction_time=now,
    )
    engine.lists[list_id] = ol
    for order in legs:
        start(engine, order, [])
    engine.user_event(account, formats.list_status(ol, now))
    engine.flush_accounts()
    return formats.order_list_json(ol, [formats.order_result(leg, now, None, "RESULT") for leg in legs])


def _find_list(engine: Engine, account: Account, p: Params, code: int, msg: str) -> OrderList:
    list_id = p.integer("orderListId")
    cid = p.text("listClientOrderId") or p.text("origClientOrderId") or None
    if list_id is None and cid is None:
        raise SimError(
            -1102, "Param 'origClientOrderId' or 'orderListId' must be sent, but both were empty/null!"
        )
    for ol in [engine.lists.get(list_id)] if list_id is not None else list(engine.lists.values())[::-1]:
        if (
            ol is not None
            and ol.account is account
            and (list_id is not None or ol.list_client_order_id == cid)
        ):
            return ol
    raise SimError(code, msg)


def cancel_order_list(engine: Engine, api_key: str, params: dict[str, str]) -> dict[str, Any]:
    account = engine.keys.account(api_key)
    p = Params(params)
    st = symbol_state(engine, p.required("symbol"))
    ol = _find_list(engine, account, p, -2011, "Order list does not exist.")
    if ol.symbol != st.venue_id or not ol.is_open:
        raise SimError(-2011, "Order list does not exist.")
    cancel_id = p.client_id("newClientOrderId") or client_id_for(
        engine.config.seed, "cancel-list", ol.list_id
    )
    out = engine.cancel_list(ol, cancel_id, None)
    engine.flush_accounts()
    return out


def query_order_list(engine: Engine, api_key: str, params: dict[str, str]) -> dict[str, Any]:
    account = engine.keys.account(api_key)
    return formats.order_list_json(
        _find_list(engine, account, Params(params), -2011, "Order list does not exist.")
    )


def open_order_lists(engine: Engine, api_key: str, params: dict[str, str]) -> list[dict[str, Any]]:
    account = engine.keys.account(api_key)
    Params(params)
    return [
        formats.order_list_json(ol) for ol in engine.lists.values() if ol.account is account and ol.is_open
    ]
