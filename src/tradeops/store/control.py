"""The control table: the trading state (kill switch) and per-strategy flags and allocations.

Each record carries a version. Writers name the version they read (``expected_version``; None when
the record must not exist yet) and the store writes ``expected_version + 1`` under that condition, so
two operators changing the same control cannot silently overwrite each other: the later one gets
:class:`~tradeops.store.base.StaleWrite` and must re-read.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError
from pynamodb.expressions.condition import Condition

from tradeops.config import Settings
from tradeops.domain.control import TradingState
from tradeops.store.base import (
    DecimalAttribute,
    IntAttribute,
    StaleWrite,
    StoreError,
    TableModel,
    bind_model,
    is_condition_failure,
    require_decimal,
)
from tradeops.store.tables import CONTROL, TableSpec

TRADING_KEY = "trading"
STRATEGY_PREFIX = "strategy#"


@dataclass(frozen=True)
class TradingControl:
    state: TradingState
    reason: str
    updated_by: str
    updated_at: int
    version: int


@dataclass(frozen=True)
class StrategyControl:
    strategy: str
    enabled: bool
    allocation: Decimal | None
    """Quote-currency capital the strategy may use; None = no allocation set."""
    updated_by: str
    updated_at: int
    version: int


class ControlItem(TableModel):
    SPEC: ClassVar[TableSpec] = CONTROL

    key = UnicodeAttribute(hash_key=True)
    version = IntAttribute()
    updated_by = UnicodeAttribute()
    updated_at = IntAttribute()
    state = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    enabled = BooleanAttribute(null=True)
    allocation = DecimalAttribute(null=True)


class ControlStore:
    """Versioned reads and writes of the control table bound by ``settings``."""

    def __init__(self, settings: Settings) -> None:
        self._model = bind_model(ControlItem, settings)

    def trading(self) -> TradingControl | None:
        """The trading state record, or None before it was ever set."""
        item = self._get(TRADING_KEY)
        if item is None:
            return None
        if item.state is None:
            raise StoreError(f"control record {TRADING_KEY!r} has no state")
        return TradingControl(
            TradingState(item.state), item.reason or "", item.updated_by, item.updated_at, item.version
        )

    def put_trading(
        self,
        state: TradingState,
        *,
        reason: str,
        updated_by: str,
        updated_at: int,
        expected_version: int | None,
    ) -> TradingControl:
        """Set the trading state if its version is still ``expected_version``; returns the new record."""
        state = TradingState(state)
        if not reason.strip():
            raise ValueError("a trading state change needs a reason")
        version = self._write(
            TRADING_KEY, expected_version, updated_by, updated_at, state=state.value, reason=reason
        )
        return TradingControl(state, reason, updated_by, updated_at, version)

    def strategy(self, strategy: str) -> StrategyControl | None:
        item = self._get(STRATEGY_PREFIX + strategy)
        return None if item is None else _to_strategy(item)

    def strategies(self) -> list[StrategyControl]:
        """Every strategy record, by name (a scan: the control table holds a handful of items)."""
        scan = self._model.scan(self._model.key.startswith(STRATEGY_PREFIX), consistent_read=True)
        return sorted((_to_strategy(item) for item in scan), key=lambda s: s.strategy)

    def put_strategy(
        self,
        strategy: str,
        *,
        enabled: bool,
        allocation: Decimal | None,
        updated_by: str,
        updated_at: int,
        expected_version: int | None,
    ) -> StrategyControl:
        """Set a strategy's flag and allocation if its version is still ``expected_version``."""
        if not strategy or "#" in strategy:
            raise ValueError(f"bad strategy name {strategy!r}")
        if not isinstance(enabled, bool):
            raise TypeError(f"enabled must be a bool, got {enabled!r}")
        if allocation is not None and require_decimal(allocation, "allocation") < 0:
            raise ValueError(f"allocation must be >= 0, got {allocation}")
        version = self._write(
            STRATEGY_PREFIX + strategy,
            expected_version,
            updated_by,
            updated_at,
            enabled=enabled,
            allocation=allocation,
        )
        return StrategyControl(strategy, enabled, allocation, updated_by, updated_at, version)

    def _get(self, key: str) -> ControlItem | None:
        try:
            return self._model.get(key, consistent_read=True)
        except self._model.DoesNotExist:
            return None

    def _write(
        self,
        key: str,
        expected_version: int | None,
        updated_by: str,
        updated_at: int,
        **fields: Any,
    ) -> int:
        if not updated_by:
            raise ValueError("updated_by must name who made the change")
        if isinstance(updated_at, bool) or not isinstance(updated_at, int) or updated_at < 0:
            raise ValueError(f"updated_at must be epoch ms, got {updated_at!r}")
        model = self._model
        condition: Condition
        if expected_version is None:
            condition, version = model.key.does_not_exist(), 1
        else:
            condition, version = model.version == expected_version, expected_version + 1
        item = model(key, version=version, updated_by=updated_by, updated_at=updated_at, **fields)
        try:
            item.save(condition=condition)
        except PutError as exc:
            if is_condition_failure(exc):
                raise StaleWrite(f"control {key!r}: stored version is not {expected_version}") from exc
            raise
        return version


def _to_strategy(item: ControlItem) -> StrategyControl:
    if item.enabled is None:
        raise StoreError(f"control record {item.key!r} has no enabled flag")
    return StrategyControl(
        item.key.removeprefix(STRATEGY_PREFIX),
        item.enabled,
        item.allocation,
        item.updated_by,
        item.updated_at,
        item.version,
    )
