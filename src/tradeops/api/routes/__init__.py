"""Route modules of the operator API, one per area; each has ``register(table)``."""
