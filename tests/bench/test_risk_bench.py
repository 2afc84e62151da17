"""Pre-trade risk benchmark: the full check set per order against a no-op baseline, measured in one run.

Reports the mean per call of ``check()`` and of a bare loop calling a no-op with the same arguments,
their ratio, and the p50/p99 of the time ``check()`` adds per order (issue 5 goal: p99 <= 25 us added).
The context is realistic: three symbols with positions, 20 open orders, 8 recent order timestamps.
"""

from __future__ import annotations

import statistics
import time
from decimal import Decimal as D

import pytest

from tradeops.domain.limits import RiskLimits
from tradeops.domain.orders import Fill, Order, OrderState
from tradeops.domain.portfolio import Portfolio
from tradeops.domain.risk import (
    Approved,
    OrderRequest,
    ReferencePrice,
    RiskContext,
    RiskDecision,
    TradingState,
    check,
)
from tradeops.domain.values import Instrument, OrderType, Side

pytestmark = pytest.mark.bench
NOW = 1_700_000_000_000
MIDS = {"BTC/USDT": D(60000), "ETH/USDT": D(3000), "SOL/USDT": D(150)}
ITERATIONS = 20_000


def _context() -> RiskContext:
    instruments = {
        symbol: Instrument(
            symbol,
            symbol.replace("/", ""),
            base,
            "USDT",
            D("0.01"),
            D("0.00001"),
            D("0.00001"),
            D(9000),
            D(5),
        )
        for symbol, base in (("BTC/USDT", "BTC"), ("ETH/USDT", "ETH"), ("SOL/USDT", "SOL"))
    }
    portfolio = Portfolio("USDT", {"USDT": D(100_000)})
    for number, (symbol, quantity) in enumerate((("BTC/USDT", "0.2"), ("ETH/USDT", "2"), ("SOL/USDT", "10"))):
        portfolio.apply_fill(
            Fill("toen-b", str(number), symbol, Side.BUY, MIDS[symbol], D(quantity), D(0), "USDT", NOW, False)
        )
    open_orders = tuple(
        Order.new(client_order_id=f"toen-{n}", intent_id=f"i{n}", strategy="demo", symbol="ETH/USDT",
                  side=Side.BUY if n % 2 else Side.SELL, type=OrderType.LIMIT, quantity=D("0.01"),
                  created_at=NOW - 1000, limit_price=D(2990)).transition(OrderState.SUBMITTING, NOW)
        for n in range(20)
    )  # fmt: skip
    return RiskContext(
        now_ms=NOW,
        trading_state=TradingState.ACTIVE,
        instruments=instruments,
        enabled_symbols=frozenset(MIDS),
        reference_prices={symbol: ReferencePrice(mid, NOW - 50) for symbol, mid in MIDS.items()},
        realized_vols={symbol: D("0.5") for symbol in MIDS},
        portfolio=portfolio.mark(MIDS, NOW),
        free_balances={"USDT": D(80_000), "BTC": D(1), "ETH": D(10), "SOL": D(100)},
        open_orders=open_orders,
        traded_notional_today=D(25_000),
        recent_order_ts=tuple(NOW - 500 * n for n in range(8)),
        strategies_enabled={"demo": True},
        strategy_capital_used={"demo": D(20_000)},
        taker_fee_rate=D("0.001"),
    )


def _noop(request: OrderRequest, context: RiskContext, limits: RiskLimits) -> RiskDecision:
    return Approved(notional=request.quantity, reduces_exposure=False)


def _per_call_ns(function: object, args: tuple[object, ...], iterations: int) -> list[int]:
    samples = []
    clock = time.perf_counter_ns
    for _ in range(iterations):
        start = clock()
        function(*args)  # type: ignore[operator]
        samples.append(clock() - start)
    return samples


def test_check_against_a_bare_loop() -> None:
    context, limits = _context(), RiskLimits.default_for_demo()
    request = OrderRequest("demo", "BTC/USDT", Side.BUY, OrderType.LIMIT, D("0.1"), D("60010.00"))
    assert isinstance(check(request, context, limits), Approved)
    _per_call_ns(check, (request, context, limits), 2000)  # warm-up

    start = time.perf_counter_ns()
    for _ in range(ITERATIONS):
        check(request, context, limits)
    check_total = time.perf_counter_ns() - start
    start = time.perf_counter_ns()
    for _ in range(ITERATIONS):
        _noop(request, context, limits)
    bare_total = time.perf_counter_ns() - start

    checked = sorted(_per_call_ns(check, (request, context, limits), ITERATIONS))
    baseline = sorted(_per_call_ns(_noop, (request, context, limits), ITERATIONS))

    def pct(samples: list[int], q: float) -> float:
        return samples[min(len(samples) - 1, int(q * len(samples)))] / 1000

    added_p50 = pct(checked, 0.5) - pct(baseline, 0.5)
    added_p99 = pct(checked, 0.99) - pct(baseline, 0.99)
    print(
        f"\nrisk check x{ITERATIONS}: mean {check_total / ITERATIONS / 1000:.2f} us vs bare loop "
        f"{bare_total / ITERATIONS / 1000:.2f} us (ratio {check_total / bare_total:.1f}x); "
        f"check p50 {pct(checked, 0.5):.2f} us p99 {pct(checked, 0.99):.2f} us; "
        f"added p50 {added_p50:.2f} us p99 {added_p99:.2f} us (goal p99 <= 25 us); "
        f"stdev {statistics.pstdev(checked) / 1000:.2f} us"
    )
    assert check_total > bare_total  # the measurement measured something
