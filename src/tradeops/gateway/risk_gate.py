"""Pre-trade risk in the gateway: the :class:`RiskContext` of each order, assembled from live state.

:class:`RiskGate` reads the portfolio (marked at the market data mids), the market data views, the
venue's free balances (:class:`BalanceCache`: re-read after fills and ``max_age_s``, not per order; what
was sent since the read is deducted), the OMS's
working orders plus the orders it approved that are not sent yet, the control state and the limits,
then calls :func:`tradeops.domain.risk.check`. Decisions are taken one at a time (a lock), so two
concurrent intents never both pass a count or exposure limit that only one of them fits.

On top of the domain checks, an approved order that does not reduce exposure is refused when the
symbol's view is not good for opening (STALE, REST-fed, or without a quote): issue 4 item 4. Daily
traded notional and the order-rate window count the approvals of this process since it started; an
approval older than the current limits' rate window is dropped, so a limit change that widens the
window counts only the approvals the narrower one still held.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tradeops.aio import acquire_within
from tradeops.domain.control import TradingState
from tradeops.domain.limits import RiskLimits
from tradeops.domain.orders import Fill, Order, OrderState
from tradeops.domain.portfolio import MissingPriceError, Portfolio, split_symbol
from tradeops.domain.risk import (
    Approved,
    Denied,
    DenyReason,
    OrderRequest,
    ReferencePrice,
    RiskContext,
    RiskDecision,
    check,
)
from tradeops.domain.values import Instrument, Side
from tradeops.domain.volatility import EwmaVolatility
from tradeops.gateway.clock import wall_ms
from tradeops.gateway.quality import FeedQuality, MarketView
from tradeops.observability import get_logger
from tradeops.venue.outcomes import Accepted
from tradeops.venue.ratelimit import send_by

__all__ = ["BalanceCache", "BalanceSnapshot", "RiskGate", "VenueUnavailable"]

log = get_logger("tradeops.gateway")
Balances = dict[str, tuple[Decimal, Decimal]]
_DAY_MS = 86_400_000
_RECENT_ORDERS = 10_000
_ZERO = Decimal(0)
# The states in which the venue holds an order's funds (its ``free`` balance excludes them), as in the domain.
_VENUE_LOCKED = frozenset({OrderState.OPEN, OrderState.PARTIALLY_FILLED, OrderState.CANCELING})


def _takes(symbol: str, side: Side, quantity: Decimal, quote_amount: Decimal) -> tuple[str, Decimal]:
    """The asset and amount an order takes from the free balance: a sell its base quantity, a buy its
    quote amount."""
    base, quote = split_symbol(symbol)
    return (base, quantity) if side is Side.SELL else (quote, quote_amount)


def _short_of_funds(decision: RiskDecision) -> bool:
    return isinstance(decision, Denied) and decision.reason is DenyReason.INSUFFICIENT_BALANCE


class VenueUnavailable(RuntimeError):
    """The venue's balances could not be read and none were read before."""


@dataclass(frozen=True)
class BalanceSnapshot:
    """Balances as of read number ``generation`` (1-based); ``fresh`` when this very call read them."""

    balances: Balances
    generation: int
    fresh: bool


class BalanceCache:
    """``{asset: (free, locked)}`` from the venue: re-read after a fill (:meth:`invalidate`) or ``max_age_s``.

    It is not re-read per order. A snapshot can be stale in two ways, and the :class:`RiskGate` makes both
    safe (it never approves, from a stale snapshot, what the venue would refuse for funds):

    * it may lack what orders sent after the read took. Every read is numbered when it *starts*; an order
      approved by the gate and handed back (``settled``) while read ``n`` was the latest started is
      reflected only by read ``n + 1`` or later. Until then the gate deducts the order's whole commitment
      (buy: notional plus fee in the quote asset; sell: the quantity in the base asset) from the free
      balance, whatever became of it: still working, filled (spent) or expired (nothing spent:
      conservative). Working orders the gate did not approve (protective legs, recovered orders) are
      handled alike: one first seen venue-locked after read ``n`` started has its lock deducted until a
      later read. The domain check then adds the open orders it counts (fee-only for venue-locked ones),
      as it would on a fresh read.
    * it may lack what the venue released or credited since (cancels, sell proceeds, base bought,
      deposits): a snapshot that understates the free balance is only conservative. Fills re-read to
      stay current, and a denial for funds on a cached snapshot is decided again on a fresh one.

    So a re-read (older than ``max_age_s``, or after a fill) goes only when the venue's request weight is
    free right now; when it is not, the last snapshot serves, so a weight-starved gateway spends what it
    has on orders rather than on balance reads. Outside normal operation (a withdrawal, a market order
    resting at the venue, a market buy filled past the price collar) the snapshot is still never older
    than ``required_age_s``: beyond that, and to decide a shortfall, a read is waited for.
    """

    def __init__(
        self,
        fetch: Callable[[], Awaitable[Any]],
        *,
        max_age_s: float = 1.0,
        required_age_s: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._max_age_s = max_age_s
        self._required_age_s = required_age_s
        self._monotonic = monotonic
        self._value: BalanceSnapshot | None = None
        self._read_at = 0.0
        self._reads_started = 0
        self._stale_up_to = 0  # snapshots of reads numbered <= this one are outdated
        self._lock = asyncio.Lock()

    @property
    def reads_started(self) -> int:
        """How many reads have started (the next read gets this number plus one)."""
        return self._reads_started

    def invalidate(self) -> None:
        """The balances changed (a fill): the next :meth:`snapshot` re-reads, even if a read is in flight."""
        self._stale_up_to = self._reads_started

    async def get(self) -> Balances:
        """Fresh balances; the last good ones (logged) when a re-read fails; raises when there are none."""
        return (await self.snapshot()).balances

    async def snapshot(
        self, *, deadline_ms: int | None = None, require_fresh: bool = False
    ) -> BalanceSnapshot:
        """:meth:`get` with the number of the read behind the balances (single flight).

        A due re-read that cannot be sent at once (weight, another caller's read) leaves the last balances
        (``fresh`` False). With ``require_fresh``, or when they are older than ``required_age_s``, the read
        is waited for, up to ``deadline_ms`` (local epoch ms) when given.
        """
        cached = self._value
        if (
            cached is not None
            and not require_fresh
            and self._monotonic() - self._read_at < self._required_age_s
        ):
            deadline_ms = wall_ms()  # re-read only if it can go now
        if deadline_ms is None or cached is None:
            await self._lock.acquire()
        elif not await acquire_within(self._lock, (deadline_ms - wall_ms()) / 1000):
            return dataclasses.replace(cached, fresh=False)  # another caller's read would outlast it
        try:
            return await self._read_or_cached(deadline_ms)
        finally:
            self._lock.release()

    async def _read_or_cached(self, deadline_ms: int | None) -> BalanceSnapshot:
        cached = self._value
        if (
            cached is not None
            and cached.generation > self._stale_up_to
            and self._monotonic() - self._read_at < self._max_age_s
        ):
            return dataclasses.replace(cached, fresh=False)
        self._reads_started += 1
        generation = self._reads_started
        with send_by(deadline_ms):  # the venue call's weight is only worth spending before the deadline
            outcome = await self._fetch()
        if isinstance(outcome, Accepted):
            self._value = BalanceSnapshot(dict(outcome.value), generation, fresh=True)
            self._read_at = self._monotonic()
            return self._value
        if cached is None:
            raise VenueUnavailable(f"balances unavailable: {outcome!r}")
        log.warning("balances not refreshed; using the last ones", extra={"outcome": repr(outcome)})
        return dataclasses.replace(cached, fresh=False)


@dataclass(frozen=True)
class _Commitment:
    """An approved order and the notional it was checked at."""

    order: Order
    notional: Decimal


@dataclass
class _Unread:
    """Orders handed back while one balance read was the latest started: what they take, per asset
    (kept as running totals, so a decision costs the same however many orders were sent since)."""

    cids: set[str] = dataclasses.field(default_factory=set)
    takes: dict[str, Decimal] = dataclasses.field(default_factory=dict)


class RiskGate:
    """Decides whether a NEW order may be sent; see the module docstring."""

    def __init__(
        self,
        *,
        limits: RiskLimits,
        instruments: Mapping[str, Instrument],
        symbols: Iterable[str],
        view: Callable[[str], MarketView],
        portfolio: Callable[[], Portfolio],
        balances: BalanceCache,
        working_orders: Callable[[], Iterable[Order]],
        trading_state: Callable[[], TradingState],
        strategy_enabled: Callable[[str], bool],
        strategy_allocation: Callable[[str], Decimal | None] = lambda _strategy: None,
        taker_fee_rate: Decimal = Decimal("0.001"),
        now_ms: Callable[[], int] = wall_ms,
    ) -> None:
        self.limits = limits
        self.kyc_verified = True
        """Whether the account may trade (KYC); kept current by :mod:`tradeops.gateway.risk_inputs`."""
        self._instruments = dict(instruments)
        self._symbols = tuple(symbols)
        self._view = view
        self._portfolio = portfolio
        self._balances = balances
        self._working = working_orders
        self._trading_state = trading_state
        self._strategy_enabled = strategy_enabled
        self._strategy_allocation = strategy_allocation
        self._fee = taker_fee_rate
        self._now_ms = now_ms
        self._lock = asyncio.Lock()
        self._approved: dict[str, _Commitment] = {}  # approved, not yet handed back by submit
        self._unread: dict[int, _Unread] = {}  # reads started at settling -> orders settled then
        self._first_locked: dict[str, int] = {}  # venue-locked working order -> reads started when first seen
        self._recent: deque[int] = deque(maxlen=_RECENT_ORDERS)
        self._day = -1
        self._traded_today = _ZERO
        half_life = Decimal(300)
        self._vols = {symbol: EwmaVolatility(half_life) for symbol in self._symbols}

    def sample_volatility(self) -> None:
        """Feed each symbol's realized-volatility estimator with its current mid (call about every second)."""
        now = self._now_ms()
        for symbol, vol in self._vols.items():
            view = self._view(symbol)
            if view.mid is not None and view.quality is not FeedQuality.STALE:  # a held price: no return
                vol.update(view.mid, now)

    async def decide(self, order: Order, *, expires_at_ms: int | None = None) -> RiskDecision:
        """Check ``order``; an approval is counted (rate, daily notional) and held until :meth:`settled`."""
        request = OrderRequest(
            strategy=order.strategy,
            symbol=order.symbol,
            side=order.side,
            type=order.type,
            quantity=order.quantity,
            limit_price=order.limit_price,
            expires_at_ms=expires_at_ms,
        )
        # Due re-reads go only if the weight is free now (else the last balances, which only understate);
        # a shortfall is decided again on a read waited for until the intent expires.
        balances = await self._balances.snapshot(deadline_ms=expires_at_ms)
        async with self._lock:
            decision = self._decide(request, balances)
            if not (_short_of_funds(decision) and not balances.fresh):
                return self._hold(order, decision)
        self._balances.invalidate()  # cached balances only understate: decide a shortfall on fresh ones
        balances = await self._balances.snapshot(deadline_ms=expires_at_ms, require_fresh=True)
        async with self._lock:
            return self._hold(order, self._decide(request, balances))

    def _hold(self, order: Order, decision: RiskDecision) -> RiskDecision:
        if isinstance(decision, Approved):
            now = self._now_ms()
            self._recent.append(now)
            self._count_notional(now, decision.notional)
            self._approved[order.client_order_id] = _Commitment(order, decision.notional)
        return decision

    def settled(self, client_order_id: str) -> None:
        """The approved order was submitted (or dropped): its funds count until a balance read shows them."""
        commitment = self._approved.pop(client_order_id, None)
        if commitment is not None:
            unread = self._unread.setdefault(self._balances.reads_started, _Unread())
            unread.cids.add(client_order_id)
            order, spend = commitment.order, commitment.notional * (1 + self._fee)
            asset, amount = _takes(order.symbol, order.side, order.quantity, spend)
            unread.takes[asset] = unread.takes.get(asset, _ZERO) + amount

    def on_fill(self, _fill: Fill) -> None:
        """A fill changed the venue's balances: the next decision reads them again."""
        self._balances.invalidate()

    def _count_notional(self, now: int, notional: Decimal) -> None:
        day = now // _DAY_MS
        if day != self._day:
            self._day, self._traded_today = day, _ZERO
        self._traded_today += notional

    def _free_balances(self, snapshot: BalanceSnapshot, working: list[Order]) -> dict[str, Decimal]:
        """The snapshot's free balances less what it cannot show yet (see :class:`BalanceCache`)."""
        free = {asset: amount for asset, (amount, _locked) in snapshot.balances.items()}
        reads_started = self._balances.reads_started

        def deduct(asset: str, amount: Decimal) -> None:
            free[asset] = free.get(asset, _ZERO) - amount

        # No await separates taking ``snapshot`` from this call, so no newer read can have pruned for it.
        for read in [read for read in self._unread if read < snapshot.generation]:
            del self._unread[read]  # that read's snapshot (or a later one) shows these orders
        for unread in self._unread.values():
            for asset, amount in unread.takes.items():
                deduct(asset, amount)
        first_locked = {}
        for order in working:
            cid = order.client_order_id
            if order.state not in _VENUE_LOCKED:
                continue
            first_locked[cid] = seen = self._first_locked.get(cid, reads_started)
            if seen >= snapshot.generation and not any(cid in u.cids for u in self._unread.values()):
                price = order.limit_price or order.stop_price or _ZERO  # resting market orders: none
                deduct(*_takes(order.symbol, order.side, order.remaining, order.remaining * price))
        self._first_locked = first_locked
        return free

    def _decide(self, request: OrderRequest, balances: BalanceSnapshot) -> RiskDecision:
        now = self._now_ms()
        views = {symbol: self._view(symbol) for symbol in {*self._symbols, request.symbol}}
        references = {
            symbol: ReferencePrice(view.mid, now - view.age_ms)
            for symbol, view in views.items()
            if view.mid is not None and view.age_ms is not None
        }
        try:
            snapshot = self._portfolio().mark({s: r.mid for s, r in references.items()}, now)
        except MissingPriceError as exc:
            return Denied(DenyReason.MARKET_DATA_STALE, None, "missing", f"cannot value the portfolio: {exc}")
        window_start = now - self.limits.rate_window_ms
        while self._recent and self._recent[0] <= window_start:  # the rate check counts none of them
            self._recent.popleft()
        working = list(self._working())
        open_orders = {o.client_order_id: o for o in working}
        open_orders.update((cid, c.order) for cid, c in self._approved.items())
        day_traded = self._traded_today if now // _DAY_MS == self._day else _ZERO
        approved = self._strategy_allocation(request.strategy)
        allocation = {} if approved is None else {request.strategy: approved}
        context = RiskContext(
            now_ms=now,
            trading_state=self._trading_state(),
            instruments=self._instruments,
            enabled_symbols=frozenset(self._symbols) & frozenset(self._instruments),
            reference_prices=references,
            realized_vols={s: v for s, vol in self._vols.items() if (v := vol.annualized()) is not None},
            portfolio=snapshot,
            free_balances=self._free_balances(balances, working),
            open_orders=tuple(open_orders.values()),
            traded_notional_today=day_traded,
            recent_order_ts=tuple(self._recent),
            strategies_enabled={request.strategy: self._strategy_enabled(request.strategy)},
            strategy_capital_used={
                request.strategy: self._capital_used(request.strategy, open_orders, views)
            },
            taker_fee_rate=self._fee,
            kyc_verified=self.kyc_verified,
            strategy_allocations=allocation,
        )
        decision = check(request, context, self.limits)
        view = views[request.symbol]
        if (
            isinstance(decision, Approved)
            and not decision.reduces_exposure
            and not view.tradeable_for_opening
        ):
            source = view.source.value if view.source is not None else "none"
            message = f"market data is {view.quality.value} (source {source}): no order may open exposure"
            return Denied(DenyReason.MARKET_DATA_STALE, None, view.quality.value, message)
        return decision

    @staticmethod
    def _capital_used(strategy: str, orders: Mapping[str, Order], views: Mapping[str, MarketView]) -> Decimal:
        """Notional committed by the strategy's open orders (limit price, else the symbol's mid)."""
        used = _ZERO
        for order in orders.values():
            if order.strategy != strategy or order.is_terminal:
                continue
            view = views.get(order.symbol)
            price = order.limit_price or (view.mid if view is not None else None) or _ZERO
            used += order.remaining * price
        return used
