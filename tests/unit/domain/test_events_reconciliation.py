"""Reconciliation events: "Reconciliation Requested" and "Fill Discovered" (schema, round trips, refusals)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from tradeops.domain.events import (
    EVENT_TYPES,
    EventSchemaError,
    FillDiscovered,
    ReconciliationBreak,
    ReconciliationRequested,
    json_schemas,
    parse_detail,
    to_entry,
)
from tradeops.domain.orders import Fill
from tradeops.domain.reconcile import Break, BreakClass, BreakSubject, ProposedAction
from tradeops.domain.values import Severity, Side

FILL = Fill(
    client_order_id="toen-abc",
    trade_id="991",
    symbol="ETH/USDT",
    side=Side.SELL,
    price=Decimal("3000.10"),
    quantity=Decimal("0.2500"),
    fee=Decimal("0.75025"),
    fee_asset="USDT",
    ts=1_700_000_000_123,
    is_maker=True,
)


def test_both_are_registered_title_case_detail_types() -> None:
    assert EVENT_TYPES["Reconciliation Requested"] is ReconciliationRequested
    assert EVENT_TYPES["Fill Discovered"] is FillDiscovered
    assert {"Reconciliation Requested", "Fill Discovered"} <= set(json_schemas())


def test_fill_discovered_carries_the_fill_exactly_through_the_wire() -> None:
    event = FillDiscovered.from_fill(FILL, break_id="rb-0123", correlation_id="run-1")
    entry = to_entry(event, source="tradeops.reconcile", bus="tradeops")
    wire = json.loads(entry["Detail"])
    assert wire["price"] == "3000.10" and wire["quantity"] == "0.2500" and wire["break_id"] == "rb-0123"
    parsed = parse_detail("Fill Discovered", wire)
    assert isinstance(parsed, FillDiscovered) and parsed.to_fill() == FILL


@pytest.mark.parametrize(
    ("field", "value"),
    [("price", 3000.1), ("quantity", "0"), ("fee", "-1"), ("break_id", ""), ("is_maker", "yes")],
)
def test_fill_discovered_refuses_bad_fields(field: str, value: Any) -> None:
    wire = json.loads(FillDiscovered.from_fill(FILL, break_id="rb-1", correlation_id="c").model_dump_json())
    wire[field] = value
    with pytest.raises(EventSchemaError) as error:
        parse_detail("Fill Discovered", wire)
    assert field in error.value.fields


def test_reconciliation_requested_needs_a_reason_and_a_requester() -> None:
    ok = parse_detail(
        "Reconciliation Requested", {"correlation_id": "c", "reason": "x", "requested_by": "ops"}
    )
    assert isinstance(ok, ReconciliationRequested) and ok.requested_by == "ops"
    with pytest.raises(EventSchemaError) as error:
        parse_detail("Reconciliation Requested", {"correlation_id": "c", "reason": ""})
    assert set(error.value.fields) == {"reason", "requested_by"}


def test_a_domain_break_is_a_valid_reconciliation_break_detail() -> None:
    brk = Break(
        BreakClass.BALANCE_MISMATCH,
        BreakSubject(asset="USDT"),
        {"difference": "250"},
        Severity.WARNING,
        ProposedAction.ALERT_ONLY,
    )
    event = ReconciliationBreak.model_validate({**brk.event_fields(), "correlation_id": "run-1"})
    assert event.break_id == brk.break_id and event.evidence["asset"] == "USDT"
