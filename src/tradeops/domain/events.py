"""Event schemas of the ``tradeops`` bus (DESIGN §4.2): pydantic models, registry, parsing, PutEvents entries.

Every ``detail`` carries ``schema_version``, ``event_id``, ``occurred_at`` (aware UTC) and
``correlation_id`` (the envelope, :mod:`tradeops.domain.event_fields`, with the field kinds: money and
quantities are decimal strings, JSON floats are refused everywhere in a detail). Unknown fields are
refused. ``json_schemas()`` is what ``tradeops schemas`` writes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    model_validator,
)

from tradeops.domain.event_fields import (
    DecimalStr,
    EpochMillis,
    EventDetail,
    Identifier,
    JsonObject,
    NonEmptyStr,
    NonNegativeDecimal,
    PositiveDecimal,
    Symbol,
    UtcDatetime,
)
from tradeops.domain.orders import Fill, Order, OrderState
from tradeops.domain.values import OrderType, Severity, Side, TimeInForce

__all__ = ["EVENT_TYPES", "EventDetail", "EventSchemaError", "Severity", "json_schemas", "parse_detail"]

_SOURCE_RE = re.compile(r"^tradeops\.[a-z0-9][a-z0-9_.-]*$")
MAX_DETAIL_BYTES = 256 * 1024  # EventBridge's limit for a whole entry; the detail alone must fit in it


class EventSchemaError(ValueError):
    """A detail that does not match its detail type's schema, or an unknown detail type."""

    def __init__(
        self, detail_type: str, fields: tuple[str, ...], correlation_id: str | None, problems: str
    ) -> None:
        where = f" (correlation_id={correlation_id})" if correlation_id else ""
        super().__init__(f"invalid {detail_type!r} event{where}: {problems}")
        self.detail_type = detail_type
        self.fields = fields
        self.correlation_id = correlation_id


class TradeIntent(EventDetail):
    """A strategy asks to trade; idempotent by ``intent_id``. A limit intent without TIF means GTC."""

    DETAIL_TYPE: ClassVar[str] = "Trade Intent"

    intent_id: Identifier
    strategy: Identifier
    symbol: Symbol
    side: Side
    type: Literal[OrderType.MARKET, OrderType.LIMIT]
    quantity: PositiveDecimal
    limit_price: PositiveDecimal | None = None
    time_in_force: TimeInForce | None = None
    stop_loss: PositiveDecimal | None = None
    take_profit: PositiveDecimal | None = None
    expires_at: UtcDatetime | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.type is OrderType.LIMIT) != (self.limit_price is not None):
            raise ValueError("limit_price is required for a limit intent and forbidden for a market intent")
        if self.type is OrderType.MARKET and self.time_in_force is not None:
            raise ValueError("time_in_force is forbidden for a market intent")
        # Prices a protective leg must lie below (buy) or above (sell): the entry, then the take-profit.
        ladder = [p for p in (self.stop_loss, self.limit_price, self.take_profit) if p is not None]
        ascending = ladder == sorted(ladder) and len(set(ladder)) == len(ladder)
        descending = ladder == sorted(ladder, reverse=True) and len(set(ladder)) == len(ladder)
        if not (ascending if self.side is Side.BUY else descending):
            expected = (
                "stop_loss < limit_price < take_profit"
                if self.side is Side.BUY
                else "stop_loss > ... > take_profit"
            )
            raise ValueError(
                f"stop_loss/take_profit inconsistent with a {self.side.value}: expected {expected}"
            )
        if self.expires_at is not None and self.expires_at <= self.occurred_at:
            raise ValueError("expires_at must be after occurred_at")
        return self

    @property
    def effective_time_in_force(self) -> TimeInForce | None:
        if self.type is OrderType.LIMIT:
            return self.time_in_force or TimeInForce.GTC
        return None


class OrderUpdated(EventDetail):
    """A snapshot of an order after a change (see ``tradeops.domain.orders.Order``)."""

    DETAIL_TYPE: ClassVar[str] = "Order Updated"

    client_order_id: Identifier
    intent_id: Identifier
    strategy: Identifier
    symbol: Symbol
    side: Side
    type: OrderType
    quantity: PositiveDecimal
    limit_price: PositiveDecimal | None
    stop_price: PositiveDecimal | None = None
    time_in_force: TimeInForce | None
    state: OrderState
    filled_quantity: NonNegativeDecimal
    venue_filled_quantity: NonNegativeDecimal
    avg_fill_price: PositiveDecimal | None
    venue_order_id: str | None
    created_at: EpochMillis
    updated_at: EpochMillis
    reason: str | None
    trade_ids: tuple[str, ...]
    version: Annotated[StrictInt, Field(ge=0)]

    @classmethod
    def from_order(cls, order: Order, *, correlation_id: str) -> OrderUpdated:
        snapshot = order.to_dict()
        snapshot["trade_ids"] = tuple(snapshot["trade_ids"])
        return cls.model_validate({**snapshot, "correlation_id": correlation_id})

    def to_order(self) -> Order:
        return Order.from_dict(self.model_dump(mode="json", exclude=set(EventDetail.model_fields)))


class OrderFilled(EventDetail):
    """One venue trade of one of our orders (see ``tradeops.domain.orders.Fill``)."""

    DETAIL_TYPE: ClassVar[str] = "Order Filled"

    client_order_id: Identifier
    trade_id: Identifier
    symbol: Symbol
    side: Side
    price: PositiveDecimal
    quantity: PositiveDecimal
    fee: DecimalStr
    fee_asset: NonEmptyStr
    ts: EpochMillis
    is_maker: StrictBool

    @classmethod
    def from_fill(cls, fill: Fill, *, correlation_id: str) -> OrderFilled:
        return cls.model_validate({**fill.to_dict(), "correlation_id": correlation_id})

    def to_fill(self) -> Fill:
        return Fill.from_dict(self.model_dump(mode="json", exclude=set(EventDetail.model_fields)))


class OrderRejected(EventDetail):
    """An intent or order refused by risk or by the venue; ``reason`` is a code, ``message`` for humans."""

    DETAIL_TYPE: ClassVar[str] = "Order Rejected"

    intent_id: Identifier
    client_order_id: Identifier | None
    reason: Identifier
    message: str
    limit: DecimalStr | None = None
    value: DecimalStr | None = None


class ControlChanged(EventDetail):
    """A control-table key changed (trading state, strategy flags, limits); the gateway reloads it."""

    DETAIL_TYPE: ClassVar[str] = "Control Changed"

    key: NonEmptyStr
    value: JsonObject
    actor: NonEmptyStr
    reason: NonEmptyStr


class RiskBreach(EventDetail):
    DETAIL_TYPE: ClassVar[str] = "Risk Breach"

    rule: Identifier
    symbol: Symbol | None
    limit: DecimalStr
    value: DecimalStr
    severity: Severity
    message: str


class KillSwitchEngaged(EventDetail):
    DETAIL_TYPE: ClassVar[str] = "Kill Switch Engaged"

    reason: NonEmptyStr
    actor: NonEmptyStr
    flatten: StrictBool
    cancelled_orders: Annotated[StrictInt, Field(ge=0)] | None = None


class MarketDataCondition(StrEnum):
    STALE = "stale"
    DISCONNECTED = "disconnected"
    CLOCK_SKEW = "clock_skew"
    CROSSED_BOOK = "crossed_book"
    DIVERGENCE = "divergence"
    """Primary and backup mids disagree beyond the threshold."""
    SEQUENCE_GAP = "sequence_gap"
    """A depth update sequence gap: the book is being resynchronised from a snapshot."""
    REST_FALLBACK = "rest_fallback"
    """Both sockets are stale; the view is fed by REST polling (never good enough to open exposure)."""
    RECOVERED = "recovered"


class MarketDataDegraded(EventDetail):
    DETAIL_TYPE: ClassVar[str] = "Market Data Degraded"

    symbol: Symbol
    feed: NonEmptyStr
    condition: MarketDataCondition
    staleness_ms: Annotated[StrictInt, Field(ge=0)] | None = None
    severity: Severity


class ConnectivityState(StrEnum):
    CONNECTED = "connected"
    DEGRADED = "degraded"
    DISCONNECTED = "disconnected"


class BrokerConnectivityChanged(EventDetail):
    DETAIL_TYPE: ClassVar[str] = "Broker Connectivity Changed"

    venue: NonEmptyStr
    state: ConnectivityState
    reason: str


class ReconciliationBreak(EventDetail):
    DETAIL_TYPE: ClassVar[str] = "Reconciliation Break"

    break_id: Identifier
    break_class: Identifier
    symbol: Symbol | None
    client_order_id: Identifier | None
    evidence: JsonObject
    proposed_action: NonEmptyStr
    severity: Severity


class ReconciliationRequested(EventDetail):
    """Asks the reconcile function for one pass now (operator, gateway takeover); idempotent by event id."""

    DETAIL_TYPE: ClassVar[str] = "Reconciliation Requested"

    reason: NonEmptyStr
    requested_by: NonEmptyStr


class FillDiscovered(EventDetail):
    """A venue trade of one of our orders that reconciliation found missing locally (break ``break_id``).

    The gateway imports it like an executionReport fill (deduplicated by venue trade id).
    """

    DETAIL_TYPE: ClassVar[str] = "Fill Discovered"

    break_id: Identifier
    client_order_id: Identifier
    trade_id: Identifier
    symbol: Symbol
    side: Side
    price: PositiveDecimal
    quantity: PositiveDecimal
    fee: NonNegativeDecimal
    fee_asset: str
    ts: EpochMillis
    is_maker: StrictBool

    @classmethod
    def from_fill(cls, fill: Fill, *, break_id: str, correlation_id: str) -> FillDiscovered:
        return cls.model_validate({**fill.to_dict(), "break_id": break_id, "correlation_id": correlation_id})

    def to_fill(self) -> Fill:
        fields = set(EventDetail.model_fields) | {"break_id"}
        return Fill.from_dict(self.model_dump(mode="json", exclude=fields))


class SecretRotated(EventDetail):
    DETAIL_TYPE: ClassVar[str] = "Secret Rotated"

    secret_id: NonEmptyStr
    version_id: NonEmptyStr


class CancelRequested(EventDetail):
    """An operator asks the gateway (the only writer of orders) to cancel one order; idempotent."""

    DETAIL_TYPE: ClassVar[str] = "Cancel Requested"

    client_order_id: Identifier
    requested_by: NonEmptyStr
    reason: NonEmptyStr


EVENT_TYPES: dict[str, type[EventDetail]] = {
    cls.DETAIL_TYPE: cls
    for cls in (
        TradeIntent,
        OrderUpdated,
        OrderFilled,
        OrderRejected,
        ControlChanged,
        RiskBreach,
        KillSwitchEngaged,
        MarketDataDegraded,
        BrokerConnectivityChanged,
        ReconciliationBreak,
        SecretRotated,
        ReconciliationRequested,
        FillDiscovered,
        CancelRequested,
    )
}


def parse_detail(detail_type: str, detail: Mapping[str, Any]) -> EventDetail:
    """Validate a detail against its detail type; raises ``EventSchemaError`` naming what is wrong."""
    raw_correlation = detail.get("correlation_id") if isinstance(detail, Mapping) else None
    correlation_id = raw_correlation if isinstance(raw_correlation, str) else None
    model = EVENT_TYPES.get(detail_type)
    if model is None:
        known = ", ".join(sorted(EVENT_TYPES))
        raise EventSchemaError(detail_type, (), correlation_id, f"unknown detail type (known: {known})")
    try:
        return model.model_validate(detail)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        fields = tuple(dict.fromkeys(".".join(str(part) for part in e["loc"]) or "(event)" for e in errors))
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(event)'}: {e['msg']}" for e in errors)
        raise EventSchemaError(detail_type, fields, correlation_id, problems) from exc


def to_entry(event: EventDetail, source: str, bus: str) -> dict[str, str]:
    """A PutEvents entry for ``event``: Decimals serialize as strings, datetimes as ISO 8601 UTC."""
    if not _SOURCE_RE.match(source):
        raise ValueError(f"event source {source!r} must look like 'tradeops.<component>'")
    if not bus:
        raise ValueError("event bus name is empty")
    detail = event.model_dump_json()
    if len(detail.encode("utf-8")) > MAX_DETAIL_BYTES:
        raise ValueError(f"{event.DETAIL_TYPE} detail exceeds EventBridge's {MAX_DETAIL_BYTES} bytes")
    return {"Source": source, "DetailType": event.DETAIL_TYPE, "Detail": detail, "EventBusName": bus}


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema (draft 2020-12) of every event detail, keyed by detail type."""
    schemas: dict[str, dict[str, Any]] = {}
    for detail_type, model in EVENT_TYPES.items():
        schema = model.model_json_schema(mode="validation")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["x-detail-type"] = detail_type
        schemas[detail_type] = schema
    return schemas
