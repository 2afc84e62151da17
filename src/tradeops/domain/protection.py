"""Exchange-native protection of a position: the OCO (stop-loss + take-profit) an entry's fills call for.

A :class:`ProtectedPosition` is one entry with ``stop_loss``/``take_profit``: what its fills opened
(``entry_filled``), what has been closed since (by its own protective legs, an exit, or other orders of
the same strategy and symbol) and the OCO live on the venue (``placed``, generation ``generation - 1``).
:func:`decide` says what to do so the live OCO covers exactly the exposure rounded down to the lot
grid: place one, cancel-replace it with the new total (grown on partial fills, shrunk on partial
closes), cancel it (closed otherwise, or dust the venue cannot hold) or nothing.

Every OCO generation has its own deterministic list client id (:func:`list_client_order_id`) from
which the leg ids follow (``<list>-sl`` / ``<list>-tp``, as the venue adapter sends them), so a restart
finds the same ids again and a replay never places a second list. Pure: no I/O.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from tradeops.domain.ids import OrderLeg, client_order_id, leg_of
from tradeops.domain.values import Instrument, RoundDirection, Side

__all__ = [
    "ActionKind",
    "OcoPlan",
    "ProtectedPosition",
    "ProtectionAction",
    "ProtectionError",
    "allocate_close",
    "decide",
    "leg_ids",
    "list_client_order_id",
    "parse_leg_id",
]

_EXACT = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN, traps=[decimal.InvalidOperation])
_ZERO = Decimal(0)
STOP_SUFFIX = "-sl"
TAKE_PROFIT_SUFFIX = "-tp"


class ProtectionError(ValueError):
    """Stop-loss / take-profit prices that cannot protect this position."""


def closing_side(entry_side: Side) -> Side:
    """The side that closes a position opened by ``entry_side`` (SELL for a long)."""
    return Side.SELL if entry_side is Side.BUY else Side.BUY


def list_client_order_id(intent_id: str, generation: int) -> str:
    """The ``listClientOrderId`` of the ``generation``-th OCO protecting ``intent_id``'s entry."""
    if generation < 0:
        raise ValueError(f"generation must be >= 0, got {generation}")
    key = intent_id if generation == 0 else f"{intent_id}#{generation}"
    return client_order_id(key, OrderLeg.STOP)


def leg_ids(list_cid: str) -> tuple[str, str]:
    """(stop-loss leg, take-profit leg) client order ids of an OCO list."""
    return f"{list_cid}{STOP_SUFFIX}", f"{list_cid}{TAKE_PROFIT_SUFFIX}"


def parse_leg_id(cid: str) -> tuple[str, OrderLeg] | None:
    """(list client id, STOP or TAKE_PROFIT) of a protective leg id; None for any other id."""
    for suffix, leg in ((STOP_SUFFIX, OrderLeg.STOP), (TAKE_PROFIT_SUFFIX, OrderLeg.TAKE_PROFIT)):
        if cid.endswith(suffix) and leg_of(cid[: -len(suffix)]) is OrderLeg.STOP:
            return cid[: -len(suffix)], leg
    return None


def validate_targets(
    entry_side: Side, stop_loss: Decimal, take_profit: Decimal, entry_price: Decimal
) -> None:
    """Stop below and take-profit above the entry price for a long; the reverse for a short."""
    ok = (
        stop_loss < entry_price < take_profit
        if entry_side is Side.BUY
        else take_profit < entry_price < stop_loss
    )
    if not ok or min(stop_loss, take_profit) <= 0:
        expected = (
            "stop_loss < entry < take_profit" if entry_side is Side.BUY else "take_profit < entry < stop_loss"
        )
        raise ProtectionError(
            f"{entry_side.value} entry at {entry_price}: stop {stop_loss} / take-profit {take_profit}, "
            f"expected {expected}"
        )


@dataclass(frozen=True)
class OcoPlan:
    """One OCO to place: quantity on the lot grid, prices on the tick grid, ids deterministic."""

    intent_id: str
    generation: int
    symbol: str
    side: Side
    quantity: Decimal
    stop_price: Decimal
    stop_limit_price: Decimal
    take_profit_price: Decimal

    @property
    def list_client_order_id(self) -> str:
        return list_client_order_id(self.intent_id, self.generation)


class ActionKind(StrEnum):
    NONE = "none"
    PLACE = "place"
    REPLACE = "replace"
    CANCEL = "cancel"


@dataclass(frozen=True)
class ProtectionAction:
    """What to do: ``cancel_list`` (the live OCO) goes first, then ``plan`` is placed."""

    kind: ActionKind
    reason: str
    plan: OcoPlan | None = None
    cancel_list: str | None = None


@dataclass(frozen=True)
class ProtectedPosition:
    """One protected entry (see the module docstring); every change returns a new value."""

    intent_id: str
    strategy: str
    symbol: str
    entry_side: Side
    stop_loss: Decimal
    take_profit: Decimal
    entry_filled: Decimal = _ZERO
    closed: Decimal = _ZERO
    generation: int = 0
    placed: Decimal = _ZERO

    def __post_init__(self) -> None:
        if min(self.stop_loss, self.take_profit) <= 0:
            raise ProtectionError("stop_loss and take_profit must be > 0")
        if self.entry_side is Side.BUY and not self.stop_loss < self.take_profit:
            raise ProtectionError(f"a long needs stop {self.stop_loss} < take-profit {self.take_profit}")
        if self.entry_side is Side.SELL and not self.take_profit < self.stop_loss:
            raise ProtectionError(f"a short needs take-profit {self.take_profit} < stop {self.stop_loss}")
        if not _ZERO <= self.closed <= self.entry_filled or self.placed < 0 or self.generation < 0:
            raise ValueError(f"{self.intent_id}: inconsistent quantities {self}")

    @property
    def side(self) -> Side:
        """The side of the protective orders."""
        return closing_side(self.entry_side)

    @property
    def exposure(self) -> Decimal:
        return self.entry_filled - self.closed

    @property
    def live_list(self) -> str | None:
        """The list client id of the OCO believed live, None when none is."""
        return list_client_order_id(self.intent_id, self.generation - 1) if self.placed > 0 else None

    def with_entry_fill(self, quantity: Decimal) -> ProtectedPosition:
        return replace(self, entry_filled=self.entry_filled + quantity)

    def with_close(self, quantity: Decimal, *, by_live_oco: bool = False) -> ProtectedPosition:
        """``quantity`` closed (capped at the exposure); a fill of the live OCO also shrinks ``placed``."""
        taken = min(quantity, self.exposure)
        placed = max(self.placed - quantity, _ZERO) if by_live_oco else self.placed
        return replace(self, closed=self.closed + taken, placed=placed)

    def with_placed(self, plan: OcoPlan) -> ProtectedPosition:
        return replace(self, placed=plan.quantity, generation=plan.generation + 1)

    def without_oco(self) -> ProtectedPosition:
        """The live OCO is gone (cancelled, expired or rejected); the generation counter stays."""
        return replace(self, placed=_ZERO)


def _protectable(position: ProtectedPosition, instrument: Instrument) -> Decimal:
    """The exposure on the lot grid, zero when the venue would refuse it (below min qty or notional)."""
    quantity = instrument.floor_quantity(position.exposure)
    worst_price = min(position.stop_loss, position.take_profit)
    if quantity <= 0 or _EXACT.multiply(quantity, worst_price) < instrument.min_notional:
        return _ZERO
    return quantity


def plan_for(
    position: ProtectedPosition, quantity: Decimal, instrument: Instrument, stop_limit_slippage: Decimal
) -> OcoPlan:
    """The next-generation OCO for ``quantity``: prices rounded away from the entry, onto the tick grid.

    The stop leg is a stop-limit whose limit lies ``stop_limit_slippage`` (a fraction) beyond the
    trigger, so a gap through the stop still fills.
    """
    if not _ZERO <= stop_limit_slippage < 1:
        raise ValueError(f"stop_limit_slippage must be in [0, 1), got {stop_limit_slippage}")
    down, up = RoundDirection.DOWN, RoundDirection.UP
    long = position.entry_side is Side.BUY
    stop = instrument.round_price(position.stop_loss, down if long else up)
    take_profit = instrument.round_price(position.take_profit, up if long else down)
    factor = 1 - stop_limit_slippage if long else 1 + stop_limit_slippage
    stop_limit = instrument.round_price(_EXACT.multiply(stop, factor), down if long else up)
    if stop_limit <= 0:
        raise ProtectionError(f"stop limit price {stop_limit} for stop {stop} is not positive")
    return OcoPlan(
        intent_id=position.intent_id,
        generation=position.generation,
        symbol=position.symbol,
        side=position.side,
        quantity=quantity,
        stop_price=stop,
        stop_limit_price=stop_limit,
        take_profit_price=take_profit,
    )


def decide(
    position: ProtectedPosition, instrument: Instrument, stop_limit_slippage: Decimal
) -> ProtectionAction:
    """What makes the live OCO cover the protectable exposure exactly (see the module docstring)."""
    wanted = _protectable(position, instrument)
    live = position.live_list
    if wanted == position.placed:
        return ProtectionAction(ActionKind.NONE, "covered" if wanted else "nothing to protect")
    if wanted == 0:
        reason = "position closed" if position.exposure == 0 else "exposure below the venue's minimum"
        return ProtectionAction(ActionKind.CANCEL, reason, cancel_list=live)
    plan = plan_for(position, wanted, instrument, stop_limit_slippage)
    if live is None:
        return ProtectionAction(ActionKind.PLACE, f"protect {wanted}", plan=plan)
    return ProtectionAction(
        ActionKind.REPLACE, f"resize {position.placed} -> {wanted}", plan=plan, cancel_list=live
    )


def allocate_close(
    positions: Iterable[ProtectedPosition], side: Side, quantity: Decimal
) -> tuple[list[ProtectedPosition], Decimal]:
    """Apply a closing fill of ``side`` to the positions it closes, oldest first.

    Returns the positions it changed and the quantity left over (which opens or adds exposure).
    """
    changed: list[ProtectedPosition] = []
    left = quantity
    for position in positions:
        if left <= 0:
            break
        if position.side is not side or position.exposure <= 0:
            continue
        taken = min(left, position.exposure)
        changed.append(position.with_close(taken))
        left -= taken
    return changed, left
