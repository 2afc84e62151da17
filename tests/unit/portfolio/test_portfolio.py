"""Portfolio: average-cost PnL against hand-computed examples, fees by asset, duplicates, arrival order."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeops.domain.orders import Fill
from tradeops.domain.portfolio import FillResult, LateFillError, MissingPriceError, Portfolio, Position
from tradeops.domain.values import Side


def fill(
    trade_id: str,
    side: Side,
    quantity: str,
    price: str,
    *,
    symbol: str = "BTC/USDT",
    fee: str = "0",
    fee_asset: str = "USDT",
    ts: int | None = None,
) -> Fill:
    return Fill(
        client_order_id="toen-test",
        trade_id=trade_id,
        symbol=symbol,
        side=side,
        price=D(price),
        quantity=D(quantity),
        fee=D(fee),
        fee_asset=fee_asset,
        ts=int(trade_id) if ts is None else ts,
        is_maker=False,
    )


def test_adding_re_averages_and_reducing_realizes() -> None:
    position = Position("BTC/USDT").apply_fill(fill("1", Side.BUY, "1", "100"))
    position = position.apply_fill(fill("2", Side.BUY, "3", "120"))
    assert (position.quantity, position.average_entry_price, position.realized_pnl) == (D(4), D(115), D(0))
    position = position.apply_fill(fill("3", Side.SELL, "1", "130"))
    assert (position.quantity, position.average_entry_price, position.realized_pnl) == (D(3), D(115), D(15))


def test_crossing_zero_realizes_then_opens_the_remainder_at_the_fill_price() -> None:
    position = Position("BTC/USDT").apply_fill(fill("1", Side.BUY, "1", "100"))
    position = position.apply_fill(fill("2", Side.SELL, "3", "110"))
    assert (position.quantity, position.average_entry_price, position.realized_pnl) == (D(-2), D(110), D(10))
    position = position.apply_fill(fill("3", Side.BUY, "1", "100"))
    assert (position.quantity, position.average_entry_price, position.realized_pnl) == (D(-1), D(110), D(20))
    position = position.apply_fill(fill("4", Side.BUY, "1", "105"))
    assert (position.quantity, position.average_entry_price, position.realized_pnl) == (D(0), D(0), D(25))


def test_fee_in_base_reduces_the_quantity_and_pnl_matches_equity() -> None:
    portfolio = Portfolio("USDT", {"USDT": D(100_000)})
    assert portfolio.apply_fill(fill("1", Side.BUY, "1", "60000", fee="0.001", fee_asset="BTC")) is (
        FillResult.APPLIED
    )
    position = portfolio.position("BTC/USDT")
    assert (position.quantity, position.average_entry_price, position.realized_pnl) == (
        D("0.999"),
        D(60000),
        D(-60),
    )
    assert position.fees_paid == {"BTC": D("0.001")}
    snapshot = portfolio.mark({"BTC/USDT": D(61000)}, ts=1)
    assert snapshot.positions["BTC/USDT"].unrealized_pnl == D(999)
    assert snapshot.equity == D(100_939) == D(100_000) + snapshot.realized_pnl + snapshot.unrealized_pnl
    assert snapshot.balances == {"USDT": D(40_000), "BTC": D("0.999")}
    assert (snapshot.gross_exposure, snapshot.net_exposure) == (D("60939"), D("60939"))


def test_fee_in_base_is_charged_at_the_average_cost_of_the_units_given_up() -> None:
    portfolio = Portfolio("USDT")
    portfolio.apply_fill(fill("1", Side.BUY, "1", "50000"))
    portfolio.apply_fill(fill("2", Side.BUY, "1", "60000", fee="0.001", fee_asset="BTC"))
    position = portfolio.position("BTC/USDT")
    assert (position.quantity, position.average_entry_price, position.realized_pnl) == (
        D("1.999"),
        D(55000),
        D(-55),
    )
    snapshot = portfolio.mark({"BTC/USDT": D(60000)}, ts=1)
    assert snapshot.unrealized_pnl == D(9995)
    assert snapshot.equity == D(9940) == snapshot.realized_pnl + snapshot.unrealized_pnl


def test_fee_in_quote_reduces_realized_pnl() -> None:
    portfolio = Portfolio("USDT", {"USDT": D(100_000)})
    portfolio.apply_fill(fill("1", Side.BUY, "2", "3000", symbol="ETH/USDT", fee="6"))
    portfolio.apply_fill(fill("2", Side.SELL, "1", "3300", symbol="ETH/USDT", fee="3.3"))
    snapshot = portfolio.mark({"ETH/USDT": D(3100)}, ts=5)
    eth = snapshot.positions["ETH/USDT"]
    assert (eth.quantity, eth.average_entry_price, eth.realized_pnl, eth.unrealized_pnl) == (
        D(1),
        D(3000),
        D("290.7"),
        D(100),
    )
    assert eth.fees_paid == {"USDT": D("9.3")}
    assert snapshot.balances["USDT"] == D("97290.7")
    assert snapshot.equity == D("100390.7")
    assert snapshot.ts == 5


def test_fee_in_a_third_asset_is_tracked_apart_and_seen_by_equity() -> None:
    portfolio = Portfolio("USDT", {"USDT": D(100_000), "BNB": D(1)})
    portfolio.apply_fill(fill("1", Side.BUY, "10", "150", symbol="SOL/USDT", fee="0.003", fee_asset="BNB"))
    sol = portfolio.position("SOL/USDT")
    assert (sol.quantity, sol.average_entry_price, sol.realized_pnl) == (D(10), D(150), D(0))
    assert sol.fees_paid == {"BNB": D("0.003")}
    snapshot = portfolio.mark({"SOL/USDT": D(160), "BNB/USDT": D(600)}, ts=1)
    assert snapshot.realized_pnl == 0 and snapshot.unrealized_pnl == D(100)
    assert snapshot.equity == D(98_500) + D(1600) + D("0.997") * 600
    with pytest.raises(MissingPriceError, match="BNB/USDT"):
        portfolio.mark({"SOL/USDT": D(160)}, ts=1)


def test_exposure_of_a_short_is_negative_net_and_positive_gross() -> None:
    portfolio = Portfolio("USDT")
    portfolio.apply_fill(fill("1", Side.SELL, "2", "100", symbol="SOL/USDT"))
    portfolio.apply_fill(fill("2", Side.BUY, "1", "3000", symbol="ETH/USDT"))
    snapshot = portfolio.mark({"SOL/USDT": D(90), "ETH/USDT": D(3000)}, ts=1)
    assert snapshot.positions["SOL/USDT"].unrealized_pnl == D(20)
    assert (snapshot.gross_exposure, snapshot.net_exposure) == (D(3180), D(2820))


def test_duplicate_fill_changes_nothing_and_says_so() -> None:
    portfolio = Portfolio("USDT")
    first = fill("7", Side.BUY, "1", "100")
    assert portfolio.apply_fill(first) is FillResult.APPLIED
    before = (portfolio.position("BTC/USDT"), dict(portfolio.balances))
    assert portfolio.apply_fill(first) is FillResult.DUPLICATE
    assert (portfolio.position("BTC/USDT"), dict(portfolio.balances)) == before
    with pytest.raises(ValueError, match="other contents"):
        portfolio.apply_fill(fill("7", Side.BUY, "2", "100"))


def test_late_fill_is_replayed_in_canonical_order() -> None:
    fills = [
        fill("1", Side.BUY, "1", "100"),
        fill("2", Side.SELL, "2", "110"),
        fill("3", Side.BUY, "1", "90"),
    ]
    in_order, late = Portfolio("USDT"), Portfolio("USDT")
    for each in fills:
        in_order.apply_fill(each)
    for each in (fills[2], fills[0], fills[1]):
        late.apply_fill(each)
    assert late.position("BTC/USDT") == in_order.position("BTC/USDT")
    assert in_order.position("BTC/USDT").realized_pnl == D(30)


def test_bad_input_is_refused() -> None:
    portfolio = Portfolio("USDT")
    with pytest.raises(ValueError, match="not quoted"):
        portfolio.apply_fill(fill("1", Side.BUY, "1", "0.05", symbol="ETH/BTC"))
    portfolio.apply_fill(fill("2", Side.BUY, "1", "100"))
    with pytest.raises(MissingPriceError, match="BTC/USDT"):
        portfolio.mark({}, ts=1)
    with pytest.raises(ValueError, match="price of BTC/USDT"):
        portfolio.mark({"BTC/USDT": D(0)}, ts=1)
    with pytest.raises(ValueError, match="BASE/QUOTE"):
        Position("BTCUSDT")
    with pytest.raises(ValueError, match="applied to the ETH/USDT"):
        Position("ETH/USDT").apply_fill(fill("3", Side.BUY, "1", "100"))


_fill_specs = st.lists(
    st.tuples(
        st.sampled_from(["BTC/USDT", "ETH/USDT"]),
        st.sampled_from([Side.BUY, Side.SELL]),
        st.decimals(min_value=D("0.001"), max_value=D(5), places=3),
        st.decimals(min_value=D(1), max_value=D(1000), places=2),
        st.sampled_from(["base", "USDT", "BNB", "none"]),
        st.integers(min_value=0, max_value=50),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(specs=_fill_specs, data=st.data())
def test_any_arrival_order_with_duplicates_gives_the_same_portfolio(
    specs: list[tuple[str, Side, D, D, str, int]], data: st.DataObject
) -> None:
    fills: list[Fill] = []
    for number, (symbol, side, quantity, price, fee_kind, ts) in enumerate(specs):
        fee_asset = symbol.split("/")[0] if fee_kind == "base" else fee_kind
        fee = "0" if fee_kind == "none" else "0.001"
        fills.append(
            fill(
                str(number),
                side,
                str(quantity),
                str(price),
                symbol=symbol,
                fee=fee,
                fee_asset=fee_asset,
                ts=ts,
            )
        )
    arrival = data.draw(st.permutations(fills))
    duplicates = data.draw(st.lists(st.sampled_from(fills), max_size=10))
    canonical, shuffled = Portfolio("USDT"), Portfolio("USDT")
    for each in sorted(fills, key=lambda f: (f.ts, f.trade_id.rjust(40, "0"))):
        assert canonical.apply_fill(each) is FillResult.APPLIED
    for each in [*arrival[:3], *duplicates, *arrival[3:]]:
        shuffled.apply_fill(each)
    assert dict(shuffled.positions) == dict(canonical.positions)
    assert dict(shuffled.balances) == dict(canonical.balances)
    for symbol in ("BTC/USDT", "ETH/USDT"):
        expected = sum(
            (f.quantity if f.side is Side.BUY else -f.quantity) for f in fills if f.symbol == symbol
        )
        base_fees = sum(f.fee for f in fills if f.symbol == symbol and f.fee_asset == symbol.split("/")[0])
        assert canonical.position(symbol).quantity == expected - base_fees


def test_compaction_keeps_positions_and_deduplication() -> None:
    fills = [
        fill(str(n), Side.BUY if n % 3 else Side.SELL, "1", str(100 + n), fee="0.01") for n in range(1, 9)
    ]
    full, compacted = Portfolio("USDT"), Portfolio("USDT")
    for each in fills:
        full.apply_fill(each)
    for each in fills[:5]:
        compacted.apply_fill(each)
    assert compacted.compact(through_ts=4) == 4
    assert compacted.apply_fill(fills[0]) is FillResult.DUPLICATE
    for each in (fills[7], fills[5], fills[6], fills[4]):
        compacted.apply_fill(each)
    assert compacted.position("BTC/USDT") == full.position("BTC/USDT")
    assert dict(compacted.balances) == dict(full.balances)
    with pytest.raises(LateFillError):
        compacted.apply_fill(fill("99", Side.BUY, "1", "100", ts=3))
    with pytest.raises(ValueError, match="already compacted"):
        compacted.compact(through_ts=2)
