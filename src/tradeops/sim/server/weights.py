"""Binance request weights: per-endpoint cost, a per-client budget per minute, 429 then a 418 ban."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

DEFAULT_WEIGHT_PER_MINUTE = 6000
MINUTE_MS = 60_000

Weigher = Callable[[Mapping[str, str]], int]


def fixed(weight: int) -> Weigher:
    """A weight that does not depend on the parameters."""
    return lambda _params: weight


def by_symbol(with_symbol: int, without_symbol: int) -> Weigher:
    """A weight that is lower when the request names one symbol."""
    return lambda params: with_symbol if params.get("symbol") else without_symbol


def depth_weight(params: Mapping[str, str]) -> int:
    """GET /api/v3/depth: weight grows with ``limit`` (default 100)."""
    raw = params.get("limit", "100")
    limit = int(raw) if raw.isdigit() else 100
    if limit <= 100:
        return 5
    if limit <= 500:
        return 25
    if limit <= 1000:
        return 50
    return 250


@dataclass(slots=True)
class Verdict:
    """The outcome of charging a request: HTTP status 200 (go on), 429 or 418, and the header values."""

    status: int
    used: int
    retry_after_s: int = 0


@dataclass(slots=True)
class _Bucket:
    minute: int = -1
    used: int = 0
    rejected: int = 0
    banned_until_ms: int = 0


class WeightLimiter:
    """Counts request weight per client (API key, or IP for unsigned calls) per calendar minute."""

    def __init__(
        self, per_minute: int = DEFAULT_WEIGHT_PER_MINUTE, ban_after: int = 5, ban_s: int = 60
    ) -> None:
        self.per_minute = per_minute
        self.ban_after = ban_after
        self.ban_s = ban_s
        self._buckets: dict[str, _Bucket] = {}

    def configure(self, per_minute: int, ban_after: int, ban_s: int) -> None:
        """Change the limits; counts already used this minute are kept."""
        self.per_minute, self.ban_after, self.ban_s = per_minute, ban_after, ban_s

    def reset(self) -> None:
        """Forget every count and ban."""
        self._buckets.clear()

    def charge(self, client: str, weight: int, now_ms: int) -> Verdict:
        """Charge ``weight`` to ``client`` at ``now_ms`` and say whether the request may proceed."""
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) > 100_000:
                self._buckets.clear()
            bucket = self._buckets[client] = _Bucket()
        minute = now_ms // MINUTE_MS
        if bucket.minute != minute:
            bucket.minute, bucket.used, bucket.rejected = minute, 0, 0
        if bucket.banned_until_ms > now_ms:
            return Verdict(418, bucket.used, _ceil_s(bucket.banned_until_ms - now_ms))
        bucket.used += weight
        if bucket.used <= self.per_minute:
            return Verdict(200, bucket.used)
        bucket.rejected += 1
        if bucket.rejected > self.ban_after:
            bucket.banned_until_ms = now_ms + self.ban_s * 1000
            return Verdict(418, bucket.used, self.ban_s)
        return Verdict(429, bucket.used, _ceil_s((minute + 1) * MINUTE_MS - now_ms))


def _ceil_s(ms: int) -> int:
    return max(1, -(-ms // 1000))
