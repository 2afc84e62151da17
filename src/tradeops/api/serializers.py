"""Domain and store records -> response models (decimals as plain strings, times as epoch ms)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tradeops.api import responses as r
from tradeops.domain.alerts import Alert
from tradeops.domain.journal import JournalEntry
from tradeops.domain.orders import Fill, Order
from tradeops.store.control import StrategyControl
from tradeops.store.proposals import LimitProposal
from tradeops.store.recon import BreakRecord, RunRecord

ACK_COMMENT = "ack_comment"
"""Key of an alert's ``details`` holding the operator's ack comment."""


def dec(value: Decimal) -> str:
    """A Decimal as a plain string (never exponent notation: ``1E+1`` -> ``"10"``)."""
    return format(value, "f")


def opt_dec(value: Decimal | None) -> str | None:
    return None if value is None else dec(value)


def ms(at: datetime | None) -> int | None:
    return None if at is None else int(at.astimezone(UTC).timestamp() * 1000)


def order_fields(order: Order) -> dict[str, Any]:
    return {
        "client_order_id": order.client_order_id,
        "intent_id": order.intent_id,
        "strategy": order.strategy,
        "symbol": order.symbol,
        "side": order.side.value,
        "type": order.type.value,
        "quantity": dec(order.quantity),
        "limit_price": opt_dec(order.limit_price),
        "filled_quantity": dec(order.filled_quantity),
        "avg_fill_price": opt_dec(order.avg_fill_price),
        "state": order.state.value,
        "venue_order_id": order.venue_order_id,
        "reason": order.reason,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
    }


def order_out(order: Order) -> r.OrderOut:
    return r.OrderOut(**order_fields(order))


def trade_out(fill: Fill) -> r.TradeOut:
    return r.TradeOut(
        trade_id=fill.trade_id,
        client_order_id=fill.client_order_id,
        symbol=fill.symbol,
        side=fill.side.value,
        quantity=dec(fill.quantity),
        price=dec(fill.price),
        fee=dec(fill.fee),
        fee_asset=fill.fee_asset,
        ts=fill.ts,
    )


def journal_entry_out(entry: JournalEntry) -> r.JournalEntryOut:
    return r.JournalEntryOut(
        seq=entry.seq,
        kind=entry.kind,
        actor=entry.actor,
        ts=entry.recorded_at,
        fencing_token=entry.fencing_token,
        hash=entry.hash,
        prev_hash=entry.prev_hash,
        payload=entry.payload,
    )


def proposal_out(proposal: LimitProposal, diff: Mapping[str, Any] | None = None) -> r.ProposalOut:
    return r.ProposalOut(
        proposal_id=proposal.proposal_id,
        kind=proposal.kind.value,
        scope=proposal.scope,
        changes={name: dec(value) for name, value in sorted(proposal.changes.items())},
        reason=proposal.reason,
        proposed_by=proposal.proposed_by,
        created_at=proposal.created_at,
        status=proposal.status.value,
        decided_by=proposal.decided_by,
        decided_at=proposal.decided_at,
        note=proposal.note,
        diff=None if diff is None else dict(diff),
    )


def strategy_out(control: StrategyControl) -> r.StrategyOut:
    return r.StrategyOut(
        strategy=control.strategy,
        enabled=control.enabled,
        allocation=opt_dec(control.allocation),
        version=control.version,
        canary=None,
        updated_by=control.updated_by,
        updated_at=control.updated_at,
    )


def alert_out(alert: Alert) -> r.AlertOut:
    details = dict(alert.details)
    comment = details.pop(ACK_COMMENT, None)
    return r.AlertOut(
        alert_id=alert.alert_id,
        severity=alert.severity.value,
        title=alert.title,
        detail=details,
        status=alert.status.value,
        opened_at=ms(alert.first_seen) or 0,
        acked_by=alert.acked_by,
        acked_at=ms(alert.acked_at),
        comment=None if comment is None else str(comment),
    )


def run_out(run: RunRecord) -> r.RunOut:
    summary = dict(run.summary)
    breaks = summary.pop("break_ids", [])
    summary.pop("trigger", None)
    if run.error:
        summary["error"] = run.error
    return r.RunOut(
        run_id=run.run_id,
        trigger=run.trigger,
        started_at=run.started_at,
        finished_at=run.finished_at,
        status=run.outcome.value,
        counts=summary,
        breaks=[str(b) for b in breaks] if isinstance(breaks, list) else [],
    )


def break_out(record: BreakRecord) -> r.BreakOut:
    return r.BreakOut(
        break_id=record.break_id,
        break_class=record.break_class,
        symbol=record.symbol,
        evidence=dict(record.evidence),
        proposed_action=record.proposed_action,
        status=record.status.value,
        first_seen=record.first_seen,
        last_seen=record.last_seen,
    )
