"""What the leader does on a halt: cancel every open order fast, and (kill switch) flatten its positions.

:func:`cancel_all` sends every venue cancel at once, before any bookkeeping: an order the venue knows
(OPEN, PARTIALLY_FILLED, not busy) is cancelled directly through the venue adapter, and each answer is
then recorded by the OMS (``apply_venue_order``: OPEN -> CANCELED, journaled). The OMS's own
:meth:`~tradeops.gateway.oms.OrderManager.cancel` (journal CANCELING first, then send) would put the
journal's one-writer lock in front of every venue request: 200 orders meant 200 serialized journal
appends before the last cancel left. A refused or undecided direct cancel, and every order in another
state (SUBMITTING, UNKNOWN, CANCELING, busy), goes through ``OrderManager.cancel``, which resolves it
from venue evidence. Nothing is lost if the process dies in between: the venue is the truth and the
OMS recovers working orders from it.

:func:`cancel_all` leaves the legs of protective OCOs in place (a halt stops trading; it does not take
the stops off the positions). :func:`flatten` cancels them first, then closes each position of the
session's portfolio with market orders (intent ids derived from the flatten id, strategy
:data:`FLATTEN_STRATEGY`), each at most the symbol's ``max_order_quantity`` and floored to the
venue's step; it runs inside
:func:`~tradeops.gateway.flatten_requests.flatten_scope`, so pre-trade risk treats HALTED as
REDUCING for these orders only, and every other limit (collar, notional, rate, funds) still applies.
A denial stops that symbol. Orders and intents are journaled by the OMS like any other.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tradeops.domain.events import TradeIntent
from tradeops.domain.ids import OrderLeg, client_order_id
from tradeops.domain.orders import Order, OrderState
from tradeops.domain.portfolio import split_symbol
from tradeops.domain.protection import parse_leg_id
from tradeops.domain.values import OrderType, Side
from tradeops.gateway.intake_messages import EnvelopeMeta
from tradeops.observability import get_logger
from tradeops.venue.outcomes import Accepted

if TYPE_CHECKING:
    from tradeops.gateway.oms import OrderManager
    from tradeops.gateway.session import TradingSession
    from tradeops.venue.adapter import CancelOutcome, VenueAdapter

__all__ = ["FLATTEN_SOURCE", "FLATTEN_STRATEGY", "cancel_all", "flatten"]

log = get_logger("tradeops.gateway")
FLATTEN_STRATEGY = "kill-switch"
FLATTEN_SOURCE = "tradeops.kill-switch"
_DIRECT = frozenset({OrderState.OPEN, OrderState.PARTIALLY_FILLED})
_MAX_ORDERS_PER_SYMBOL = 50


async def cancel_all(
    oms: OrderManager, venue: VenueAdapter, reason: str, *, keep_protection: bool = True
) -> int:
    """Cancel every working order (see the module docstring); raises if any could not be handled.

    With ``keep_protection`` the legs of protective OCOs (exchange-native stop-loss/take-profit) stay:
    a halt stops trading, it does not strip the positions of their stops. Flatten removes them first.
    """
    orders = [
        o
        for o in oms.working_orders()
        if not (keep_protection and parse_leg_id(o.client_order_id) is not None)
    ]
    direct = [o for o in orders if o.state in _DIRECT and not oms.is_busy(o.client_order_id)]
    others = [o for o in orders if o not in direct]
    outcomes = await asyncio.gather(*(venue.cancel(o.symbol, o.client_order_id) for o in direct))
    follow_ups = [_record(oms, o, outcome, reason) for o, outcome in zip(direct, outcomes, strict=True)]
    follow_ups += [oms.cancel(o.client_order_id, reason) for o in others]
    results = await asyncio.gather(*follow_ups, return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(orders)} cancels failed: {failed[0]!r}")
    return len(orders)


async def _record(oms: OrderManager, order: Order, outcome: CancelOutcome, reason: str) -> Order | None:
    if isinstance(outcome, Accepted):
        return await oms.apply_venue_order(outcome.value, fetch_missing_trades=True)
    return await oms.cancel(order.client_order_id, reason)  # the OMS decides from the venue's evidence


async def flatten(session: TradingSession, venue: VenueAdapter, flatten_id: str) -> int:
    """Close the session's positions with market orders; returns how many orders were sent.

    Raises only before the first order (no session, no instruments), so the applier's retry never
    doubles a sale; a failure once orders were sent is logged and ends that symbol's slices.
    """
    portfolio, risk, oms = session.portfolio, session.risk, session.oms
    if portfolio is None or risk is None or oms is None:
        raise RuntimeError("no trading session to flatten")
    loaded = await venue.load_instruments()
    if not isinstance(loaded, Accepted):
        raise RuntimeError(f"instruments unavailable: {loaded!r}")
    # The protective OCOs hold the base asset the market orders are about to sell: cancel them first.
    await cancel_all(oms, venue, "flatten: protection replaced by the close", keep_protection=False)
    tag = hashlib.sha256(flatten_id.encode()).hexdigest()[:24]
    sent = 0
    for symbol, position in sorted(portfolio.positions.items()):
        instrument = loaded.value.get(symbol)
        if position.quantity == 0 or instrument is None:
            continue
        side = Side.SELL if position.quantity > 0 else Side.BUY
        cap = risk.limits.max_order_quantity.get(symbol)
        remaining = abs(position.quantity)  # sliced up front: fills reach the portfolio asynchronously
        for n in range(_MAX_ORDERS_PER_SYMBOL):
            quantity = instrument.floor_quantity(min(remaining, cap) if cap else remaining)
            if quantity <= 0 or quantity < instrument.min_qty:
                break  # flat, or only dust the venue cannot trade is left
            base, quote = split_symbol(symbol)
            intent = TradeIntent(
                correlation_id=flatten_id,
                intent_id=f"flatten-{tag}-{base}{quote}-{n}",
                strategy=FLATTEN_STRATEGY,
                symbol=symbol,
                side=side,
                type=OrderType.MARKET,
                quantity=quantity,
            )
            try:
                await session.on_intent(intent, EnvelopeMeta("local", FLATTEN_SOURCE, datetime.now(UTC)))
                order = await oms.get(client_order_id(intent.intent_id, OrderLeg.ENTRY))
            except Exception:
                log.exception("flatten order failed", extra={"flatten_id": flatten_id, "symbol": symbol})
                break
            log.warning(
                "flatten order",
                extra={"flatten_id": flatten_id, "cid": order.client_order_id, "state": order.state.value},
            )
            if order.state in (OrderState.DENIED, OrderState.REJECTED):
                break
            sent += 1
            remaining -= quantity
            if order.state is not OrderState.FILLED:
                break  # not done at once (unknown outcome, partial fill): the OMS follows it up
    return sent
