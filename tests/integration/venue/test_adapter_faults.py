"""Injected venue faults end in the right outcome class, and an Unknown is resolved by venue evidence."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import pytest

from tradeops.domain.orders import Order
from tradeops.venue.adapter import Accepted, Rejected, Retryable, Unknown
from tradeops.venue.mapping import VenueOrder
from tradeops.venue.outcomes import DEADLINE_PASSED

from .conftest import AdapterFactory, Admin

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def test_submit_then_timeout_is_unknown_and_the_query_finds_the_order(
    make_adapter: AdapterFactory, limit: Callable[..., Order], admin: Admin
) -> None:
    adapter = await make_adapter(timeout_ms=600)
    await admin.faults({"kind": "submit_timeout", "hold_ms": 1_500, "count": 1})
    order = limit("50000.00")
    outcome = await adapter.submit(order)
    assert isinstance(outcome, Unknown) and outcome.error_type == "RequestTimeout", outcome

    evidence = await adapter.fetch_order("BTC/USDT", order.client_order_id)
    assert isinstance(evidence, Accepted) and isinstance(evidence.value, VenueOrder), evidence
    assert (evidence.value.client_order_id, evidence.value.status) == (order.client_order_id, "NEW")
    assert [o["clientOrderId"] for o in (await admin.state())["orders"]] == [order.client_order_id]


async def test_cancel_then_timeout_is_unknown_and_the_query_shows_canceled(
    make_adapter: AdapterFactory, limit: Callable[..., Order], admin: Admin
) -> None:
    adapter = await make_adapter(timeout_ms=600)
    order = limit("50000.00")
    assert isinstance(await adapter.submit(order), Accepted)
    await admin.faults({"kind": "cancel_timeout", "hold_ms": 1_500, "count": 1})
    outcome = await adapter.cancel("BTC/USDT", order.client_order_id)
    assert isinstance(outcome, Unknown), outcome
    evidence = await adapter.fetch_order("BTC/USDT", order.client_order_id)
    assert isinstance(evidence, Accepted) and isinstance(evidence.value, VenueOrder)
    assert evidence.value.status == "CANCELED"


async def test_5xx_is_unknown_for_submit_and_cancel_but_retryable_for_reads(
    make_adapter: AdapterFactory, limit: Callable[..., Order], admin: Admin
) -> None:
    adapter = await make_adapter()
    kept = limit("50000.00")
    assert isinstance(await adapter.submit(kept), Accepted)
    await admin.faults({"kind": "http_error", "status": 500, "endpoint": "*"})
    submit = await adapter.submit(limit("50000.00"))
    cancel = await adapter.cancel("BTC/USDT", kept.client_order_id)
    read = await adapter.fetch_order("BTC/USDT", kept.client_order_id)
    balances = await adapter.fetch_balances()
    assert isinstance(submit, Unknown) and isinstance(cancel, Unknown), (submit, cancel)
    assert isinstance(read, Retryable) and isinstance(balances, Retryable), (read, balances)


async def test_5xx_json_after_processing_is_unknown_and_the_order_exists(
    make_adapter: AdapterFactory, limit: Callable[..., Order], admin: Admin
) -> None:
    adapter = await make_adapter()
    await admin.faults(
        {"kind": "http_error", "status": 502, "body": "json", "after_processing": True, "count": 1}
    )
    order = limit("50000.00")
    outcome = await adapter.submit(order)
    assert isinstance(outcome, Unknown) and outcome.code == -1001, outcome
    evidence = await adapter.fetch_order("BTC/USDT", order.client_order_id)
    assert isinstance(evidence, Accepted) and isinstance(evidence.value, VenueOrder)


async def test_maintenance_is_unknown_for_submit_and_retryable_for_reads(
    make_adapter: AdapterFactory, limit: Callable[..., Order], admin: Admin
) -> None:
    adapter = await make_adapter()
    await admin.faults({"kind": "maintenance"})
    assert isinstance(await adapter.submit(limit("50000.00")), Unknown)
    assert isinstance(await adapter.server_time(), Retryable)


async def test_timestamp_outside_recv_window_is_a_definitive_rejection(
    make_adapter: AdapterFactory, limit: Callable[..., Order], admin: Admin
) -> None:
    """ccxt raises InvalidNonce (a NetworkError) for -1021; the code makes it Rejected, not Unknown."""
    adapter = await make_adapter()
    await admin.faults({"kind": "clock_skew", "ms": 120_000})
    outcome = await adapter.submit(limit("50000.00"))
    assert isinstance(outcome, Rejected) and outcome.code == -1021, outcome
    assert outcome.error_type == "InvalidNonce"
    adapter.set_time_difference(-120_000)  # the gateway clock's correction applies to signed calls
    assert isinstance(await adapter.submit(limit("50000.00")), Accepted)


async def test_429_is_retryable_and_blocks_every_caller_for_retry_after(
    make_adapter: AdapterFactory, limit: Callable[..., Order], admin: Admin
) -> None:
    """A budget configured far above the venue's real limit meets a 429: honoured, not failed over."""
    adapter = await make_adapter(limit=6000, use_exchange_info_limit=False)
    budget = adapter.budget
    await admin.faults({"kind": "weight_limit", "per_minute": 3, "ban_after": 3})
    outcomes: list[object] = []
    for _ in range(6):  # 3 fit the venue's minute; the 4th meets the 429 (and later ones would wait)
        outcomes.append(await adapter.submit(limit("50000.00")))
        if isinstance(outcomes[-1], Retryable):
            break
    throttled = [o for o in outcomes if isinstance(o, Retryable)]
    assert throttled and throttled[0].code == -1003, outcomes
    assert throttled[0].retry_after_s is not None and throttled[0].retry_after_s > 0
    assert budget.stats.throttled_429 == 1 and budget.stats.banned_418 == 0
    assert budget.blocked_for_s() > 0
    placed = [o for o in outcomes if isinstance(o, Accepted)]
    state = await admin.state()
    assert len(state["orders"]) == len(placed)


async def test_an_order_that_could_only_leave_after_its_expiry_is_not_sent(
    make_adapter: AdapterFactory, limit: Callable[..., Order], admin: Admin
) -> None:
    """Blocked by a 429's Retry-After past the order's expiry: refused at once, nothing reaches the venue."""
    adapter = await make_adapter(limit=6000, use_exchange_info_limit=False)
    await admin.faults({"kind": "weight_limit", "per_minute": 1, "ban_after": 3})
    first = await adapter.submit(limit("50000.00"))
    throttled = first if isinstance(first, Retryable) else await adapter.submit(limit("50000.00"))
    assert isinstance(throttled, Retryable) and adapter.budget.blocked_for_s() > 1, throttled
    placed = len((await admin.state())["orders"])
    expiring = replace(limit("50000.00"), expires_at_ms=time.time_ns() // 1_000_000 + 500)
    started = time.monotonic()
    outcome = await adapter.submit(expiring)
    assert time.monotonic() - started < 0.5, "the submit waited for weight it could not use in time"
    assert isinstance(outcome, Rejected) and outcome.error_type == DEADLINE_PASSED, outcome
    assert adapter.budget.stats.gave_up == 1 and adapter.budget.stats.banned_418 == 0
    assert len((await admin.state())["orders"]) == placed
