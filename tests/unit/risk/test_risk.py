"""Pre-trade checks: every DenyReason fires with its limit and value, in the documented order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal as D
from typing import Any

import pytest

from tradeops.domain.control import TradingState
from tradeops.domain.limits import RiskLimits
from tradeops.domain.orders import Fill, Order, OrderState
from tradeops.domain.portfolio import Portfolio, PortfolioSnapshot
from tradeops.domain.risk import (
    CHECK_ORDER,
    Approved,
    Denied,
    DenyReason,
    MarginAccount,
    OrderRequest,
    ReferencePrice,
    RiskContext,
    check,
)
from tradeops.domain.values import OrderType, Side
from tradeops.domain.volatility import EwmaVolatility

NOW = 1_700_000_000_000
BTC, ETH = "BTC/USDT", "ETH/USDT"
LimitsChange = dict[str, Any]


def snapshot_long_btc(quantity: str) -> PortfolioSnapshot:
    portfolio = Portfolio("USDT", {"USDT": D(100_000)})
    portfolio.apply_fill(
        Fill("toen-x", "1", BTC, Side.BUY, D(60000), D(quantity), D(0), "USDT", NOW - 5000, False)
    )
    return portfolio.mark({BTC: D(60000)}, NOW)


def _instrument_max_qty(context: RiskContext) -> RiskContext:
    btc = replace(context.instruments[BTC], max_qty=D("0.05"))
    return replace(context, instruments={**context.instruments, BTC: btc})


def _open(order_factory: Callable[..., Order], count: int, symbol: str) -> tuple[Order, ...]:
    return tuple(order_factory(symbol, Side.BUY, "0.01", "2900", OrderState.OPEN, n) for n in range(count))


# (reason, request change, context change, limits change, expected limit, expected value)
CASES: list[
    tuple[DenyReason, dict[str, Any], Callable[[RiskContext, Any], RiskContext], LimitsChange, Any, Any]
] = [
    (
        DenyReason.TRADING_HALTED,
        {},
        lambda c, o: replace(c, trading_state=TradingState.HALTED),
        {},
        None,
        "HALTED",
    ),
    (DenyReason.KYC, {}, lambda c, o: replace(c, kyc_verified=False), {}, None, "not verified"),
    (DenyReason.EXPIRED_INTENT, {"expires_at_ms": NOW}, lambda c, o: c, {}, D(NOW), D(NOW)),
    (DenyReason.UNKNOWN_INSTRUMENT, {"symbol": "DOGE/USDT"}, lambda c, o: c, {}, None, "DOGE/USDT"),
    (
        DenyReason.INSTRUMENT_DISABLED,
        {},
        lambda c, o: replace(c, enabled_symbols=frozenset({ETH})),
        {},
        None,
        BTC,
    ),
    (
        DenyReason.STRATEGY_DISABLED,
        {},
        lambda c, o: replace(c, strategies_enabled={"demo": False}),
        {},
        None,
        "demo",
    ),
    (DenyReason.REDUCE_ONLY, {"reduce_only": True}, lambda c, o: c, {}, D(0), D("0.1")),
    (
        DenyReason.MARKET_DATA_STALE,
        {},
        lambda c, o: replace(c, reference_prices={BTC: ReferencePrice(D(60000), NOW - 6000)}),
        {},
        D(5000),
        D(6000),
    ),
    (DenyReason.MIN_QUANTITY, {"quantity": D("0.000001")}, lambda c, o: c, {}, D("0.00001"), D("0.000001")),
    (DenyReason.FILTER_MAX_QUANTITY, {}, lambda c, o: _instrument_max_qty(c), {}, D("0.05"), D("0.1")),
    (
        DenyReason.FILTER_STEP_SIZE,
        {"quantity": D("0.100001")},
        lambda c, o: c,
        {},
        D("0.00001"),
        D("0.100001"),
    ),
    (
        DenyReason.FILTER_TICK_SIZE,
        {"limit_price": D("60000.001")},
        lambda c, o: c,
        {},
        D("0.01"),
        D("60000.001"),
    ),
    (DenyReason.MIN_NOTIONAL, {"quantity": D("0.00005")}, lambda c, o: c, {}, D(5), D(3)),
    (DenyReason.MAX_ORDER_QUANTITY, {"quantity": D("0.6")}, lambda c, o: c, {}, D("0.5"), D("0.6")),
    (DenyReason.PRICE_COLLAR, {"limit_price": D(61000)}, lambda c, o: c, {}, D(100), D("166.67")),
    (DenyReason.MAX_NOTIONAL, {}, lambda c, o: c, {"max_order_notional": D(5000)}, D(5000), D(6000)),
    (
        DenyReason.MAX_OPEN_ORDERS,
        {},
        lambda c, o: replace(c, open_orders=_open(o, 2, ETH)),
        {"max_open_orders": 2},
        D(2),
        D(2),
    ),
    (
        DenyReason.ORDER_RATE,
        {},
        lambda c, o: replace(c, recent_order_ts=tuple(NOW - 100 * n for n in range(10))),
        {},
        D(10),
        D(10),
    ),
    (
        DenyReason.MAX_DAILY_NOTIONAL,
        {},
        lambda c, o: replace(c, traded_notional_today=D(999_000)),
        {},
        D(1_000_000),
        D(1_005_000),
    ),
    (
        DenyReason.MAX_POSITION,
        {},
        lambda c, o: c,
        {"max_position_notional": {BTC: D(5000)}},
        D(5000),
        D(6000),
    ),
    (
        DenyReason.MAX_POSITION_VOLATILITY,
        {"quantity": D("0.3")},
        lambda c, o: replace(c, realized_vols={BTC: D("2.4")}),
        {},
        D("15000.00"),
        D(18000),
    ),
    (DenyReason.MAX_GROSS_EXPOSURE, {}, lambda c, o: c, {"max_gross_exposure": D(5000)}, D(5000), D(6000)),
    (DenyReason.MAX_NET_EXPOSURE, {}, lambda c, o: c, {"max_net_exposure": D(5000)}, D(5000), D(6000)),
    (
        DenyReason.STRATEGY_ALLOCATION,
        {},
        lambda c, o: replace(c, strategy_capital_used={"demo": D(45_000)}),
        {},
        D(50_000),
        D(51_000),
    ),
    (
        DenyReason.INSUFFICIENT_BALANCE,
        {},
        lambda c, o: replace(c, free_balances={"USDT": D(6000)}),
        {},
        D(6000),
        D(6012),
    ),
    (
        DenyReason.MARGIN,
        {},
        lambda c, o: replace(c, margin=MarginAccount(D(1000), D(3), D("0.05"))),
        {},
        D(3),
        D(6),
    ),
]


def test_every_deny_reason_has_a_case() -> None:
    assert {case[0] for case in CASES} == set(DenyReason)


def test_baseline_is_approved(request_: OrderRequest, context: RiskContext, limits: RiskLimits) -> None:
    assert check(request_, context, limits) == Approved(notional=D(6000), reduces_exposure=False)


@pytest.mark.parametrize(
    ("reason", "request_change", "context_change", "limits_change", "limit", "value"),
    CASES,
    ids=[case[0].value for case in CASES],
)
def test_each_deny_reason_fires_with_limit_and_value(
    reason: DenyReason,
    request_change: dict[str, Any],
    context_change: Callable[[RiskContext, Any], RiskContext],
    limits_change: LimitsChange,
    limit: Any,
    value: Any,
    request_: OrderRequest,
    context: RiskContext,
    limits: RiskLimits,
    open_order: Callable[..., Order],
) -> None:
    decision = check(
        replace(request_, **request_change),
        context_change(context, open_order),
        replace(limits, **limits_change),
    )
    assert isinstance(decision, Denied), decision
    assert (decision.reason, decision.limit, decision.value) == (reason, limit, value)
    assert decision.message


def test_missing_reference_price_is_stale_even_for_reducing_orders(
    request_: OrderRequest, context: RiskContext, limits: RiskLimits
) -> None:
    decision = check(request_, replace(context, reference_prices={}), limits)
    assert isinstance(decision, Denied) and (decision.reason, decision.value) == (
        DenyReason.MARKET_DATA_STALE,
        "missing",
    )


def test_stale_data_still_admits_an_order_that_reduces(
    make_context: Callable[[PortfolioSnapshot | None], RiskContext], limits: RiskLimits
) -> None:
    stale = replace(
        make_context(snapshot_long_btc("0.5")), reference_prices={BTC: ReferencePrice(D(60000), NOW - 60_000)}
    )
    sell = OrderRequest("demo", BTC, Side.SELL, OrderType.LIMIT, D("0.2"), D(60000))
    assert check(sell, stale, limits) == Approved(notional=D(12000), reduces_exposure=True)
    buy = replace(sell, side=Side.BUY)
    assert isinstance(denied := check(buy, stale, limits), Denied)
    assert denied.reason is DenyReason.MARKET_DATA_STALE


def test_the_first_failing_check_wins_in_documented_order(
    request_: OrderRequest, context: RiskContext, limits: RiskLimits
) -> None:
    assert [c.__name__ for c in CHECK_ORDER] == [
        "_halted", "_kyc", "_expired", "_instrument", "_strategy", "_reduce_only", "_market_data",
        "_filters", "_order_size", "_activity", "_exposure", "_allocation", "_funds",
    ]  # fmt: skip
    request = replace(request_, quantity=D("0.7000001"), limit_price=D("70000.001"), expires_at_ms=NOW)
    context = replace(
        context,
        trading_state=TradingState.HALTED,
        kyc_verified=False,
        strategies_enabled={},
        free_balances={},
    )
    expected = [
        DenyReason.TRADING_HALTED,
        DenyReason.KYC,
        DenyReason.EXPIRED_INTENT,
        DenyReason.STRATEGY_DISABLED,
        DenyReason.FILTER_STEP_SIZE,
        DenyReason.FILTER_TICK_SIZE,
        DenyReason.MAX_ORDER_QUANTITY,
        DenyReason.PRICE_COLLAR,
        DenyReason.MAX_NOTIONAL,
        DenyReason.INSUFFICIENT_BALANCE,
    ]
    fixes: list[Callable[[OrderRequest, RiskContext], tuple[OrderRequest, RiskContext]]] = [
        lambda r, c: (r, replace(c, trading_state=TradingState.ACTIVE)),
        lambda r, c: (r, replace(c, kyc_verified=True)),
        lambda r, c: (replace(r, expires_at_ms=None), c),
        lambda r, c: (r, replace(c, strategies_enabled={"demo": True})),
        lambda r, c: (replace(r, quantity=D("0.7")), c),
        lambda r, c: (replace(r, limit_price=D("70000")), c),
        lambda r, c: (replace(r, quantity=D("0.4")), c),
        lambda r, c: (replace(r, limit_price=D("60000")), c),
        lambda r, c: (replace(r, quantity=D("0.1")), c),
        lambda r, c: (r, replace(c, free_balances={"USDT": D(100_000)})),
    ]
    for reason, fix in zip(expected, fixes, strict=True):
        decision = check(request, context, limits)
        assert isinstance(decision, Denied) and decision.reason is reason, (reason, decision)
        request, context = fix(request, context)
    assert isinstance(check(request, context, limits), Approved)


def test_reducing_admits_only_orders_that_reduce(
    make_context: Callable[[PortfolioSnapshot | None], RiskContext], limits: RiskLimits
) -> None:
    context = replace(make_context(snapshot_long_btc("0.5")), trading_state=TradingState.REDUCING)
    sell = OrderRequest("demo", BTC, Side.SELL, OrderType.LIMIT, D("0.2"), D(60000))
    assert check(sell, context, limits) == Approved(notional=D(12000), reduces_exposure=True)
    for opening in (replace(sell, quantity=D("0.6")), replace(sell, side=Side.BUY)):
        decision = check(opening, context, limits)
        assert isinstance(decision, Denied) and decision.reason is DenyReason.REDUCE_ONLY
    no_position = OrderRequest("demo", ETH, Side.SELL, OrderType.LIMIT, D("1"), D(3000))
    decision = check(no_position, context, limits)
    assert isinstance(decision, Denied) and decision.reason is DenyReason.REDUCE_ONLY


def test_open_sells_count_toward_what_a_sell_can_reduce(
    make_context: Callable[[PortfolioSnapshot | None], RiskContext],
    limits: RiskLimits,
    open_order: Callable[..., Order],
) -> None:
    pending = open_order(BTC, Side.SELL, "0.4", "60000", OrderState.OPEN)
    context = replace(make_context(snapshot_long_btc("0.5")), open_orders=(pending,))
    sell = OrderRequest("demo", BTC, Side.SELL, OrderType.LIMIT, D("0.2"), D(60000), reduce_only=True)
    decision = check(sell, context, limits)
    assert isinstance(decision, Denied) and decision.reason is DenyReason.REDUCE_ONLY
    assert check(replace(sell, quantity=D("0.1")), context, limits) == Approved(D(6000), True)


def test_halted_denies_every_new_order_even_reducing(
    make_context: Callable[[PortfolioSnapshot | None], RiskContext], limits: RiskLimits
) -> None:
    context = replace(make_context(snapshot_long_btc("0.5")), trading_state=TradingState.HALTED)
    for side in Side:
        for order_type, price in ((OrderType.LIMIT, D(60000)), (OrderType.MARKET, None)):
            request = OrderRequest("demo", BTC, side, order_type, D("0.1"), price)
            decision = check(request, context, limits)
            assert isinstance(decision, Denied) and decision.reason is DenyReason.TRADING_HALTED


def test_market_orders_are_valued_at_the_mid_moved_by_the_collar(
    context: RiskContext, limits: RiskLimits
) -> None:
    buy = OrderRequest("demo", BTC, Side.BUY, OrderType.MARKET, D("0.1"))
    assert check(buy, context, limits) == Approved(notional=D("6060.000"), reduces_exposure=False)
    sell = replace(buy, side=Side.SELL)
    assert check(sell, context, limits) == Approved(notional=D("5940.000"), reduces_exposure=False)


def test_a_volatility_jump_shrinks_what_may_be_opened(
    request_: OrderRequest, context: RiskContext, limits: RiskLimits
) -> None:
    estimator = EwmaVolatility(D(60), min_returns=5)
    ts, price = NOW - 600_000, D(60000)
    for step in range(300):
        estimator.update(price + (3 if step % 2 else 0), ts)
        ts += 1000
    calm = estimator.annualized()
    request = replace(request_, quantity=D("0.3"))
    before = check(request, replace(context, realized_vols={BTC: calm} if calm else {}), limits)
    assert calm is not None and calm < limits.volatility_scaling.reference_vol
    assert before == Approved(notional=D(18000), reduces_exposure=False)
    estimator.update(D(62000), ts)
    jumped = estimator.annualized()
    assert jumped is not None and jumped > 4 * limits.volatility_scaling.reference_vol
    after = check(request, replace(context, realized_vols={BTC: jumped}), limits)
    assert isinstance(after, Denied) and after.reason is DenyReason.MAX_POSITION_VOLATILITY
    assert after.limit == D(60000) * limits.volatility_scaling.floor_factor


def test_spot_buys_reserve_unacknowledged_open_buys_in_full_and_acknowledged_ones_for_fees(
    request_: OrderRequest,
    context: RiskContext,
    limits: RiskLimits,
    open_order: Callable[..., Order],
) -> None:
    context = replace(context, free_balances={"USDT": D(36_000)})
    in_flight = open_order(BTC, Side.BUY, "0.5", "60000", OrderState.SUBMITTING)
    decision = check(request_, replace(context, open_orders=(in_flight,)), limits)
    assert isinstance(decision, Denied) and decision.reason is DenyReason.INSUFFICIENT_BALANCE
    assert decision.value == D(6012) + D(30_030)
    acknowledged = replace(in_flight, state=OrderState.OPEN)
    assert isinstance(check(request_, replace(context, open_orders=(acknowledged,)), limits), Approved)


def test_spot_sell_needs_the_base_asset(
    request_: OrderRequest, context: RiskContext, limits: RiskLimits
) -> None:
    sell = replace(request_, side=Side.SELL)
    decision = check(sell, replace(context, free_balances={"BTC": D("0.05")}), limits)
    assert isinstance(decision, Denied)
    assert (decision.reason, decision.limit, decision.value) == (
        DenyReason.INSUFFICIENT_BALANCE,
        D("0.05"),
        D("0.1"),
    )


def test_margin_account_admits_within_leverage_and_checks_maintenance(
    request_: OrderRequest, context: RiskContext, limits: RiskLimits
) -> None:
    assert isinstance(
        check(request_, replace(context, margin=MarginAccount(D(3000), D(3), D("0.1"))), limits), Approved
    )
    decision = check(request_, replace(context, margin=MarginAccount(D(500), D(20), D("0.1"))), limits)
    assert isinstance(decision, Denied)
    assert (decision.reason, decision.limit, decision.value) == (DenyReason.MARGIN, D("600.0"), D(500))


def test_unconfigured_symbols_and_strategies_are_denied(
    request_: OrderRequest, context: RiskContext, limits: RiskLimits
) -> None:
    decision = check(request_, context, replace(limits, max_order_quantity={}))
    assert isinstance(decision, Denied) and (decision.reason, decision.limit) == (
        DenyReason.MAX_ORDER_QUANTITY,
        None,
    )
    other = replace(request_, strategy="other")
    decision = check(other, replace(context, strategies_enabled={"other": True}), limits)
    assert isinstance(decision, Denied) and (decision.reason, decision.limit) == (
        DenyReason.STRATEGY_ALLOCATION,
        None,
    )


def test_bad_requests_are_refused() -> None:
    with pytest.raises(ValueError, match="reference mid"):
        ReferencePrice(D(0), NOW)
    with pytest.raises(ValueError, match="maintenance_margin_rate"):
        MarginAccount(D(1000), D(3), D(1))
    with pytest.raises(ValueError, match="quantity"):
        OrderRequest("demo", BTC, Side.BUY, OrderType.LIMIT, D(0), D(1))
    with pytest.raises(ValueError, match="limit_price"):
        OrderRequest("demo", BTC, Side.BUY, OrderType.LIMIT, D(1))
    with pytest.raises(ValueError, match="market order"):
        OrderRequest("demo", BTC, Side.BUY, OrderType.MARKET, D(1), D(1))
