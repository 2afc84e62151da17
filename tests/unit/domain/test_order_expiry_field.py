"""The order's persisted deadline (``expires_at_ms``) and the Fill module split."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradeops.domain import fills, orders
from tradeops.domain.events import OrderUpdated
from tradeops.domain.orders import Order, OrderState
from tradeops.domain.values import OrderType, Side


def limit_order(**extra: object) -> Order:
    return Order.new(
        client_order_id="cid-1",
        intent_id="intent-1",
        strategy="demo",
        symbol="BTC/USDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("0.5"),
        limit_price=Decimal("100"),
        created_at=1_000,
        **extra,  # type: ignore[arg-type]
    )


def test_a_new_order_carries_its_deadline_through_changes() -> None:
    order = limit_order(expires_at_ms=61_000)
    moved = order.transition(OrderState.SUBMITTING, 2_000).transition(OrderState.OPEN, 3_000)
    assert order.expires_at_ms == moved.expires_at_ms == 61_000
    assert limit_order().expires_at_ms is None


def test_from_dict_reads_the_deadline_from_a_stored_item_and_defaults_to_none() -> None:
    order = limit_order(expires_at_ms=61_000)
    stored = {**order.to_dict(), "expires_at_ms": Decimal(61_000)}  # DynamoDB numbers are Decimal
    assert Order.from_dict(stored) == order
    assert Order.from_dict(order.to_dict()).expires_at_ms is None


def test_the_order_updated_snapshot_is_unchanged_by_a_deadline() -> None:
    event = OrderUpdated.from_order(limit_order(expires_at_ms=61_000), correlation_id="intent-1")
    assert "expires_at_ms" not in event.model_dump()
    assert event.to_order() == limit_order()


@pytest.mark.parametrize("bad", [-1, True])
def test_a_deadline_must_be_epoch_ms(bad: object) -> None:
    with pytest.raises(ValueError, match="expires_at_ms"):
        limit_order(expires_at_ms=bad)


def test_fill_lives_in_its_own_module_and_orders_still_offers_it() -> None:
    assert orders.Fill is fills.Fill
