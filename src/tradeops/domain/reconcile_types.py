"""Reconciliation inputs and outputs (issue 7): what we believe, what the venue reports, and the breaks.

Everything is immutable and Decimal. Venue inputs are plain values the adapter builds from ccxt / Binance
responses; the diff in ``tradeops.domain.reconcile`` never talks to the venue itself.
"""

from __future__ import annotations

import decimal
import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from tradeops.domain.orders import VENUE_STATUS_TO_STATE, Fill, Order, OrderState
from tradeops.domain.values import Severity, Side

# Notional arithmetic independent of the caller's decimal context (wide enough to be exact).
_EXACT = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN)


def _finite(name: str, value: Decimal, *, positive: bool = False) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be a finite Decimal {'>' if positive else '>='} 0, got {value!r}")


def _frozen_mapping(instance: object, name: str) -> None:
    object.__setattr__(instance, name, MappingProxyType(dict(getattr(instance, name))))


@dataclass(frozen=True)
class VenueOrderReport:
    """One order as the venue reports it (open orders, all-orders or a single-order query)."""

    client_order_id: str
    venue_order_id: str
    symbol: str
    side: Side
    type: str
    status: str
    orig_qty: Decimal
    executed_qty: Decimal
    price: Decimal
    update_time: int

    def __post_init__(self) -> None:
        if self.status not in VENUE_STATUS_TO_STATE:
            raise ValueError(f"unknown venue order status {self.status!r} on {self.venue_order_id}")
        _finite("orig_qty", self.orig_qty, positive=True)
        _finite("executed_qty", self.executed_qty)
        _finite("price", self.price)
        if self.executed_qty > self.orig_qty:
            raise ValueError(f"venue order {self.venue_order_id} executed more than its quantity")

    @property
    def state(self) -> OrderState:
        return VENUE_STATUS_TO_STATE[self.status]


@dataclass(frozen=True)
class VenueTrade:
    """One of our account's trades as the venue reports it (Binance ``myTrades``)."""

    trade_id: str
    client_order_id: str | None
    venue_order_id: str
    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_asset: str
    maker: bool
    time: int

    def __post_init__(self) -> None:
        _finite("trade price", self.price, positive=True)
        _finite("trade qty", self.qty, positive=True)
        _finite("trade fee", self.fee)

    def to_fill(self, client_order_id: str) -> Fill:
        """The domain fill this trade is for the order ``client_order_id``."""
        return Fill(
            client_order_id=client_order_id,
            trade_id=self.trade_id,
            symbol=self.symbol,
            side=self.side,
            price=self.price,
            quantity=self.qty,
            fee=self.fee,
            fee_asset=self.fee_asset,
            ts=self.time,
            is_maker=self.maker,
        )


@dataclass(frozen=True)
class VenueBalance:
    free: Decimal
    locked: Decimal

    def __post_init__(self) -> None:
        _finite("free", self.free)
        _finite("locked", self.locked)

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@dataclass(frozen=True)
class OrderQuery:
    """The answer to a single-order query by client order id; ``report`` None means NOT-FOUND (-2013)."""

    client_order_id: str
    queried_at: int
    report: VenueOrderReport | None = None


@dataclass(frozen=True)
class LocalBook:
    """The journal's view: orders, fills, positions (base quantity per symbol) and balances per asset.

    ``balances`` are the totals the journal believes, consistent with ``fills``: a fill imported later
    moves them by its own amounts, so the diff adds the effect of the fills it proposes to import.
    ``balances_read_at``: per asset, when the venue total our ``balances`` start from (the baseline) was
    read (ms, an estimate); ``balances`` add our fills traded after it. An asset without one has no
    baseline (moved by fills from zero).
    """

    orders: tuple[Order, ...]
    fills: tuple[Fill, ...]
    positions: Mapping[str, Decimal]
    balances: Mapping[str, Decimal]
    balances_read_at: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _frozen_mapping(self, "positions")
        _frozen_mapping(self, "balances")
        _frozen_mapping(self, "balances_read_at")


@dataclass(frozen=True)
class VenueReport:
    """What the venue said at ``as_of`` (ms).

    ``trades`` must be complete for every symbol in ``symbols`` over ``[since, as_of]``; an order of ours
    absent from ``open_orders``, ``recent_orders`` and ``queries`` is only evidence on those symbols.
    ``balances_read`` is when the balances were requested and answered (ms, the trades' clock): trades
    after it are not in them, trades during it may be; None means at ``as_of``.
    """

    as_of: int
    since: int
    symbols: frozenset[str]
    open_orders: tuple[VenueOrderReport, ...]
    recent_orders: tuple[VenueOrderReport, ...]
    trades: tuple[VenueTrade, ...]
    balances: Mapping[str, VenueBalance]
    queries: tuple[OrderQuery, ...] = ()
    balances_read: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.since > self.as_of:
            raise ValueError(f"report window starts at {self.since} after as_of {self.as_of}")
        if self.balances_read is not None and self.balances_read[0] > self.balances_read[1]:
            raise ValueError(f"balances answered before they were requested: {self.balances_read}")
        _frozen_mapping(self, "balances")

    def latest_order_reports(self) -> dict[tuple[str, str], VenueOrderReport]:
        """One report per (symbol, venue order id): the latest update wins, then the larger execution."""
        found = (query.report for query in self.queries if query.report is not None)
        latest: dict[tuple[str, str], VenueOrderReport] = {}
        for report in (*self.open_orders, *self.recent_orders, *found):
            key = (report.symbol, report.venue_order_id)
            current = latest.get(key)
            rank = (report.update_time, report.executed_qty)
            if current is None or rank >= (current.update_time, current.executed_qty):
                latest[key] = report
        return latest


def signed_quantity(side: Side, quantity: Decimal) -> Decimal:
    return quantity if side is Side.BUY else -quantity


def net_positions(fills: Iterable[Fill]) -> dict[str, Decimal]:
    """Net base quantity per symbol (buys positive), as positions are derived from fills: a fee paid in
    the base asset reduces what is held (the same rule as :class:`tradeops.domain.portfolio.Position`)."""
    net: dict[str, Decimal] = defaultdict(Decimal)
    for fill in fills:
        net[fill.symbol] += signed_quantity(fill.side, fill.quantity)
        if fill.fee and fill.fee_asset == fill.symbol.partition("/")[0]:
            net[fill.symbol] -= fill.fee
    return dict(net)


def balance_delta(fill: Fill) -> dict[str, Decimal]:
    """How one fill moves the account's asset totals: base, quote and the fee asset."""
    base, _, quote = fill.symbol.partition("/")
    notional = _EXACT.multiply(fill.price, fill.quantity)
    delta: dict[str, Decimal] = defaultdict(Decimal)
    delta[base] += signed_quantity(fill.side, fill.quantity)
    delta[quote] -= signed_quantity(fill.side, notional)
    delta[fill.fee_asset] -= fill.fee
    return dict(delta)


@dataclass(frozen=True)
class BalanceTolerance:
    """A difference is tolerated when ``|diff| <= max(absolute, relative * |venue total|)``."""

    absolute: Decimal = Decimal(0)
    relative: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        _finite("absolute tolerance", self.absolute)
        _finite("relative tolerance", self.relative)

    def allows(self, difference: Decimal, reference: Decimal) -> bool:
        return abs(difference) <= max(self.absolute, self.relative * abs(reference))


@dataclass(frozen=True)
class Tolerances:
    balances: Mapping[str, BalanceTolerance] = field(default_factory=dict)
    default_balance: BalanceTolerance = BalanceTolerance()
    position: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        _finite("position tolerance", self.position)
        _frozen_mapping(self, "balances")

    def balance(self, asset: str) -> BalanceTolerance:
        return self.balances.get(asset, self.default_balance)


@dataclass(frozen=True)
class Grace:
    """``settle_ms``: a local change younger than this at ``as_of`` need not be visible on the venue yet.
    ``not_found_ms``: a NOT-FOUND answer proves a submitted order never reached the venue only when the
    query was made at least this long after the order was created.
    ``baseline_ms``: a fill traded this close to when a balance baseline was read may be in it or not.
    """

    settle_ms: int = 5_000
    not_found_ms: int = 60_000
    baseline_ms: int = 1_000

    def __post_init__(self) -> None:
        if min(self.settle_ms, self.not_found_ms, self.baseline_ms) < 0:
            raise ValueError("grace periods must be >= 0")


class BreakClass(StrEnum):
    VENUE_ORDER_UNKNOWN_LOCALLY = "VENUE_ORDER_UNKNOWN_LOCALLY"
    LOCAL_OPEN_ORDER_UNKNOWN_TO_VENUE = "LOCAL_OPEN_ORDER_UNKNOWN_TO_VENUE"
    STATE_MISMATCH = "STATE_MISMATCH"
    UNKNOWN_ORDER_RESOLVABLE = "UNKNOWN_ORDER_RESOLVABLE"
    MISSING_FILL = "MISSING_FILL"
    FILL_QUANTITY_MISMATCH = "FILL_QUANTITY_MISMATCH"
    POSITION_MISMATCH = "POSITION_MISMATCH"
    BALANCE_MISMATCH = "BALANCE_MISMATCH"


class ProposedAction(StrEnum):
    ADOPT_EXTERNAL = "ADOPT_EXTERNAL"
    QUERY_ORDER = "QUERY_ORDER"
    APPLY_VENUE_STATE = "APPLY_VENUE_STATE"
    IMPORT_FILL = "IMPORT_FILL"
    ALERT_ONLY = "ALERT_ONLY"

    @property
    def safe(self) -> bool:
        """Applied without an operator: a read-only query, or a change the venue's evidence proves."""
        return self in (
            ProposedAction.QUERY_ORDER,
            ProposedAction.APPLY_VENUE_STATE,
            ProposedAction.IMPORT_FILL,
        )


@dataclass(frozen=True)
class BreakSubject:
    """What a break is about; together with the class it determines the break id."""

    symbol: str | None = None
    client_order_id: str | None = None
    asset: str | None = None
    venue_order_id: str | None = None
    trade_id: str | None = None

    def canonical(self) -> dict[str, str]:
        return {key: value for key, value in vars(self).items() if value is not None}


def break_id(break_class: BreakClass, subject: BreakSubject) -> str:
    """Deterministic id: the same class and subject give the same id in every run and process."""
    payload = json.dumps([break_class.value, subject.canonical()], sort_keys=True, separators=(",", ":"))
    return "rb-" + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Break:
    """One disagreement with its evidence (both sides, as strings) and the action proposed for it.

    ``proposed_state`` is the order state the action leads to; ``proven`` says the venue's evidence proves
    it. APPLY_VENUE_STATE is only ever proposed proven; an unproven terminal state is informative only.
    ``fill`` is the fill to import (IMPORT_FILL); ``venue_order`` the venue's report behind a state change.
    """

    break_class: BreakClass
    subject: BreakSubject
    evidence: Mapping[str, str]
    severity: Severity
    proposed_action: ProposedAction
    proposed_state: OrderState | None = None
    proven: bool = False
    fill: Fill | None = None
    venue_order: VenueOrderReport | None = None
    break_id: str = field(init=False)

    def __post_init__(self) -> None:
        _frozen_mapping(self, "evidence")
        object.__setattr__(self, "break_id", break_id(self.break_class, self.subject))
        if self.proposed_action is ProposedAction.APPLY_VENUE_STATE and (
            self.proposed_state is None or not self.proven
        ):
            raise ValueError("APPLY_VENUE_STATE needs a proposed state proven by the venue")
        if (self.proposed_action is ProposedAction.IMPORT_FILL) != (self.fill is not None):
            raise ValueError("IMPORT_FILL carries exactly the fill to import")

    @property
    def safe(self) -> bool:
        return self.proposed_action.safe

    def event_fields(self) -> dict[str, Any]:
        """The fields of the "Reconciliation Break" event detail (``ReconciliationBreak``)."""
        evidence = dict(self.evidence)
        for key in ("asset", "venue_order_id", "trade_id"):
            value = getattr(self.subject, key)
            if value is not None:
                evidence[key] = value
        if self.proposed_state is not None:
            evidence["proposed_state"] = self.proposed_state.value
            evidence["proven"] = str(self.proven).lower()
        return {
            "break_id": self.break_id,
            "break_class": self.break_class.value,
            "symbol": self.subject.symbol,
            "client_order_id": self.subject.client_order_id,
            "evidence": evidence,
            "proposed_action": self.proposed_action.value,
            "severity": self.severity,
        }


_CLASS_ORDER = {cls: index for index, cls in enumerate(BreakClass)}


@dataclass(frozen=True)
class ReconciliationResult:
    """The breaks of one diff, in a deterministic order (class, then break id)."""

    as_of: int
    breaks: tuple[Break, ...]

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.breaks, key=lambda b: (_CLASS_ORDER[b.break_class], b.break_id)))
        ids = [b.break_id for b in ordered]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate break ids in one reconciliation result")
        object.__setattr__(self, "breaks", ordered)

    @property
    def counts(self) -> Mapping[BreakClass, int]:
        counter = Counter(b.break_class for b in self.breaks)
        return MappingProxyType({cls: counter[cls] for cls in BreakClass if counter[cls]})

    @property
    def clean(self) -> bool:
        return not self.breaks

    def summary(self) -> dict[str, Any]:
        """Counts for the run record: total, safe, alerts, per class and per severity."""
        return {
            "as_of": self.as_of,
            "total": len(self.breaks),
            "safe": sum(1 for b in self.breaks if b.safe),
            "alerts": sum(1 for b in self.breaks if not b.safe),
            "by_class": {cls.value: count for cls, count in self.counts.items()},
            "by_severity": dict(sorted(Counter(b.severity.value for b in self.breaks).items())),
            "break_ids": [b.break_id for b in self.breaks],
        }
