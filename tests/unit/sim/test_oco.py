"""OCO order lists through both endpoints' parameters: one fill or trigger expires the other leg."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest

from tradeops.sim import SimError, SimVenue, VenueEvent

D = Decimal
Fixture = tuple[SimVenue, list[VenueEvent]]


def last_price(venue: SimVenue) -> Decimal:
    return D(venue.ticker_24h("BTCUSDT")["lastPrice"])  # type: ignore[call-overload]


def legacy_sell(last: Decimal, **extra: str) -> dict[str, str]:
    return {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "quantity": "0.10000",
        "price": str(last + 100),
        "stopPrice": str(last - 100),
        "stopLimitPrice": str(last - 120),
        "stopLimitTimeInForce": "GTC",
        "listClientOrderId": "L1",
        "limitClientOrderId": "lim",
        "stopClientOrderId": "stp",
        **extra,
    }


def locked_btc(venue: SimVenue, key: str = "k1") -> Decimal:
    return next(D(b["locked"]) for b in venue.account(key)["balances"] if b["asset"] == "BTC")


def test_legacy_oco_limit_fill_expires_stop(venue_events: Fixture, h: SimpleNamespace) -> None:
    venue, events = venue_events
    last = last_price(venue)
    r = venue.new_oco("k1", legacy_sell(last))
    assert r["contingencyType"] == "OCO" and r["listStatusType"] == "EXEC_STARTED"
    assert r["listOrderStatus"] == "EXECUTING" and r["listClientOrderId"] == "L1"
    assert [o["clientOrderId"] for o in r["orders"]] == ["stp", "lim"]
    assert [x["type"] for x in r["orderReports"]] == ["STOP_LOSS_LIMIT", "LIMIT_MAKER"]
    assert locked_btc(venue) == D("0.1")  # one lock for the list, not one per leg
    assert len(venue.open_orders("k1", {"symbol": "BTCUSDT"})) == 2
    venue.set_price("BTCUSDT", price=last + 150)
    lst = venue.query_order_list("k1", {"orderListId": str(r["orderListId"])})
    assert lst["listOrderStatus"] == "ALL_DONE"
    statuses = {o["clientOrderId"]: o["status"] for o in venue.all_orders("k1", {"symbol": "BTCUSDT"})}
    assert statuses == {"lim": "FILLED", "stp": "EXPIRED"}
    assert locked_btc(venue) == 0 and venue.open_order_lists("k1", {}) == []
    list_events = h.user_events(events, "k1", "listStatus")
    assert [e["L"] for e in list_events] == ["EXECUTING", "ALL_DONE"] and list_events[0]["c"] == "OCO"
    h.check_invariants(venue)


def test_legacy_oco_stop_trigger_expires_limit(venue_events: Fixture, h: SimpleNamespace) -> None:
    venue, _ = venue_events
    last = last_price(venue)
    r = venue.new_oco("k1", legacy_sell(last))
    venue.set_price("BTCUSDT", price=last - 105)
    statuses = {o["clientOrderId"]: o["status"] for o in venue.all_orders("k1", {"symbol": "BTCUSDT"})}
    assert statuses == {"lim": "EXPIRED", "stp": "FILLED"}
    assert venue.query_order_list("k1", {"origClientOrderId": "L1"})["orderListId"] == r["orderListId"]
    assert locked_btc(venue) == 0
    h.check_invariants(venue)


def test_order_list_oco_buy_with_above_below(venue_events: Fixture, h: SimpleNamespace) -> None:
    venue, _ = venue_events
    last = last_price(venue)
    params = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "quantity": "0.10000",
        "aboveType": "STOP_LOSS_LIMIT",
        "aboveStopPrice": str(last + 100),
        "abovePrice": str(last + 120),
        "aboveTimeInForce": "GTC",
        "belowType": "LIMIT_MAKER",
        "belowPrice": str(last - 100),
        "aboveClientOrderId": "up",
        "belowClientOrderId": "down",
    }
    r = venue.new_oco("k1", params)
    assert [o["clientOrderId"] for o in r["orders"]] == ["down", "up"]
    usdt_locked = next(D(b["locked"]) for b in venue.account("k1")["balances"] if b["asset"] == "USDT")
    assert usdt_locked == (last + 120) * D("0.1")
    venue.set_price("BTCUSDT", price=last + 110)
    statuses = {o["clientOrderId"]: o["status"] for o in venue.all_orders("k1", {"symbol": "BTCUSDT"})}
    assert statuses == {"up": "FILLED", "down": "EXPIRED"}
    h.check_invariants(venue)


def test_order_list_oco_sell_take_profit_and_stop_market(venue_events: Fixture, h: SimpleNamespace) -> None:
    venue, _ = venue_events
    last = last_price(venue)
    params = {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "quantity": "0.10000",
        "aboveType": "TAKE_PROFIT",
        "aboveStopPrice": str(last + 100),
        "belowType": "STOP_LOSS",
        "belowStopPrice": str(last - 100),
    }
    venue.new_oco("k1", params)
    venue.set_price("BTCUSDT", price=last + 101)
    orders = venue.all_orders("k1", {"symbol": "BTCUSDT"})
    assert {o["type"]: o["status"] for o in orders} == {"TAKE_PROFIT": "FILLED", "STOP_LOSS": "EXPIRED"}
    h.check_invariants(venue)


def test_cancel_one_leg_cancels_the_list(venue_events: Fixture, h: SimpleNamespace) -> None:
    venue, events = venue_events
    last = last_price(venue)
    venue.new_oco("k1", legacy_sell(last))
    c = venue.cancel_order("k1", {"symbol": "BTCUSDT", "origClientOrderId": "lim"})
    assert c["status"] == "CANCELED" and c["orderListId"] >= 1
    assert {o["status"] for o in venue.all_orders("k1", {"symbol": "BTCUSDT"})} == {"CANCELED"}
    assert h.user_events(events, "k1", "listStatus")[-1]["l"] == "ALL_DONE"
    venue.new_oco(
        "k1", legacy_sell(last, listClientOrderId="L2", limitClientOrderId="l2", stopClientOrderId="s2")
    )
    out = venue.cancel_order_list("k1", {"symbol": "BTCUSDT", "listClientOrderId": "L2"})
    assert out["listOrderStatus"] == "ALL_DONE" and {x["status"] for x in out["orderReports"]} == {"CANCELED"}
    with pytest.raises(SimError) as err:
        venue.cancel_order_list("k1", {"symbol": "BTCUSDT", "listClientOrderId": "L2"})
    assert err.value.code == -2011
    assert locked_btc(venue) == 0
    venue.new_oco(
        "k1", legacy_sell(last, listClientOrderId="L3", limitClientOrderId="l3", stopClientOrderId="s3")
    )
    assert len(venue.open_order_lists("k1", {})) == 1
    assert venue.cancel_open_orders("k1", {"symbol": "BTCUSDT"})[0]["listClientOrderId"] == "L3"
    h.check_invariants(venue)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"price": "LAST-50"}, -2010),  # limit maker below the last price on a sell
        ({"stopPrice": "LAST+50"}, -2010),  # stop above the last price on a sell
        ({"quantity": "99"}, -2010),  # more BTC than the account holds
        ({"stopLimitTimeInForce": ""}, -1102),
        ({"side": "HOLD"}, -1117),
        ({"quantity": "0.000000001"}, -1111),
        ({"quantity": "0.000001"}, -1013),
        ({"quantity": "0.00000"}, -1013),
    ],
)
def test_oco_rejections(venue_events: Fixture, change: dict[str, str], code: int) -> None:
    venue, _ = venue_events
    last = last_price(venue)
    params = legacy_sell(last)
    for k, v in change.items():
        params[k] = v.replace("LAST", "").strip() if "LAST" not in v else str(last + D(v[4:]))
    with pytest.raises(SimError) as err:
        venue.new_oco("k1", params)
    assert err.value.code == code
    assert venue.open_orders("k1", {}) == [] and locked_btc(venue) == 0


def test_order_list_oco_bad_combination(venue_events: Fixture) -> None:
    venue, _ = venue_events
    last = last_price(venue)
    params = {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "quantity": "0.1",
        "aboveType": "STOP_LOSS",
        "aboveStopPrice": str(last + 100),
        "belowType": "LIMIT_MAKER",
        "belowPrice": str(last - 100),
    }
    with pytest.raises(SimError) as err:
        venue.new_oco("k1", params)
    assert err.value.code == -1014
    with pytest.raises(SimError) as err:
        venue.new_oco("k1", {**params, "aboveType": "LIMIT_MAKER", "belowType": "STOP_LOSS_LIMIT"})
    assert err.value.code == -1102 and "belowStopPrice" in err.value.msg
    with pytest.raises(SimError) as err:
        venue.query_order_list("k1", {"orderListId": "999"})
    assert err.value.code == -2011
