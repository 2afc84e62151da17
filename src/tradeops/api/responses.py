"""Response bodies of the operator API: every reply is built through these models, so the OpenAPI
document (generated from them) is what the API returns. Amounts are decimal strings, times epoch ms."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Amount = str
Ms = int
ProposalStatusName = Literal["PENDING", "APPROVED", "APPLIED", "REJECTED", "CANCELED", "EXPIRED"]
"""APPROVED is transient: an approval applies the change at once and answers APPLIED."""
AlertStatusName = Literal["open", "acked", "resolved"]
"""Alert statuses are lowercase (the alert lifecycle's own values); every other status is uppercase."""


class Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class ErrorDetail(Out):
    code: str
    message: str
    fields: dict[str, str]


class ErrorOut(Out):
    error: ErrorDetail


class AuthConfigOut(Out):
    mode: Literal["password", "hosted"]
    hosted_ui_url: str | None
    client_id: str


class LoginOut(Out):
    token: str
    expires_at: Ms
    username: str
    roles: list[str]


class MeOut(Out):
    username: str
    roles: list[str]
    permissions: list[str]


class GatewayHealth(Out):
    leader: str | None
    lease_expires_at: Ms | None
    ready: bool
    failing: list[str]
    updated_at: Ms | None
    stale: bool


class FeedHealth(Out):
    symbol: str
    state: Literal["OK", "DEGRADED", "STALE"]
    staleness_ms: int | None
    source: str | None


class ClockHealth(Out):
    offset_ms: int | None


class BrokerHealth(Out):
    connected: bool | None


class TradingOut(Out):
    state: Literal["ACTIVE", "REDUCING", "HALTED"]
    reason: str | None
    updated_by: str | None
    updated_at: Ms | None


class RunOut(Out):
    run_id: str
    trigger: str
    started_at: Ms
    finished_at: Ms | None
    status: str
    counts: dict[str, Any]
    breaks: list[str]


class ReconHealth(Out):
    last_run: RunOut | None
    open_breaks: int


class HealthOut(Out):
    gateway: GatewayHealth
    feeds: list[FeedHealth]
    clock: ClockHealth
    broker: BrokerHealth
    trading: TradingOut
    reconciliation: ReconHealth


class ExposureOut(Out):
    symbol: str
    quantity: Amount
    mark_price: Amount | None
    notional: Amount | None


class PortfolioOut(Out):
    ts: Ms | None
    equity: Amount | None
    cash: Amount | None
    realized_pnl: Amount | None
    unrealized_pnl: Amount | None
    pnl_today: Amount | None
    drawdown: Amount | None
    high_water_mark: Amount | None
    gross_exposure: Amount | None
    net_exposure: Amount | None
    exposure: list[ExposureOut]


class HistoryPointOut(Out):
    ts: Ms
    equity: Amount
    realized_pnl: Amount
    unrealized_pnl: Amount


class HistoryPage(Out):
    items: list[HistoryPointOut]
    next_cursor: str | None


class PositionOut(Out):
    symbol: str
    quantity: Amount
    avg_entry_price: Amount | None
    mark_price: Amount | None
    unrealized_pnl: Amount | None
    realized_pnl: Amount
    updated_at: Ms


class PositionList(Out):
    items: list[PositionOut]


class OrderOut(Out):
    client_order_id: str
    intent_id: str
    strategy: str
    symbol: str
    side: str
    type: str
    quantity: Amount
    limit_price: Amount | None
    filled_quantity: Amount
    avg_fill_price: Amount | None
    state: str
    venue_order_id: str | None
    reason: str | None
    created_at: Ms
    updated_at: Ms


class OrderPage(Out):
    items: list[OrderOut]
    next_cursor: str | None


class JournalEntryOut(Out):
    seq: int
    kind: str
    actor: str
    ts: Ms
    fencing_token: int
    hash: str
    prev_hash: str
    payload: dict[str, Any]


class OrderDetailOut(OrderOut):
    history: list[JournalEntryOut]


class TradeOut(Out):
    trade_id: str
    client_order_id: str
    symbol: str
    side: str
    quantity: Amount
    price: Amount
    fee: Amount
    fee_asset: str
    ts: Ms


class TradePage(Out):
    items: list[TradeOut]
    next_cursor: str | None


class OrderAccepted(Out):
    intent_id: str
    client_order_id: str


class CancelAccepted(Out):
    client_order_id: str
    requested: Literal["cancel"]


class KillSwitchOut(Out):
    state: Literal["HALTED"]
    reason: str
    updated_by: str
    updated_at: Ms
    flatten: bool


class TradingStateOut(Out):
    state: Literal["ACTIVE", "REDUCING", "HALTED"]


class ProposalOut(Out):
    proposal_id: str
    kind: str
    scope: str
    changes: dict[str, Amount]
    reason: str
    proposed_by: str
    created_at: Ms
    status: ProposalStatusName
    decided_by: str | None
    decided_at: Ms | None
    note: str | None
    diff: dict[str, Any] | None


class ProposalEnvelope(Out):
    proposal: ProposalOut


class ProposalPage(Out):
    items: list[ProposalOut]
    next_cursor: str | None


class StrategyOut(Out):
    strategy: str
    enabled: bool
    allocation: Amount | None
    version: int
    canary: bool | None
    updated_by: str | None
    updated_at: Ms | None


class StrategyList(Out):
    items: list[StrategyOut]


class LimitOut(Out):
    name: str
    scope: str
    value: Amount
    current: Amount | None
    utilisation: Amount | None


class LimitsOut(Out):
    version: int
    approved_by: str | None
    items: list[LimitOut]


class AlertOut(Out):
    alert_id: str
    severity: str
    title: str
    detail: dict[str, Any]
    status: AlertStatusName
    opened_at: Ms
    acked_by: str | None
    acked_at: Ms | None
    comment: str | None


class AlertPage(Out):
    items: list[AlertOut]
    next_cursor: str | None


class BreakOut(Out):
    break_id: str
    break_class: str
    symbol: str | None
    evidence: dict[str, Any]
    proposed_action: str
    status: str
    first_seen: Ms
    last_seen: Ms


class ReconciliationOut(Out):
    runs: list[RunOut]
    open_breaks: list[BreakOut]


class JournalPage(Out):
    stream: str | None
    streams: list[str]
    items: list[JournalEntryOut]
    next_from_seq: int


class StreamAudit(Out):
    stream: str
    entries: int
    first_broken_seq: int | None
    detail: str | None


class AuditOut(Out):
    intact: bool
    streams: list[StreamAudit]
