"""Venue balances per account and asset (free and locked), as last reported by the venue.

A put never moves a balance back in time: it is conditioned on the stored ``updated_at`` not being
newer, so a delayed report raises :class:`~tradeops.store.base.StaleWrite`. The gateway writes the whole
account at once (:meth:`BalanceStore.put_snapshot`): this is reconciliation's balance baseline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import PutError

from tradeops.config import Settings
from tradeops.store.base import (
    DecimalAttribute,
    IntAttribute,
    StaleWrite,
    TableModel,
    bind_model,
    is_condition_failure,
    require_decimal,
)
from tradeops.store.tables import BALANCES, TableSpec


@dataclass(frozen=True)
class BalanceRecord:
    account: str
    asset: str
    free: Decimal
    locked: Decimal
    updated_at: int

    def __post_init__(self) -> None:
        if not self.account or not self.asset:
            raise ValueError("balance needs an account and an asset")
        for name in ("free", "locked"):
            if require_decimal(getattr(self, name), name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if isinstance(self.updated_at, bool) or not isinstance(self.updated_at, int) or self.updated_at < 0:
            raise ValueError(f"updated_at must be epoch ms, got {self.updated_at!r}")

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


class BalanceItem(TableModel):
    SPEC: ClassVar[TableSpec] = BALANCES

    account = UnicodeAttribute(hash_key=True)
    asset = UnicodeAttribute(range_key=True)
    free = DecimalAttribute()
    locked = DecimalAttribute()
    updated_at = IntAttribute()


class BalanceStore:
    """Typed access to the balances table bound by ``settings``."""

    def __init__(self, settings: Settings) -> None:
        self._model = bind_model(BalanceItem, settings)

    def put(self, record: BalanceRecord) -> None:
        """Store ``record`` unless the stored balance is newer (then StaleWrite)."""
        model = self._model
        item = model(
            record.account, record.asset, free=record.free, locked=record.locked, updated_at=record.updated_at
        )
        try:
            item.save(condition=model.asset.does_not_exist() | (model.updated_at <= record.updated_at))
        except PutError as exc:
            if is_condition_failure(exc):
                raise StaleWrite(
                    f"balance {record.account}/{record.asset}: stored one is newer than {record.updated_at}"
                ) from exc
            raise

    def put_snapshot(
        self, account: str, balances: Mapping[str, tuple[Decimal, Decimal]], updated_at: int
    ) -> int:
        """Store the venue's ``{asset: (free, locked)}`` for ``account`` as of ``updated_at`` (ms).

        Assets stored before and absent now are written as zero (the venue omits empty balances), so the
        baseline is the whole account at one moment. Assets with a newer stored balance are left alone.
        Returns how many assets were written.
        """
        zero = Decimal(0)
        wanted = {asset: (zero, zero) for asset in (r.asset for r in self.for_account(account))}
        wanted.update(balances)
        written = 0
        for asset, (free, locked) in sorted(wanted.items()):
            try:
                self.put(BalanceRecord(account, asset, free, locked, updated_at))
            except StaleWrite:
                continue
            written += 1
        return written

    def get(self, account: str, asset: str) -> BalanceRecord | None:
        try:
            return _to_record(self._model.get(account, asset, consistent_read=True))
        except self._model.DoesNotExist:
            return None

    def for_account(self, account: str) -> list[BalanceRecord]:
        """Every balance of ``account``, by asset."""
        return [_to_record(item) for item in self._model.query(account, consistent_read=True)]


def _to_record(item: BalanceItem) -> BalanceRecord:
    return BalanceRecord(item.account, item.asset, item.free, item.locked, item.updated_at)
