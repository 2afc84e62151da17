"""Property: orders the engine approves, once filled, never leave a position or exposure over its limit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal as D

from hypothesis import event, given, settings
from hypothesis import strategies as st

from tradeops.domain.limits import RiskLimits
from tradeops.domain.orders import Fill
from tradeops.domain.portfolio import Portfolio, PortfolioSnapshot
from tradeops.domain.risk import Approved, MarginAccount, OrderRequest, RiskContext, check
from tradeops.domain.values import OrderType, Side

MIDS = {"BTC/USDT": D(60000), "ETH/USDT": D(3000), "SOL/USDT": D(150)}
STEPS = {"BTC/USDT": D("0.00001"), "ETH/USDT": D("0.0001"), "SOL/USDT": D("0.001")}

orders = st.lists(
    st.tuples(
        st.sampled_from(sorted(MIDS)),
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(min_value=1, max_value=50),  # percent of the max order quantity
        st.one_of(st.none(), st.integers(min_value=-100, max_value=100)),  # limit price offset in bps
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=120, deadline=None)
@given(
    steps=orders,
    vols=st.tuples(*(st.decimals(min_value=D("0.1"), max_value=D(5), places=2) for _ in MIDS)),
    net_limit=st.integers(min_value=5_000, max_value=80_000),
)
def test_approved_orders_never_breach_position_or_exposure_limits(
    steps: list[tuple[str, Side, int, int | None]],
    vols: tuple[D, ...],
    net_limit: int,
    make_context: Callable[[PortfolioSnapshot | None], RiskContext],
) -> None:
    limits = replace(
        RiskLimits.default_for_demo(),
        max_net_exposure=D(net_limit),
        max_daily_notional=D(10**9),
        order_burst=1000,
    )
    realized_vols = dict(zip(sorted(MIDS), vols, strict=True))
    portfolio = Portfolio("USDT", {"USDT": D(10**6)})
    approvals = 0
    for number, (symbol, side, percent, offset_bps) in enumerate(steps):
        snapshot = portfolio.mark(MIDS, number)
        context = replace(
            make_context(snapshot),
            realized_vols=realized_vols,
            margin=MarginAccount(D(10**7), D(10), D("0.05")),
            strategy_capital_used={},
        )
        quantity = (limits.max_order_quantity[symbol] * percent / 100).quantize(STEPS[symbol])
        mid = MIDS[symbol]
        price = None if offset_bps is None else (mid * (1 + D(offset_bps) / 10_000)).quantize(D("0.01"))
        order_type = OrderType.MARKET if price is None else OrderType.LIMIT
        decision = check(OrderRequest("demo", symbol, side, order_type, quantity, price), context, limits)
        if not isinstance(decision, Approved):
            continue
        approvals += 1
        fill_price = decision.notional / quantity
        portfolio.apply_fill(
            Fill("toen-p", str(number), symbol, side, fill_price, quantity, D(0), "USDT", number, False)
        )
        after = portfolio.mark(MIDS, number)
        for name, valuation in after.positions.items():
            factor = limits.volatility_scaling.factor(realized_vols[name])
            assert valuation.gross_exposure <= limits.max_position_notional[name] * factor
        assert after.gross_exposure <= limits.max_gross_exposure
        assert abs(after.net_exposure) <= limits.max_net_exposure
    event(f"approved orders: {min(approvals, 5)}{'+' if approvals >= 5 else ''}")
