"""The venue adapter: typed, classified, weight-budgeted REST calls to Binance spot through async ccxt.

Every call returns ``Accepted[T]`` or a :data:`~tradeops.venue.outcomes.Failure` (``Rejected``,
``Unknown``, ``Retryable``) and never raises for a venue failure. Values are Decimals (mapping.py).
Each request charges the shared :class:`WeightBudget` first; ccxt's own throttle is off. Cancelling a
task during ``submit``/``cancel`` propagates ``CancelledError``: the caller must treat that request's
outcome as unknown and resolve it by query like an ``Unknown``.

Credentials rotate without dropping anything (:mod:`tradeops.venue.key_sessions`): calls already sent
finish on the old key, new ones use the new key.
"""

from __future__ import annotations

import contextvars
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ccxt.async_support import binance
from ccxt.base.errors import OrderNotFound

from tradeops.domain.orders import Fill, Order
from tradeops.domain.values import Instrument, Side
from tradeops.observability import get_logger
from tradeops.venue.credentials import CredentialsProvider, ExchangeCredentials
from tradeops.venue.key_sessions import KeySessions
from tradeops.venue.mapping import (
    MappingError,
    OcoResult,
    VenueOrder,
    balances_from_ccxt,
    cancel_from_ccxt,
    fill_from_ccxt_trade,
    oco_from_ccxt,
    oco_request,
    order_from_ccxt,
    order_request,
    plain,
)
from tradeops.venue.outcomes import (
    DEADLINE_PASSED,
    Accepted,
    CallKind,
    Failure,
    NotSent,
    Rejected,
    Retryable,
    Unknown,
    classify,
)
from tradeops.venue.ratelimit import Weight, WeightBudget, WeightUnavailable, request_weight_limit

T = TypeVar("T")
ExchangeFactory = Callable[[ExchangeCredentials], binance]
log = get_logger("tradeops.venue")

# The last HTTP response (status, body) of the current task's venue call: ccxt's response hook runs in
# the caller's task, so this pairs an exception with its own response even under concurrency.
_LAST_RESPONSE: contextvars.ContextVar[tuple[int, str] | None] = contextvars.ContextVar(
    "tradeops_venue_last_response", default=None
)
_ORDER_ID_CACHE = 10_000
_TRADE_ORDER_PAGES = 5
_ORDERS_PAGE = 1000


@dataclass(frozen=True)
class NotFound:
    """The venue has no order with this client order id (Binance -2013)."""

    symbol: str
    client_order_id: str


SubmitOutcome = Accepted[VenueOrder] | Failure
CancelOutcome = Accepted[VenueOrder] | Failure
Outcome = Accepted[T] | Failure


class VenueAdapter:
    """Async Binance spot adapter; one per API key, shared by every caller (OMS, reconciliation, ...).

    ``factory`` builds a ccxt exchange for a key version (``make_ccxt_exchange`` on the simulator);
    construction reads the current credentials (a blocking Secrets Manager call on first use).
    """

    def __init__(
        self,
        factory: ExchangeFactory,
        budget: WeightBudget,
        credentials: CredentialsProvider,
        *,
        timeout_ms: int = 10_000,
        use_exchange_info_limit: bool = True,
    ) -> None:
        self._factory = factory
        self._budget = budget
        self._timeout_ms = timeout_ms
        self._use_info_limit = use_exchange_info_limit
        self._time_difference_ms = 0
        self._client_ids: OrderedDict[str, str] = OrderedDict()
        self._sessions = KeySessions(self._open_exchange, credentials)

    # ---- sessions and credentials ------------------------------------------------------------------
    def _open_exchange(self, credentials: ExchangeCredentials) -> binance:
        exchange = self._factory(credentials)
        exchange.enableRateLimit = False  # the WeightBudget paces requests (see ratelimit.py)
        exchange.timeout = self._timeout_ms
        exchange.options["warnOnFetchOpenOrdersWithoutSymbol"] = False
        exchange.options["timeDifference"] = self._time_difference_ms
        exchange.on_rest_response = self._on_response
        return exchange

    def _on_response(
        self, code: int, _reason: str, url: str, _method: str, headers: Mapping[str, Any], body: str, *_: Any
    ) -> str:
        """ccxt's per-response hook: reconcile the budget and learn the weight limit from exchangeInfo."""
        self._budget.observe(code, headers)
        _LAST_RESPONSE.set((code, body))
        if self._use_info_limit and code == 200 and urlsplit(url).path.endswith("/exchangeInfo"):
            try:
                limit = request_weight_limit(json.loads(body))
            except ValueError:
                limit = None
            if limit is not None:
                self._budget.configure(limit)
        return body.strip()

    @property
    def budget(self) -> WeightBudget:
        """The request-weight budget every call of this adapter charges."""
        return self._budget

    @property
    def inflight(self) -> int:
        """Requests sent and not yet answered, on every key (graceful shutdown waits for 0)."""
        return self._sessions.inflight

    @property
    def api_key(self) -> str:
        """The key new calls use (for log correlation only; it is a registered secret and scrubbed)."""
        return self._sessions.current.credentials.api_key

    def set_time_difference(self, local_minus_venue_ms: int) -> None:
        """Apply the clock offset to signed timestamps (ccxt's ``timeDifference``) and the weight windows."""
        self._time_difference_ms = local_minus_venue_ms
        self._budget.set_venue_offset(-local_minus_venue_ms)
        for session in self._sessions.all():
            session.exchange.options["timeDifference"] = local_minus_venue_ms

    async def on_secret_rotated(self, version_id: str | None = None) -> bool:
        """Load AWSCURRENT and switch new calls to it (in-flight calls finish on the old key); returns
        whether the key changed."""
        return await self._sessions.rotate(version_id)

    async def wait_retired_idle(self, timeout_s: float) -> None:
        """Wait until no call is in flight on a retired key (then revoking it cannot fail a call).

        Raises ``TimeoutError`` after ``timeout_s``: the old key must not be revoked yet.
        """
        await self._sessions.wait_retired_idle(timeout_s)

    async def close(self) -> None:
        """Close every ccxt exchange (current and retired)."""
        await self._sessions.close()

    # ---- the call wrapper --------------------------------------------------------------------------
    async def _call(
        self,
        kind: CallKind,
        weight: int,
        op: Callable[[binance], Awaitable[T]],
        *,
        needs_markets: bool = True,
        deadline_ms: int | None = None,
    ) -> Accepted[T] | Failure:
        """Charge ``weight`` and run ``op`` on the current session; a call that could only leave after
        ``deadline_ms`` (local epoch ms) is not sent: ``Rejected`` with ``DEADLINE_PASSED``."""
        try:
            async with self._budget.request(weight, deadline_ms=deadline_ms):
                return await self._run(kind, op, needs_markets)
        except WeightUnavailable as exc:  # a charge of this call gave way: nothing (more) was sent
            return Rejected(None, str(exc), DEADLINE_PASSED)

    async def _run(
        self, kind: CallKind, op: Callable[[binance], Awaitable[T]], needs_markets: bool
    ) -> Accepted[T] | Failure:
        _LAST_RESPONSE.set(None)
        async with self._sessions.use() as exchange:
            try:
                if needs_markets and not exchange.markets:
                    await self._budget.acquire(Weight.EXCHANGE_INFO)
                    await exchange.load_markets()
                value = await op(exchange)
            except WeightUnavailable:
                raise
            except Exception as exc:
                failure = self._classify(exc, kind)
                log.warning(
                    "venue call failed",
                    extra={"kind": kind.value, "outcome": type(failure).__name__, "error": repr(failure)},
                )
                return failure
        return Accepted(value)

    def _classify(self, exc: Exception, kind: CallKind) -> Failure:
        """Classify with the HTTP response behind ``exc`` (this task's last one) and the Retry-After wait."""
        response = _LAST_RESPONSE.get()
        return classify(
            exc,
            kind,
            status=None if response is None else response[0],
            body=None if response is None else response[1],
            retry_after_s=self._budget.blocked_for_s() or None,
        )

    def _remember(self, order: VenueOrder) -> VenueOrder:
        self._client_ids[order.venue_order_id] = order.client_order_id
        self._client_ids.move_to_end(order.venue_order_id)
        while len(self._client_ids) > _ORDER_ID_CACHE:
            self._client_ids.popitem(last=False)
        return order

    # ---- reference data ----------------------------------------------------------------------------
    async def load_instruments(self) -> Outcome[dict[str, Instrument]]:
        """Every spot market as an :class:`Instrument` (reloads exchangeInfo)."""

        async def op(ex: binance) -> dict[str, Instrument]:
            markets = await ex.load_markets(reload=True)
            return {
                symbol: Instrument.from_ccxt_market(market)
                for symbol, market in markets.items()
                if market.get("spot")
            }

        return await self._call(CallKind.READ, Weight.EXCHANGE_INFO, op, needs_markets=False)

    async def server_time(self) -> Outcome[int]:
        """The venue's clock in epoch milliseconds."""

        async def op(ex: binance) -> int:
            return int(await ex.fetch_time())

        return await self._call(CallKind.READ, Weight.TIME, op)

    # ---- orders ------------------------------------------------------------------------------------
    @staticmethod
    def _check_grid(ex: binance, symbol: str, quantity: Decimal, prices: tuple[Decimal | None, ...]) -> None:
        """Refuse values ccxt would silently truncate: the OMS rounds, the adapter never does."""
        if Decimal(ex.amount_to_precision(symbol, plain(quantity))) != quantity:
            raise NotSent(f"quantity {quantity} is not on the lot grid of {symbol}")
        for price in prices:
            if price is not None and Decimal(ex.price_to_precision(symbol, plain(price))) != price:
                raise NotSent(f"price {price} is not on the tick grid of {symbol}")

    async def submit(self, order: Order) -> SubmitOutcome:
        """Send ``order`` with ``newClientOrderId = order.client_order_id``; FULL response with fills.

        An order whose intent expires is sent before ``expires_at_ms`` or not at all (``DEADLINE_PASSED``)."""
        symbol = order.symbol
        ccxt_type, price, params = order_request(order)

        async def op(ex: binance) -> VenueOrder:
            if symbol not in ex.markets:
                raise NotSent(f"unknown symbol {symbol}", "BadSymbol")
            self._check_grid(ex, symbol, order.quantity, (order.limit_price, order.stop_price))
            raw = await ex.create_order(
                symbol, ccxt_type, order.side.value, plain(order.quantity), price, params
            )
            return self._remember(order_from_ccxt(raw))

        return await self._call(CallKind.SUBMIT, Weight.ORDER_POST, op, deadline_ms=order.expires_at_ms)

    async def cancel(self, symbol: str, client_order_id: str) -> CancelOutcome:
        """Cancel by ``origClientOrderId``; an order the venue does not know is ``Rejected`` (-2013/-2011)."""

        async def op(ex: binance) -> VenueOrder:
            raw = await ex.cancel_order(None, symbol, {"origClientOrderId": client_order_id})
            return self._remember(cancel_from_ccxt(raw, client_order_id))

        return await self._call(CallKind.CANCEL, Weight.ORDER_DELETE, op)

    async def fetch_order(self, symbol: str, client_order_id: str) -> Outcome[VenueOrder | NotFound]:
        """Query by ``origClientOrderId``: the venue's evidence for an order in doubt."""

        async def op(ex: binance) -> VenueOrder | NotFound:
            try:
                raw = await ex.fetch_order(None, symbol, {"origClientOrderId": client_order_id})
            except Exception as exc:
                failure = self._classify(exc, CallKind.READ)
                if isinstance(exc, OrderNotFound) or getattr(failure, "code", None) == -2013:
                    return NotFound(symbol, client_order_id)
                raise
            return self._remember(order_from_ccxt(raw))

        return await self._call(CallKind.READ, Weight.ORDER_GET, op)

    async def fetch_open_orders(self, symbol: str | None = None) -> Outcome[list[VenueOrder]]:
        """Open orders of one symbol, or of every symbol (weight 80) when ``symbol`` is None."""
        weight = Weight.OPEN_ORDERS_ALL if symbol is None else Weight.OPEN_ORDERS_SYMBOL

        async def op(ex: binance) -> list[VenueOrder]:
            return [self._remember(order_from_ccxt(raw)) for raw in await ex.fetch_open_orders(symbol)]

        return await self._call(CallKind.READ, weight, op)

    async def fetch_my_trades(self, symbol: str, since: int | None = None) -> Outcome[list[Fill]]:
        """Our trades on ``symbol`` from ``since`` (ms) as Fills; client ids resolved via allOrders."""

        async def op(ex: binance) -> list[Fill]:
            trades = await ex.fetch_my_trades(symbol, since)
            missing = sorted(
                {str(t.get("order")) for t in trades if str(t.get("order")) not in self._client_ids}
            )
            await self._resolve_client_ids(ex, symbol, missing)
            fills = []
            for trade in trades:
                client_order_id = self._client_ids.get(str(trade.get("order")))
                if client_order_id is None:
                    raise MappingError(f"trade {trade.get('id')}: order {trade.get('order')} not found")
                fills.append(fill_from_ccxt_trade(trade, client_order_id))
            return fills

        return await self._call(CallKind.READ, Weight.MY_TRADES, op)

    async def _resolve_client_ids(self, ex: binance, symbol: str, venue_ids: list[str]) -> None:
        """Learn the client order ids of ``venue_ids`` from allOrders, paging forward by order id."""
        wanted = set(venue_ids)
        next_id = min((int(i) for i in wanted), default=None)
        for _ in range(_TRADE_ORDER_PAGES):
            if next_id is None or not wanted - set(self._client_ids):
                return
            await self._budget.acquire(Weight.MY_TRADES)  # allOrders weighs 20 as well
            page = await ex.fetch_orders(symbol, None, _ORDERS_PAGE, {"orderId": next_id})
            for raw in page:
                self._remember(order_from_ccxt(raw))
            if len(page) < _ORDERS_PAGE:
                return
            next_id = max(int(raw["id"]) for raw in page) + 1

    # ---- account -----------------------------------------------------------------------------------
    async def fetch_balances(self) -> Outcome[dict[str, tuple[Decimal, Decimal]]]:
        """``{asset: (free, locked)}`` of the account."""

        async def op(ex: binance) -> dict[str, tuple[Decimal, Decimal]]:
            return balances_from_ccxt(await ex.fetch_balance())

        return await self._call(CallKind.READ, Weight.ACCOUNT, op)

    async def create_oco(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal,
        *,
        take_profit_price: Decimal,
        stop_price: Decimal,
        stop_limit_price: Decimal | None,
        list_client_order_id: str,
    ) -> Outcome[OcoResult]:
        """Protective stop-loss + take-profit pair closing a position (``side`` closes it: SELL for a long).

        Uses ``POST /api/v3/orderList/oco``: the take-profit leg is LIMIT_MAKER, the stop leg STOP_LOSS
        (market) or STOP_LOSS_LIMIT GTC when ``stop_limit_price`` is given. Leg client ids are derived
        from ``list_client_order_id`` (``-tp`` / ``-sl``).
        """

        async def op(ex: binance) -> OcoResult:
            self._check_grid(ex, symbol, quantity, (take_profit_price, stop_price, stop_limit_price))
            market = ex.market(symbol)
            request = oco_request(
                market["id"],
                side,
                quantity,
                take_profit_price=take_profit_price,
                stop_price=stop_price,
                stop_limit_price=stop_limit_price,
                list_client_order_id=list_client_order_id,
            )
            response = await ex.privatePostOrderListOco(request)
            reports = response.get("orderReports") or []
            legs = [ex.parse_order(report, market) for report in reports]
            result = oco_from_ccxt(response, legs)
            for leg in result.legs:
                self._remember(leg)
            return result

        return await self._call(CallKind.SUBMIT, Weight.ORDER_LIST_OCO_POST, op)


__all__ = ["Accepted", "CancelOutcome", "ExchangeFactory", "NotFound", "Outcome", "Rejected", "Retryable"]
__all__ += ["SubmitOutcome", "Unknown", "VenueAdapter"]
