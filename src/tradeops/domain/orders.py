"""Orders and their state machine (DESIGN §4.4): one transitions table, immutable orders, deduplicated fills.

``UNKNOWN`` means the outcome of a request to the venue (a submit, or a cancel) is not known: timeout,
5xx, dropped connection. It is left only on venue evidence and never back to ``SUBMITTING``: an
order in doubt is queried, never re-sent. ``OPEN -> UNKNOWN`` is deliberately illegal: once the venue
acknowledged an order and no request is in flight there is nothing whose outcome is unknown; a doubt
about a working order (missed stream events, the venue not finding it) is a reconciliation break, and
the order keeps its last proven state until venue evidence moves it.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from tradeops.domain.fills import Fill as Fill  # re-exported: the order module has always offered it
from tradeops.domain.fills import require_positive as _positive
from tradeops.domain.values import OrderType, Side, TimeInForce, to_decimal, to_int

# Average fill price arithmetic, independent of the caller's thread-local decimal context.
_PRICE_CONTEXT = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN)


class OrderState(StrEnum):
    NEW = "NEW"
    DENIED = "DENIED"
    SUBMITTING = "SUBMITTING"
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELING = "CANCELING"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    UNKNOWN = "UNKNOWN"


_S = OrderState
TRANSITIONS: Mapping[OrderState, frozenset[OrderState]] = MappingProxyType(
    {
        _S.NEW: frozenset({_S.DENIED, _S.SUBMITTING}),
        # IOC/FOK and market orders can come back FILLED or EXPIRED in the submit response itself.
        _S.SUBMITTING: frozenset(
            {_S.OPEN, _S.PARTIALLY_FILLED, _S.FILLED, _S.REJECTED, _S.UNKNOWN, _S.EXPIRED}
        ),
        _S.OPEN: frozenset({_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELING, _S.CANCELED, _S.EXPIRED}),
        _S.PARTIALLY_FILLED: frozenset(
            {_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELING, _S.CANCELED, _S.EXPIRED}
        ),
        # A cancel races fills; a refused cancel (-2011) returns the order to OPEN or PARTIALLY_FILLED.
        _S.CANCELING: frozenset(
            {_S.CANCELED, _S.FILLED, _S.PARTIALLY_FILLED, _S.OPEN, _S.UNKNOWN, _S.EXPIRED}
        ),
        _S.UNKNOWN: frozenset(
            {_S.OPEN, _S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.REJECTED, _S.EXPIRED}
        ),
        _S.DENIED: frozenset(),
        _S.FILLED: frozenset(),
        _S.CANCELED: frozenset(),
        _S.REJECTED: frozenset(),
        _S.EXPIRED: frozenset(),
    }
)
TERMINAL_STATES: frozenset[OrderState] = frozenset(state for state, nexts in TRANSITIONS.items() if not nexts)
# States in which a fill moves the order to PARTIALLY_FILLED or FILLED (derived from the table).
FILLABLE_STATES: frozenset[OrderState] = frozenset(
    state for state, nexts in TRANSITIONS.items() if {_S.PARTIALLY_FILLED, _S.FILLED} <= nexts
)
# Terminal states reached on the venue's word that can still receive the fills behind it (a REST query
# saying FILLED or CANCELED can arrive before the trades): they are accounted, the state stays.
LATE_FILL_STATES: frozenset[OrderState] = frozenset({_S.FILLED, _S.CANCELED, _S.EXPIRED})

# Binance spot order statuses -> states. PENDING_NEW: an order-list leg accepted but not yet working.
VENUE_STATUS_TO_STATE: Mapping[str, OrderState] = MappingProxyType(
    {
        "NEW": _S.OPEN,
        "PENDING_NEW": _S.OPEN,
        "PARTIALLY_FILLED": _S.PARTIALLY_FILLED,
        "FILLED": _S.FILLED,
        "CANCELED": _S.CANCELED,
        "PENDING_CANCEL": _S.CANCELING,
        "REJECTED": _S.REJECTED,
        "EXPIRED": _S.EXPIRED,
        "EXPIRED_IN_MATCH": _S.EXPIRED,
    }
)


class IllegalTransition(Exception):
    """A state change the transitions table does not allow."""

    def __init__(self, from_state: OrderState, to_state: OrderState, client_order_id: str) -> None:
        super().__init__(f"order {client_order_id}: illegal transition {from_state} -> {to_state}")
        self.from_state = from_state
        self.to_state = to_state
        self.client_order_id = client_order_id


class OverfillError(ValueError):
    """A fill or venue report that would take the executed quantity above the order quantity."""


def _optional_decimal(value: Any) -> Decimal | None:
    return None if value is None else to_decimal(value)


def _optional_str(value: Decimal | StrEnum | None) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class Order:
    """An order as the OMS knows it. Immutable: every change returns a new Order with ``version + 1``.

    ``filled_quantity`` and ``avg_fill_price`` count only fills applied here (deduplicated by trade id);
    ``venue_filled_quantity`` is the highest cumulative quantity the venue reported. When the venue is
    ahead, ``missing_fill_quantity`` says how much trade evidence is still owed (for reconciliation).
    ``stop_price`` is set for the stop-loss / take-profit limit types only. ``expires_at_ms`` is the
    intent's deadline (epoch ms): persisted so a restarted OMS cancels the order when it passes.
    """

    client_order_id: str
    intent_id: str
    strategy: str
    symbol: str
    side: Side
    type: OrderType
    quantity: Decimal
    limit_price: Decimal | None
    time_in_force: TimeInForce | None
    state: OrderState
    filled_quantity: Decimal
    avg_fill_price: Decimal | None
    venue_order_id: str | None
    created_at: int
    updated_at: int
    reason: str | None
    trade_ids: frozenset[str]
    version: int
    stop_price: Decimal | None = None
    venue_filled_quantity: Decimal = field(default=Decimal(0))
    expires_at_ms: int | None = None

    def __post_init__(self) -> None:
        if not self.client_order_id or not self.intent_id or not self.strategy or not self.symbol:
            raise ValueError("order needs client_order_id, intent_id, strategy and symbol")
        _positive("quantity", self.quantity)
        if self.type.has_limit_price:
            _positive(f"limit_price of a {self.type.value} order", self.limit_price)
        elif self.limit_price is not None:
            raise ValueError("a market order has no limit_price")
        if self.type.has_stop_price:
            _positive(f"stop_price of a {self.type.value} order", self.stop_price)
        elif self.stop_price is not None:
            raise ValueError(f"a {self.type.value} order has no stop_price")
        if self.type.takes_time_in_force != (self.time_in_force is not None):
            raise ValueError(f"time_in_force {self.time_in_force} is invalid for a {self.type.value} order")
        for name in ("filled_quantity", "venue_filled_quantity"):
            value: Decimal = getattr(self, name)
            if not value.is_finite() or not 0 <= value <= self.quantity:
                raise OverfillError(f"{name} {value} outside [0, {self.quantity}] on {self.client_order_id}")
        if (self.avg_fill_price is None) != (self.filled_quantity == 0):
            raise ValueError("avg_fill_price is set exactly when something is filled")
        if self.version < 0 or self.updated_at < self.created_at:
            raise ValueError("version must be >= 0 and updated_at >= created_at")
        if self.expires_at_ms is not None and (
            isinstance(self.expires_at_ms, bool) or self.expires_at_ms < 0
        ):
            raise ValueError(f"expires_at_ms must be epoch ms, got {self.expires_at_ms!r}")

    @classmethod
    def new(
        cls,
        *,
        client_order_id: str,
        intent_id: str,
        strategy: str,
        symbol: str,
        side: Side,
        type: OrderType,
        quantity: Decimal,
        created_at: int,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        time_in_force: TimeInForce | None = None,
        expires_at_ms: int | None = None,
    ) -> Order:
        """A NEW order at version 0; limit-type orders without a time in force default to GTC."""
        if time_in_force is None and type.takes_time_in_force:
            time_in_force = TimeInForce.GTC
        return cls(
            client_order_id=client_order_id,
            intent_id=intent_id,
            strategy=strategy,
            symbol=symbol,
            side=side,
            type=type,
            quantity=quantity,
            limit_price=limit_price,
            time_in_force=time_in_force,
            state=OrderState.NEW,
            filled_quantity=Decimal(0),
            avg_fill_price=None,
            venue_order_id=None,
            created_at=created_at,
            updated_at=created_at,
            reason=None,
            trade_ids=frozenset(),
            version=0,
            stop_price=stop_price,
            expires_at_ms=expires_at_ms,
        )

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled_quantity

    @property
    def missing_fill_quantity(self) -> Decimal:
        return max(self.venue_filled_quantity - self.filled_quantity, Decimal(0))

    def can_transition(self, to: OrderState) -> bool:
        return to in TRANSITIONS[self.state]

    def _changed(self, at: int, **changes: Any) -> Order:
        return replace(self, updated_at=max(self.updated_at, at), version=self.version + 1, **changes)

    def transition(self, to: OrderState, at: int, reason: str | None = None) -> Order:
        """Move to ``to`` (raises ``IllegalTransition``); ``reason`` replaces the previous one when given."""
        if not self.can_transition(to):
            raise IllegalTransition(self.state, to, self.client_order_id)
        return self._changed(at, state=to, reason=self.reason if reason is None else reason)

    def with_venue_order_id(self, venue_order_id: str, at: int) -> Order:
        """Record the venue's order id; it never changes once known."""
        if self.venue_order_id == venue_order_id:
            return self
        if self.venue_order_id is not None:
            raise ValueError(
                f"{self.client_order_id} already has venue id {self.venue_order_id}, got {venue_order_id}"
            )
        return self._changed(at, venue_order_id=venue_order_id)

    def apply_fill(self, fill: Fill) -> tuple[Order, bool]:
        """Account one trade; returns (order, applied). A trade id seen before returns (self, False)."""
        if (fill.client_order_id, fill.symbol, fill.side) != (self.client_order_id, self.symbol, self.side):
            raise ValueError(
                f"fill {fill.trade_id} ({fill.client_order_id} {fill.symbol} {fill.side}) "
                f"is not for order {self.client_order_id} ({self.symbol} {self.side})"
            )
        if fill.trade_id in self.trade_ids:
            return self, False
        late = self.state in LATE_FILL_STATES
        if self.state not in FILLABLE_STATES and not late:
            raise IllegalTransition(self.state, OrderState.PARTIALLY_FILLED, self.client_order_id)
        filled = self.filled_quantity + fill.quantity
        if filled > self.quantity:
            raise OverfillError(
                f"fill {fill.trade_id} takes {self.client_order_id} to {filled} > quantity {self.quantity}"
            )
        previous_cost = _PRICE_CONTEXT.multiply(self.avg_fill_price or Decimal(0), self.filled_quantity)
        cost = _PRICE_CONTEXT.add(previous_cost, _PRICE_CONTEXT.multiply(fill.price, fill.quantity))
        avg_fill_price = _PRICE_CONTEXT.divide(cost, filled)
        state = self.state
        if not late:
            state = OrderState.FILLED if filled == self.quantity else OrderState.PARTIALLY_FILLED
        updated = self._changed(
            fill.ts,
            state=state,
            filled_quantity=filled,
            avg_fill_price=avg_fill_price,
            trade_ids=self.trade_ids | {fill.trade_id},
            venue_filled_quantity=max(self.venue_filled_quantity, filled),
        )
        return updated, True

    def apply_venue_status(self, status: str, filled: Decimal, at: int) -> Order:
        """Apply a Binance order status with its cumulative executed quantity (``executedQty``).

        Repeating the current state is a no-op (returns ``self``) unless the venue reports more executed
        quantity; a status the table does not allow from here (e.g. stale NEW after a fill) raises.
        """
        try:
            target = VENUE_STATUS_TO_STATE[status]
        except KeyError:
            raise ValueError(f"unknown venue order status {status!r} for {self.client_order_id}") from None
        if not isinstance(filled, Decimal) or not filled.is_finite() or not 0 <= filled <= self.quantity:
            raise OverfillError(
                f"venue reports executed {filled!r} on {self.client_order_id} of {self.quantity}"
            )
        venue_filled = max(self.venue_filled_quantity, filled)
        if target is self.state:
            if venue_filled == self.venue_filled_quantity:
                return self
            return self._changed(at, venue_filled_quantity=venue_filled)
        return replace(self.transition(target, at), venue_filled_quantity=venue_filled)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: Decimals as strings, enums as values, trade ids sorted.

        This is the "Order Updated" snapshot, which has no ``expires_at_ms`` yet: the deadline is kept by
        the order store (and the journaled intent); :meth:`from_dict` accepts it when present.
        """
        return {
            "client_order_id": self.client_order_id,
            "intent_id": self.intent_id,
            "strategy": self.strategy,
            "symbol": self.symbol,
            "side": self.side.value,
            "type": self.type.value,
            "quantity": str(self.quantity),
            "limit_price": _optional_str(self.limit_price),
            "stop_price": _optional_str(self.stop_price),
            "time_in_force": _optional_str(self.time_in_force),
            "state": self.state.value,
            "filled_quantity": str(self.filled_quantity),
            "venue_filled_quantity": str(self.venue_filled_quantity),
            "avg_fill_price": _optional_str(self.avg_fill_price),
            "venue_order_id": self.venue_order_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "reason": self.reason,
            "trade_ids": sorted(self.trade_ids),
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Order:
        """Inverse of ``to_dict``; integers may be Decimal or str (DynamoDB), absent optionals are None."""
        return cls(
            client_order_id=str(data["client_order_id"]),
            intent_id=str(data["intent_id"]),
            strategy=str(data["strategy"]),
            symbol=str(data["symbol"]),
            side=Side(data["side"]),
            type=OrderType(data["type"]),
            quantity=to_decimal(data["quantity"]),
            limit_price=_optional_decimal(data.get("limit_price")),
            stop_price=_optional_decimal(data.get("stop_price")),
            time_in_force=None if data.get("time_in_force") is None else TimeInForce(data["time_in_force"]),
            state=OrderState(data["state"]),
            filled_quantity=to_decimal(data["filled_quantity"]),
            venue_filled_quantity=to_decimal(data.get("venue_filled_quantity", "0")),
            avg_fill_price=_optional_decimal(data.get("avg_fill_price")),
            venue_order_id=None if data.get("venue_order_id") is None else str(data["venue_order_id"]),
            created_at=to_int(data["created_at"]),
            updated_at=to_int(data["updated_at"]),
            reason=data.get("reason"),
            trade_ids=frozenset(str(trade_id) for trade_id in data.get("trade_ids") or ()),
            version=to_int(data["version"]),
            expires_at_ms=None if data.get("expires_at_ms") is None else to_int(data["expires_at_ms"]),
        )
