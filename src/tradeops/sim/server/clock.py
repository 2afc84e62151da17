"""The simulator's wall clock in epoch milliseconds, with an adjustable skew for clock faults."""

from __future__ import annotations

import time


class SkewableClock:
    """Epoch-ms clock; ``skew_ms`` shifts every reading (server time, timestamps, recvWindow checks)."""

    __slots__ = ("skew_ms",)

    def __init__(self, skew_ms: int = 0) -> None:
        self.skew_ms = skew_ms

    def __call__(self) -> int:
        return time.time_ns() // 1_000_000 + self.skew_ms

    def now_ms(self) -> int:
        """The current (skewed) time in epoch milliseconds."""
        return self()
