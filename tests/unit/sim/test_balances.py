"""Balance conservation and invariants across random order sequences; bounded history."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeops.sim import SimError

D = Decimal
ACTION = st.tuples(
    st.sampled_from(
        ["limit", "ioc", "fok", "maker", "market", "quote", "stop", "oco", "cancel", "step", "jump"]
    ),
    st.sampled_from(["a", "b"]),
    st.sampled_from(["BUY", "SELL"]),
    st.integers(-40, 40),  # price offset in ticks of the level spacing
    st.integers(1, 60),  # quantity in units of 0.005 BTC
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=st.lists(ACTION, min_size=1, max_size=40), seed=st.integers(0, 5))
def test_assets_are_conserved_and_balances_never_negative(
    h: SimpleNamespace, actions: list[tuple[str, str, str, int, int]], seed: int
) -> None:
    venue, _ = h.make_venue(seed=seed, symbols=("BTC/USDT",))
    venue.add_key("a", "s")
    venue.add_key("b", "s", {"USDT": D(50_000), "BTC": D(2)})
    initial = h.totals(venue)
    for kind, key, side, offset, units in actions:
        bid, ask = h.best(venue)
        ref = bid if side == "BUY" else ask
        price = str(max(ref + offset, D(1)))
        qty = str(D("0.005") * units)
        try:
            if kind in ("limit", "ioc", "fok"):
                tif = {"limit": "GTC", "ioc": "IOC", "fok": "FOK"}[kind]
                venue.new_order(key, h.limit("BTCUSDT", side, qty, price, tif))
            elif kind == "maker":
                venue.new_order(
                    key,
                    {
                        "symbol": "BTCUSDT",
                        "side": side,
                        "type": "LIMIT_MAKER",
                        "quantity": qty,
                        "price": price,
                    },
                )
            elif kind == "market":
                venue.new_order(key, h.market("BTCUSDT", side, qty))
            elif kind == "quote":
                venue.new_order(
                    key,
                    {"symbol": "BTCUSDT", "side": side, "type": "MARKET", "quoteOrderQty": str(units * 50)},
                )
            elif kind == "stop":
                venue.new_order(
                    key,
                    {
                        "symbol": "BTCUSDT",
                        "side": side,
                        "type": "STOP_LOSS_LIMIT",
                        "quantity": qty,
                        "price": price,
                        "stopPrice": price,
                        "timeInForce": "GTC",
                    },
                )
            elif kind == "oco":
                last = D(venue.ticker_24h("BTCUSDT")["lastPrice"])
                up, down = last + abs(offset) + 1, last - abs(offset) - 1
                venue.new_oco(
                    key,
                    {
                        "symbol": "BTCUSDT",
                        "side": side,
                        "quantity": qty,
                        "price": str(up if side == "SELL" else down),
                        "stopPrice": str(down if side == "SELL" else up),
                    },
                )
            elif kind == "cancel":
                open_ = venue.open_orders(key, {"symbol": "BTCUSDT"})
                if open_:
                    venue.cancel_order(key, {"symbol": "BTCUSDT", "orderId": str(open_[0]["orderId"])})
            elif kind == "jump":
                venue.set_price("BTCUSDT", jump_pct=D(offset) / 20)
            else:
                venue.step()
        except SimError as err:
            assert err.code in (-2010, -1013, -2011)
        h.check_invariants(venue)
        assert h.totals(venue) == initial
    for _ in range(20):
        venue.step()
    h.check_invariants(venue)
    assert h.totals(venue) == initial


def test_history_cap_bounds_memory(h: SimpleNamespace) -> None:
    cap = 500
    venue, _ = h.make_venue(history_cap=cap, symbols=("BTC/USDT",))
    venue.listen(lambda _e: None)
    venue.add_key("k", "s", {"USDT": D(10) ** 12, "BTC": D(10) ** 6})
    bid, _ask = h.best(venue)
    far = h.limit("BTCUSDT", "BUY", "0.00100", str(bid - 500), "IOC")  # expires at once, never fills
    take = h.market("BTCUSDT", "BUY", "0.00100")
    for i in range(100_000):
        venue.new_order("k", take if i % 50 == 0 else far)
        if i % 10_000 == 0:
            venue.step()
    account = venue.engine.keys.accounts["k"]
    assert len(account.orders) <= cap and len(account.closed) <= cap and len(account.by_cid) <= cap
    assert len(account.fills) <= cap
    assert len(venue.all_orders("k", {"symbol": "BTCUSDT", "limit": "1000"})) == cap
    assert len(venue.state()["orders"]) == cap
    assert len(venue.engine.symbols["BTCUSDT"].tape.recent) <= 1000
    assert venue.query_order("k", {"symbol": "BTCUSDT", "orderId": "100000"})["status"] == "EXPIRED"
