"""Portfolio snapshots (equity, PnL, exposure) per account, expiring through DynamoDB TTL.

Each item carries ``expires_at`` = (ts + retention) in epoch *seconds*, the unit DynamoDB TTL reads.
TTL deletion is lazy (up to days late), so range reads also drop items already past ``expires_at``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from pynamodb.attributes import UnicodeAttribute

from tradeops.config import Settings
from tradeops.store.base import (
    DecimalAttribute,
    IntAttribute,
    Page,
    TableModel,
    bind_model,
    collect_page,
    decode_cursor,
    page_size_or_error,
    require_decimal,
    sort_key_range,
)
from tradeops.store.tables import SNAPSHOTS, TableSpec

DEFAULT_RETENTION_MS = 7 * 24 * 3600 * 1000

_AMOUNTS = ("equity", "cash", "realized_pnl", "unrealized_pnl", "gross_exposure", "net_exposure")


@dataclass(frozen=True)
class SnapshotRecord:
    """Account value at ``ts`` (epoch ms), all amounts in the quote currency."""

    account: str
    ts: int
    equity: Decimal
    cash: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    gross_exposure: Decimal
    net_exposure: Decimal

    def __post_init__(self) -> None:
        if not self.account:
            raise ValueError("a snapshot needs an account")
        if isinstance(self.ts, bool) or not isinstance(self.ts, int) or self.ts < 0:
            raise ValueError(f"ts must be epoch ms, got {self.ts!r}")
        for name in _AMOUNTS:
            require_decimal(getattr(self, name), name)
        if self.gross_exposure < 0:
            raise ValueError(f"gross_exposure must be >= 0, got {self.gross_exposure}")


class SnapshotItem(TableModel):
    SPEC: ClassVar[TableSpec] = SNAPSHOTS

    account = UnicodeAttribute(hash_key=True)
    ts = IntAttribute(range_key=True)
    equity = DecimalAttribute()
    cash = DecimalAttribute()
    realized_pnl = DecimalAttribute()
    unrealized_pnl = DecimalAttribute()
    gross_exposure = DecimalAttribute()
    net_exposure = DecimalAttribute()
    expires_at = IntAttribute()


class SnapshotStore:
    """Snapshots in the snapshots table bound by ``settings``, kept for ``retention_ms``."""

    def __init__(self, settings: Settings, *, retention_ms: int = DEFAULT_RETENTION_MS) -> None:
        if isinstance(retention_ms, bool) or not isinstance(retention_ms, int) or retention_ms < 1000:
            raise ValueError(f"retention_ms must be an int >= 1000, got {retention_ms!r}")
        self._model = bind_model(SnapshotItem, settings)
        self._retention_ms = retention_ms

    def expires_at(self, ts: int) -> int:
        """The TTL (epoch seconds, rounded up) of a snapshot taken at ``ts`` ms."""
        return -(-(ts + self._retention_ms) // 1000)

    def put(self, snapshot: SnapshotRecord) -> None:
        """Store ``snapshot`` (a snapshot at the same ts is replaced: it describes the same instant)."""
        amounts = {name: getattr(snapshot, name) for name in _AMOUNTS}
        item = self._model(snapshot.account, snapshot.ts, expires_at=self.expires_at(snapshot.ts), **amounts)
        item.save()

    def between(
        self,
        account: str,
        *,
        ts_from: int | None = None,
        ts_to: int | None = None,
        now_ms: int | None = None,
        limit: int = 500,
        cursor: str | None = None,
        newest_first: bool = False,
    ) -> Page[SnapshotRecord]:
        """Snapshots with ``ts`` in [ts_from, ts_to] (ms), one page; ``now_ms`` drops expired ones."""
        model = self._model
        results = model.query(
            account,
            sort_key_range(model.ts, ts_from, ts_to),
            None if now_ms is None else model.expires_at > now_ms // 1000,
            limit=page_size_or_error(limit),
            last_evaluated_key=decode_cursor(cursor),
            scan_index_forward=not newest_first,
        )
        return collect_page(results, _to_record)

    def latest(self, account: str) -> SnapshotRecord | None:
        for item in self._model.query(account, consistent_read=True, scan_index_forward=False, limit=1):
            return _to_record(item)
        return None


def _to_record(item: SnapshotItem) -> SnapshotRecord:
    return SnapshotRecord(
        item.account,
        item.ts,
        item.equity,
        item.cash,
        item.realized_pnl,
        item.unrealized_pnl,
        item.gross_exposure,
        item.net_exposure,
    )
