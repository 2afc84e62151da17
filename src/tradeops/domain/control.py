"""Trading state: what the gateway may do right now (set by operators, risk breaches and the kill switch)."""

from __future__ import annotations

from enum import StrEnum


class TradingState(StrEnum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    """Only orders that reduce exposure."""
    HALTED = "HALTED"
    """Only cancels; every open order is cancelled on entry."""
