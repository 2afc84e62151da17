"""Trading strategies: the :class:`Strategy` interface, its runner, and the demo strategy."""

from tradeops.strategies.base import (
    STRATEGY_SOURCE,
    IntentIds,
    IntentSink,
    Strategy,
    StrategyRunner,
    eventbridge_sink,
    sequence_of,
)

__all__ = [
    "STRATEGY_SOURCE",
    "IntentIds",
    "IntentSink",
    "Strategy",
    "StrategyRunner",
    "eventbridge_sink",
    "sequence_of",
]
