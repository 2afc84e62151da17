"""The risk gate's balance cache: read once per fill or ``max_age_s``, never per order, and still safe.

A small venue model holds the truth (free and locked per asset; a placed order locks its funds, a fill
spends them, an expiry releases them). Each test puts the gate on a snapshot that predates what the venue
did since, often with the venue's account endpoint failing (so the gate must decide on the stale
snapshot), and checks that the gate never approves an order the venue would refuse for funds.
"""

from __future__ import annotations

import dataclasses
import random
from decimal import Decimal as D

from tradeops.domain.control import TradingState
from tradeops.domain.limits import RiskLimits
from tradeops.domain.orders import Fill, Order, OrderState
from tradeops.domain.portfolio import Portfolio
from tradeops.domain.risk import Approved, Denied, DenyReason
from tradeops.domain.values import Instrument, OrderType, Side
from tradeops.gateway.quality import Feed, FeedQuality, MarketView
from tradeops.gateway.risk_gate import BalanceCache, RiskGate
from tradeops.venue.outcomes import Accepted, Retryable

NOW = 1_700_000_000_000
SYMBOL = "SOL/USDT"
INSTRUMENT = Instrument(SYMBOL, "SOLUSDT", "SOL", "USDT", D("0.01"), D("0.01"), D("0.01"), D("9000"), D(5))
PRICE = D("100")
S = OrderState


class Venue:
    """The venue's books: ``free``/``locked`` per asset; reads count, and can be made to fail."""

    def __init__(self, usdt: str, sol: str = "0") -> None:
        self.free = {"USDT": D(usdt), "SOL": D(sol)}
        self.locked = {"USDT": D(0), "SOL": D(0)}
        self.reads = 0
        self.down = False

    async def fetch(self) -> object:
        self.reads += 1
        if self.down:
            return Retryable("account endpoint unavailable", "ExchangeNotAvailable", 503, None)
        return Accepted({a: (self.free[a], self.locked[a]) for a in self.free})

    def would_accept(self, order: Order) -> bool:
        if order.side is Side.BUY:
            return self.free["USDT"] >= order.quantity * PRICE
        return self.free["SOL"] >= order.quantity

    def place(self, order: Order) -> None:
        asset, amount = (
            ("USDT", order.quantity * PRICE) if order.side is Side.BUY else ("SOL", order.quantity)
        )
        assert self.free[asset] >= amount, "the gate approved an order the venue refuses for funds"
        self.free[asset] -= amount
        self.locked[asset] += amount

    def fill(self, order: Order) -> None:
        spent, got = ("USDT", "SOL") if order.side is Side.BUY else ("SOL", "USDT")
        amount = order.quantity * PRICE if order.side is Side.BUY else order.quantity
        self.locked[spent] -= amount
        self.free[got] += order.quantity if order.side is Side.BUY else order.quantity * PRICE

    def expire(self, order: Order) -> None:
        asset, amount = (
            ("USDT", order.quantity * PRICE) if order.side is Side.BUY else ("SOL", order.quantity)
        )
        self.locked[asset] -= amount
        self.free[asset] += amount


class Rig:
    """A gate over the venue model; ``working`` is what the OMS reports as working."""

    def __init__(self, venue: Venue, clock: list[float]) -> None:
        self.venue = venue
        self.working: dict[str, Order] = {}
        view = MarketView(
            SYMBOL, FeedQuality.OK, frozenset(), Feed.PRIMARY, D("99.9"), D("100.1"), PRICE, NOW, 0
        )
        held = {"USDT": venue.free["USDT"], "SOL": venue.free["SOL"]}
        self.portfolio = Portfolio("USDT", held)
        self.cache = BalanceCache(venue.fetch, max_age_s=1.0, monotonic=lambda: clock[0])
        limits = dataclasses.replace(  # only the funds check may say no here
            RiskLimits.default_for_demo(),
            max_orders_per_second=D(1_000_000),
            order_burst=1_000_000,
            max_open_orders=1_000_000,
            max_open_orders_per_symbol=1_000_000,
        )
        self.gate = RiskGate(
            limits=limits,
            instruments={SYMBOL: INSTRUMENT},
            symbols=[SYMBOL],
            view=lambda _symbol: view,
            portfolio=lambda: self.portfolio,
            balances=self.cache,
            working_orders=lambda: list(self.working.values()),
            trading_state=lambda: TradingState.ACTIVE,
            strategy_enabled=lambda _name: True,
            now_ms=lambda: NOW,
        )

    async def send(self, order: Order) -> bool:
        """Decide; an approved order is placed at the venue (which asserts it has the funds), then OPEN."""
        decision = await self.gate.decide(order)
        if isinstance(decision, Approved):
            self.venue.place(order)
            self.working[order.client_order_id] = order.transition(S.SUBMITTING, NOW).transition(S.OPEN, NOW)
            self.gate.settled(order.client_order_id)
            return True
        assert isinstance(decision, Denied) and decision.reason is DenyReason.INSUFFICIENT_BALANCE, decision
        return False

    def finish(self, order: Order, *, filled: bool) -> None:
        """The order ends at the venue (filled or expired) and leaves the working set."""
        (self.venue.fill if filled else self.venue.expire)(order)
        del self.working[order.client_order_id]


def order(n: int, side: Side = Side.BUY, quantity: str = "1") -> Order:
    return Order.new(client_order_id=f"cid-{n}", intent_id=f"i-{n}", strategy="demo", symbol=SYMBOL,
                     side=side, type=OrderType.LIMIT, quantity=D(quantity), limit_price=PRICE,
                     created_at=NOW)  # fmt: skip


async def test_balances_are_read_once_not_per_order_and_again_after_a_fill_or_the_ttl() -> None:
    clock = [0.0]
    rig = Rig(Venue("100000"), clock)
    for n in range(5):
        assert await rig.send(order(n))
    assert rig.venue.reads == 1  # five orders, one read: the settled orders are accounted for, not re-read
    first = order(0)
    rig.finish(first, filled=True)
    rig.gate.on_fill(
        Fill(first.client_order_id, "t-1", SYMBOL, Side.BUY, PRICE, D(1), D(0), "USDT", NOW, False)
    )
    assert await rig.send(order(10))
    assert rig.venue.reads == 2
    assert await rig.send(order(11))
    assert rig.venue.reads == 2
    clock[0] = 1.5  # older than max_age_s
    assert await rig.send(order(12))
    assert rig.venue.reads == 3


async def test_an_order_sent_after_the_read_and_still_open_counts_in_full_on_a_stale_snapshot() -> None:
    rig = Rig(Venue("150"), [0.0])
    assert await rig.send(order(1))  # the venue locks 100: 50 free, the snapshot still says 150
    rig.venue.down = True  # the gate must decide on the stale snapshot
    assert not await rig.send(order(2))  # 100 more: the venue would refuse, so must the gate
    assert await rig.send(order(3, quantity="0.3"))  # 30 fits in the 50 left


async def test_an_order_filled_or_gone_since_the_read_still_counts_until_a_read_shows_it() -> None:
    rig = Rig(Venue("150"), [0.0])
    first = order(1)
    assert await rig.send(first)
    rig.finish(first, filled=True)  # spent: no longer working, and the fill event may not be here yet
    rig.venue.down = True
    assert not await rig.send(order(2))
    rig.venue.down = False
    assert not await rig.send(order(3))  # a fresh read agrees: 50 free
    assert rig.venue.reads == 3


async def test_a_shortfall_on_a_cached_snapshot_is_decided_again_on_a_fresh_read() -> None:
    rig = Rig(Venue("150"), [0.0])
    first = order(1)
    assert await rig.send(first)
    rig.finish(first, filled=False)  # expired unfilled: the venue gave the 100 back
    assert await rig.send(order(2))  # conservative on the cached snapshot, approved on the re-read
    assert rig.venue.reads == 2


async def test_a_working_order_the_gate_did_not_approve_counts_until_a_read_after_it_was_seen() -> None:
    rig = Rig(Venue("1000", sol="10"), [0.0])
    assert await rig.send(order(1, Side.SELL, "1"))  # the snapshot: 10 SOL free, then the venue locks 1
    leg = order(2, Side.SELL, "7")  # e.g. a protective leg placed by another component
    rig.venue.place(leg)
    rig.working[leg.client_order_id] = leg.transition(S.SUBMITTING, NOW).transition(S.OPEN, NOW)
    rig.venue.down = True
    assert not await rig.send(order(3, Side.SELL, "5"))  # 2 SOL free at the venue
    assert await rig.send(order(4, Side.SELL, "2"))
    rig.venue.down = False
    rig.gate.on_fill(Fill("cid-x", "t-x", SYMBOL, Side.SELL, PRICE, D(1), D(0), "USDT", NOW, False))
    assert not await rig.send(order(5, Side.SELL, "0.5"))  # fresh: 0 SOL free


async def test_a_random_run_never_approves_what_the_venue_refuses() -> None:
    generator = random.Random(4)
    clock = [0.0]
    rig = Rig(Venue("1000", sol="10"), clock)
    approved = denied = on_cached = 0
    for n in range(400):
        step = generator.random()
        if step < 0.5:
            side = Side.BUY if generator.random() < 0.5 else Side.SELL
            quantity = str(generator.choice(["0.5", "1", "2", "3"]))
            reads = rig.venue.reads
            sent = await rig.send(order(n, side, quantity))  # Venue.place asserts the funds are there
            approved, denied = approved + sent, denied + (not sent)
            on_cached += sent and rig.venue.reads == reads
        elif step < 0.8 and rig.working:
            cid = generator.choice(sorted(rig.working))
            filled = generator.random() < 0.5
            working = rig.working[cid]
            rig.finish(working, filled=filled)
            if filled and generator.random() < 0.5:  # the fill event arrives (or not yet)
                rig.gate.on_fill(
                    Fill(
                        cid, f"t-{n}", SYMBOL, working.side, PRICE, working.quantity, D(0), "USDT", NOW, False
                    )
                )
        elif step < 0.9:
            rig.venue.down = not rig.venue.down
        else:
            clock[0] += 0.4
    assert approved > 50 and denied > 20  # both sides of the edge were exercised
    assert on_cached > 20  # many approvals were decided on a snapshot older than the venue's books
