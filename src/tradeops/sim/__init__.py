"""Binance-spot-compatible exchange simulator: the venue engine (pure, synchronous, deterministic)."""

from tradeops.sim.config import SimConfig, SymbolFilters
from tradeops.sim.errors import SimError
from tradeops.sim.venue import SimVenue, VenueEvent

__all__ = ["SimConfig", "SimError", "SimVenue", "SymbolFilters", "VenueEvent"]
