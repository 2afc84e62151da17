"""Drill 4 (issue 4): market-data feed stalls against a full in-process gateway.

Primary connection = ccxt.pro on the simulator's main port, backup = a separate ccxt.pro on its
market-data port (``wiring.market_data_exchanges``), so ``stream_stall`` with ``port: "main"`` stalls
exactly the primary. Phases:

1. primary stalls: the arbitration switches every symbol to the backup within 2 s of the fault (measured
   from the fault to the last switch of source), no symbol is ever STALE, and trading goes on;
2. both stall (and REST tickers answer after 0.1 s, so the STALE window is wide enough to observe): every
   symbol goes STALE, a critical "Market Data Degraded" is raised, then the REST fallback feeds it
   (DEGRADED); the gateway behaves REDUCING: an opening intent is DENIED with MARKET_DATA_STALE (and
   never reaches the venue), a reducing one is filled;
3. faults cleared: every symbol returns to OK, a recovery event is raised, opening orders fill again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from tradeops.config import Settings
from tradeops.domain.orders import OrderState
from tradeops.domain.risk import DenyReason
from tradeops.domain.values import Side
from tradeops.gateway.app import GatewayApp
from tradeops.gateway.quality import Feed, FeedQuality

from ._gateway import trading_gateway
from ._gateway_drills import all_ok, check_books, holds, market_data_ok, publish, settled, submit_in_process
from ._rig import DrillRig, intent, open_rig, until

pytestmark = [pytest.mark.integration, pytest.mark.drill, pytest.mark.timeout(180)]
SYMBOL = "BTC/USDT"
QTY = "0.001"
STALE_S = 3.0  # the rig's gateway staleness threshold (stale_ms=3_000)
TAKEOVER_BOUND_S = 2.0
REST_DELAY_MS = 100
RECYCLE_S = 5.0  # MarketDataConfig.recycle_after_s (the gateway's default)
DEGRADED = "Market Data Degraded"


@dataclass
class Sample:
    at: float
    symbol: str
    source: Feed | None
    quality: FeedQuality
    opening_ok: bool


@dataclass
class Sampler:
    """Reads every symbol's arbitrated view every 20 ms (as the risk gate would) and keeps the samples."""

    app: GatewayApp
    samples: list[Sample] = field(default_factory=list)

    async def run(self) -> None:
        md = self.app.market_data
        while True:
            now = time.monotonic()
            for symbol in self.app.config.symbols:
                view = md.view(symbol)
                self.samples.append(
                    Sample(now, symbol, view.source, view.quality, view.tradeable_for_opening)
                )
            await asyncio.sleep(0.02)

    def between(self, start: float, end: float, symbol: str) -> list[Sample]:
        return [s for s in self.samples if start <= s.at <= end and s.symbol == symbol]


@asynccontextmanager
async def sampling(app: GatewayApp) -> AsyncIterator[Sampler]:
    sampler = Sampler(app)
    task = asyncio.create_task(sampler.run())
    try:
        yield sampler
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def details(envelopes: list[dict[str, Any]], detail_type: str) -> list[dict[str, Any]]:
    return [e["detail"] for e in envelopes if e["detail-type"] == detail_type]


async def arm(rig: DrillRig, *faults: dict[str, Any]) -> float:
    """Replace the simulator's fault plan (none: clear it); returns the monotonic time before arming."""
    armed = time.monotonic()
    if faults:
        await rig.admin("POST", "/faults", {"faults": list(faults), "mode": "replace"})
    else:
        await rig.admin("DELETE", "/faults")
    return armed


def takeover_s(samples: list[Sample], armed: float) -> float:
    """Seconds from the fault to the first sample of the final run of backup-sourced samples."""
    last_other = max((s.at for s in samples if s.source is not Feed.BACKUP), default=armed)
    final_run = [s.at for s in samples if s.at > last_other]
    assert final_run, "the backup never became the source"
    return final_run[0] - armed


async def test_primary_stall_backup_takes_over_both_stall_reduces_then_recovers(
    aws_settings: Settings,
) -> None:
    tapped: list[dict[str, Any]] = []  # raw envelopes, in arrival order

    async def tap() -> list[dict[str, Any]]:
        tapped.extend(await asyncio.to_thread(rig.tapped))
        return details(tapped, DEGRADED)

    async with (
        open_rig(aws_settings, tap_types=(DEGRADED, "Order Rejected")) as rig,
        trading_gateway(rig) as app,
    ):
        await market_data_ok(app)
        async with sampling(app) as sampler:
            symbols = app.config.symbols
            await asyncio.to_thread(rig.tapped)  # drop anything from the start-up
            intents = [intent("fs-before", symbol=SYMBOL, quantity=QTY)]
            await publish(rig, intents)
            assert (await settled(rig, intents, 30))["drill-fs-before"].state is OrderState.FILLED

            # -- 1. the primary stalls: the backup takes over, nothing goes STALE --------------------------
            armed_at = datetime.now(UTC).isoformat()
            armed = await arm(rig, {"kind": "stream_stall", "port": "main"})
            await asyncio.sleep(STALE_S + 1.0)  # past the primary's staleness threshold: it is out for sure
            watched_until = time.monotonic()
            takeovers = {s: takeover_s(sampler.between(armed, watched_until, s), armed) for s in symbols}
            print(f"drill 4: backup takeover after the primary stalled (s): {takeovers}")
            for symbol in symbols:
                window = sampler.between(armed, watched_until, symbol)
                assert len(window) > 50, f"{symbol}: too few samples to judge ({len(window)})"
                assert takeovers[symbol] <= TAKEOVER_BOUND_S, f"{symbol}: takeover {takeovers[symbol]:.2f}s"
                assert {s.quality for s in window} <= {FeedQuality.OK, FeedQuality.DEGRADED}, symbol
                assert all(s.opening_ok for s in window), f"{symbol}: not tradeable while the backup flowed"
            during = [intent("fs-on-backup", symbol=SYMBOL, quantity=QTY)]
            await publish(rig, during)
            assert (await settled(rig, during, 30))["drill-fs-on-backup"].state is OrderState.FILLED
            intents += during
            phase1 = [d for d in await tap() if d["occurred_at"] >= armed_at]
            assert {(d["symbol"], d["feed"], d["condition"]) for d in phase1 if d["feed"] == "primary"} >= {
                (s, "primary", "stale") for s in symbols
            }, "the primary's stall was not reported"
            symbol_level = [
                d for d in phase1 if d["feed"].startswith("active=") and d["condition"] == "stale"
            ]
            assert symbol_level == [], f"a symbol went STALE with the backup flowing: {symbol_level}"

            # -- 2. both stall: STALE, an event, REST fallback, REDUCING behaviour ------------------------
            # From a clean start, so both sockets fall silent together and the decisions below land before
            # the first recycle (5 s of silence): the simulator lets a fresh connection through for up to
            # one fault tick, and that burst would make a recycled feed look live again for a while.
            await arm(rig)
            await market_data_ok(app)
            armed = await arm(
                rig,
                {"kind": "stream_stall", "port": "*"},
                {"kind": "latency", "ms": REST_DELAY_MS, "endpoint": "GET /api/v3/ticker/24hr"},
            )

            def stale_everywhere() -> bool:
                now = time.monotonic()
                return all(
                    any(s.quality is FeedQuality.STALE for s in sampler.between(armed, now, symbol))
                    for symbol in symbols
                )

            await until(lambda: holds(stale_everywhere()), STALE_S + 5, "every symbol STALE")
            stale_after_s = time.monotonic() - armed
            await until(
                lambda: holds(all(app.market_data.view(s).source is Feed.REST for s in symbols)),
                STALE_S,
                "REST fallback for every symbol (the portfolio is valued at every held asset)",
            )
            view = app.market_data.view(SYMBOL)
            assert view.quality is FeedQuality.DEGRADED and not view.tradeable_for_opening
            opening = intent("fs-open-on-stale", symbol=SYMBOL, side=Side.BUY, quantity=QTY)
            reducing = intent("fs-reduce-on-stale", symbol=SYMBOL, side=Side.SELL, quantity=QTY)
            await submit_in_process(app, [opening])  # in process: decided now, inside the window
            decided_after_s = time.monotonic() - armed
            await submit_in_process(app, [reducing])
            print(
                f"drill 4: both stalled: STALE after {stale_after_s:.2f}s, decided at {decided_after_s:.2f}s"
            )
            assert decided_after_s < RECYCLE_S, "decided after the first recycle: the window was missed"
            decided = await settled(rig, [opening, reducing], 30)
            denied = decided[opening.intent_id]
            assert denied.state is OrderState.DENIED, denied
            assert denied.reason is not None and denied.reason.startswith(DenyReason.MARKET_DATA_STALE.value)
            assert decided[reducing.intent_id].state is OrderState.FILLED, decided[reducing.intent_id]
            intents += [opening, reducing]

            async def stale_raised() -> bool:
                return any(
                    d["symbol"] == SYMBOL and d["feed"] == "active=none:stale" and d["condition"] == "stale"
                    for d in await tap()
                )

            await until(stale_raised, 15, "a STALE Market Data Degraded event on the bus")
            stale_event = next(
                d for d in await tap() if d["symbol"] == SYMBOL and d["feed"] == "active=none:stale"
            )
            assert stale_event["severity"] == "critical" and stale_event["staleness_ms"] >= STALE_S * 1000

            async def rejection_tapped() -> bool:
                await tap()
                return any(d["intent_id"] == opening.intent_id for d in details(tapped, "Order Rejected"))

            await until(rejection_tapped, 15, "the Order Rejected event of the opening intent")
            rejections = details(tapped, "Order Rejected")
            assert [(d["intent_id"], d["reason"]) for d in rejections] == [
                (opening.intent_id, DenyReason.MARKET_DATA_STALE.value)
            ]

            # -- 3. recovery: OK again, an event, opening orders accepted ----------------------------------
            cleared = await arm(rig)
            await until(lambda: holds(all_ok(app)), 30, "every symbol OK after the faults were cleared")
            recovered_after_s = time.monotonic() - cleared
            print(f"drill 4: every symbol OK {recovered_after_s:.2f}s after the faults were cleared")

            async def recovery_raised() -> bool:
                return any(
                    d["symbol"] == SYMBOL
                    and d["feed"].startswith("active=")
                    and d["condition"] == "recovered"
                    for d in await tap()
                )

            await until(recovery_raised, 15, "a recovery Market Data Degraded event")
            after = [intent("fs-after", symbol=SYMBOL, quantity=QTY)]
            await publish(rig, after)
            assert (await settled(rig, after, 30))["drill-fs-after"].state is OrderState.FILLED
            intents += after
            await check_books(rig, intents)
