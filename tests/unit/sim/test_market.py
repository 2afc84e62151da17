"""Market model: determinism, depth snapshot + diff consistency, streams, klines, tickers, admin price."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from tradeops.sim import SimConfig, SimError, SimVenue, VenueEvent


def first_trades(seed: int, n: int, h: SimpleNamespace) -> list[tuple[Any, ...]]:
    venue, events = h.make_venue(seed=seed)
    trades: list[tuple[Any, ...]] = []
    while len(trades) < n:
        start = len(events)
        venue.step()
        trades.extend(
            (e.channel, e.payload["t"], e.payload["p"], e.payload["q"], e.payload["m"])
            for e in events[start:]
            if e.channel.endswith("@trade")
        )
    return trades[:n]


def test_same_seed_same_first_thousand_trades(h: SimpleNamespace) -> None:
    a, b = first_trades(11, 1000, h), first_trades(11, 1000, h)
    assert a == b
    assert len({t[1] for t in a if t[0] == "btcusdt@trade"}) == sum(1 for t in a if t[0] == "btcusdt@trade")
    assert first_trades(12, 1000, h) != a


def test_same_seed_same_user_ids_and_fills(h: SimpleNamespace) -> None:
    def run() -> list[Any]:
        venue, _ = h.make_venue(seed=3)
        venue.add_key("k", "s")
        out = []
        for i in range(30):
            venue.step()
            bid, _ask = h.best(venue)
            out.append(venue.new_order("k", h.market("BTCUSDT", "BUY" if i % 2 else "SELL", "0.01000")))
            out.append(venue.new_order("k", h.limit("BTCUSDT", "BUY", "0.01000", str(bid - 2))))
        return [(r["orderId"], r["clientOrderId"], r["status"], r.get("fills")) for r in out]

    assert run() == run()


def apply_diffs(
    snapshot: dict[str, Any], diffs: list[dict[str, Any]]
) -> tuple[dict[str, str], dict[str, str]]:
    """Binance's documented local-book procedure; asserts the id rules on the way."""
    bids = {p: q for p, q in snapshot["bids"]}
    asks = {p: q for p, q in snapshot["asks"]}
    last = snapshot["lastUpdateId"]
    started = False
    for d in diffs:
        if d["u"] <= last:
            continue
        if not started:
            assert d["U"] <= last + 1 <= d["u"]
            started = True
        else:
            assert d["U"] == last + 1
        for side, levels in ((bids, d["b"]), (asks, d["a"])):
            for p, q in levels:
                if Decimal(q) == 0:
                    side.pop(p, None)
                else:
                    side[p] = q
        last = d["u"]
    assert last >= snapshot["lastUpdateId"]
    return bids, asks


@pytest.mark.parametrize("mid_batch", [False, True])
def test_depth_snapshot_plus_diffs_equals_later_snapshot(h: SimpleNamespace, mid_batch: bool) -> None:
    venue, events = h.make_venue(seed=5)
    venue.add_key("k", "s", {"USDT": Decimal(10_000_000), "BTC": Decimal(100)})
    venue.step()
    if mid_batch:
        bid, _ = h.best(venue)
        venue.new_order("k", h.limit("BTCUSDT", "BUY", "0.05000", str(bid - 3)))  # pending, not yet published
    snapshot = venue.depth("BTCUSDT", 5000)
    start = len(events)
    for i in range(200):
        bid, _ask = h.best(venue)
        if i % 7 == 0:
            venue.new_order("k", h.limit("BTCUSDT", "BUY", "0.01000", str(bid - 1)))
        if i % 11 == 0:
            venue.new_order("k", h.market("BTCUSDT", "SELL", "0.30000"))
        if i % 13 == 0 and venue.open_orders("k", {"symbol": "BTCUSDT"}):
            oid = venue.open_orders("k", {"symbol": "BTCUSDT"})[0]["orderId"]
            venue.cancel_order("k", {"symbol": "BTCUSDT", "orderId": str(oid)})
        if i == 100:
            venue.set_price("BTCUSDT", jump_pct=Decimal("-0.5"))
        venue.step()
    diffs = [e.payload for e in events[start:] if e.channel == "btcusdt@depth@100ms"]
    bids, asks = apply_diffs(snapshot, diffs)
    later = venue.depth("BTCUSDT", 5000)
    assert later["lastUpdateId"] == diffs[-1]["u"]
    assert bids == {p: q for p, q in later["bids"]}
    assert asks == {p: q for p, q in later["asks"]}
    assert max(Decimal(p) for p in bids) < min(Decimal(p) for p in asks)


def test_stream_payload_shapes(h: SimpleNamespace) -> None:
    venue, events = h.make_venue()
    venue.step()
    by_channel = {e.channel: e.payload for e in events}
    trade = by_channel["ethusdt@trade"]
    assert trade["e"] == "trade" and trade["s"] == "ETHUSDT" and isinstance(trade["p"], str)
    assert {"E", "t", "q", "T", "m", "M"} <= set(trade)
    assert by_channel["ethusdt@aggTrade"]["e"] == "aggTrade"
    ticker = by_channel["btcusdt@ticker"]
    assert ticker["e"] == "24hrTicker" and {"c", "b", "B", "a", "A", "o", "h", "l", "v", "q", "n"} <= set(
        ticker
    )
    book = by_channel["solusdt@bookTicker"]
    assert Decimal(book["b"]) < Decimal(book["a"]) and book["s"] == "SOLUSDT"
    depth = by_channel["btcusdt@depth@100ms"]
    assert depth["e"] == "depthUpdate" and depth["U"] <= depth["u"]
    kline = by_channel["btcusdt@kline_1m"]["k"]
    assert kline["i"] == "1m" and kline["n"] >= 1
    assert all(e.api_key is None for e in events)


def test_klines_aggregate_the_tape(h: SimpleNamespace) -> None:
    venue, events = h.make_venue(clock=h.Clock(step_ms=400))
    for _ in range(1500):
        venue.step()
    prints = [e.payload for e in events if e.channel == "btcusdt@trade"]
    ones = venue.klines("BTCUSDT", "1m", limit=1000)
    assert sum(k[8] for k in ones) == len(prints)
    assert ones[0][1] == prints[0]["p"] and ones[-1][4] == prints[-1]["p"]
    for interval, minutes in (("5m", 5), ("15m", 15), ("1h", 60)):
        agg = venue.klines("BTCUSDT", interval, limit=1000)
        assert sum(k[8] for k in agg) == len(prints)
        assert all(k[0] % (minutes * 60_000) == 0 and k[6] == k[0] + minutes * 60_000 - 1 for k in agg)
        vol = sum(Decimal(k[5]) for k in agg)
        assert vol == sum(Decimal(p["q"]) for p in prints)
    window = venue.klines("BTCUSDT", "1m", start_time=ones[2][0], end_time=ones[4][0], limit=10)
    assert [k[0] for k in window] == [k[0] for k in ones[2:5]]
    assert venue.klines("BTCUSDT", "1m", limit="2") == ones[-2:]
    with pytest.raises(SimError) as err:
        venue.klines("BTCUSDT", "7m")
    assert err.value.code == -1120


def test_market_data_reads(h: SimpleNamespace) -> None:
    venue, _ = h.make_venue()
    for _ in range(30):
        venue.step()
    info = venue.exchange_info()
    assert [s["symbol"] for s in info["symbols"]] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    btc = venue.exchange_info("BTCUSDT")["symbols"][0]
    assert btc["status"] == "TRADING" and btc["baseAsset"] == "BTC" and btc["ocoAllowed"] is True
    assert {"LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"} <= set(
        btc["orderTypes"]
    )
    kinds = {f["filterType"]: f for f in btc["filters"]}
    assert kinds["PRICE_FILTER"]["tickSize"] == "0.01000000" and kinds["LOT_SIZE"]["stepSize"] == "0.00001000"
    assert {"MIN_NOTIONAL", "NOTIONAL", "MARKET_LOT_SIZE"} <= set(kinds) and info["rateLimits"]
    depth = venue.depth("BTCUSDT", 5)
    assert len(depth["bids"]) == 5 and len(depth["asks"]) == 5
    assert Decimal(depth["bids"][0][0]) > Decimal(depth["bids"][1][0])
    assert len(venue.depth("BTCUSDT")["bids"]) == 20
    trades = venue.recent_trades("BTCUSDT", 10)
    assert len(trades) == 10 and trades[-1]["id"] == trades[0]["id"] + 9
    ticker = venue.ticker_24h("BTCUSDT")
    assert isinstance(ticker, dict) and ticker["lastPrice"] == trades[-1]["price"] and ticker["count"] == 30
    assert ticker["bidPrice"] == depth["bids"][0][0]
    assert len(venue.ticker_24h()) == 3 and len(venue.book_ticker()) == 3
    bt = venue.book_ticker("ETHUSDT")
    assert isinstance(bt, dict) and bt["symbol"] == "ETHUSDT"
    assert venue.server_time() > 1_700_000_000_000


def test_set_price_moves_mid_and_regime(h: SimpleNamespace) -> None:
    venue, _events = h.make_venue()
    out = venue.set_price("BTC/USDT", price=Decimal("50000"), regime="stressed")
    assert out["mid"] == "50000.00000000" and out["regime"] == "stressed"
    bid, ask = h.best(venue)
    assert bid < Decimal(50000) < ask and ask - bid <= 2
    assert Decimal(venue.ticker_24h("BTCUSDT")["lastPrice"]) in (bid, ask)
    out = venue.set_price("BTCUSDT", jump_pct=Decimal("10"))
    assert out["mid"] == "55000.00000000"
    for bad in ({"price": Decimal("-1")}, {"jump_pct": Decimal("-100")}, {"regime": "wild"}):
        with pytest.raises(SimError):
            venue.set_price("BTCUSDT", **bad)
    with pytest.raises(SimError) as err:
        venue.set_price("DOGEUSDT", price=Decimal(1))
    assert err.value.code == -1121


def test_regimes_and_jumps_change_volatility() -> None:
    def spread_of_moves(regime: str) -> Decimal:
        venue = SimVenue(SimConfig(seed=1, symbols=("BTC/USDT",)), lambda: 1_700_000_000_000)
        venue.set_price("BTCUSDT", regime=regime)
        model = venue.engine.symbols["BTCUSDT"].model
        model_moves = []
        for _ in range(300):
            before = model.mid
            model.advance()
            model_moves.append(abs(model.mid - before))
        return sum(model_moves, Decimal(0))

    assert spread_of_moves("calm") < spread_of_moves("normal") < spread_of_moves("stressed")


def test_reset_restores_the_seeded_market_and_keeps_keys(h: SimpleNamespace) -> None:
    venue, _ = h.make_venue()
    venue.add_key("k", "s")
    first = venue.depth("BTCUSDT", 20)
    for _ in range(10):
        venue.step()
    venue.new_order("k", h.market("BTCUSDT", "BUY", "0.10000"))
    venue.reset()
    assert venue.depth("BTCUSDT", 20) == first
    assert venue.keys() == ["k"] and venue.secret_for("k") == "s"
    assert venue.open_orders("k", {}) == [] and venue.all_orders("k", {"symbol": "BTCUSDT"}) == []
    assert {b["asset"]: b["free"] for b in venue.account("k")["balances"]}["BTC"] == "1.00000000"


def test_listener_receives_venue_events() -> None:
    got: list[VenueEvent] = []
    venue = SimVenue(SimConfig(symbols=("SOL/USDT",)), lambda: 1)
    venue.listen(got.append)
    venue.step()
    assert {e.channel for e in got} == {
        "solusdt@trade",
        "solusdt@aggTrade",
        "solusdt@ticker",
        "solusdt@bookTicker",
        "solusdt@depth@100ms",
        "solusdt@kline_1m",
    }
