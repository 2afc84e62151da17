"""Versioned risk limits: every approved change is a new (scope, version) item, never an overwrite.

``put_version`` is conditioned on the version not existing, so two approvals racing for the same next
version cannot both land; ``latest`` is what the risk checks enforce and ``history`` is the audit trail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import ClassVar

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import PutError

from tradeops.config import Settings
from tradeops.store.base import (
    DecimalMapAttribute,
    IntAttribute,
    StaleWrite,
    TableModel,
    bind_model,
    is_condition_failure,
    require_decimal,
)
from tradeops.store.tables import LIMITS, TableSpec


@dataclass(frozen=True)
class LimitVersion:
    """One approved version of the limits of ``scope`` (e.g. ``global``, ``symbol:BTCUSDT``)."""

    scope: str
    version: int
    limits: Mapping[str, Decimal]
    proposed_by: str
    approved_by: str
    proposal_id: str
    created_at: int

    def __post_init__(self) -> None:
        if not self.scope or not self.proposal_id:
            raise ValueError("a limit version needs a scope and the proposal it comes from")
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            raise ValueError(f"version must be an int >= 1, got {self.version!r}")
        if not self.proposed_by or not self.approved_by or self.proposed_by == self.approved_by:
            raise ValueError("limits need a proposer and a different approver (four eyes)")
        for name, value in self.limits.items():
            require_decimal(value, f"limit {name!r}")
        object.__setattr__(self, "limits", MappingProxyType(dict(self.limits)))


class LimitItem(TableModel):
    SPEC: ClassVar[TableSpec] = LIMITS

    scope = UnicodeAttribute(hash_key=True)
    version = IntAttribute(range_key=True)
    limits = DecimalMapAttribute()
    proposed_by = UnicodeAttribute()
    approved_by = UnicodeAttribute()
    proposal_id = UnicodeAttribute()
    created_at = IntAttribute()


class LimitStore:
    """Versioned limits in the limits table bound by ``settings``."""

    def __init__(self, settings: Settings) -> None:
        self._model = bind_model(LimitItem, settings)

    def put_version(self, limits: LimitVersion) -> None:
        """Store a new version; StaleWrite if ``(scope, version)`` exists already."""
        model = self._model
        item = model(
            limits.scope,
            limits.version,
            limits=dict(limits.limits),
            proposed_by=limits.proposed_by,
            approved_by=limits.approved_by,
            proposal_id=limits.proposal_id,
            created_at=limits.created_at,
        )
        try:
            item.save(condition=model.version.does_not_exist())
        except PutError as exc:
            if is_condition_failure(exc):
                raise StaleWrite(f"limits {limits.scope!r} version {limits.version} exists already") from exc
            raise

    def latest(self, scope: str) -> LimitVersion | None:
        """The highest version of ``scope`` (strongly consistent), or None if it has no limits."""
        for item in self._model.query(scope, consistent_read=True, scan_index_forward=False, limit=1):
            return _to_version(item)
        return None

    def history(self, scope: str) -> list[LimitVersion]:
        """Every version of ``scope``, oldest first."""
        return [_to_version(item) for item in self._model.query(scope, consistent_read=True)]


def _to_version(item: LimitItem) -> LimitVersion:
    return LimitVersion(
        item.scope,
        item.version,
        item.limits,
        item.proposed_by,
        item.approved_by,
        item.proposal_id,
        item.created_at,
    )
