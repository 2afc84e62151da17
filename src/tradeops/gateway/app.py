"""The gateway process (issue 4 item 8): health, market data, clock, control and the fenced lease.

:meth:`GatewayApp.run`: start ``/healthz`` + ``/readyz`` first (the process is alive while it waits for
anything else), build the venue adapter (the exchange key from Secrets Manager), start market data
(retried until the venue answers), the exchange clock and the control applier, then run the lease
keeper. Winning the lease starts a :class:`~tradeops.gateway.session.TradingSession`; losing it (or a
fenced write) ends the session, cancelling nothing, and the process stays up as a standby.
:meth:`GatewayApp.request_stop` (SIGTERM): end the session (intake stopped, in-flight submits finished
within ``drain_timeout_s``), release the lease so a standby takes over at once, close everything.

Readiness (``/readyz``): ``leader``, ``venue`` (a successful server time within ``venue_fresh_s``),
``market_data`` (every symbol fresh and quoted), ``control`` (the table was read) and ``recovery``
(the session's startup reconciliation is done).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from tradeops.aio import wait_event
from tradeops.aws.events import EventPublisher
from tradeops.config import Settings
from tradeops.gateway import halt
from tradeops.gateway.clock import ExchangeClock
from tradeops.gateway.control import ControlApplier
from tradeops.gateway.health import CheckResult, HealthServer
from tradeops.gateway.lease import LeaseKeeper, LeaseTiming
from tradeops.gateway.market_data import MarketData, MarketDataConfig
from tradeops.gateway.quality import FeedQuality, SymbolThresholds
from tradeops.gateway.session import SessionTuning, TradingSession
from tradeops.gateway.status import StatusWriter, feed_statuses
from tradeops.gateway.wiring import BackgroundPublisher, GatewayConfig, market_data_exchanges, rest_factory
from tradeops.observability import get_logger
from tradeops.store.control import ControlStore
from tradeops.store.leases import LeaseStore
from tradeops.store.status import StatusStore
from tradeops.venue.adapter import VenueAdapter
from tradeops.venue.credentials import CredentialsProvider
from tradeops.venue.outcomes import Accepted
from tradeops.venue.ratelimit import WeightBudget

__all__ = ["EXIT_FAILED", "EXIT_OK", "GatewayApp"]

log = get_logger("tradeops.gateway")
EXIT_OK = 0
EXIT_FAILED = 1
EVENT_SOURCE = "tradeops.gateway"
DEFAULT_WEIGHT_LIMIT = 6000
T = TypeVar("T")


class GatewayApp:
    """One gateway process; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        config: GatewayConfig,
        *,
        lease_timing: LeaseTiming | None = None,
        tuning: SessionTuning | None = None,
        clock_refresh_s: float = 10.0,
        venue_fresh_s: float = 30.0,
        stale_ms: int = 1_500,
    ) -> None:
        self.settings = settings
        self.config = config
        self.tuning = tuning or SessionTuning()
        self._lease_timing = lease_timing or LeaseTiming()
        self._clock_refresh_s = clock_refresh_s
        self._venue_fresh_s = venue_fresh_s
        self._stale_ms = stale_ms
        self.health = HealthServer(host=config.health_host, port=config.health_port)
        self.publisher = EventPublisher(settings, EVENT_SOURCE)
        self.notifications = BackgroundPublisher(self.publisher)
        self.credentials = CredentialsProvider(settings)
        self.session: TradingSession | None = None
        self._stop = asyncio.Event()
        self._exit_code = EXIT_OK
        self._venue_ok_at: float | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._adapter: VenueAdapter | None = None
        self._market_data: MarketData | None = None
        self._control: ControlApplier | None = None
        self._keeper: LeaseKeeper | None = None
        self._clock: ExchangeClock | None = None
        self.status_writer = StatusWriter(
            StatusStore(settings),
            config.owner,
            readiness=self.health.readiness,
            feeds=lambda: feed_statuses(self._market_data, config.symbols),
            clock_offset_ms=self.clock_offset_ms,
        )

    # ---- parts the session uses (built by run) ----------------------------------------------------
    @property
    def adapter(self) -> VenueAdapter:
        return _built(self._adapter, "venue adapter")

    @property
    def market_data(self) -> MarketData:
        return _built(self._market_data, "market data")

    @property
    def control(self) -> ControlApplier:
        return _built(self._control, "control applier")

    @property
    def keeper(self) -> LeaseKeeper:
        return _built(self._keeper, "lease keeper")

    def clock_offset_ms(self) -> int:
        return 0 if self._clock is None else self._clock.offset_ms

    # ---- lifecycle --------------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Graceful stop (SIGTERM/SIGINT): :meth:`run` shuts down and returns."""
        self._stop.set()

    def fail(self, reason: str) -> None:
        """An unrecoverable fault: stop with a non-zero exit code (a standby or a restart takes over)."""
        log.error("gateway failing", extra={"reason": reason})
        self._exit_code = EXIT_FAILED
        self._stop.set()

    def on_fenced(self, reason: str) -> None:
        """A newer leader exists: stop trading now; the keeper steps down on its next renewal."""
        session = self.session
        if session is not None:
            self._spawn(session.stop(f"fenced: {reason}"), "session-stop")

    async def run(self) -> int:
        """Run until :meth:`request_stop` (or a failure); returns the process exit code."""
        await self.health.start()
        self._register_checks()
        self.status_writer.start()
        try:
            await self._start_components()
            if not self._stop.is_set():
                keeper = self._keeper = LeaseKeeper(
                    LeaseStore(self.settings),
                    self.config.lease_name,
                    self.config.owner,
                    timing=self._lease_timing,
                    on_acquired=self._on_acquired,
                    on_lost=self._on_lost,
                )
                self._spawn(keeper.run(), "lease-keeper")
                await self._stop.wait()
        except Exception:
            log.exception("gateway failed")
            self._exit_code = EXIT_FAILED
        finally:
            await self._shutdown()
        return self._exit_code

    async def _start_components(self) -> None:
        settings, config = self.settings, self.config
        budget = WeightBudget(DEFAULT_WEIGHT_LIMIT)
        self._adapter = await asyncio.to_thread(VenueAdapter, rest_factory(config), budget, self.credentials)
        self._clock = ExchangeClock(
            self._server_time, symbols=config.symbols, on_event=self.notifications.emit
        )
        primary, backup, rest = market_data_exchanges(config)
        thresholds = {s: SymbolThresholds(stale_ms=self._stale_ms) for s in config.symbols}
        self._market_data = MarketData(
            primary,
            backup,
            rest,
            MarketDataConfig(thresholds),
            on_event=self.notifications.emit,
            clock=self._clock,
            budget=WeightBudget(DEFAULT_WEIGHT_LIMIT),  # public requests: see MarketData
        )
        self._control = ControlApplier(
            ControlStore(settings), self._cancel_all_open_orders, flatten_positions=self._flatten_positions
        )
        await self._control.start()
        self._spawn(self._clock_loop(), "exchange-clock")
        await self._start_market_data()

    async def _start_market_data(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                await self.market_data.start()
                return
            except Exception as exc:  # the venue is unreachable: stay up (healthz) and retry
                log.warning("market data not started; retrying", extra={"error": repr(exc)})
            await wait_event(self._stop, delay)
            delay = min(delay * 2, 10.0)

    async def _server_time(self) -> int:
        outcome = await self.adapter.server_time()
        if not isinstance(outcome, Accepted):
            raise ConnectionError(f"server time unavailable: {outcome!r}")
        self._venue_ok_at = time.monotonic()
        return outcome.value

    async def _clock_loop(self) -> None:
        clock = _built(self._clock, "exchange clock")
        while True:
            if await clock.measure() is not None:
                offset = self.clock_offset_ms()
                self.adapter.set_time_difference(-offset)
                if self.session is not None:
                    self.session.align_clock(offset)
            await asyncio.sleep(self._clock_refresh_s)

    async def _on_acquired(self, token: int) -> None:
        session = self.session = TradingSession(self, token, self.tuning)
        try:
            await session.start()
        except BaseException:
            await asyncio.shield(session.stop("session start failed or cancelled"))
            raise

    async def _on_lost(self, reason: str) -> None:
        session, self.session = self.session, None
        if session is not None:
            await session.stop(f"lease lost: {reason}")
        await self.control.on_control_plane_lost(f"lease lost: {reason}")

    async def _cancel_all_open_orders(self) -> int:
        """HALTED: cancel every working order (venue first: :func:`halt.cancel_all`); only the leader
        can (a standby's are the leader's)."""
        session = self.session
        if session is None or session.oms is None or self._keeper is None or not self._keeper.is_leader:
            return 0
        return await halt.cancel_all(session.oms, self.adapter, "trading halted")

    async def _flatten_positions(self, flatten_id: str) -> int:
        """Kill switch with flatten: close the leader's positions (:func:`halt.flatten`)."""
        session = self.session
        if session is None or self._keeper is None or not self._keeper.is_leader:
            raise RuntimeError("not the leader: nothing to flatten here")
        return await halt.flatten(session, self.adapter, flatten_id)

    async def _shutdown(self) -> None:
        log.info("gateway stopping")
        session = self.session
        if session is not None:
            await session.stop("shutdown")
        if self._keeper is not None:
            released = await self._keeper.release()
            log.info("lease released" if released else "lease not held at shutdown")
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._control is not None:
            await self._control.stop()
        if self._market_data is not None:
            await self._market_data.stop()
        if self._adapter is not None:
            await self._adapter.close()
        await self.notifications.drain(5.0)
        await self.status_writer.stop()
        await self.health.stop()
        log.info("gateway stopped", extra={"exit_code": self._exit_code})

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(coro, name=name))

    # ---- readiness --------------------------------------------------------------------------------
    def _register_checks(self) -> None:
        self.health.register("leader", self._check_leader)
        self.health.register("venue", self._check_venue)
        self.health.register("market_data", self._check_market_data)
        self.health.register("control", self._check_control)
        self.health.register("recovery", self._check_recovery)

    def _check_leader(self) -> CheckResult:
        keeper = self._keeper
        token = keeper.fencing_token if keeper is not None else None
        return CheckResult(
            token is not None, "standby" if token is None else f"leader, fencing token {token}"
        )

    def _check_venue(self) -> CheckResult:
        ok_at = self._venue_ok_at
        if ok_at is None:
            return CheckResult(False, "no successful server time yet")
        age = time.monotonic() - ok_at
        return CheckResult(age <= self._venue_fresh_s, f"last server time {age:.1f} s ago")

    def _check_market_data(self) -> CheckResult:
        md = self._market_data
        if md is None:
            return CheckResult(False, "not started")
        views = [md.view(s) for s in self.config.symbols]
        bad = [
            f"{v.symbol}={v.quality.value}" for v in views if v.quality is FeedQuality.STALE or v.mid is None
        ]
        return CheckResult(not bad, ", ".join(bad) or "every symbol fresh")

    def _check_control(self) -> CheckResult:
        control = self._control
        if control is None or not control.loaded:
            return CheckResult(False, "control table not read yet")
        return CheckResult(True, f"trading state {control.trading_state.value}")

    def _check_recovery(self) -> CheckResult:
        session = self.session
        done = session is not None and session.recovered
        return CheckResult(
            done, "startup reconciliation done" if done else "not recovered (standby or starting)"
        )


def _built(part: T | None, name: str) -> T:
    if part is None:
        raise RuntimeError(f"the gateway's {name} is not built yet")
    return part
