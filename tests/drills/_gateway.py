"""Helpers of the gateway fault drills: a running in-process gateway, an intent mix, the venue's refusals.

:func:`trading_gateway` starts ``rig.gateway()`` and waits until its session trades (recovered, intake
running, every symbol quoted). :func:`mixed_intent` builds intent ``n`` of a deterministic mix of market
and resting limit intents across symbols that stays inside the default risk limits (buys and sells
alternate, the resting ones expire after a few seconds); :func:`feed` hands them to the intake.
:class:`WeightTally` counts the simulator's own 429/418 verdicts (the limiter keeps no history, so its
``charge`` is observed in process).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tradeops.domain.events import TradeIntent
from tradeops.domain.values import Side
from tradeops.gateway.app import GatewayApp
from tradeops.gateway.intake import IntakeOutcome
from tradeops.gateway.lease import LeaseTiming
from tradeops.gateway.session import TradingSession
from tradeops.gateway.wiring import GatewayConfig
from tradeops.sim.server.weights import Verdict, WeightLimiter

from ._rig import TUNING, DrillRig, intent, until

QUANTITIES = {"BTC/USDT": "0.001", "ETH/USDT": "0.02", "SOL/USDT": "0.5"}
REST_OFFSET = Decimal("0.004")
"""Resting limits sit 0.4% away from the mid: inside the 1% price collar, rarely reached while alive."""


@contextlib.asynccontextmanager
async def trading_gateway(
    rig: DrillRig, owner: str = "gw-a", timeout_s: float = 45, lease_timing: LeaseTiming | None = None
) -> AsyncIterator[GatewayApp]:
    """An in-process gateway that leads and trades; stopped (gracefully) on the way out.

    It keeps its lease with the production timing (:class:`LeaseTiming` defaults, TTL 10 s) rather than
    the rig's 3 s: these drills load the event loop and the thread pool on purpose, and lose nothing to
    a renewal that waits behind their store calls (failover is drill 7's subject, not theirs).
    """
    config = GatewayConfig(health_port=0, sim_url=rig.sim.url, sim_md_url=rig.sim.md_url, owner=owner)
    lease = lease_timing or LeaseTiming()
    app = GatewayApp(rig.settings, config, lease_timing=lease, tuning=TUNING, stale_ms=3_000)
    run = asyncio.create_task(app.run(), name=f"gateway-{owner}")

    async def trading() -> bool:
        assert not run.done(), f"gateway exited early with {run.result()}"
        session = app.session
        if session is None or not session.recovered or session.intake is None:
            return False
        return all(app.market_data.view(s).mid is not None for s in app.config.symbols)

    try:
        await until(trading, timeout_s, "the gateway trades")
        yield app
    finally:
        app.request_stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(run, 30)


def session_of(app: GatewayApp) -> TradingSession:
    session = app.session
    if session is None or session.intake is None or session.oms is None:
        raise AssertionError(f"not trading: {not_trading_because(app)}")
    return session


def not_trading_because(app: GatewayApp) -> str:
    """Why ``app`` has no whole session (a drill's failure message; the log says the rest)."""
    session = "none" if app.session is None else "partial"
    return f"session {session}, leader {app.keeper.is_leader}, fencing token {app.keeper.fencing_token}"


Made = tuple[TradeIntent, IntakeOutcome]


FEEDERS = 6
"""Intents handed over at once: the intake admits 16, less the 10 slots its SQS long poll holds, so
more would wait inside the intake (and resting intents could expire there before being seen)."""


async def feed(
    app: GatewayApp, count: int, make: Callable[[int], TradeIntent], *, feeders: int = FEEDERS
) -> list[Made]:
    """Build intent ``n`` with ``make(n)`` just before handing it to the intake (so expiries start at
    intake), ``feeders`` at a time; returns each intent with its outcome, in order."""
    intake = session_of(app).intake
    assert intake is not None
    made: list[Made | None] = [None] * count
    numbers = iter(range(count))

    async def feeder() -> None:
        for n in numbers:
            one = make(n)
            made[n] = (one, await intake.submit_local(one))

    await asyncio.gather(*(feeder() for _ in range(feeders)))
    return [m for m in made if m is not None]


def rest_price(mid: Decimal, side: Side) -> Decimal:
    away = Decimal(1) - REST_OFFSET if side is Side.BUY else Decimal(1) + REST_OFFSET
    return (mid * away).quantize(Decimal("0.01"))


def mixed_intent(
    n: int, mids: dict[str, Decimal], *, prefix: str, resting_every: int = 10, rest_s: float = 10.0
) -> TradeIntent:
    """Intent ``n`` of a mix: symbols round-robin, buy/sell alternating per symbol, every
    ``resting_every``-th a resting limit expiring ``rest_s`` after it is built (the OMS then cancels
    it), the others market orders."""
    symbols = sorted(QUANTITIES)
    symbol = symbols[n % len(symbols)]
    side = Side.BUY if (n // len(symbols)) % 2 == 0 else Side.SELL
    name, quantity = f"{prefix}-{n}", QUANTITIES[symbol]
    if resting_every and n % resting_every == resting_every - 1:
        expires = datetime.now(UTC) + timedelta(seconds=rest_s)
        limit = rest_price(mids[symbol], side)
        return intent(name, symbol=symbol, side=side, quantity=quantity, limit=limit, expires_at=expires)
    return intent(name, symbol=symbol, side=side, quantity=quantity)


async def venue_mids(rig: DrillRig) -> dict[str, Decimal]:
    """The venue's current mid of every symbol (unified names)."""
    symbols = (await rig.sim_state())["symbols"]
    return {s: Decimal(symbols[s.replace("/", "")]["mid"]) for s in QUANTITIES}


async def faults_fired(rig: DrillRig) -> dict[str, int]:
    """How often each armed fault kind fired (``GET /_sim/faults``), summed per kind."""
    fired: Counter[str] = Counter()
    for fault in (await rig.admin("GET", "/faults"))["faults"]:
        label = fault["kind"] + (".after_processing" if fault.get("after_processing") else "")
        fired[label] += int(fault["fired"])
    return dict(fired)


@dataclass
class WeightTally:
    """The simulator limiter's verdicts, counted per HTTP status while installed."""

    statuses: Counter[int] = field(default_factory=Counter)
    max_used: int = 0

    def install(self, limiter: WeightLimiter) -> Callable[[], None]:
        """Observe ``limiter.charge``; returns the function that removes the observer."""
        original: Callable[[str, int, int], Verdict] = limiter.charge

        def charge(client: str, weight: int, now_ms: int) -> Verdict:
            verdict = original(client, weight, now_ms)
            if client.startswith("key:"):
                self.statuses[verdict.status] += 1
                self.max_used = max(self.max_used, verdict.used)
            return verdict

        limiter.charge = charge  # type: ignore[method-assign]
        return lambda: delattr(limiter, "charge")


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self) -> float:
        return round(time.monotonic() - self.started, 1)


def describe(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())
