"""The gateway's risk gate: the context it assembles and the checks it adds on top of the domain's."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal as D

import pytest

from tradeops.domain.control import TradingState
from tradeops.domain.limits import RiskLimits
from tradeops.domain.orders import Fill, Order
from tradeops.domain.portfolio import Portfolio
from tradeops.domain.risk import Approved, Denied, DenyReason, OrderRequest, RiskContext, RiskDecision
from tradeops.domain.risk import check as domain_check
from tradeops.domain.values import Instrument, OrderType, Side
from tradeops.gateway import risk_gate
from tradeops.gateway.clock import wall_ms
from tradeops.gateway.quality import Feed, FeedQuality, MarketView
from tradeops.gateway.risk_gate import BalanceCache, RiskGate, VenueUnavailable
from tradeops.venue.outcomes import Accepted, Retryable
from tradeops.venue.ratelimit import scoped_deadline

NOW = 1_700_000_000_000
SYMBOL = "SOL/USDT"
INSTRUMENT = Instrument(SYMBOL, "SOLUSDT", "SOL", "USDT", D("0.01"), D("0.01"), D("0.01"), D("9000"), D(5))


def view(quality: FeedQuality = FeedQuality.OK, source: Feed = Feed.PRIMARY) -> MarketView:
    return MarketView(SYMBOL, quality, frozenset(), source, D("99.9"), D("100.1"), D("100"), NOW - 50, 50)


def order(n: int, side: Side = Side.BUY, quantity: str = "1") -> Order:
    return Order.new(
        client_order_id=f"cid-{n}",
        intent_id=f"i-{n}",
        strategy="demo",
        symbol=SYMBOL,
        side=side,
        type=OrderType.LIMIT,
        quantity=D(quantity),
        limit_price=D("100"),
        created_at=NOW,
    )


async def balances_ok() -> Accepted[dict[str, tuple[D, D]]]:
    return Accepted({"USDT": (D("100000"), D(0)), "SOL": (D("10"), D(0))})


def gate(
    current: MarketView, limits: RiskLimits | None = None, portfolio: Portfolio | None = None
) -> RiskGate:
    held = portfolio or Portfolio("USDT", {"USDT": D("100000")})
    return RiskGate(
        limits=limits or RiskLimits.default_for_demo(),
        instruments={SYMBOL: INSTRUMENT},
        symbols=[SYMBOL],
        view=lambda _symbol: current,
        portfolio=lambda: held,
        balances=BalanceCache(balances_ok),
        working_orders=list,
        trading_state=lambda: TradingState.ACTIVE,
        strategy_enabled=lambda name: name == "demo",
        now_ms=lambda: NOW,
    )


async def test_an_order_on_fresh_data_is_approved_and_counted() -> None:
    decision = await gate(view()).decide(order(1))
    assert isinstance(decision, Approved) and decision.notional == D("100")


async def test_opening_exposure_on_rest_fed_data_is_refused_though_the_domain_check_passes() -> None:
    decision = await gate(view(FeedQuality.DEGRADED, Feed.REST)).decide(order(1))
    assert isinstance(decision, Denied) and decision.reason is DenyReason.MARKET_DATA_STALE
    assert "rest" in decision.message


async def test_reducing_a_position_on_rest_fed_data_is_allowed() -> None:
    portfolio = Portfolio("USDT", {"USDT": D("100000")})
    portfolio.apply_fill(
        Fill("cid-0", "t-0", SYMBOL, Side.BUY, D("100"), D("2"), D(0), "USDT", NOW - 1000, False)
    )
    sell = order(2, Side.SELL)
    decision = await gate(view(FeedQuality.DEGRADED, Feed.REST), portfolio=portfolio).decide(sell)
    assert isinstance(decision, Approved) and decision.reduces_exposure


async def test_a_held_symbol_gone_stale_is_valued_at_its_last_quote_reducing_allowed_opening_refused() -> (
    None
):
    portfolio = Portfolio("USDT", {"USDT": D("100000")})
    portfolio.apply_fill(
        Fill("cid-0", "t-0", SYMBOL, Side.BUY, D("100"), D("2"), D(0), "USDT", NOW - 60_000, False)
    )
    last = MarketView(
        SYMBOL, FeedQuality.STALE, frozenset(), None, D("99.9"), D("100.1"), D("100"), None, 30_000
    )
    risk = gate(last, portfolio=portfolio)
    reduce = await risk.decide(order(1, Side.SELL))
    assert isinstance(reduce, Approved) and reduce.reduces_exposure
    opening = await risk.decide(order(2, Side.BUY))
    assert isinstance(opening, Denied) and opening.reason is DenyReason.MARKET_DATA_STALE


async def test_approved_orders_count_as_open_until_settled() -> None:
    limits = RiskLimits.from_dict(
        {**RiskLimits.default_for_demo().to_dict(), "max_open_orders_per_symbol": 2}
    )
    risk = gate(view(), limits)
    first, second = await asyncio.gather(risk.decide(order(1)), risk.decide(order(2)))
    assert isinstance(first, Approved) and isinstance(second, Approved)
    third = await risk.decide(order(3))
    assert isinstance(third, Denied) and third.reason is DenyReason.MAX_OPEN_ORDERS
    risk.settled("cid-1")  # submitted: the OMS's working set (empty here) speaks for it now
    assert isinstance(await risk.decide(order(4)), Approved)


async def test_the_rate_check_sees_only_its_window_however_many_orders_came_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A busy day's approvals are not carried into every decision: only the rate window's are."""
    clock = [NOW]
    limits = RiskLimits.default_for_demo()  # 10 orders per 2 s window
    risk = gate(view(), limits)
    risk._now_ms = lambda: clock[0]
    seen: list[int] = []

    def check(request: OrderRequest, context: RiskContext, limits: RiskLimits) -> RiskDecision:
        seen.append(len(context.recent_order_ts))
        return domain_check(request, context, limits)

    monkeypatch.setattr(risk_gate, "check", check)
    for n in range(300):
        clock[0] = NOW + n * 250  # under the limit's pace (5/s): every order is approved
        decision = await risk.decide(order(n, quantity="0.1"))
        assert isinstance(decision, Approved), decision
        risk.settled(f"cid-{n}")
    assert max(seen) <= limits.order_burst, max(seen)
    burst = [await risk.decide(order(1000 + n, quantity="0.1")) for n in range(limits.order_burst)]
    denied = [d for d in burst if isinstance(d, Denied)]
    assert denied and all(d.reason is DenyReason.ORDER_RATE for d in denied)  # the window still counts


async def test_balances_are_cached_and_the_last_good_ones_survive_a_failed_read() -> None:
    answers: list[object] = [await balances_ok(), Retryable("rate limited", "RateLimitExceeded", 429, 1.0)]
    calls = 0

    async def fetch() -> object:
        nonlocal calls
        calls += 1
        return answers[min(calls - 1, 1)]

    clock = [0.0]
    cache = BalanceCache(fetch, max_age_s=2.0, monotonic=lambda: clock[0])
    first = await cache.get()
    assert await cache.get() == first and calls == 1
    clock[0] = 5.0
    assert await cache.get() == first and calls == 2  # stale but known beats none

    async def failing() -> object:
        return Retryable("rate limited", "RateLimitExceeded", 429, 1.0)

    with pytest.raises(VenueUnavailable):
        await BalanceCache(failing).get()


async def test_a_due_re_read_goes_only_if_it_can_go_now_and_a_required_one_waits_up_to_the_deadline() -> None:
    release = asyncio.Event()
    deadlines: list[int | None] = []

    async def fetch() -> object:
        deadlines.append(scoped_deadline())  # what the weight budget of the venue call sees
        if len(deadlines) == 2:
            await release.wait()
        return await balances_ok()

    clock = [0.0]
    cache = BalanceCache(fetch, max_age_s=1.0, required_age_s=30.0, monotonic=lambda: clock[0])
    first = await cache.snapshot()
    clock[0] = 5.0
    before = wall_ms()
    slow = asyncio.create_task(cache.snapshot())  # a due re-read, waiting on the venue, holding the cache
    await asyncio.sleep(0)
    started = time.monotonic()
    routine = await cache.snapshot()  # does not queue behind it
    assert time.monotonic() - started < 0.1 and not routine.fresh and routine.generation == first.generation
    deadline = wall_ms() + 200
    required = await cache.snapshot(deadline_ms=deadline, require_fresh=True)
    assert 0.1 < time.monotonic() - started < 1.0, "the required read did not wait, or waited too long"
    assert not required.fresh and required.generation == first.generation
    release.set()
    assert (await slow).fresh
    clock[0] = 40.0  # older than required_age_s: waited for, up to the deadline given
    assert (await cache.snapshot(deadline_ms=deadline + 60_000)).fresh
    assert deadlines[0] is None and deadlines[2] == deadline + 60_000
    assert deadlines[1] is not None and before <= deadlines[1] <= wall_ms()  # "now": only if it can go now
