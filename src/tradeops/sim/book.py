"""One symbol's order book: synthetic liquidity plus resting user orders, with depth diffs."""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Iterator
from decimal import Decimal

from tradeops.sim.orders import Order

ZERO = Decimal(0)
Diff = tuple[int, int, list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]


class UserSide:
    """Resting user orders on one side: FIFO queues per price, prices kept sorted ascending."""

    __slots__ = ("levels", "prices", "qty")

    def __init__(self) -> None:
        self.levels: dict[Decimal, deque[Order]] = {}
        self.prices: list[Decimal] = []
        self.qty: dict[Decimal, Decimal] = {}

    def add(self, order: Order) -> None:
        queue = self.levels.get(order.price)
        if queue is None:
            queue = self.levels[order.price] = deque()
            insort(self.prices, order.price)
            self.qty[order.price] = ZERO
        queue.append(order)
        self.qty[order.price] += order.remaining

    def reduce(self, price: Decimal, qty: Decimal) -> None:
        self.qty[price] -= qty

    def remove(self, order: Order) -> None:
        queue = self.levels.get(order.price)
        if queue is None or order not in queue:
            return
        queue.remove(order)
        self.qty[order.price] -= order.remaining
        if not queue:
            self._drop(order.price)

    def pop_head(self, price: Decimal) -> None:
        queue = self.levels[price]
        queue.popleft()
        if not queue:
            self._drop(price)

    def _drop(self, price: Decimal) -> None:
        del self.levels[price]
        del self.qty[price]
        del self.prices[bisect_left(self.prices, price)]


class SymbolBook:
    """Merged book (synthetic + user) as published on `depth` and `@depth@100ms` with update ids."""

    def __init__(self) -> None:
        self.user_bids = UserSide()
        self.user_asks = UserSide()
        self.synth_bids: dict[Decimal, Decimal] = {}
        self.synth_asks: dict[Decimal, Decimal] = {}
        self.pub_bids: dict[Decimal, Decimal] = {}
        self.pub_asks: dict[Decimal, Decimal] = {}
        self.update_id = 0
        self._first = 0
        self._pend_bids: dict[Decimal, Decimal] = {}
        self._pend_asks: dict[Decimal, Decimal] = {}

    def _touch(self, is_bid: bool, price: Decimal) -> None:
        if is_bid:
            synth, user, pub, pend = self.synth_bids, self.user_bids.qty, self.pub_bids, self._pend_bids
        else:
            synth, user, pub, pend = self.synth_asks, self.user_asks.qty, self.pub_asks, self._pend_asks
        merged = synth.get(price, ZERO) + user.get(price, ZERO)
        if merged == pub.get(price, ZERO):
            return
        if merged > 0:
            pub[price] = merged
        else:
            pub.pop(price, None)
        self.update_id += 1
        if not self._first:
            self._first = self.update_id
        pend[price] = merged

    def set_synth(self, is_bid: bool, price: Decimal, qty: Decimal) -> None:
        synth = self.synth_bids if is_bid else self.synth_asks
        if qty > 0:
            synth[price] = qty
        else:
            synth.pop(price, None)
        self._touch(is_bid, price)

    def add_order(self, order: Order) -> None:
        (self.user_bids if order.is_buy else self.user_asks).add(order)
        self._touch(order.is_buy, order.price)

    def remove_order(self, order: Order) -> None:
        (self.user_bids if order.is_buy else self.user_asks).remove(order)
        self._touch(order.is_buy, order.price)

    def filled_head(self, order: Order, qty: Decimal) -> None:
        """The head order of its level traded `qty` (already applied to the order)."""
        side = self.user_bids if order.is_buy else self.user_asks
        side.reduce(order.price, qty)
        if order.remaining <= 0:
            side.pop_head(order.price)
        self._touch(order.is_buy, order.price)

    def best_bid(self) -> Decimal | None:
        synth = max(self.synth_bids) if self.synth_bids else None
        prices = self.user_bids.prices
        user = prices[-1] if prices else None
        if synth is None or (user is not None and user > synth):
            return user
        return synth

    def best_ask(self) -> Decimal | None:
        synth = min(self.synth_asks) if self.synth_asks else None
        prices = self.user_asks.prices
        user = prices[0] if prices else None
        if synth is None or (user is not None and user < synth):
            return user
        return synth

    def levels_for(self, taker_buy: bool, limit: Decimal | None) -> Iterator[Decimal]:
        """Price levels a taker walks, best first, up to its limit price (inclusive)."""
        if taker_buy:
            user = self.user_asks.prices
            end = len(user) if limit is None else bisect_right(user, limit)
            synth = [p for p in self.synth_asks if limit is None or p <= limit]
            return iter(sorted(set(user[:end]) | set(synth)))
        user = self.user_bids.prices
        start = 0 if limit is None else bisect_left(user, limit)
        synth = [p for p in self.synth_bids if limit is None or p >= limit]
        return iter(sorted(set(user[start:]) | set(synth), reverse=True))

    def snapshot(
        self, limit: int
    ) -> tuple[int, list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        bids = sorted(self.pub_bids.items(), reverse=True)[:limit]
        asks = sorted(self.pub_asks.items())[:limit]
        return self.update_id, bids, asks

    def flush(self) -> Diff | None:
        """The changes since the last flush as (U, u, bids, asks) with absolute quantities."""
        if not self._first:
            return None
        diff = (self._first, self.update_id, list(self._pend_bids.items()), list(self._pend_asks.items()))
        self._first = 0
        self._pend_bids = {}
        self._pend_asks = {}
        return diff
