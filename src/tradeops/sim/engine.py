"""Matching engine: taker walks over the merged book, maker fills, settlement, stops, background flow."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from tradeops.sim import formats
from tradeops.sim.accounts import Account, KeyRing
from tradeops.sim.config import SimConfig
from tradeops.sim.market import SymbolState
from tradeops.sim.orders import LIMIT_TYPES, Fill, Order, OrderList

ZERO = Decimal(0)
FEE_QUANTUM = Decimal("0.00000001")
Emit = Callable[[str, dict[str, Any], str | None], None]


class Engine:
    """Owns symbols, accounts and ledgers; every balance change of the venue happens here."""

    def __init__(self, config: SimConfig, clock: Callable[[], int], emit: Emit) -> None:
        self.config = config
        self.clock = clock
        self.emit = emit
        self.keys = KeyRing()
        self.rng = random.Random(config.seed)
        self.symbols: dict[str, SymbolState] = {}
        self.house: dict[str, Decimal] = {}  # the synthetic counterparty's net flows
        self.fees: dict[str, Decimal] = {}  # commissions collected by the venue
        self.lists: dict[int, OrderList] = {}
        self.closed_lists: deque[int] = deque()
        self.next_order_id = 1
        self.next_list_id = 1
        self._touched: dict[Account, set[str]] = {}
        self.capture: Order | None = None  # the taker whose fills a FULL response lists
        self.captured: list[Fill] = []
        self.seed_market()

    def seed_market(self) -> None:
        """(Re)build every symbol from the seed: same seed, same market."""
        cfg = self.config
        self.rng = random.Random(cfg.seed)
        self.symbols = {}
        for symbol in cfg.symbols:
            state = SymbolState(
                symbol, cfg.filters_of(symbol), cfg.price_of(symbol), self.rng, cfg.tick_ms, cfg.history_cap
            )
            state.requote(self.rng, cfg.book_depth)
            state.book.flush()
            self.symbols[state.venue_id] = state
        self.house = {}
        self.fees = {}
        self.lists = {}
        self.closed_lists = deque()
        self.next_order_id = 1
        self.next_list_id = 1

    # ---- events -------------------------------------------------------------------------------------
    def user_event(self, account: Account, payload: dict[str, Any]) -> None:
        for key in account.keys:
            self.emit("user", payload, key)

    def report(
        self,
        order: Order,
        exec_type: str,
        fill: Fill | None = None,
        orig_client_id: str = "",
        client_id: str | None = None,
    ) -> None:
        now = self.clock()
        self.user_event(
            order.account, formats.execution_report(order, exec_type, now, fill, orig_client_id, client_id)
        )

    def touch(self, account: Account, *assets: str) -> None:
        self._touched.setdefault(account, set()).update(assets)

    def flush_accounts(self) -> None:
        """One outboundAccountPosition per account whose balances changed since the last flush."""
        if not self._touched:
            return
        touched, self._touched = self._touched, {}
        now = self.clock()
        for account, assets in touched.items():
            account.update_time = now
            self.user_event(account, formats.account_position(account, assets, now))

    # ---- settlement ---------------------------------------------------------------------------------
    def _book(self, ledger: dict[str, Decimal], asset: str, amount: Decimal) -> None:
        ledger[asset] = ledger.get(asset, ZERO) + amount

    def trade(
        self,
        st: SymbolState,
        price: Decimal,
        qty: Decimal,
        taker: Order | None,
        maker: Order | None,
        taker_buy: bool,
    ) -> None:
        """One print at `price`: settle both sides (users or the house), report, update book and tape."""
        now = self.clock()
        p = st.tape.record(price, qty, not taker_buy, now)
        self.emit(st.ch_trade, formats.trade_event(st.venue_id, p, now), None)
        self.emit(st.ch_agg, formats.agg_trade_event(st.venue_id, p, now), None)
        quote = p.quote_qty
        for order, is_maker in ((taker, False), (maker, True)):
            buyer = taker_buy != is_maker
            if order is None:
                self._book(self.house, st.base, qty if buyer else -qty)
                self._book(self.house, st.quote, -quote if buyer else quote)
                continue
            fill = self._settle(st, order, price, qty, quote, is_maker, p.trade_id, now)
            if is_maker:
                st.book.filled_head(order, qty)
            self.report(order, "TRADE", fill)
            if order.list_id != -1:
                self.on_leg_activity(order)
            if not order.is_open:
                self.close(order)

    def _settle(
        self,
        st: SymbolState,
        o: Order,
        price: Decimal,
        qty: Decimal,
        quote: Decimal,
        is_maker: bool,
        trade_id: int,
        now: int,
    ) -> Fill:
        account = o.account
        rate = self.config.maker_fee if is_maker else self.config.taker_fee
        if o.is_buy:
            if o.lock_asset:
                release = o.price * qty
                o.locked -= release
                account.spend_locked(st.quote, quote)
                account.unlock(st.quote, release - quote)
            else:
                account.debit(st.quote, quote)
            fee = (qty * rate).quantize(FEE_QUANTUM, ROUND_HALF_UP)
            account.credit(st.base, qty - fee)
            fee_asset = st.base
        else:
            if o.lock_asset:
                o.locked -= qty
                account.spend_locked(st.base, qty)
            else:
                account.debit(st.base, qty)
            fee = (quote * rate).quantize(FEE_QUANTUM, ROUND_HALF_UP)
            account.credit(st.quote, quote - fee)
            fee_asset = st.quote
        self._book(self.fees, fee_asset, fee)
        self.touch(account, st.base, st.quote)
        o.executed += qty
        o.cum_quote += quote
        o.update_time = now
        o.status = "FILLED" if o.executed >= o.orig_qty else "PARTIALLY_FILLED"
        fill = Fill(
            o.symbol,
            trade_id,
            o.order_id,
            o.list_id,
            price,
            qty,
            quote,
            fee,
            fee_asset,
            now,
            o.is_buy,
            is_maker,
            o.api_key,
        )
        account.remember_fill(fill, self.config.history_cap)
        if o is self.capture:
            self.captured.append(fill)
        return fill

    # ---- order lifecycle ----------------------------------------------------------------------------
    def close(self, order: Order, status: str | None = None) -> None:
        """Terminal state: release what is still locked, forget the open index, evict old history."""
        if status is not None:
            order.status = status
            order.update_time = self.clock()
        if order.locked:
            order.account.unlock(order.lock_asset, order.locked)
            self.touch(order.account, order.lock_asset)
            order.locked = ZERO
        order.account.remember_closed(order, self.config.history_cap)

    def cancel(self, order: Order, status: str, client_id: str | None = None) -> None:
        """Take an open order off the book (or the stop lists) and report it CANCELED or EXPIRED."""
        st = self.symbols[order.symbol]
        if order.working_time == -1:
            st.remove_stop(order)
        else:
            st.book.remove_order(order)
        self.close(order, status)
        self.report(order, status, None, order.client_order_id if client_id else "", client_id)

    def on_leg_activity(self, order: Order) -> None:
        """A leg of an OCO filled or triggered: it inherits the list's lock, the other legs expire."""
        ol = self.lists.get(order.list_id)
        if ol is None or not ol.is_open:
            return
        for leg in ol.legs:
            if leg is not order and leg.is_open:
                order.locked += leg.locked
                order.lock_asset = order.lock_asset or leg.lock_asset
                leg.locked = ZERO
                self.cancel(leg, "EXPIRED")
        self.end_list(ol)

    def end_list(self, ol: OrderList) -> None:
        ol.list_status_type = ol.list_order_status = "ALL_DONE"
        ol.transaction_time = self.clock()
        self.user_event(ol.account, formats.list_status(ol, ol.transaction_time))
        self.closed_lists.append(ol.list_id)
        while len(self.closed_lists) > self.config.history_cap:
            self.lists.pop(self.closed_lists.popleft(), None)

    def cancel_list(self, ol: OrderList, cancel_id: str, via: Order | None) -> dict[str, Any]:
        """Cancel every open leg of an order list (a cancel of one leg cancels the list)."""
        reports = []
        for leg in ol.legs:
            if leg.is_open:
                self.cancel(leg, "CANCELED", cancel_id if leg is via else None)
            leg_cancel_id = cancel_id if leg is via else leg.client_order_id
            reports.append(formats.cancel_json(leg, leg_cancel_id, self.clock()))
        self.end_list(ol)
        return formats.order_list_json(ol, reports)

    def execute(self, st: SymbolState, order: Order, fills: list[Fill] | None = None) -> None:
        """Run a working order: taker walk, then rest (GTC limit) or expire (IOC, FOK, MARKET leftovers)."""
        limit = order.price if order.type in LIMIT_TYPES else None
        if order.tif == "FOK" and self.available(st, order.is_buy, limit) < order.remaining:
            self.close(order, "EXPIRED")
            self.report(order, "EXPIRED")
            return
        self.capture, self.captured = order, fills if fills is not None else []
        try:
            self.walk(st, order, limit)
        finally:
            self.capture, self.captured = None, []
        if not order.is_open:
            return
        if limit is not None and order.tif == "GTC":
            st.book.add_order(order)
        else:
            self.close(order, "EXPIRED")
            self.report(order, "EXPIRED")

    def available(self, st: SymbolState, taker_buy: bool, limit: Decimal | None) -> Decimal:
        book = st.book
        user = book.user_asks.qty if taker_buy else book.user_bids.qty
        synth = book.synth_asks if taker_buy else book.synth_bids
        return sum((user.get(p, ZERO) + synth.get(p, ZERO) for p in book.levels_for(taker_buy, limit)), ZERO)

    def _want(self, st: SymbolState, o: Order, price: Decimal) -> Decimal:
        want = o.remaining
        if o.lock_asset:
            return want
        if o.is_buy:
            affordable = (o.account.available(st.quote) / price).quantize(st.filters.step_size, ROUND_FLOOR)
            return min(want, affordable)
        return min(want, o.account.available(st.base))

    def simulate(
        self, st: SymbolState, taker_buy: bool, qty: Decimal | None, budget: Decimal | None
    ) -> tuple[Decimal, Decimal]:
        """Dry-run a market order: (quantity, quote) it would trade for a quantity or a quote budget."""
        book = st.book
        users = book.user_asks.qty if taker_buy else book.user_bids.qty
        synth = book.synth_asks if taker_buy else book.synth_bids
        step = st.filters.step_size
        got = spent = ZERO
        for price in book.levels_for(taker_buy, None):
            level = users.get(price, ZERO) + synth.get(price, ZERO)
            if qty is not None:
                take = min(level, qty - got)
            else:
                assert budget is not None
                take = min(level, ((budget - spent) / price).quantize(step, ROUND_FLOOR))
            if take <= 0:
                break
            got += take
            spent += take * price
        return got, spent

    def walk(self, st: SymbolState, order: Order, limit: Decimal | None) -> None:
        """Take liquidity level by level, user orders first (earlier in time), then synthetic."""
        book = st.book
        taker_buy = order.is_buy
        users = book.user_asks if taker_buy else book.user_bids
        synth = book.synth_asks if taker_buy else book.synth_bids
        for price in book.levels_for(taker_buy, limit):
            queue = users.levels.get(price)
            while queue and order.is_open:
                q = min(queue[0].remaining, self._want(st, order, price))
                if q <= 0:
                    return
                self.trade(st, price, q, order, queue[0], taker_buy)
            avail = synth.get(price)
            if avail and order.is_open:
                q = min(avail, self._want(st, order, price))
                if q <= 0:
                    return
                book.set_synth(not taker_buy, price, avail - q)
                self.trade(st, price, q, order, None, taker_buy)
            if not order.is_open:
                return

    # ---- market-driven matching ---------------------------------------------------------------------
    def cross(self, st: SymbolState) -> None:
        """Resting user orders that the re-quoted synthetic book crosses fill at their own price."""
        book = st.book
        bids, asks = book.user_bids, book.user_asks
        while bids.prices and book.synth_asks:
            bid, ask = bids.prices[-1], min(book.synth_asks)
            if ask > bid:
                break
            maker = bids.levels[bid][0]
            q = min(maker.remaining, book.synth_asks[ask])
            book.set_synth(False, ask, book.synth_asks[ask] - q)
            self.trade(st, bid, q, None, maker, False)
        while asks.prices and book.synth_bids:
            ask, bid = asks.prices[0], max(book.synth_bids)
            if bid < ask:
                break
            maker = asks.levels[ask][0]
            q = min(maker.remaining, book.synth_bids[bid])
            book.set_synth(True, bid, book.synth_bids[bid] - q)
            self.trade(st, ask, q, None, maker, True)

    def background(self, st: SymbolState, count: int, bias: int = 0) -> None:
        """Background flow prints at the touch; resting user orders at the touch fill first."""
        rng = self.rng
        book = st.book
        for _ in range(count):
            taker_buy = rng.randrange(2) == 1 if bias == 0 else bias > 0
            qty = st.background_qty(rng)
            price = book.best_ask() if taker_buy else book.best_bid()
            if price is None:
                continue
            queue = (book.user_asks if taker_buy else book.user_bids).levels.get(price)
            while queue and qty > 0:
                maker = queue[0]
                q = min(maker.remaining, qty)
                qty -= q
                self.trade(st, price, q, None, maker, taker_buy)
            if qty > 0:
                self.trade(st, price, qty, None, None, taker_buy)

    def run_stops(self, st: SymbolState) -> None:
        """Trigger stop orders the last price reached; their fills may trigger more."""
        for _ in range(10_000):
            due = st.due_stops()
            if not due:
                return
            for order in due:
                if not order.is_open:
                    continue
                order.working_time = self.clock()
                if order.list_id != -1:
                    self.on_leg_activity(order)
                if order.type not in LIMIT_TYPES and order.lock_asset == st.quote:
                    order.account.unlock(st.quote, order.locked)  # a market buy pays from free balance
                    order.lock_asset, order.locked = "", ZERO
                self.execute(st, order)
