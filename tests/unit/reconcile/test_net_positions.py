"""Reconciliation and the portfolio derive positions by one rule: base-asset fees reduce the holding."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from tradeops.domain.orders import Fill
from tradeops.domain.portfolio import Position
from tradeops.domain.reconcile_types import net_positions
from tradeops.domain.values import Side

fills = st.lists(
    st.builds(
        lambda n, side, qty, fee_in_base: Fill(
            "cid",
            f"t{n}",
            "BTC/USDT",
            side,
            D(60000),
            D(qty) / 1000,
            D(qty) / 1_000_000,
            "BTC" if fee_in_base else "USDT",
            n,
            False,
        ),
        st.integers(1, 10**6),
        st.sampled_from(list(Side)),
        st.integers(1, 5000),
        st.booleans(),
    ),
    max_size=30,
    unique_by=lambda f: f.trade_id,
)


@given(fills)
def test_net_positions_equal_the_portfolio_rule(trades: list[Fill]) -> None:
    position = Position("BTC/USDT")
    for fill in sorted(trades, key=lambda f: f.ts):
        position = position.apply_fill(fill)
    assert net_positions(trades).get("BTC/USDT", D(0)) == position.quantity
