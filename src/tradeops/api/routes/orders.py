"""Orders and trades: the ledger (paged newest first), an order's journal history, manual orders, cancels.

The gateway is the only writer of orders, so the API never writes one: a manual order is published as
a Trade Intent (strategy ``manual``, source ``tradeops.api``) that takes the same intake and pre-trade
risk path as every strategy's intent, and a cancel is a "Cancel Requested" event the gateway applies
through its OMS. Lists without a symbol merge the per-symbol indexes of every tradeable symbol (the
symbols of the effective limits' ``max_order_quantity``: a symbol without one cannot trade).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from pydantic import ValidationError

from tradeops.api import responses as r
from tradeops.api.context import Call, Services
from tradeops.api.cursors import Source, merged_page
from tradeops.api.dispatch import field_errors
from tradeops.api.errors import BadRequest, Conflict, NotFound
from tradeops.api.history import order_history
from tradeops.api.rbac import EVERYONE, TRADERS, RouteTable
from tradeops.api.requests import OrderBody, OrdersQuery, TradesQuery
from tradeops.api.routes.limits import effective_limits
from tradeops.api.serializers import journal_entry_out, order_fields, order_out, trade_out
from tradeops.domain.events import CancelRequested, TradeIntent
from tradeops.domain.ids import client_order_id
from tradeops.domain.orders import Fill, Order

MANUAL_STRATEGY = "manual"


def tradeable_symbols(services: Services) -> list[str]:
    prefix = "max_order_quantity."
    return sorted(name[len(prefix) :] for name in effective_limits(services)[1] if name.startswith(prefix))


def _check_range(low: int | None, high: int | None) -> None:
    if low is not None and high is not None and high < low:
        raise BadRequest("empty time range", fields={"query.to": "must be >= from"})


def _order_sources(services: Services, query: OrdersQuery) -> Sequence[Source[Order]]:
    store, low = services.orders, query.from_
    if query.symbol is None and query.status is not None:
        state = query.status

        def by_status(ts_to: int | None, n: int) -> Sequence[Order]:
            high = _min(ts_to, query.to)
            if low is not None and high is not None and high < low:
                return ()
            page = store.by_status(state, updated_from=low, updated_to=high, limit=n, newest_first=True)
            return page.items

        return [by_status]
    symbols = [query.symbol] if query.symbol is not None else tradeable_symbols(services)

    def by_symbol(symbol: str) -> Source[Order]:
        def source(ts_to: int | None, n: int) -> Sequence[Order]:
            high = _min(ts_to, query.to)
            if low is not None and high is not None and high < low:
                return ()
            page = store.by_symbol(symbol, created_from=low, created_to=high, limit=n, newest_first=True)
            return page.items

        return source

    return [by_symbol(symbol) for symbol in symbols]


def _min(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def register(table: RouteTable) -> None:
    @table.route(
        "GET", "/api/orders", roles=EVERYONE, tag="orders", query=OrdersQuery, response=r.OrderPage,
        summary="Orders newest first; filter by status, symbol and time (created; updated with status only)",
    )  # fmt: skip
    def list_orders(call: Call) -> r.OrderPage:
        query = call.query_as(OrdersQuery)
        _check_range(query.from_, query.to)
        by_status_index = query.symbol is None and query.status is not None
        page = merged_page(
            _order_sources(call.services, query),
            time_of=(lambda o: o.updated_at) if by_status_index else (lambda o: o.created_at),
            id_of=lambda o: o.client_order_id,
            limit=query.limit,
            cursor=query.cursor,
            keep=lambda o: query.status is None or o.state is query.status,
        )
        return r.OrderPage(items=[order_out(o) for o in page.items], next_cursor=page.cursor)

    @table.route(
        "GET", "/api/orders/{client_order_id}", roles=EVERYONE, tag="orders", response=r.OrderDetailOut,
        summary="One order with its journal history",
    )  # fmt: skip
    def get_order(call: Call) -> r.OrderDetailOut:
        services = call.services
        order = services.orders.get(call.path["client_order_id"])
        if order is None:
            raise NotFound("no such order")
        history = order_history(services.settings, order)
        return r.OrderDetailOut(
            **order_fields(order), history=[journal_entry_out(entry) for entry in history]
        )

    @table.route(
        "GET", "/api/trades", roles=EVERYONE, tag="orders", query=TradesQuery, response=r.TradePage,
        summary="Fills newest first; filter by symbol and time",
    )  # fmt: skip
    def list_trades(call: Call) -> r.TradePage:
        query = call.query_as(TradesQuery)
        _check_range(query.from_, query.to)
        store = call.services.fills
        symbols = [query.symbol] if query.symbol is not None else tradeable_symbols(call.services)

        def by_symbol(symbol: str) -> Source[Fill]:
            def source(ts_to: int | None, n: int) -> Sequence[Fill]:
                high = _min(ts_to, query.to)
                if query.from_ is not None and high is not None and high < query.from_:
                    return ()
                page = store.by_symbol(symbol, ts_from=query.from_, ts_to=high, limit=n, newest_first=True)
                return page.items

            return source

        page = merged_page(
            [by_symbol(symbol) for symbol in symbols],
            time_of=lambda f: f.ts,
            id_of=lambda f: f"{f.symbol}#{f.trade_id}",
            limit=query.limit,
            cursor=query.cursor,
        )
        return r.TradePage(items=[trade_out(f) for f in page.items], next_cursor=page.cursor)

    @table.route(
        "POST", "/api/orders", roles=TRADERS, tag="orders", body=OrderBody, response=r.OrderAccepted,
        status=202, summary="Manual order: published as a Trade Intent (same risk checks as any intent)",
    )  # fmt: skip
    def place_order(call: Call) -> r.OrderAccepted:
        body = call.body_as(OrderBody)
        intent_id = f"manual-{uuid.uuid4().hex}"
        try:
            intent = TradeIntent(
                correlation_id=call.request_id,
                intent_id=intent_id,
                strategy=MANUAL_STRATEGY,
                **body.model_dump(exclude_none=True),
            )
        except ValidationError as exc:
            raise BadRequest("the order is inconsistent", fields=field_errors(exc)) from None
        call.services.events.publish(intent)
        return r.OrderAccepted(intent_id=intent_id, client_order_id=client_order_id(intent_id))

    @table.route(
        "DELETE", "/api/orders/{client_order_id}", roles=TRADERS, tag="orders", response=r.CancelAccepted,
        status=202, errors=(409,), summary="Ask the gateway to cancel an order (404 unknown, 409 terminal)",
    )  # fmt: skip
    def cancel_order(call: Call) -> r.CancelAccepted:
        cid = call.path["client_order_id"]
        order = call.services.orders.get(cid)
        if order is None:
            raise NotFound("no such order")
        if order.is_terminal:
            raise Conflict(f"order is {order.state.value}: nothing to cancel", code="order_terminal")
        request = CancelRequested(
            correlation_id=call.request_id,
            client_order_id=cid,
            requested_by=call.user.username,
            reason=f"manual cancel by {call.user.username}",
        )
        call.services.events.publish(request)
        return r.CancelAccepted(client_order_id=cid, requested="cancel")
