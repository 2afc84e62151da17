"""tradeops: a production live-trading platform (ccxt execution, hard risk controls, auditable journal)."""

__version__ = "0.1.0"
