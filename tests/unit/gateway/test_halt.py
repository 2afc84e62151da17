"""The halt's two decisions: protective OCO legs survive a cancel-all, and a new leader that finds
trading HALTED cancels the orders it inherited."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from tradeops.domain.control import TradingState
from tradeops.domain.orders import Order, OrderState
from tradeops.domain.protection import leg_ids, list_client_order_id
from tradeops.domain.values import OrderType, Side
from tradeops.gateway import halt
from tradeops.gateway.control import ControlApplier
from tradeops.store.control import StrategyControl, TradingControl
from tradeops.venue.outcomes import Rejected


def working(cid: str) -> Order:
    order = Order.new(
        client_order_id=cid,
        intent_id="i-1",
        strategy="demo",
        symbol="BTC/USDT",
        side=Side.SELL,
        type=OrderType.LIMIT,
        quantity=Decimal("0.1"),
        limit_price=Decimal(70000),
        created_at=1,
    )
    return order.transition(OrderState.SUBMITTING, 2).transition(OrderState.OPEN, 3)


@dataclass
class FakeOms:
    orders: list[Order]
    cancelled: list[str] = field(default_factory=list)

    def working_orders(self) -> list[Order]:
        return list(self.orders)

    def is_busy(self, cid: str) -> bool:
        return False

    async def cancel(self, cid: str, reason: str) -> Order:
        self.cancelled.append(cid)
        return next(o for o in self.orders if o.client_order_id == cid)


@dataclass
class RefusingVenue:
    """Every direct cancel is refused, so each order goes through the OMS (which records it)."""

    asked: list[str] = field(default_factory=list)

    async def cancel(self, symbol: str, cid: str) -> Rejected:
        self.asked.append(cid)
        return Rejected(-2011, "Unknown order sent.", "OrderNotFound")


async def test_a_halt_keeps_the_protective_legs_and_cancels_the_rest() -> None:
    stop, take = leg_ids(list_client_order_id("i-1", 0))
    oms = FakeOms([working("entry-1"), working(stop), working(take)])
    venue = RefusingVenue()
    assert await halt.cancel_all(oms, venue, "halt") == 1  # type: ignore[arg-type]
    assert venue.asked == oms.cancelled == ["entry-1"]
    assert await halt.cancel_all(oms, venue, "flatten", keep_protection=False) == 3  # type: ignore[arg-type]
    assert set(oms.cancelled) == {"entry-1", stop, take}


class HaltedTable:
    def trading(self) -> TradingControl | None:
        return TradingControl(TradingState.HALTED, "kill switch", "risk-a", 1, 1)

    def strategies(self) -> list[StrategyControl]:
        return []


async def test_a_new_leader_that_finds_trading_halted_cancels_what_it_inherited() -> None:
    calls: list[str] = []

    async def cancel_all() -> int:
        calls.append("cancel")
        return 0 if len(calls) == 1 else 5  # as a standby nothing is ours; as the leader, five orders

    applier = ControlApplier(HaltedTable(), cancel_all, refresh_interval_s=10.0, lost_after_s=30.0)
    await applier.refresh()  # the standby applies HALTED: its cancel-all finds no session
    await applier.refresh()  # no transition: nothing more
    assert calls == ["cancel"]
    await applier.cancel_if_halted()  # it became leader
    assert calls == ["cancel", "cancel"] and applier.last_cancelled == 5
