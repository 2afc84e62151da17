"""DemoStrategy: valid bracketed intents within the demo limits, deterministic, silent on bad data."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeops.domain.events import TradeIntent, parse_detail
from tradeops.domain.limits import RiskLimits
from tradeops.domain.orders import Fill
from tradeops.domain.values import OrderType, Side
from tradeops.gateway.quality import Feed, FeedQuality, Issue, MarketView
from tradeops.strategies.base import IntentIds
from tradeops.strategies.demo import DemoConfig, DemoStrategy, DemoSymbol

D = Decimal
LIMITS = RiskLimits.default_for_demo()
BTC = "BTC/USDT"


def view(
    mid: Decimal,
    *,
    symbol: str = BTC,
    quality: FeedQuality = FeedQuality.OK,
    source: Feed | None = Feed.PRIMARY,
    spread: Decimal = D("1"),
) -> MarketView:
    half = spread / 2
    issues = frozenset() if quality is FeedQuality.OK else frozenset({Issue.STALE})
    return MarketView(symbol, quality, issues, source, mid - half, mid + half, mid, 1, 10)


def run(strategy: DemoStrategy, mids: Iterable[Decimal], step_ms: int = 1_000) -> list[TradeIntent]:
    intents: list[TradeIntent] = []
    for index, mid in enumerate(mids):
        intents.extend(strategy.on_market(view(mid), 1_700_000_000_000 + index * step_ms))
    return intents


def fresh(**overrides: object) -> DemoStrategy:
    strategy = DemoStrategy(DemoConfig(**overrides))  # type: ignore[arg-type]
    strategy.ids = IntentIds.resume("demo", start_ms=1)
    return strategy


DIP = [D("60000")] * 6 + [D("59950")]
SPIKE = [D("60000")] * 6 + [D("60050")]


def test_buys_a_dip_with_a_consistent_bracket() -> None:
    intents = run(fresh(), DIP)
    assert len(intents) == 1
    intent = intents[0]
    assert (intent.side, intent.type, intent.symbol) == (Side.BUY, OrderType.LIMIT, BTC)
    assert intent.limit_price == D("59949.50")  # joins the bid
    assert intent.stop_loss is not None and intent.take_profit is not None
    assert intent.stop_loss < intent.limit_price < intent.take_profit
    assert intent.expires_at is not None and intent.expires_at > intent.occurred_at
    assert intent.quantity <= LIMITS.max_order_quantity[BTC]
    assert intent.quantity * intent.limit_price <= LIMITS.max_order_notional
    assert intent.intent_id == "demo-1000" and intent.strategy == "demo"
    # it survives the wire: what the intake will parse is the same intent
    assert parse_detail("Trade Intent", intent.model_dump(mode="json")) == intent


def test_no_intent_while_warming_up_or_without_a_deviation() -> None:
    assert run(fresh(), DIP[2:]) == []
    assert run(fresh(), [D("60000")] * 20) == []


def test_first_entry_is_a_buy_so_a_spike_waits() -> None:
    assert run(fresh(), SPIKE) == []


@pytest.mark.parametrize(
    ("quality", "source"),
    [(FeedQuality.STALE, Feed.PRIMARY), (FeedQuality.DEGRADED, Feed.REST), (FeedQuality.STALE, None)],
)
def test_no_intent_on_stale_or_rest_fed_views(quality: FeedQuality, source: Feed | None) -> None:
    strategy = fresh()
    run(strategy, DIP[:-1])
    now = 1_700_000_100_000
    assert strategy.on_market(view(D("59000"), quality=quality, source=source), now) == ()
    no_quote = MarketView(BTC, FeedQuality.OK, frozenset(), Feed.PRIMARY, None, None, None, 1, 1)
    assert strategy.on_market(no_quote, now) == ()
    assert strategy.on_market(view(D("59000"), symbol="XRP/USDT"), now) == ()


def test_one_position_per_symbol_and_sides_alternate() -> None:
    strategy = fresh()
    [entry] = run(strategy, DIP)
    # pending: another dip right away gives nothing
    assert strategy.on_market(view(D("59800")), 1_700_000_007_000) == ()
    fill = Fill("c", "t1", BTC, Side.BUY, D("59949.50"), entry.quantity, D("0.000002"), "BTC", 1, True)
    strategy.on_fill(fill)
    assert strategy.open_quantity(BTC) == entry.quantity - D("0.000002")
    later = 1_700_000_100_000
    # a position is open: neither a dip nor a spike opens another one
    assert strategy.on_market(view(D("59000")), later) == ()
    assert strategy.on_market(view(D("61000")), later + 5_000) == ()
    exit_fill = Fill("c2", "t2", BTC, Side.SELL, D("60100"), entry.quantity, D("0"), "USDT", 2, False)
    strategy.on_fill(exit_fill)  # the take-profit closed it (the fee left dust below the threshold)
    for offset in range(10):
        strategy.on_market(view(D("60000")), later + 10_000 + offset * 1_000)
    assert strategy.on_market(view(D("59000")), later + 30_000) == ()  # next side is SELL
    [second] = strategy.on_market(view(D("61000")), later + 34_000)
    assert second.side is Side.SELL
    assert second.stop_loss is not None and second.take_profit is not None
    assert second.stop_loss > (second.limit_price or 0) > second.take_profit


def test_an_unfilled_entry_expires_and_the_side_stays() -> None:
    strategy = fresh(expires_in_ms=2_000, pending_grace_ms=1_000)
    [first] = run(strategy, DIP)
    assert first.side is Side.BUY
    base = 1_700_000_006_000
    assert strategy.on_market(view(D("59800")), base + 2_000) == ()  # still pending
    [again] = strategy.on_market(view(D("59700")), base + 3_500)
    assert again.side is Side.BUY and again.intent_id != first.intent_id


def test_deterministic_given_the_same_prices() -> None:
    mids = [D("60000") + D(i % 7 * 13 - 40) for i in range(60)]
    first, second = run(fresh(), mids, 3_000), run(fresh(), mids, 3_000)
    assert first and first == second


def test_configuration_is_checked_against_the_limits() -> None:
    too_big = DemoConfig(symbols=(DemoSymbol(BTC, D("0.6"), D("0.01")),))
    with pytest.raises(ValueError, match="exceeds the limit"):
        DemoStrategy(too_big)
    unknown = DemoConfig(symbols=(DemoSymbol("XRP/USDT", D("1"), D("0.0001")),))
    with pytest.raises(ValueError, match="exceeds the limit"):
        DemoStrategy(unknown)
    with pytest.raises(ValueError, match="no allocation"):
        DemoStrategy(name="other")
    with pytest.raises(ValueError):
        DemoConfig(ewma_alpha=D("0"))
    with pytest.raises(ValueError):
        DemoSymbol(BTC, D("-1"), D("0.01"))


@settings(max_examples=60, deadline=None)
@given(
    moves=st.lists(st.integers(min_value=-300, max_value=300), min_size=8, max_size=60),
    symbol_index=st.integers(min_value=0, max_value=2),
)
def test_every_intent_is_valid_and_within_the_demo_limits(moves: list[int], symbol_index: int) -> None:
    strategy = fresh(decision_interval_ms=1)
    spec = strategy.config.symbols[symbol_index]
    start = {"BTC/USDT": D("60000"), "ETH/USDT": D("3000"), "SOL/USDT": D("150")}[spec.symbol]
    mid = start
    intents: list[TradeIntent] = []
    for index, move in enumerate(moves):
        mid = max(start / 2, mid + start * D(move) / D(100_000))
        now = 1_700_000_000_000 + index * 20_000
        intents.extend(strategy.on_market(view(mid, symbol=spec.symbol, spread=spec.tick_size * 2), now))
    for intent in intents:
        assert intent.quantity <= LIMITS.max_order_quantity[intent.symbol]
        assert intent.limit_price is not None
        assert intent.quantity * intent.limit_price <= LIMITS.max_order_notional
        assert intent.limit_price % spec.tick_size == 0
        assert intent.stop_loss is not None and intent.stop_loss % spec.tick_size == 0
        assert intent.take_profit is not None and intent.take_profit % spec.tick_size == 0
        TradeIntent.model_validate(intent.model_dump())  # re-validates the side/bracket ladder
    assert len({intent.intent_id for intent in intents}) == len(intents)
    assert all(intent.side is Side.BUY for intent in intents)  # no fill ever came back
