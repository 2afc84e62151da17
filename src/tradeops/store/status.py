"""The gateway status record: what each gateway process last reported about itself (for ``/api/health``).

One item per gateway process in the control table, under ``status#gateway#<owner>``: leader flag,
readiness and failing checks, the feed state per symbol (quality, staleness, source, mark price), the
exchange clock offset, broker connectivity and ``updated_at``. The process rewrites it every second
(:class:`tradeops.gateway.status.StatusWriter`); readers judge liveness from ``updated_at``, so a dead
gateway shows as stale instead of as its last good state. A plain overwrite is right here: each item
has exactly one writer (its owner) and only the latest report matters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from pynamodb.attributes import UnicodeAttribute

from tradeops.config import Settings
from tradeops.store.base import IntAttribute, StoreError, TableModel, bind_model
from tradeops.store.tables import CONTROL, TableSpec

STATUS_PREFIX = "status#gateway#"


@dataclass(frozen=True)
class FeedStatus:
    """One symbol's market data as the gateway sees it; ``quality`` is ok, degraded or stale."""

    symbol: str
    quality: str
    staleness_ms: int | None
    source: str | None
    mark_price: Decimal | None

    def to_json(self) -> dict[str, Any]:
        mark = None if self.mark_price is None else str(self.mark_price)
        return {
            "symbol": self.symbol,
            "quality": self.quality,
            "staleness_ms": self.staleness_ms,
            "source": self.source,
            "mark_price": mark,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeedStatus:
        mark = data.get("mark_price")
        try:
            mark_price = None if mark is None else Decimal(str(mark))
        except InvalidOperation as exc:
            raise StoreError(f"status feed mark {mark!r} is not a decimal") from exc
        staleness = data.get("staleness_ms")
        return cls(
            symbol=str(data["symbol"]),
            quality=str(data["quality"]),
            staleness_ms=None if staleness is None else int(staleness),
            source=None if data.get("source") is None else str(data["source"]),
            mark_price=mark_price,
        )


@dataclass(frozen=True)
class GatewayStatus:
    """A gateway process's report about itself at ``updated_at`` (epoch ms)."""

    owner: str
    leader: bool
    ready: bool
    failing: tuple[str, ...]
    feeds: tuple[FeedStatus, ...]
    clock_offset_ms: int | None
    broker_connected: bool | None
    updated_at: int
    checks: dict[str, str] = field(default_factory=dict)
    """Detail of every readiness check by name (what ``/readyz`` says)."""

    def __post_init__(self) -> None:
        if not self.owner or "#" in self.owner:
            raise ValueError(f"bad gateway owner {self.owner!r}")
        if isinstance(self.updated_at, bool) or not isinstance(self.updated_at, int) or self.updated_at < 0:
            raise ValueError(f"updated_at must be epoch ms, got {self.updated_at!r}")

    def feed(self, symbol: str) -> FeedStatus | None:
        return next((f for f in self.feeds if f.symbol == symbol), None)


class StatusItem(TableModel):
    """A status record in the control table (``report`` is the JSON of everything but the key)."""

    SPEC: ClassVar[TableSpec] = CONTROL

    key = UnicodeAttribute(hash_key=True)
    report = UnicodeAttribute()
    updated_at = IntAttribute()


class StatusStore:
    """Gateway status records in the control table bound by ``settings``."""

    def __init__(self, settings: Settings) -> None:
        self._model = bind_model(StatusItem, settings)

    def put(self, status: GatewayStatus) -> None:
        report = {
            "owner": status.owner,
            "leader": status.leader,
            "ready": status.ready,
            "failing": list(status.failing),
            "feeds": [f.to_json() for f in status.feeds],
            "clock_offset_ms": status.clock_offset_ms,
            "broker_connected": status.broker_connected,
            "checks": dict(status.checks),
        }
        item = self._model(
            STATUS_PREFIX + status.owner,
            report=json.dumps(report, sort_keys=True, separators=(",", ":")),
            updated_at=status.updated_at,
        )
        item.save()

    def get(self, owner: str) -> GatewayStatus | None:
        """The latest report of ``owner`` (strongly consistent), or None."""
        try:
            item = self._model.get(STATUS_PREFIX + owner, consistent_read=True)
        except self._model.DoesNotExist:
            return None
        return _to_status(item)

    def all(self) -> list[GatewayStatus]:
        """Every gateway's report, newest first (a scan: the control table holds a handful of items)."""
        scan = self._model.scan(self._model.key.startswith(STATUS_PREFIX), consistent_read=True)
        return sorted((_to_status(item) for item in scan), key=lambda s: s.updated_at, reverse=True)

    def delete(self, owner: str) -> None:
        """Remove ``owner``'s record (a gateway stopping cleanly)."""
        self._model(STATUS_PREFIX + owner).delete()


def _to_status(item: StatusItem) -> GatewayStatus:
    try:
        data = json.loads(item.report)
        return GatewayStatus(
            owner=str(data["owner"]),
            leader=bool(data["leader"]),
            ready=bool(data["ready"]),
            failing=tuple(str(name) for name in data["failing"]),
            feeds=tuple(FeedStatus.from_json(feed) for feed in data["feeds"]),
            clock_offset_ms=None if data["clock_offset_ms"] is None else int(data["clock_offset_ms"]),
            broker_connected=None if data["broker_connected"] is None else bool(data["broker_connected"]),
            updated_at=item.updated_at,
            checks={str(k): str(v) for k, v in data.get("checks", {}).items()},
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"unreadable status record {item.key!r}: {exc}") from exc
