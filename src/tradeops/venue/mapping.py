"""ccxt structures -> domain types. ccxt hands out floats; they become Decimals through ``str()`` here only.

``str(float)`` is the shortest text that round-trips, so a venue's ``"0.001"`` parsed by ccxt as a float
comes back as ``Decimal("0.001")``, never as the binary expansion ``Decimal(0.001)`` would give.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from tradeops.domain.orders import Fill, Order
from tradeops.domain.values import OrderType, Side

_DIVISION = decimal.Context(prec=28, rounding=decimal.ROUND_HALF_EVEN)


_CCXT_TYPES = {
    OrderType.MARKET: "market",
    OrderType.LIMIT: "limit",
    OrderType.STOP_LOSS_LIMIT: "STOP_LOSS_LIMIT",
    OrderType.TAKE_PROFIT_LIMIT: "TAKE_PROFIT_LIMIT",
    OrderType.LIMIT_MAKER: "LIMIT_MAKER",
}


def plain(value: Decimal) -> str:
    """Decimal text without exponent, as Binance parameters need (``1E+1`` -> ``10``)."""
    return format(value, "f")


def order_request(order: Order) -> tuple[str, str | None, dict[str, Any]]:
    """(ccxt order type, limit price, params) of ``order``; params carry the client id and stop price."""
    params: dict[str, Any] = {"newClientOrderId": order.client_order_id, "newOrderRespType": "FULL"}
    if order.time_in_force is not None:
        params["timeInForce"] = order.time_in_force.value
    if order.stop_price is not None:
        params["stopPrice"] = plain(order.stop_price)
    price = None if order.limit_price is None else plain(order.limit_price)
    return _CCXT_TYPES[order.type], price, params


def oco_request(
    venue_symbol: str,
    side: Side,
    quantity: Decimal,
    *,
    take_profit_price: Decimal,
    stop_price: Decimal,
    stop_limit_price: Decimal | None,
    list_client_order_id: str,
) -> dict[str, str]:
    """``POST /api/v3/orderList/oco`` parameters of a protective pair closing a position with ``side``.

    Take profit is a LIMIT_MAKER leg; the stop is STOP_LOSS, or STOP_LOSS_LIMIT GTC with a limit price.
    A SELL closes a long (take profit above, stop below); a BUY closes a short (the other way round).
    """
    tp = {
        "Type": "LIMIT_MAKER",
        "Price": plain(take_profit_price),
        "ClientOrderId": f"{list_client_order_id}-tp",
    }
    sl = {"Type": "STOP_LOSS", "StopPrice": plain(stop_price), "ClientOrderId": f"{list_client_order_id}-sl"}
    if stop_limit_price is not None:
        sl.update(Type="STOP_LOSS_LIMIT", Price=plain(stop_limit_price), TimeInForce="GTC")
    above, below = (tp, sl) if side is Side.SELL else (sl, tp)
    request = {
        "symbol": venue_symbol,
        "side": side.value.upper(),
        "quantity": plain(quantity),
        "listClientOrderId": list_client_order_id,
        "newOrderRespType": "FULL",
    }
    request.update({f"above{k}": v for k, v in above.items()})
    request.update({f"below{k}": v for k, v in below.items()})
    return request


class MappingError(ValueError):
    """A venue payload that lacks a field or holds a value of the wrong kind."""


def venue_decimal(value: Any, name: str) -> Decimal:
    """A finite Decimal from a ccxt number (float via ``str``), int, Decimal or numeric string."""
    if isinstance(value, bool) or value is None:
        raise MappingError(f"{name}: expected a number, got {value!r}")
    if isinstance(value, float):
        value = str(value)
    if not isinstance(value, str | int | Decimal):
        raise MappingError(f"{name}: expected a number, got {type(value).__name__}")
    try:
        result = Decimal(value)
    except decimal.InvalidOperation:
        raise MappingError(f"{name}: not a number: {value!r}") from None
    if not result.is_finite():
        raise MappingError(f"{name}: not finite: {value!r}")
    return result


def optional_decimal(value: Any, name: str) -> Decimal | None:
    return None if value is None or value == "" else venue_decimal(value, name)


def _text(data: Mapping[str, Any], key: str, what: str) -> str:
    value = data.get(key)
    if value is None or value == "":
        raise MappingError(f"{what}: {key} is missing")
    return str(value)


def _optional_int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    number = venue_decimal(value, name)
    if number != number.to_integral_value():
        raise MappingError(f"{name}: not an integer: {value!r}")
    return int(number)


def _side(value: Any, what: str) -> Side:
    try:
        return Side(str(value).lower())
    except ValueError:
        raise MappingError(f"{what}: side {value!r} is neither buy nor sell") from None


@dataclass(frozen=True)
class VenueOrder:
    """An order as the venue reports it; ``status`` and ``type`` are Binance's (``NEW``, ``LIMIT``)."""

    client_order_id: str
    venue_order_id: str
    symbol: str
    side: Side
    type: str
    status: str
    quantity: Decimal
    filled: Decimal
    average_price: Decimal | None
    price: Decimal | None
    stop_price: Decimal | None
    fills: tuple[Fill, ...]
    created_at: int | None
    updated_at: int | None
    list_id: int | None


@dataclass(frozen=True)
class OcoResult:
    """An accepted OCO order list: its ids, Binance list status and both legs."""

    list_id: int
    list_client_order_id: str
    list_order_status: str
    legs: tuple[VenueOrder, ...]


def fill_from_ccxt_trade(trade: Mapping[str, Any], client_order_id: str) -> Fill:
    """A domain Fill from a ccxt trade (``fetch_my_trades`` item or a FULL submit response fill)."""
    trade_id = _text(trade, "id", "trade")
    what = f"trade {trade_id}"
    fee = trade.get("fee") or {}
    fee_cost = fee.get("cost")
    timestamp = _optional_int(trade.get("timestamp"), f"{what} timestamp")
    if timestamp is None:
        raise MappingError(f"{what}: timestamp is missing")
    try:
        return Fill(
            client_order_id=client_order_id,
            trade_id=trade_id,
            symbol=_text(trade, "symbol", what),
            side=_side(trade.get("side"), what),
            price=venue_decimal(trade.get("price"), f"{what} price"),
            quantity=venue_decimal(trade.get("amount"), f"{what} amount"),
            fee=Decimal(0) if fee_cost is None else venue_decimal(fee_cost, f"{what} fee"),
            fee_asset=str(fee.get("currency") or ""),
            ts=timestamp,
            is_maker=trade.get("takerOrMaker") == "maker",
        )
    except ValueError as exc:
        raise MappingError(f"{what}: {exc}") from None


def _average(order: Mapping[str, Any], filled: Decimal, what: str) -> Decimal | None:
    if filled == 0:
        return None
    average = optional_decimal(order.get("average"), f"{what} average")
    if average is not None and average > 0:
        return average
    cost = optional_decimal(order.get("cost"), f"{what} cost")
    return None if cost is None else _DIVISION.divide(cost, filled)


def order_from_ccxt(order: Mapping[str, Any]) -> VenueOrder:
    """A :class:`VenueOrder` from a ccxt order; status and type come from Binance's own ``info``."""
    info = order.get("info")
    if not isinstance(info, Mapping):
        raise MappingError("order: info (the venue's raw order) is missing")
    venue_order_id = _text(order, "id", "order")
    what = f"order {venue_order_id}"
    client_order_id = _text(order, "clientOrderId", what)
    filled = venue_decimal(order.get("filled", 0), f"{what} filled")
    trades: Sequence[Any] = order.get("trades") or ()
    # Fills of a FULL submit response carry no time, side or symbol of their own: the order's apply.
    inherited = {k: order.get(k) for k in ("timestamp", "side", "symbol")}
    fills = tuple(
        fill_from_ccxt_trade({**inherited, **{k: v for k, v in t.items() if v is not None}}, client_order_id)
        for t in trades
        if isinstance(t, Mapping) and t.get("id")
    )
    list_id = _optional_int(info.get("orderListId"), f"{what} orderListId")
    return VenueOrder(
        client_order_id=client_order_id,
        venue_order_id=venue_order_id,
        symbol=_text(order, "symbol", what),
        side=_side(order.get("side"), what),
        type=_text(info, "type", what),
        status=_text(info, "status", what),
        quantity=venue_decimal(order.get("amount"), f"{what} amount"),
        filled=filled,
        average_price=_average(order, filled, what),
        price=optional_decimal(order.get("price"), f"{what} price") or None,
        stop_price=optional_decimal(order.get("triggerPrice"), f"{what} triggerPrice") or None,
        fills=fills,
        created_at=_optional_int(order.get("timestamp"), f"{what} timestamp"),
        updated_at=_optional_int(order.get("lastUpdateTimestamp"), f"{what} lastUpdateTimestamp"),
        list_id=None if list_id is None or list_id < 0 else list_id,
    )


def cancel_from_ccxt(order: Mapping[str, Any], client_order_id: str) -> VenueOrder:
    """The order a cancel answered for: Binance puts the cancel request's own id in ``clientOrderId``
    (which ccxt reads) and the order's in ``origClientOrderId``. Raises if the answer is for another order."""
    parsed = order_from_ccxt(order)
    info = order["info"]
    original = info.get("origClientOrderId") if isinstance(info, Mapping) else None
    if original is not None and original != client_order_id:
        raise MappingError(f"cancel of {client_order_id} answered for {original}")
    return replace(parsed, client_order_id=client_order_id)


def balances_from_ccxt(balance: Mapping[str, Any]) -> dict[str, tuple[Decimal, Decimal]]:
    """``{asset: (free, locked)}`` from a ccxt balance structure (``used`` is Binance's ``locked``)."""
    free, used = balance.get("free"), balance.get("used")
    if not isinstance(free, Mapping) or not isinstance(used, Mapping):
        raise MappingError("balance: free/used maps are missing")
    result: dict[str, tuple[Decimal, Decimal]] = {}
    for asset in sorted(set(free) | set(used)):
        result[str(asset)] = (
            venue_decimal(free.get(asset, 0), f"balance {asset} free"),
            venue_decimal(used.get(asset, 0), f"balance {asset} used"),
        )
    return result


def oco_from_ccxt(response: Mapping[str, Any], legs: Sequence[Mapping[str, Any]]) -> OcoResult:
    """An :class:`OcoResult` from a raw order-list response and its legs parsed by ccxt."""
    list_id = _optional_int(response.get("orderListId"), "order list orderListId")
    if list_id is None:
        raise MappingError("order list: orderListId is missing")
    return OcoResult(
        list_id=list_id,
        list_client_order_id=_text(response, "listClientOrderId", "order list"),
        list_order_status=_text(response, "listOrderStatus", "order list"),
        legs=tuple(order_from_ccxt(leg) for leg in legs),
    )
