"""Order types, time in force, fills across levels, maker fills by price moves, priority, fees, reports."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from tradeops.sim import SimError, SimVenue, VenueEvent

D = Decimal
Fixture = tuple[SimVenue, list[VenueEvent]]


def balances(venue: SimVenue, key: str = "k1") -> dict[str, tuple[Decimal, Decimal]]:
    return {b["asset"]: (D(b["free"]), D(b["locked"])) for b in venue.account(key)["balances"]}


def test_market_buy_walks_levels_with_taker_fee(venue_events: Fixture, h: SimpleNamespace) -> None:
    venue, events = venue_events
    book = venue.depth("BTCUSDT", 3)
    lvl = [(D(p), D(q)) for p, q in book["asks"]]
    qty = lvl[0][1] + lvl[1][1] + D("0.01")
    r = venue.new_order("k1", h.market("BTCUSDT", "BUY", str(qty)))
    assert r["status"] == "FILLED" and D(r["executedQty"]) == qty
    assert [(D(f["price"]), D(f["qty"])) for f in r["fills"]] == [lvl[0], lvl[1], (lvl[2][0], D("0.01"))]
    cost = sum(D(f["price"]) * D(f["qty"]) for f in r["fills"])
    assert D(r["cummulativeQuoteQty"]) == cost
    assert all(
        f["commissionAsset"] == "BTC" and D(f["commission"]) == D(f["qty"]) * D("0.001") for f in r["fills"]
    )
    bal = balances(venue)
    assert bal["USDT"] == (D(100000) - cost, D(0)) and bal["BTC"] == (1 + qty * D("0.999"), D(0))
    reports = h.user_events(events, "k1", "executionReport")
    assert [x["x"] for x in reports] == ["NEW", "TRADE", "TRADE", "TRADE"]
    assert reports[-1]["X"] == "FILLED" and reports[1]["X"] == "PARTIALLY_FILLED" and reports[1]["m"] is False
    assert h.user_events(events, "k1", "outboundAccountPosition")[-1]["B"][0]["a"] == "BTC"
    assert D(venue.depth("BTCUSDT", 1)["asks"][0][0]) == lvl[2][0]
    h.check_invariants(venue)


def test_market_by_quote_order_qty(venue_events: Fixture, h: SimpleNamespace) -> None:
    venue, _ = venue_events
    r = venue.new_order("k1", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "1000"})
    assert r["status"] == "FILLED" and r["origQuoteOrderQty"] == "1000.00000000"
    assert D(r["cummulativeQuoteQty"]) <= 1000 and D(r["cummulativeQuoteQty"]) > 999
    assert D(r["origQty"]) == D(r["executedQty"])
    s = venue.new_order("k1", {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quoteOrderQty": "500"})
    assert s["status"] == "FILLED" and 499 < D(s["cummulativeQuoteQty"]) <= 500
    assert s["fills"][0]["commissionAsset"] == "USDT"
    h.check_invariants(venue)


def test_limit_gtc_rests_and_fills_as_maker_when_price_moves(
    venue_events: Fixture, h: SimpleNamespace
) -> None:
    venue, events = venue_events
    bid, _ = h.best(venue)
    price = bid - 50
    r = venue.new_order("k1", h.limit("BTCUSDT", "BUY", "0.10000", str(price)))
    assert r["status"] == "NEW" and r["fills"] == []
    assert balances(venue)["USDT"] == (D(100000) - price * D("0.1"), price * D("0.1"))
    assert [p for p, _ in venue.depth("BTCUSDT", 100)["bids"] if D(p) == price]
    venue.set_price("BTCUSDT", price=price - 20)
    order = venue.query_order("k1", {"symbol": "BTCUSDT", "orderId": str(r["orderId"])})
    assert order["status"] == "FILLED" and D(order["cummulativeQuoteQty"]) == price * D("0.1")
    trades = venue.my_trades("k1", {"symbol": "BTCUSDT"})
    assert all(t["isMaker"] and t["isBuyer"] and D(t["price"]) == price for t in trades)
    assert sum(D(t["commission"]) for t in trades) == D("0.1") * D("0.001")
    assert balances(venue)["USDT"] == (D(100000) - price * D("0.1"), D(0))
    last = h.user_events(events, "k1", "executionReport")[-1]
    assert (
        last["x"] == "TRADE" and last["X"] == "FILLED" and last["m"] is True and last["L"] == f"{price:.8f}"
    )
    h.check_invariants(venue)


def test_limit_crossing_takes_then_rests(venue_events: Fixture, h: SimpleNamespace) -> None:
    venue, _ = venue_events
    ask = D(venue.depth("BTCUSDT", 1)["asks"][0][0])
    ask_qty = D(venue.depth("BTCUSDT", 1)["asks"][0][1])
    r = venue.new_order("k1", h.limit("BTCUSDT", "BUY", str(ask_qty + D("0.5")), str(ask)))
    assert r["status"] == "PARTIALLY_FILLED" and D(r["executedQty"]) == ask_qty
    assert D(venue.depth("BTCUSDT", 1)["bids"][0][0]) == ask
    assert venue.open_orders("k1", {"symbol": "BTCUSDT"})[0]["orderId"] == r["orderId"]
    h.check_invariants(venue)


def test_limit_price_improvement_refunds_lock(venue_events: Fixture, h: SimpleNamespace) -> None:
    venue, _ = venue_events
    ask = D(venue.depth("BTCUSDT", 1)["asks"][0][0])
    r = venue.new_order("k1", h.limit("BTCUSDT", "BUY", "0.01000", str(ask + 100)))
    assert r["status"] == "FILLED" and D(r["fills"][0]["price"]) == ask
    assert balances(venue)["USDT"] == (D(100000) - ask * D("0.01"), D(0))


def test_ioc_partial_then_expired(venue_events: Fixture, h: SimpleNamespace) -> None:
    venue, events = venue_events
    ask, qty = (D(x) for x in venue.depth("BTCUSDT", 1)["asks"][0])
    r = venue.new_order("k1", h.limit("BTCUSDT", "BUY", str(qty + 1), str(ask), "IOC"))
    assert r["status"] == "EXPIRED" and D(r["executedQty"]) == qty
    assert h.user_events(events, "k1", "executionReport")[-1]["x"] == "EXPIRED"
    assert venue.open_orders("k1", {}) == []
    h.check_invariants(venue)


def test_fok_all_or_nothing(venue_events: Fixture, h: SimpleNamespace) -> None:
    venue, _ = venue_events
    asks = venue.depth("BTCUSDT", 2)["asks"]
    two = D(asks[0][1]) + D(asks[1][1])
    r = venue.new_order("k1", h.limit("BTCUSDT", "BUY", str(two + D("0.001")), asks[1][0], "FOK"))
    assert r["status"] == "EXPIRED" and r["executedQty"] == "0.00000000" and r["fills"] == []
    assert balances(venue)["USDT"] == (D(100000), D(0))
    r = venue.new_order("k1", h.limit("BTCUSDT", "BUY", str(two), asks[1][0], "FOK"))
    assert r["status"] == "FILLED" and len(r["fills"]) == 2


def test_limit_maker_rests_or_is_rejected(venue_events: Fixture, h: SimpleNamespace) -> None:
    venue, _ = venue_events
    bid, ask = h.best(venue)
    maker = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT_MAKER", "quantity": "0.01000"}
    r = venue.new_order("k1", {**maker, "price": str(bid), "newOrderRespType": "RESULT"})
    assert r["status"] == "NEW" and r["type"] == "LIMIT_MAKER" and "fills" not in r
    with pytest.raises(SimError) as err:
        venue.new_order("k1", {**maker, "price": str(ask)})
    assert err.value.code == -2010 and err.value.msg == "Order would immediately match and take."


@pytest.mark.parametrize(
    ("order_type", "side", "offset", "move"),
    [
        ("STOP_LOSS_LIMIT", "SELL", -100, -110),
        ("STOP_LOSS_LIMIT", "BUY", 100, 110),
        ("TAKE_PROFIT_LIMIT", "SELL", 100, 110),
        ("TAKE_PROFIT_LIMIT", "BUY", -100, -110),
    ],
)
def test_stop_limit_orders_trigger_on_last_price(
    venue_events: Fixture, h: SimpleNamespace, order_type: str, side: str, offset: int, move: int
) -> None:
    venue, _ = venue_events
    last = D(venue.ticker_24h("BTCUSDT")["lastPrice"])  # type: ignore[call-overload]
    stop = last + offset
    limit_price = stop - 30 if side == "SELL" else stop + 30
    r = venue.new_order(
        "k1",
        {
            "symbol": "BTCUSDT",
            "side": side,
            "type": order_type,
            "timeInForce": "GTC",
            "quantity": "0.01000",
            "price": str(limit_price),
            "stopPrice": str(stop),
        },
    )
    assert r == {
        "symbol": "BTCUSDT",
        "orderId": r["orderId"],
        "orderListId": -1,
        "clientOrderId": r["clientOrderId"],
        "transactTime": r["transactTime"],
    }  # ACK by default
    q = venue.query_order("k1", {"symbol": "BTCUSDT", "orderId": str(r["orderId"])})
    assert q["status"] == "NEW" and q["isWorking"] is False and q["stopPrice"] == f"{stop:.8f}"
    venue.set_price("BTCUSDT", price=last + move)
    q = venue.query_order("k1", {"symbol": "BTCUSDT", "orderId": str(r["orderId"])})
    assert q["isWorking"] is True and q["status"] == "FILLED"
    h.check_invariants(venue)


def test_stop_limit_gapped_through_rests_working(venue_events: Fixture, h: SimpleNamespace) -> None:
    venue, _ = venue_events
    last = D(venue.ticker_24h("BTCUSDT")["lastPrice"])  # type: ignore[call-overload]
    params = {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "STOP_LOSS_LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.01000",
        "price": str(last - 130),
        "stopPrice": str(last - 100),
    }
    r = venue.new_order("k1", params)
    venue.set_price("BTCUSDT", price=last - 300)
    q = venue.query_order("k1", {"symbol": "BTCUSDT", "orderId": str(r["orderId"])})
    assert q["isWorking"] is True and q["status"] == "NEW"
    assert f"{last - 130:.8f}" in {p for p, _ in venue.depth("BTCUSDT", 5000)["asks"]}
    venue.set_price("BTCUSDT", price=last - 100)
    assert venue.query_order("k1", {"symbol": "BTCUSDT", "orderId": str(r["orderId"])})["status"] == "FILLED"
    h.check_invariants(venue)


def test_stop_market_and_would_trigger(venue_events: Fixture, h: SimpleNamespace) -> None:
    venue, _ = venue_events
    last = D(venue.ticker_24h("BTCUSDT")["lastPrice"])  # type: ignore[call-overload]
    stop = {"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_LOSS", "quantity": "0.01000"}
    with pytest.raises(SimError) as err:
        venue.new_order("k1", {**stop, "stopPrice": str(last + 10)})
    assert err.value.code == -2010 and "trigger immediately" in err.value.msg
    r = venue.new_order("k1", {**stop, "stopPrice": str(last - 10), "newOrderRespType": "FULL"})
    assert r["status"] == "NEW" and r["fills"] == [] and balances(venue)["BTC"][1] == D("0.01")
    venue.set_price("BTCUSDT", price=last - 40)
    q = venue.query_order("k1", {"symbol": "BTCUSDT", "origClientOrderId": r["clientOrderId"]})
    assert q["status"] == "FILLED" and balances(venue)["BTC"][1] == 0
    h.check_invariants(venue)


def test_price_time_priority_at_one_level(h: SimpleNamespace) -> None:
    venue, _ = h.make_venue(trades_per_step=0)
    for key in ("a", "b", "c"):
        venue.add_key(key, "s")
    bid, _ = h.best(venue)
    price = str(bid + D("0.5"))  # a new best bid, inside the spread
    first = venue.new_order("a", h.limit("BTCUSDT", "BUY", "0.02000", price))
    second = venue.new_order("b", h.limit("BTCUSDT", "BUY", "0.02000", price))
    worse = venue.new_order("b", h.limit("BTCUSDT", "BUY", "0.02000", str(bid)))
    taker = venue.new_order("c", h.limit("BTCUSDT", "SELL", "0.03000", str(bid), "IOC"))
    got = [(f["price"], f["qty"]) for f in taker["fills"]]
    assert got[:2] == [(f"{D(price):.8f}", "0.02000000"), (f"{D(price):.8f}", "0.01000000")]
    statuses = [
        venue.query_order(k, {"symbol": "BTCUSDT", "orderId": str(o["orderId"])})["status"]
        for k, o in (("a", first), ("b", second), ("b", worse))
    ]
    assert statuses == ["FILLED", "PARTIALLY_FILLED", "NEW"]
    maker = venue.my_trades("a", {"symbol": "BTCUSDT"})[0]
    assert maker["isMaker"] is True and maker["commission"] == "0.00002000"
    h.check_invariants(venue)


def test_background_flow_fills_best_resting_order_first(h: SimpleNamespace) -> None:
    venue, _ = h.make_venue(seed=2, trades_per_step=5)
    venue.add_key("a", "s")
    venue.add_key("b", "s")
    _bid, ask = h.best(venue)
    price = str(ask - D("0.01"))
    a = venue.new_order("a", h.limit("BTCUSDT", "SELL", "0.05000", price))
    b = venue.new_order("b", h.limit("BTCUSDT", "SELL", "0.05000", price))
    for _ in range(400):
        venue.step()
        qa = venue.query_order("a", {"symbol": "BTCUSDT", "orderId": str(a["orderId"])})
        qb = venue.query_order("b", {"symbol": "BTCUSDT", "orderId": str(b["orderId"])})
        assert D(qb["executedQty"]) == 0 or qa["status"] == "FILLED"
        if qb["status"] == "FILLED":
            break
    assert qa["status"] == "FILLED"
    h.check_invariants(venue)


def test_cancel_query_and_lists(venue_events: Fixture, h: SimpleNamespace) -> None:
    venue, events = venue_events
    bid, _ = h.best(venue)
    ids = [
        venue.new_order("k1", h.limit("BTCUSDT", "BUY", "0.01000", str(bid - i), newClientOrderId=f"c{i}"))
        for i in range(1, 4)
    ]
    assert [o["clientOrderId"] for o in venue.open_orders("k1", {"symbol": "BTCUSDT"})] == ["c1", "c2", "c3"]
    c = venue.cancel_order("k1", {"symbol": "BTCUSDT", "origClientOrderId": "c2", "newClientOrderId": "cx"})
    assert c["status"] == "CANCELED" and c["origClientOrderId"] == "c2" and c["clientOrderId"] == "cx"
    report = h.user_events(events, "k1", "executionReport")[-1]
    assert report["x"] == "CANCELED" and report["C"] == "c2" and report["c"] == "cx"
    c = venue.cancel_order("k1", {"symbol": "BTCUSDT", "orderId": str(ids[0]["orderId"])})
    assert c["status"] == "CANCELED"
    rest = venue.cancel_open_orders("k1", {"symbol": "BTCUSDT"})
    assert [o["origClientOrderId"] for o in rest] == ["c3"]
    assert venue.open_orders("k1", {}) == []
    assert [o["status"] for o in venue.all_orders("k1", {"symbol": "BTCUSDT"})] == ["CANCELED"] * 3
    assert venue.query_order("k1", {"symbol": "BTCUSDT", "origClientOrderId": "c3"})["status"] == "CANCELED"
    assert balances(venue)["USDT"] == (D(100000), D(0))
    # a client order id may be reused once the earlier order is closed
    again = venue.new_order("k1", h.limit("BTCUSDT", "BUY", "0.01000", str(bid - 1), newClientOrderId="c1"))
    assert (
        venue.query_order("k1", {"symbol": "BTCUSDT", "origClientOrderId": "c1"})["orderId"]
        == again["orderId"]
    )


def test_my_trades_and_all_orders_filters(venue_events: Fixture, h: SimpleNamespace) -> None:
    venue, _ = venue_events
    orders = [venue.new_order("k1", h.market("BTCUSDT", "BUY", "0.01000")) for _ in range(5)]
    trades = venue.my_trades("k1", {"symbol": "BTCUSDT"})
    assert len(trades) == 5 and trades[0]["orderId"] == orders[0]["orderId"]
    assert len(venue.my_trades("k1", {"symbol": "BTCUSDT", "limit": "2"})) == 2
    from_id = trades[3]["id"]
    assert [t["id"] for t in venue.my_trades("k1", {"symbol": "BTCUSDT", "fromId": str(from_id)})] == [
        t["id"] for t in trades[3:]
    ]
    only = venue.my_trades("k1", {"symbol": "BTCUSDT", "orderId": str(orders[2]["orderId"])})
    assert [t["orderId"] for t in only] == [orders[2]["orderId"]]
    listed = venue.all_orders("k1", {"symbol": "BTCUSDT", "orderId": str(orders[1]["orderId"]), "limit": "2"})
    assert [o["orderId"] for o in listed] == [orders[1]["orderId"], orders[2]["orderId"]]
    assert venue.my_trades("k1", {"symbol": "ETHUSDT"}) == []


def test_shared_account_keys_and_revocation(venue_events: Fixture, h: SimpleNamespace) -> None:
    venue, events = venue_events
    venue.add_key("k2", "secret-2", account_of="k1")
    assert sorted(venue.keys()) == ["k1", "k2"] and venue.secret_for("k2") == "secret-2"
    bid, _ = h.best(venue)
    r = venue.new_order("k1", h.limit("BTCUSDT", "BUY", "0.01000", str(bid - 5)))
    assert venue.query_order("k2", {"symbol": "BTCUSDT", "orderId": str(r["orderId"])})["status"] == "NEW"
    assert venue.account("k1")["balances"] == venue.account("k2")["balances"]
    assert {e.api_key for e in events if e.channel == "user" and e.payload.get("i") == r["orderId"]} == {
        "k1",
        "k2",
    }
    venue.revoke_key("k1")
    assert venue.keys() == ["k2"] and venue.secret_for("k1") is None
    with pytest.raises(SimError) as err:
        venue.account("k1")
    assert err.value.code == -2015
    assert (
        venue.cancel_order("k2", {"symbol": "BTCUSDT", "orderId": str(r["orderId"])})["status"] == "CANCELED"
    )
    venue.add_key("poor", "s", {"USDT": D(10)})
    assert [b["asset"] for b in venue.account("poor")["balances"]] == ["USDT"]


def test_state_is_ground_truth(venue_events: Fixture, h: SimpleNamespace) -> None:
    venue, _ = venue_events
    r = venue.new_order("k1", h.market("BTCUSDT", "BUY", "0.01000"))
    bid, _ = h.best(venue)
    o = venue.new_order("k1", h.limit("BTCUSDT", "BUY", "0.01000", str(bid - 5)))
    state: dict[str, Any] = venue.state()
    by_id = {x["orderId"]: x for x in state["orders"]}
    assert by_id[r["orderId"]]["status"] == "FILLED" and by_id[o["orderId"]]["status"] == "NEW"
    assert by_id[o["orderId"]]["apiKey"] == "k1"
    assert {
        "symbol",
        "orderId",
        "clientOrderId",
        "price",
        "origQty",
        "executedQty",
        "cummulativeQuoteQty",
        "status",
        "type",
        "side",
        "timeInForce",
        "time",
        "updateTime",
    } <= set(by_id[o["orderId"]])
    assert [f["orderId"] for f in state["fills"]] == [r["orderId"]] * len(r["fills"])
    assert state["balances"]["k1"]["USDT"]["locked"] == f"{(bid - 5) * D('0.01'):.8f}"
    assert state["symbols"]["BTCUSDT"]["lastTradeId"] >= 1 and "BTC" in state["fees"]
