"""The leader's trading session: everything that runs only while this gateway holds the lease.

:meth:`TradingSession.start` (the lease's ``on_acquired``): reload the exchange key, load the limits
and instruments, read balances into a fresh :class:`Portfolio`, recover the OMS (every non-terminal
order; SUBMITTING -> UNKNOWN resolved from venue evidence), run the startup reconciliation and write the
balances baseline (:mod:`~tradeops.gateway.startup_recon`), lift the control-plane halt, decide the
recovered NEW orders once market data is fresh, then start the sync loops, the snapshot writer, the
gateway-events consumer, the intake and (optionally) the demo strategy. :meth:`TradingSession.stop`
undoes that in reverse, cancelling no order: a new leader owns them. ``FencedOut``/``NotLeader`` from
any loop or intent ends the session at once (``on_fenced``); the lease keeper then steps down.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tradeops.aws.clients import client as aws_client
from tradeops.config import Settings
from tradeops.domain.control import TradingState
from tradeops.domain.events import OrderRejected, ReconciliationRequested, TradeIntent
from tradeops.domain.ids import OrderLeg, client_order_id
from tradeops.domain.orders import Fill, Order, OrderState
from tradeops.domain.portfolio import Portfolio, split_symbol
from tradeops.domain.risk import Denied
from tradeops.gateway.balance_baseline import BalanceBaseline
from tradeops.gateway.gateway_events import GatewayEventConsumer
from tradeops.gateway.intake import (
    EnvelopeMeta,
    IntakeConfig,
    IntakeOutcome,
    IntentIntake,
    rejection_event_id,
)
from tradeops.gateway.lease import NotLeader
from tradeops.gateway.oms import OrderManager, UnknownOrder
from tradeops.gateway.oms_ports import OmsConfig
from tradeops.gateway.oms_sync import CcxtUserStream, OrderPoller, UserStreamSync
from tradeops.gateway.positions import PositionProjector
from tradeops.gateway.protection import ProtectionConfig, ProtectionManager
from tradeops.gateway.risk_gate import BalanceCache, RiskGate
from tradeops.gateway.risk_inputs import RiskInputs
from tradeops.gateway.snapshots import SnapshotWriter
from tradeops.gateway.startup_recon import reconcile_at_startup
from tradeops.gateway.wiring import FillTap, load_limits, make_exchange
from tradeops.observability import get_logger
from tradeops.store.accounts import AccountStore
from tradeops.store.fills import FillStore
from tradeops.store.journal import FencedOut, JournalStore
from tradeops.store.limits import LimitStore
from tradeops.store.orders import OrderStore
from tradeops.store.positions import PositionStore
from tradeops.store.snapshots import SnapshotStore
from tradeops.strategies.base import StrategyRunner
from tradeops.strategies.demo import DemoStrategy
from tradeops.venue.outcomes import Accepted
from tradeops.venue.protective import ProtectiveOrders

if TYPE_CHECKING:
    from tradeops.gateway.app import GatewayApp

__all__ = ["SessionTuning", "TradingSession"]

log = get_logger("tradeops.gateway")
FENCED = (FencedOut, NotLeader)


@dataclass(frozen=True)
class SessionTuning:
    """Knobs of a session (tests shorten them). The intake's long poll is short so a stop drains fast."""

    oms: OmsConfig = field(default_factory=OmsConfig)
    intake: IntakeConfig = field(default_factory=lambda: IntakeConfig(wait_time_s=2))
    events_wait_s: int = 5
    instrument_attempts: int = 5
    fresh_wait_s: float = 10.0
    strategy_interval_s: float = 1.0
    protection: ProtectionConfig = field(default_factory=ProtectionConfig)


class TradingSession:
    """One tenure of leadership; built by :class:`~tradeops.gateway.app.GatewayApp` on acquiring."""

    def __init__(self, app: GatewayApp, token: int, tuning: SessionTuning) -> None:
        self.app = app
        self.token = token
        self.tuning = tuning
        self.recovered = False
        self.portfolio: Portfolio | None = None
        self.oms: OrderManager | None = None
        self.risk: RiskGate | None = None
        self.intake: IntentIntake | None = None
        self.runner: StrategyRunner | None = None
        self.snapshots: SnapshotWriter | None = None
        self.protection: ProtectionManager | None = None
        self.baseline: BalanceBaseline | None = None
        self.positions: PositionProjector | None = None
        self._stream_exchange: Any = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopped = asyncio.Event()
        self._stopping = False

    @property
    def settings(self) -> Settings:
        return self.app.settings

    # ---- start ------------------------------------------------------------------------------------
    async def start(self) -> None:
        app, settings, config = self.app, self.app.settings, self.app.config
        await app.adapter.on_secret_rotated(None)  # a standby may have missed a rotation
        limits = await asyncio.to_thread(load_limits, LimitStore(settings))
        instruments = await self._instruments()
        balances = BalanceCache(app.adapter.fetch_balances)
        wanted = {config.quote_currency, *(split_symbol(s)[0] for s in config.symbols)}
        held = {a: free + locked for a, (free, locked) in (await balances.get()).items() if a in wanted}
        self.portfolio = Portfolio(config.quote_currency, held)
        loop = asyncio.get_running_loop()
        sink = FillTap(app.publisher, loop, self._on_fill)
        stores = (JournalStore(settings), OrderStore(settings), FillStore(settings))
        oms = self.oms = OrderManager(app.adapter, *stores, sink, app.keeper.assert_leader, self.tuning.oms)
        self.risk = RiskGate(
            limits=limits,
            instruments=instruments,
            symbols=config.symbols,
            view=app.market_data.view,
            portfolio=self._portfolio,
            balances=balances,
            working_orders=oms.working_orders,
            trading_state=lambda: app.control.trading_state,
            strategy_enabled=app.control.strategy_enabled,
            strategy_allocation=app.control.strategy_allocation,
        )
        inputs = RiskInputs(self.risk, LimitStore(settings), AccountStore(settings), settings.account)
        await inputs.refresh()  # KYC and the approved limits must be known before the first order
        self._spawn(inputs.run(), "risk-inputs", fatal=False)
        report = await oms.recover()
        log.info(
            "startup reconciliation: OMS recovered",
            extra={
                "fencing_token": self.token,
                "awaiting_submit": [o.client_order_id for o in report.awaiting_submit],
                "resolving": list(report.resolving),
                "working": list(report.working),
            },
        )
        self.baseline = await reconcile_at_startup(
            settings, app.adapter, oms, config.symbols, exchange_offset_ms=app.clock_offset_ms
        )
        self.positions = PositionProjector(
            FillStore(settings), PositionStore(settings), settings.account, config.symbols
        )
        await self.positions.load()  # after the startup reconciliation imported what was missing
        self._spawn(self.positions.run(), "positions", fatal=False)
        await app.control.on_control_plane_restored()
        await app.control.cancel_if_halted()
        app.notifications.emit(  # the reconcile function runs a full pass after every takeover
            ReconciliationRequested(
                correlation_id=f"takeover-{self.token}", reason="gateway takeover", requested_by=config.owner
            )
        )
        if report.awaiting_submit:
            await self._wait_for_fresh_data()
            for order in report.awaiting_submit:
                await self._decide_and_send(order, order.expires_at_ms)
        self.recovered = True
        oms.start()
        self._start_loops(oms, limits_demo=config.demo_strategy)
        self.protection = ProtectionManager(
            oms,
            ProtectiveOrders(app.adapter),
            JournalStore(settings),
            OrderStore(settings),
            app.keeper.assert_leader,
            instruments,
            self.tuning.protection,
            may_place=lambda: app.control.trading_state is not TradingState.HALTED,
        )
        self._spawn(self.protection.run(), "protection")  # recovers first, then supervises
        self.intake = IntentIntake(
            settings, self.on_intent, self.is_known, app.publisher, config=self.tuning.intake
        )
        await self.intake.start()
        if self.runner is not None:
            self.runner.start()
        log.info("trading", extra={"fencing_token": self.token, "demo_strategy": config.demo_strategy})

    async def _instruments(self) -> dict[str, Any]:
        for attempt in range(1, self.tuning.instrument_attempts + 1):
            outcome = await self.app.adapter.load_instruments()
            if isinstance(outcome, Accepted):
                missing = sorted(set(self.app.config.symbols) - set(outcome.value))
                if missing:
                    log.error("symbols unknown to the venue are not tradable", extra={"symbols": missing})
                return dict(outcome.value)
            log.warning("instruments unavailable", extra={"attempt": attempt, "outcome": repr(outcome)})
            await asyncio.sleep(min(2.0**attempt, 10.0))
        raise RuntimeError("the venue's instruments could not be loaded")

    async def _wait_for_fresh_data(self) -> None:
        md = self.app.market_data
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.tuning.fresh_wait_s):
                while not all(md.view(s).tradeable_for_opening for s in self.app.config.symbols):
                    await asyncio.sleep(0.1)

    def _start_loops(self, oms: OrderManager, *, limits_demo: bool) -> None:
        app, settings = self.app, self.app.settings
        credentials = app.credentials.current
        self._stream_exchange = make_exchange(app.config, credentials.api_key, credentials.secret, pro=True)
        self.align_clock(app.clock_offset_ms())
        stream_sync = UserStreamSync(oms, CcxtUserStream(self._stream_exchange))
        self._spawn(stream_sync.run(), "user-stream")
        self._spawn(OrderPoller(oms, stream_sync).run(), "order-poller")
        self._spawn(self._sample_volatility(), "volatility")
        if self.baseline is not None:
            self._spawn(self.baseline.run(), "balances-baseline", fatal=False)
        consumer = GatewayEventConsumer(
            settings,
            aws_client("sqs", settings),
            on_control=app.control.notify,
            on_secret_rotated=lambda e: app.adapter.on_secret_rotated(e.version_id),
            on_fill=oms.apply_fill,
            on_cancel=lambda e: oms.cancel(e.client_order_id, f"operator cancel by {e.requested_by}"),
            wait_time_s=self.tuning.events_wait_s,
        )
        self._spawn(consumer.run(), "gateway-events")
        self.snapshots = SnapshotWriter(
            self._portfolio, app.market_data.reference_mid, SnapshotStore(settings), account=settings.account
        )
        self.snapshots.start()
        if limits_demo and self.risk is not None:
            strategy = DemoStrategy(limits=self.risk.limits)
            self.runner = StrategyRunner(
                strategy,
                app.market_data.view,
                self._submit_local,
                interval_s=self.tuning.strategy_interval_s,
                enabled=app.control.strategy_enabled,
            )

    def align_clock(self, offset_ms: int) -> None:
        """Apply the exchange clock offset to the signed user-stream socket."""
        exchange = self._stream_exchange
        if exchange is not None:
            exchange.options["adjustForTimeDifference"] = False
            exchange.options["timeDifference"] = -offset_ms

    # ---- intents ----------------------------------------------------------------------------------
    async def on_intent(self, intent: TradeIntent, _meta: EnvelopeMeta) -> IntakeOutcome:
        """The intake's contract: journal (write-ahead) first, then risk, then send or deny."""
        oms = self._require_oms()
        try:
            order, created = await oms.admit(intent)
            if order.state is OrderState.NEW:
                expires = None if intent.expires_at is None else int(intent.expires_at.timestamp() * 1000)
                await self._decide_and_send(order, expires)
        except FENCED:
            self.app.on_fenced("fenced while handling an intent")
            raise
        return IntakeOutcome.accepted() if created else IntakeOutcome.duplicate()

    async def is_known(self, intent_id: str) -> bool:
        try:
            await self._require_oms().get(client_order_id(intent_id, OrderLeg.ENTRY))
        except UnknownOrder:
            return False
        return True

    async def _submit_local(self, intent: TradeIntent) -> IntakeOutcome:
        if self.intake is None:
            raise RuntimeError("the intake is not running")
        return await self.intake.submit_local(intent)

    async def _decide_and_send(self, order: Order, expires_at_ms: int | None) -> Order:
        oms, risk = self._require_oms(), self.risk
        if risk is None:
            raise RuntimeError("risk gate not built")
        decision = await risk.decide(order, expires_at_ms=expires_at_ms)
        cid = order.client_order_id
        if isinstance(decision, Denied):
            denied = await oms.deny(cid, f"{decision.reason.value}: {decision.message}")
            await self._publish_denial(order, decision)
            return denied
        try:
            return await oms.submit(order)
        finally:
            risk.settled(cid)

    async def _publish_denial(self, order: Order, denied: Denied) -> None:
        event = OrderRejected(
            event_id=rejection_event_id(order.intent_id),
            correlation_id=order.intent_id,
            intent_id=order.intent_id,
            client_order_id=order.client_order_id,
            reason=denied.reason.value,
            message=denied.message,
            limit=denied.limit if isinstance(denied.limit, Decimal) else None,
            value=denied.value if isinstance(denied.value, Decimal) else None,
        )
        log.warning(
            "order denied by pre-trade risk",
            extra={"cid": order.client_order_id, "reason": denied.reason.value, "detail": denied.message},
        )
        try:
            await asyncio.to_thread(self.app.publisher.publish, event)
        except Exception as exc:  # the journal holds the denial; the event is a notification
            log.error(
                "Order Rejected not published", extra={"cid": order.client_order_id, "error": repr(exc)}
            )

    # ---- fills ------------------------------------------------------------------------------------
    def _on_fill(self, fill: Fill) -> None:
        if self.risk is not None:  # the venue's balances moved: pre-trade risk re-reads them
            self.risk.on_fill(fill)
        if self.positions is not None:
            self.positions.on_fill(fill)
        if self.baseline is not None:
            self.baseline.fills_changed()
        portfolio = self.portfolio
        if portfolio is not None:
            try:
                portfolio.apply_fill(fill)
            except ValueError as exc:  # includes LateFillError: the snapshot is then off until restart
                log.error("fill not applied to the portfolio", extra={"error": str(exc)})
        if self.protection is not None and not self._stopping:
            self._spawn(self.protection.on_fill(fill), "protection-fill", fatal=False)
        if self.runner is not None and not self._stopping:
            self._spawn(self._route_fill(fill), "strategy-fill", fatal=False)

    async def _route_fill(self, fill: Fill) -> None:
        runner, oms = self.runner, self.oms
        if runner is None or oms is None:
            return
        order = await oms.get(fill.client_order_id)
        if order.strategy == runner.strategy.name:
            await runner.on_fill(fill)

    async def _sample_volatility(self) -> None:
        while True:
            if self.risk is not None:
                self.risk.sample_volatility()
            await asyncio.sleep(1.0)

    # ---- stop -------------------------------------------------------------------------------------
    async def stop(self, reason: str) -> None:
        """Stop trading (idempotent; concurrent callers wait for the first): no order is cancelled."""
        if self._stopping:
            await self._stopped.wait()
            return
        self._stopping = True
        self.recovered = False  # readiness: this gateway no longer trades
        log.warning("trading session ending", extra={"reason": reason, "fencing_token": self.token})
        try:
            if self.runner is not None:
                await self.runner.stop()
            if self.intake is not None:
                try:
                    async with asyncio.timeout(self.app.config.drain_timeout_s):  # see tradeops.aio
                        await self.intake.stop()
                except TimeoutError:
                    log.error("intents still in flight after the drain timeout were abandoned")
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.snapshots is not None:
                await self.snapshots.stop()
            if self.oms is not None:
                await self.oms.close()
        finally:
            self._stopped.set()

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str, *, fatal: bool = True) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._task_done(t, fatal))

    def _task_done(self, task: asyncio.Task[Any], fatal: bool) -> None:
        self._tasks.discard(task)
        if task.cancelled() or self._stopping:
            return
        error = task.exception()
        if isinstance(error, FENCED):
            self.app.on_fenced(f"{task.get_name()}: {error}")
        elif error is not None:
            log.error("session task failed", extra={"task": task.get_name()}, exc_info=error)
            if fatal:  # trading without this loop is unsafe: exit, a standby or a restart takes over
                self.app.fail(f"{task.get_name()} failed: {error!r}")

    def _require_oms(self) -> OrderManager:
        if self.oms is None:
            raise RuntimeError("the OMS is not built yet")
        return self.oms

    def _portfolio(self) -> Portfolio:
        if self.portfolio is None:
            raise RuntimeError("no portfolio yet")
        return self.portfolio
