"""A baseline the risk tests vary one field at a time: the demo limits, the demo venue, a flat book."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal as D

import pytest

from tradeops.domain.control import TradingState
from tradeops.domain.limits import RiskLimits
from tradeops.domain.orders import Order, OrderState
from tradeops.domain.portfolio import PortfolioSnapshot
from tradeops.domain.risk import OrderRequest, ReferencePrice, RiskContext
from tradeops.domain.values import Instrument, OrderType, Side

NOW_MS = 1_700_000_000_000
MIDS = {"BTC/USDT": D(60000), "ETH/USDT": D(3000), "SOL/USDT": D(150)}


def instrument(symbol: str, tick: str, step: str, max_qty: str = "9000") -> Instrument:
    base, quote = symbol.split("/")
    return Instrument(symbol, base + quote, base, quote, D(tick), D(step), D(step), D(max_qty), D(5))


INSTRUMENTS = {
    "BTC/USDT": instrument("BTC/USDT", "0.01", "0.00001"),
    "ETH/USDT": instrument("ETH/USDT", "0.01", "0.0001"),
    "SOL/USDT": instrument("SOL/USDT", "0.01", "0.001"),
}


def make_context(snapshot: PortfolioSnapshot | None = None) -> RiskContext:
    return RiskContext(
        now_ms=NOW_MS,
        trading_state=TradingState.ACTIVE,
        instruments=INSTRUMENTS,
        enabled_symbols=frozenset(INSTRUMENTS),
        reference_prices={symbol: ReferencePrice(mid, NOW_MS - 100) for symbol, mid in MIDS.items()},
        realized_vols={symbol: D("0.3") for symbol in MIDS},
        portfolio=snapshot or PortfolioSnapshot.empty("USDT", NOW_MS),
        free_balances={"USDT": D(100_000), "BTC": D(1), "ETH": D(10), "SOL": D(100)},
        open_orders=(),
        traded_notional_today=D(0),
        recent_order_ts=(),
        strategies_enabled={"demo": True},
        strategy_capital_used={},
        taker_fee_rate=D("0.001"),
    )


def open_order(
    symbol: str, side: Side, quantity: str, price: str, state: OrderState, number: int = 0
) -> Order:
    order = Order.new(
        client_order_id=f"toen-{symbol[:3].lower()}{side.value}{number}",
        intent_id=f"intent-{number}",
        strategy="demo",
        symbol=symbol,
        side=side,
        type=OrderType.LIMIT,
        quantity=D(quantity),
        created_at=NOW_MS - 1000,
        limit_price=D(price),
    )
    return replace(order, state=state)


@pytest.fixture
def context() -> RiskContext:
    return make_context()


@pytest.fixture(name="make_context", scope="session")
def make_context_fixture() -> Callable[[PortfolioSnapshot | None], RiskContext]:
    return make_context


@pytest.fixture(name="open_order")
def open_order_fixture() -> Callable[..., Order]:
    return open_order


@pytest.fixture
def limits() -> RiskLimits:
    return RiskLimits.default_for_demo()


@pytest.fixture
def request_() -> OrderRequest:
    """Buy 0.1 BTC at 60000 (notional 6000): approved against the baseline."""
    return OrderRequest("demo", "BTC/USDT", Side.BUY, OrderType.LIMIT, D("0.1"), D(60000))
