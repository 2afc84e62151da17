"""The gateway's engine: market data (redundant feeds, quality, arbitration), exchange clock, and more."""
