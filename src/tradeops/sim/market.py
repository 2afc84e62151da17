"""Per-symbol market model: seeded mid-price process with regimes and jumps, synthetic quotes."""

from __future__ import annotations

import random
from bisect import insort
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from tradeops.sim.book import SymbolBook
from tradeops.sim.config import SymbolFilters
from tradeops.sim.errors import SimError
from tradeops.sim.orders import Order
from tradeops.sim.tape import Tape

ZERO = Decimal(0)
ONE = Decimal(1)
BILLION = Decimal(1_000_000_000)
# per-tick volatility in parts per million at a 50 ms tick (scaled by sqrt(tick_ms / 50))
REGIMES: dict[str, int] = {"calm": 8, "normal": 20, "stressed": 60}
REGIME_NAMES = tuple(REGIMES)
REGIME_SWITCH_ODDS = 4_000  # one tick in N switches regime
JUMP_ODDS = 20_000  # one tick in N jumps by 0.5% to 2%
REFRESH_PER_STEP = 2  # synthetic levels per side whose quantity is redrawn each step

StopEntry = tuple[Decimal, int, Order]


class PriceModel:
    """Mid-price random walk in integer arithmetic (no floats): same seed, same path."""

    def __init__(self, rng: random.Random, mid: Decimal, tick: Decimal, tick_ms: int) -> None:
        self.rng = rng
        self.tick = tick
        self.mid = max(mid.quantize(tick), tick)
        self.regime = "normal"
        self.scale = (Decimal(tick_ms) / 50).sqrt()

    def advance(self) -> None:
        rng = self.rng
        if rng.randrange(REGIME_SWITCH_ODDS) == 0:
            self.regime = REGIME_NAMES[rng.randrange(len(REGIME_NAMES))]
        z = rng.randint(-1000, 1000) + rng.randint(-1000, 1000) + rng.randint(-1000, 1000)
        move = z * REGIMES[self.regime]
        if rng.randrange(JUMP_ODDS) == 0:
            move += (1 if rng.randrange(2) else -1) * rng.randint(5_000, 20_000) * 1000
        self.set(self.mid * (ONE + Decimal(move) * self.scale / BILLION))

    def set(self, mid: Decimal) -> None:
        self.mid = max(mid.quantize(self.tick), self.tick)

    def set_regime(self, regime: str) -> None:
        if regime not in REGIMES:
            raise SimError(-1130, f"regime must be one of {', '.join(REGIME_NAMES)}")
        self.regime = regime


class SymbolState:
    """Everything the venue keeps for one symbol."""

    def __init__(
        self,
        symbol: str,
        filters: SymbolFilters,
        price: Decimal,
        rng: random.Random,
        tick_ms: int,
        recent_cap: int,
    ) -> None:
        base, _, quote = symbol.partition("/")
        self.symbol = symbol
        self.base = base
        self.quote = quote
        self.venue_id = base + quote
        stream = self.venue_id.lower()
        self.ch_trade = f"{stream}@trade"
        self.ch_agg = f"{stream}@aggTrade"
        self.ch_ticker = f"{stream}@ticker"
        self.ch_book = f"{stream}@bookTicker"
        self.ch_depth = f"{stream}@depth@100ms"
        self.ch_kline = f"{stream}@kline_1m"
        self.filters = filters
        self.model = PriceModel(rng, price, filters.tick_size, tick_ms)
        self.book = SymbolBook()
        self.tape = Tape(self.model.mid, recent_cap)
        self.stops_up: list[StopEntry] = []  # trigger when last price >= stop
        self.stops_down: list[StopEntry] = []  # trigger when last price <= stop
        self._quoted_bid: Decimal | None = None

    def add_stop(self, order: Order, up: bool) -> None:
        insort(self.stops_up if up else self.stops_down, (order.stop_price, order.seq, order))

    def remove_stop(self, order: Order) -> None:
        for stops in (self.stops_up, self.stops_down):
            for i, entry in enumerate(stops):
                if entry[2] is order:
                    del stops[i]
                    return

    def due_stops(self) -> list[Order]:
        """Pop the stop orders the last trade price has reached, in trigger-price then time order."""
        last = self.tape.last_price
        due: list[Order] = []
        while self.stops_up and self.stops_up[0][0] <= last:
            due.append(self.stops_up.pop(0)[2])
        while self.stops_down and self.stops_down[-1][0] >= last:
            due.append(self.stops_down.pop()[2])
        return due

    def requote(self, rng: random.Random, depth: int) -> None:
        """Re-centre the synthetic book on the mid: drop stale levels, add new ones, redraw a few."""
        mid = self.model.mid
        filters = self.filters
        spacing = filters.spacing_for(mid)
        best_bid = (mid / spacing).to_integral_value(ROUND_CEILING) * spacing - spacing
        best_ask = (mid / spacing).to_integral_value(ROUND_FLOOR) * spacing + spacing
        book = self.book
        if best_bid != self._quoted_bid or len(book.synth_bids) + len(book.synth_asks) < 2 * depth:
            self._quoted_bid = best_bid
            self._side(True, [best_bid - i * spacing for i in range(depth)], rng)
            self._side(False, [best_ask + i * spacing for i in range(depth)], rng)
        for is_bid, levels in ((True, book.synth_bids), (False, book.synth_asks)):
            if levels:
                prices = list(levels)
                for _ in range(REFRESH_PER_STEP):
                    book.set_synth(is_bid, prices[rng.randrange(len(prices))], self._draw(rng))

    def _side(self, is_bid: bool, targets: list[Decimal], rng: random.Random) -> None:
        book = self.book
        synth = book.synth_bids if is_bid else book.synth_asks
        wanted = {p for p in targets if p > 0}
        for price in [p for p in synth if p not in wanted]:
            book.set_synth(is_bid, price, ZERO)
        for price in targets:
            if price > 0 and price not in synth:
                book.set_synth(is_bid, price, self._draw(rng))

    def _draw(self, rng: random.Random) -> Decimal:
        qty = self.filters.qty_for(self.model.mid) * rng.randint(5, 20) / 10
        return max(qty.quantize(self.filters.step_size, ROUND_FLOOR), self.filters.min_qty)

    def background_qty(self, rng: random.Random) -> Decimal:
        qty = self.filters.qty_for(self.model.mid) * rng.randint(1, 25) / 100
        return max(qty.quantize(self.filters.step_size, ROUND_FLOOR), self.filters.min_qty)
