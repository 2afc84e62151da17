"""Kill-switch drill (issue 5 item 3): 200 resting orders, one command, all CANCELED on the venue in 2 s.

The command is :meth:`tradeops.kill_switch.KillSwitch.engage` (what ``tradeops kill-switch`` and the
operator API call) against moto + the simulator, with an in-process gateway leading. The time runs from
the call to the moment ``/_sim/state`` shows every order CANCELED. Then: the halt is journaled and
published, a new intent is denied and never reaches the venue, a second engage is no second halt, and
only an approved four-eyes RESUME proposal lets trading resume. The flatten variant closes positions.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tradeops.aws.events import EventPublisher
from tradeops.change_management import EVENT_SOURCE, ChangeService, Operator
from tradeops.config import Settings
from tradeops.domain.control import TradingState
from tradeops.domain.ids import client_order_id
from tradeops.domain.orders import OrderState
from tradeops.domain.values import Side
from tradeops.gateway.app import GatewayApp
from tradeops.gateway.halt import FLATTEN_STRATEGY
from tradeops.kill_switch import KillSwitch
from tradeops.store.control import ControlStore
from tradeops.store.journal import JournalStore
from tradeops.store.proposals import FourEyesViolation, ProposalStatus
from tradeops.venue.outcomes import Accepted

from ._halt import HALT_LIMITS, rest_orders, session_of, time_until_all_cancelled, trading_gateway
from ._rig import intent, open_rig, until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
ORDERS = 200
BOUND_S = 2.0
RISK_A = Operator("risk-a", frozenset({"risk"}))
RISK_B = Operator("risk-b", frozenset({"risk"}))


async def _halted_after(app: GatewayApp, started: float) -> float:
    """Seconds from ``started`` until the gateway's effective state is HALTED (polled every 5 ms)."""
    while app.control.trading_state is not TradingState.HALTED:
        await asyncio.sleep(0.005)
    return time.monotonic() - started


async def _done(recorded: list[float]) -> bool:
    return bool(recorded)


def _kill_switch(settings: Settings) -> KillSwitch:
    return KillSwitch(settings, EventPublisher(settings, EVENT_SOURCE))


async def test_kill_switch_cancels_200_open_orders_within_2_s_and_holds_until_a_four_eyes_resume(
    aws_settings: Settings,
) -> None:
    tap = ("Kill Switch Engaged", "Control Changed", "Order Rejected")
    async with open_rig(aws_settings, limits=HALT_LIMITS, tap_types=tap) as rig, trading_gateway(rig) as app:
        ids = await rest_orders(rig, app, ORDERS, prefix="ks")
        switch = _kill_switch(rig.settings)

        recorded: list[float] = []
        app.control.subscribe(lambda t: recorded.append(time.monotonic()) if t.cancelled_orders else None)

        started = time.monotonic()
        watch = asyncio.create_task(_halted_after(app, started))
        engagement = await asyncio.to_thread(switch.engage, "drill: 200 open orders", "drill-operator")
        command_s = time.monotonic() - started
        elapsed = await time_until_all_cancelled(rig, ids, started)
        seen_s = await watch
        await until(lambda: _done(recorded), 30, "the gateway recorded every cancel")
        print(
            f"\nkill switch, {ORDERS} open orders: command returned {command_s:.3f} s, gateway HALTED "
            f"{seen_s:.3f} s, all CANCELED on the venue {elapsed:.3f} s, all recorded (journal + "
            f"projection) {recorded[0] - started:.3f} s after the command"
        )
        assert elapsed <= BOUND_S, f"{elapsed:.3f} s > {BOUND_S} s"
        assert engagement.changed and engagement.state is TradingState.HALTED

        journal = await asyncio.to_thread(JournalStore(rig.settings).read, "control")
        engaged = [e for e in journal if e.kind == "kill_switch_engaged"]
        assert [(e.actor, e.payload["request_id"]) for e in engaged] == [
            ("drill-operator", engagement.request_id)
        ]

        async def published() -> bool:
            found.extend(await asyncio.to_thread(rig.tapped))
            return any(m["detail-type"] == "Kill Switch Engaged" for m in found)

        found: list[dict[str, object]] = []
        await until(published, 10, "Kill Switch Engaged on the bus")
        kinds = {m["detail-type"]: m["detail"] for m in found}
        assert kinds["Kill Switch Engaged"]["actor"] == "drill-operator"  # type: ignore[index]
        assert kinds["Kill Switch Engaged"]["event_id"] in engagement.event_ids  # type: ignore[index]

        # No new order is accepted while halted: denied locally, never sent.
        intake = session_of(app).intake
        assert intake is not None
        late = intent("ks-late", side=Side.BUY, quantity="0.1")
        await intake.submit_local(late)
        oms = session_of(app).oms
        assert oms is not None
        assert (await oms.get(client_order_id(late.intent_id))).state is OrderState.DENIED
        assert client_order_id(late.intent_id) not in {o["clientOrderId"] for o in await rig.venue_orders()}

        # Engaging again is no second halt.
        again = await asyncio.to_thread(switch.engage, "drill: again", "drill-operator")
        assert not again.changed and again.control.version == engagement.control.version

        # Resume: proposed by one risk officer, refused to the same, applied by a second.
        proposal = await asyncio.to_thread(switch.request_resume, "drill over", RISK_A)
        assert proposal.status is ProposalStatus.PENDING
        assert app.control.trading_state is TradingState.HALTED
        changes = ChangeService(rig.settings, EventPublisher(rig.settings, EVENT_SOURCE))
        with pytest.raises(FourEyesViolation):
            await asyncio.to_thread(changes.approve, proposal.proposal_id, RISK_A)
        await asyncio.to_thread(changes.approve, proposal.proposal_id, RISK_B)

        async def resumed() -> bool:
            return app.control.trading_state is TradingState.ACTIVE

        await until(resumed, 10, "the gateway trades again after the approved resume")


async def test_kill_switch_with_flatten_cancels_then_closes_the_positions(aws_settings: Settings) -> None:
    async with open_rig(aws_settings, limits=HALT_LIMITS) as rig, trading_gateway(rig) as app:
        session = session_of(app)
        assert session.intake is not None and session.portfolio is not None
        buys = [
            intent(f"fl-buy-{n}", symbol=s, quantity=q)
            for n, (s, q) in enumerate([("SOL/USDT", "0.5"), ("SOL/USDT", "0.5"), ("BTC/USDT", "0.002")])
        ]
        for one in buys:
            await session.intake.submit_local(one)
        portfolio = session.portfolio

        async def bought() -> bool:
            return all(portfolio.position(s).quantity > 0 for s in ("SOL/USDT", "BTC/USDT"))

        await until(bought, 20, "positions opened")
        ids = await rest_orders(rig, app, 20, prefix="fl-rest")

        engagement = await asyncio.to_thread(
            _kill_switch(rig.settings).engage, "drill: flatten", "drill-op", flatten=True
        )
        assert engagement.flatten
        await time_until_all_cancelled(rig, ids, time.monotonic())
        loaded = await app.adapter.load_instruments()
        assert isinstance(loaded, Accepted)

        async def flat() -> bool:
            return all(
                abs(portfolio.position(s).quantity) < loaded.value[s].min_qty
                for s in ("SOL/USDT", "BTC/USDT")
            )

        await until(flat, 30, "positions closed by the flatten")
        assert app.control.flattened == {engagement.request_id: 2}  # one market sell per symbol
        flatten_orders = [
            o
            for o in await rig.venue_orders()
            if o["side"] == "SELL" and o["type"] == "MARKET" and o["status"] == "FILLED"
        ]
        assert len(flatten_orders) >= 2
        assert app.control.trading_state is TradingState.HALTED  # the flatten's exemption stayed with it
        oms = session.oms
        assert oms is not None
        strategies = {o.strategy for o in oms.records.recent_terminal() if o.side is Side.SELL}
        assert strategies == {FLATTEN_STRATEGY}


async def test_dead_mans_switch_halts_locally_and_cancels_every_open_order(aws_settings: Settings) -> None:
    """Control plane lost (what the lease keeper and an unreadable table report): HALTED at once and every
    open order CANCELED on the venue, while the control table itself was never written."""
    async with open_rig(aws_settings, limits=HALT_LIMITS) as rig, trading_gateway(rig) as app:
        ids = await rest_orders(rig, app, 20, prefix="dm")
        started = time.monotonic()
        await app.control.on_control_plane_lost("drill: control plane unreachable")
        assert app.control.trading_state is TradingState.HALTED
        elapsed = await time_until_all_cancelled(rig, ids, started, 10)
        print(f"\ndead man's switch: 20 open orders CANCELED on the venue in {elapsed:.3f} s")
        assert await asyncio.to_thread(ControlStore(rig.settings).trading) is None
        await app.control.on_control_plane_restored()
        assert app.control.trading_state is TradingState.ACTIVE
