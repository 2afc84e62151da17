"""Pre-trade risk: ``check(request, context, limits)`` approves an order or names the first limit it breaks.

Checks run in this fixed order (``CHECK_ORDER``); the first failure is the decision:
 1. TRADING_HALTED            HALTED admits no new order (cancels do not pass through here)
    KYC                       then: the account is not KYC-verified (``RiskContext.kyc_verified``)
 2. EXPIRED_INTENT            the intent's expiry is at or before ``now``
 3. UNKNOWN_INSTRUMENT, INSTRUMENT_DISABLED
 4. STRATEGY_DISABLED
 5. REDUCE_ONLY               REDUCING state or an explicit reduce-only order that does not reduce
 6. MARKET_DATA_STALE         no reference mid (always), or an old one (unless the order reduces)
 7. venue filters, in ``Instrument.check`` order: MIN_QUANTITY, FILTER_MAX_QUANTITY,
    FILTER_STEP_SIZE, FILTER_TICK_SIZE (limit prices only), MIN_NOTIONAL
 8. MAX_ORDER_QUANTITY, PRICE_COLLAR (limit prices), MAX_NOTIONAL
 9. MAX_OPEN_ORDERS (total, then per symbol), ORDER_RATE, MAX_DAILY_NOTIONAL
10. MAX_POSITION, MAX_POSITION_VOLATILITY, MAX_GROSS_EXPOSURE, MAX_NET_EXPOSURE
11. STRATEGY_ALLOCATION (orders that reduce exposure are exempt)
12. INSUFFICIENT_BALANCE (spot) or MARGIN (when the context carries a ``MarginAccount``)

Prices: a limit order is valued at its limit price, a market order at the reference mid moved by the
collar against us. "Committed" position = current position + remaining quantity of open orders on the
order's side; an order *reduces exposure* when it moves the committed position toward zero without
crossing it. Exposure after the order is valued at ``max(order price, mid)``, and a position or exposure
check fails when the value after the order is above the limit *and* above the value before it, so an
order that lowers a breached exposure always passes.

The vocabulary (``OrderRequest``, ``RiskContext``, ``Approved``/``Denied``, ``DenyReason``) lives in
:mod:`tradeops.domain.risk_types` and is re-exported here.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

from tradeops.domain.control import TradingState
from tradeops.domain.limits import RiskLimits
from tradeops.domain.orders import TERMINAL_STATES, Order, OrderState
from tradeops.domain.portfolio import split_symbol
from tradeops.domain.risk_types import (
    Approved,
    Denied,
    DenyReason,
    MarginAccount,
    OrderRequest,
    ReferencePrice,
    RiskContext,
    RiskDecision,
)
from tradeops.domain.values import FilterViolationCode, Instrument, Side

_ZERO, _ONE, _BPS = Decimal(0), Decimal(1), Decimal(10_000)
_CTX = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN, traps=[decimal.InvalidOperation])
_BPS_QUANTUM = Decimal("0.01")
# Orders whose funds the venue has already locked (its ``free`` balance excludes them).
_VENUE_LOCKED = frozenset({OrderState.OPEN, OrderState.PARTIALLY_FILLED, OrderState.CANCELING})
_FILTER_REASONS: Mapping[FilterViolationCode, DenyReason] = MappingProxyType(
    {
        FilterViolationCode.BELOW_MIN_QTY: DenyReason.MIN_QUANTITY,
        FilterViolationCode.ABOVE_MAX_QTY: DenyReason.FILTER_MAX_QUANTITY,
        FilterViolationCode.OFF_STEP: DenyReason.FILTER_STEP_SIZE,
        FilterViolationCode.OFF_TICK: DenyReason.FILTER_TICK_SIZE,
        FilterViolationCode.BELOW_MIN_NOTIONAL: DenyReason.MIN_NOTIONAL,
    }
)


__all__ = [
    "Approved",
    "Denied",
    "DenyReason",
    "MarginAccount",
    "OrderRequest",
    "ReferencePrice",
    "RiskContext",
    "RiskDecision",
    "check",
]


@dataclass
class _Facts:
    """Quantities derived once per check and shared by the checks that need them."""

    request: OrderRequest
    context: RiskContext
    limits: RiskLimits
    instrument: Instrument | None = None
    mid: Decimal = _ZERO
    price: Decimal = _ZERO
    notional: Decimal = _ZERO
    committed: Decimal = _ZERO
    signed_quantity: Decimal = _ZERO
    reduces: bool = False
    collar: Decimal = _ZERO
    gross_before: Decimal = _ZERO
    gross_after: Decimal = _ZERO
    open_on_symbol: list[Order] = field(default_factory=list)


def _halted(f: _Facts) -> Denied | None:
    if f.context.trading_state is TradingState.HALTED:
        return Denied(DenyReason.TRADING_HALTED, None, TradingState.HALTED.value, "trading is halted")
    return None


def _kyc(f: _Facts) -> Denied | None:
    if not f.context.kyc_verified:
        return Denied(DenyReason.KYC, None, "not verified", "the account is not KYC-verified")
    return None


def _expired(f: _Facts) -> Denied | None:
    expiry = f.request.expires_at_ms
    if expiry is not None and f.context.now_ms >= expiry:
        return Denied(DenyReason.EXPIRED_INTENT, Decimal(expiry), Decimal(f.context.now_ms), "intent expired")
    return None


def _instrument(f: _Facts) -> Denied | None:
    symbol = f.request.symbol
    f.instrument = f.context.instruments.get(symbol)
    if f.instrument is None:
        return Denied(DenyReason.UNKNOWN_INSTRUMENT, None, symbol, f"{symbol} is not a known instrument")
    if symbol not in f.context.enabled_symbols:
        return Denied(DenyReason.INSTRUMENT_DISABLED, None, symbol, f"{symbol} is disabled")
    return None


def _strategy(f: _Facts) -> Denied | None:
    if not f.context.strategies_enabled.get(f.request.strategy, False):
        strategy = f.request.strategy
        return Denied(DenyReason.STRATEGY_DISABLED, None, strategy, f"strategy {strategy} is not enabled")
    return None


def _reduce_only(f: _Facts) -> Denied | None:
    request, context = f.request, f.context
    f.open_on_symbol = [
        o for o in context.open_orders if o.symbol == request.symbol and o.state not in TERMINAL_STATES
    ]
    pending = sum((o.remaining for o in f.open_on_symbol if o.side is request.side), _ZERO)
    held = context.portfolio.position_quantity(request.symbol)
    if request.side is Side.BUY:
        f.committed, f.signed_quantity = held + pending, request.quantity
    else:
        f.committed, f.signed_quantity = held - pending, -request.quantity
    opposite = (f.committed > 0) != (f.signed_quantity > 0) and f.committed != 0
    f.reduces = opposite and abs(f.signed_quantity) <= abs(f.committed)
    if (context.trading_state is TradingState.REDUCING or request.reduce_only) and not f.reduces:
        return Denied(
            DenyReason.REDUCE_ONLY, f.committed, f.signed_quantity, "only orders that reduce exposure"
        )
    return None


def _market_data(f: _Facts) -> Denied | None:
    request, limits = f.request, f.limits
    reference = f.context.reference_prices.get(request.symbol)
    staleness = limits.max_data_staleness_ms
    if reference is None:
        return Denied(DenyReason.MARKET_DATA_STALE, Decimal(staleness), "missing", "no reference price")
    age = f.context.now_ms - reference.ts_ms
    if age > staleness and not f.reduces:
        return Denied(
            DenyReason.MARKET_DATA_STALE, Decimal(staleness), Decimal(age), f"reference price is {age} ms old"
        )
    f.mid = reference.mid
    f.collar = collar = _CTX.divide(limits.price_collar_bps, _BPS)
    if request.limit_price is not None:
        f.price = request.limit_price
    elif request.side is Side.BUY:
        f.price = _CTX.multiply(f.mid, _ONE + collar)
    else:
        f.price = _CTX.multiply(f.mid, _ONE - collar)
    f.notional = _CTX.multiply(request.quantity, f.price)
    return None


def _filters(f: _Facts) -> Denied | None:
    if f.instrument is None:
        raise RuntimeError("filters checked before the instrument was resolved")
    is_limit = f.request.limit_price is not None
    for violation in f.instrument.check(f.request.quantity, f.price if is_limit else f.mid):
        if violation.code is FilterViolationCode.OFF_TICK and not is_limit:
            continue
        return Denied(_FILTER_REASONS[violation.code], violation.limit, violation.value, violation.message)
    return None


def _order_size(f: _Facts) -> Denied | None:
    request, limits = f.request, f.limits
    max_quantity = limits.max_order_quantity.get(request.symbol)
    if max_quantity is None or request.quantity > max_quantity:
        message = f"order quantity above the {request.symbol} maximum"
        return Denied(DenyReason.MAX_ORDER_QUANTITY, max_quantity, request.quantity, message)
    if request.limit_price is not None:
        deviation_bps = _CTX.divide(_CTX.multiply(abs(request.limit_price - f.mid), _BPS), f.mid)
        if deviation_bps > limits.price_collar_bps:
            shown = deviation_bps.quantize(_BPS_QUANTUM, rounding=decimal.ROUND_CEILING)
            message = f"limit price {request.limit_price} is {shown} bps from mid {f.mid}"
            return Denied(DenyReason.PRICE_COLLAR, limits.price_collar_bps, shown, message)
    if f.notional > limits.max_order_notional:
        return Denied(DenyReason.MAX_NOTIONAL, limits.max_order_notional, f.notional, "order notional")
    return None


def _activity(f: _Facts) -> Denied | None:
    context, limits = f.context, f.limits
    open_total = sum(1 for o in context.open_orders if o.state not in TERMINAL_STATES)
    if open_total >= limits.max_open_orders:
        limit = Decimal(limits.max_open_orders)
        return Denied(DenyReason.MAX_OPEN_ORDERS, limit, Decimal(open_total), "too many open orders")
    if len(f.open_on_symbol) >= limits.max_open_orders_per_symbol:
        limit, value = Decimal(limits.max_open_orders_per_symbol), Decimal(len(f.open_on_symbol))
        return Denied(DenyReason.MAX_OPEN_ORDERS, limit, value, f"too many open {f.request.symbol} orders")
    window_start = context.now_ms - limits.rate_window_ms
    recent = sum(1 for ts in context.recent_order_ts if ts > window_start)
    if recent >= limits.order_burst:
        message = f"{recent} orders in the last {limits.rate_window_ms} ms"
        return Denied(DenyReason.ORDER_RATE, Decimal(limits.order_burst), Decimal(recent), message)
    traded = context.traded_notional_today + f.notional
    if traded > limits.max_daily_notional:
        return Denied(DenyReason.MAX_DAILY_NOTIONAL, limits.max_daily_notional, traded, "daily notional")
    return None


def _exposure(f: _Facts) -> Denied | None:
    request, limits, snapshot = f.request, f.limits, f.context.portfolio
    value_price = max(f.price, f.mid)
    before = _CTX.multiply(abs(f.committed), value_price)
    after_quantity = f.committed + f.signed_quantity
    after = _CTX.multiply(abs(after_quantity), value_price)
    growing = after > before
    cap = limits.max_position_notional.get(request.symbol)
    if cap is None or (growing and after > cap):
        return Denied(DenyReason.MAX_POSITION, cap, after, f"{request.symbol} position notional")
    scaled = _CTX.multiply(cap, limits.volatility_scaling.factor(f.context.realized_vols.get(request.symbol)))
    if growing and after > scaled:
        message = f"{request.symbol} position cap scaled by volatility to {scaled}"
        return Denied(DenyReason.MAX_POSITION_VOLATILITY, scaled, after, message)
    own = snapshot.positions.get(request.symbol)
    gross_others = snapshot.gross_exposure - (own.gross_exposure if own else _ZERO)
    f.gross_before, f.gross_after = gross_others + before, gross_others + after
    if growing and f.gross_after > limits.max_gross_exposure:
        gross_limit = limits.max_gross_exposure
        return Denied(DenyReason.MAX_GROSS_EXPOSURE, gross_limit, f.gross_after, "gross exposure")
    net_others = snapshot.net_exposure - (own.net_exposure if own else _ZERO)
    for price in (value_price, f.mid):  # net is linear in price: check both ends of the range
        net_after = abs(net_others + _CTX.multiply(after_quantity, price))
        net_before = abs(net_others + _CTX.multiply(f.committed, price))
        if net_after > limits.max_net_exposure and net_after > net_before:
            return Denied(DenyReason.MAX_NET_EXPOSURE, limits.max_net_exposure, net_after, "net exposure")
    return None


def _allocation(f: _Facts) -> Denied | None:
    if f.reduces:
        return None
    strategy = f.request.strategy
    allocation = f.context.strategy_allocations.get(strategy, f.limits.strategy_allocations.get(strategy))
    used = f.context.strategy_capital_used.get(strategy, _ZERO) + f.notional
    if allocation is None or used > allocation:
        return Denied(DenyReason.STRATEGY_ALLOCATION, allocation, used, f"capital of strategy {strategy}")
    return None


def _funds(f: _Facts) -> Denied | None:
    return _spot_balance(f) if f.context.margin is None else _margin(f, f.context.margin)


def _spot_balance(f: _Facts) -> Denied | None:
    request, context = f.request, f.context
    base, quote = split_symbol(request.symbol)
    fee = context.taker_fee_rate
    if request.side is Side.SELL:
        unlocked_sells = (
            o.remaining
            for o in f.open_on_symbol
            if o.side is Side.SELL and o.state not in _VENUE_LOCKED  # not yet locked by the venue
        )
        need = request.quantity + sum(unlocked_sells, _ZERO)
        free = context.free_balances.get(base, _ZERO)
        if free < need:
            return Denied(
                DenyReason.INSUFFICIENT_BALANCE, free, need, f"free {base} below what the sell needs"
            )
        return None
    suffix, locked_notional, unlocked_notional = f"/{quote}", _ZERO, _ZERO
    for order in context.open_orders:
        if order.side is not Side.BUY or order.state in TERMINAL_STATES or not order.symbol.endswith(suffix):
            continue
        price = order.limit_price
        if price is None:  # an open market buy: its symbol's mid moved by the collar, if known
            reference = context.reference_prices.get(order.symbol)
            price = _CTX.multiply(reference.mid, _ONE + f.collar) if reference else _ZERO
        amount = _CTX.multiply(order.remaining, price)
        if order.state in _VENUE_LOCKED:
            locked_notional += amount
        else:
            unlocked_notional += amount
    buffer = _CTX.divide(f.limits.min_free_balance_margin_bps, _BPS)
    need = (
        _CTX.multiply(f.notional, _ONE + fee + buffer)
        + _CTX.multiply(locked_notional, fee)  # the venue locked the notional, not the fee
        + _CTX.multiply(unlocked_notional, _ONE + fee)
    )
    free = context.free_balances.get(quote, _ZERO)
    if free < need:
        return Denied(
            DenyReason.INSUFFICIENT_BALANCE, free, need, f"free {quote} below notional, fees, reserves"
        )
    return None


def _margin(f: _Facts, account: MarginAccount) -> Denied | None:
    gross_after = f.gross_after
    if gross_after <= f.gross_before:
        return None
    if account.equity <= 0:
        return Denied(DenyReason.MARGIN, _ZERO, account.equity, "margin account equity is not positive")
    leverage = _CTX.divide(gross_after, account.equity)
    if leverage > account.max_leverage:
        return Denied(DenyReason.MARGIN, account.max_leverage, leverage, "leverage after the order")
    maintenance = _CTX.multiply(gross_after, account.maintenance_margin_rate)
    if account.equity < maintenance:
        return Denied(DenyReason.MARGIN, maintenance, account.equity, "equity below maintenance margin")
    return None


CHECK_ORDER: tuple[Callable[[_Facts], Denied | None], ...] = (
    _halted,
    _kyc,
    _expired,
    _instrument,
    _strategy,
    _reduce_only,
    _market_data,
    _filters,
    _order_size,
    _activity,
    _exposure,
    _allocation,
    _funds,
)


def check(request: OrderRequest, context: RiskContext, limits: RiskLimits) -> RiskDecision:
    """Approve ``request`` or deny it with the first failing check (see the module docstring)."""
    facts = _Facts(request, context, limits)
    for run_check in CHECK_ORDER:
        denied = run_check(facts)
        if denied is not None:
            return denied
    return Approved(notional=facts.notional, reduces_exposure=facts.reduces)
