"""Drill 1 (issue 4): intents while 20% of submits time out and 5% answer HTTP 5xx (120 by default).

Faults on ``POST /api/v3/order``: ``submit_timeout`` (processed, the response held 500 ms then the
connection dropped), ``http_error`` 503 before processing and 500 after processing (half each). The
in-process gateway takes the intents from its intake; 10% are resting limits that expire (and are
canceled) 10 s after they are built, the rest market orders, across BTC/ETH/SOL. Proven: no intent has
two venue orders, no venue order is missing from the journal, every UNKNOWN is resolved from venue evidence
(FOUND -> the venue's state; never processed -> REJECTED ``not_found_at_venue`` after the grace period),
and journal, projections and venue agree (:mod:`._books`).

Why 120 and not 1,000 by default (``TRADEOPS_DRILL1_INTENTS=1000`` runs the full drill; the timeout
grows with the count): the full drill takes over five minutes here, half of ``make test``'s whole
budget on one of its two workers. Profiled in an earlier session, its pace was the journal's: every
intent makes 5 appends (intent, NEW, SUBMITTING, fill, FILLED) on one stream, serialized by
``OrderRecords``' journal lock (one writer per stream), each a conditional put to moto
(``JournalStore`` remembers the head it wrote, so a single writer does not re-read it).

Measured, the full drill, alone on 2 cores (2026-11-24): 1,000 intents fed in 270 s (3.7/s); faults
fired: 187 submit timeouts, 18 x 503, 19 x 500 after processing; 150 orders journaled UNKNOWN, 150
resolved; books agreed 21 s after the feed: 884 FILLED, 79 CANCELED (expired resting limits), 18
REJECTED ``not_found_at_venue`` (the 503s, never processed), 19 DENIED by pre-trade risk; 963 venue
orders, 884 fills; 316 s in all. The default 120 intents take about 40 s in ``make test``.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from tradeops.config import Settings
from tradeops.domain.orders import OrderState
from tradeops.gateway.intake import IntakeStatus
from tradeops.sim.config import SimConfig
from tradeops.store.journal import JournalStore

from ._books import wait_books_agree
from ._gateway import Stopwatch, describe, faults_fired, feed, mixed_intent, trading_gateway, venue_mids
from ._rig import open_rig

INTENTS = int(os.environ.get("TRADEOPS_DRILL1_INTENTS", "120"))
"""120 by default, not the issue's 1,000: see the module docstring; the variable runs the full drill."""
pytestmark = [pytest.mark.integration, pytest.mark.drill, pytest.mark.timeout(max(300, 180 + INTENTS))]
MARKET = SimConfig(seed=11, tick_ms=250)
"""A calmer tape than the default 50 ms: the simulator shares the test's event loop with the gateway."""
SUBMIT = "POST /api/v3/order"
FAULTS = [
    {"kind": "submit_timeout", "probability": 0.2, "hold_ms": 500},
    {"kind": "http_error", "endpoint": SUBMIT, "status": 503, "probability": 0.025},
    {"kind": "http_error", "endpoint": SUBMIT, "status": 500, "probability": 0.025, "after_processing": True},
]
SETTLE_S = 90.0
"""UNKNOWNs never processed need 3 misses over 10 s (OmsConfig.not_found_grace_s) with backoff."""


def unknown_history(settings: Settings) -> tuple[set[str], set[str]]:
    """Client order ids journaled UNKNOWN at some point, and those whose last journaled state is not."""
    seen: set[str] = set()
    last: dict[str, str] = {}
    for entry in JournalStore(settings).read("orders"):
        order = entry.payload.get("order")
        if order is None:
            continue
        last[order["client_order_id"]] = order["state"]
        if order["state"] == OrderState.UNKNOWN.value:
            seen.add(order["client_order_id"])
    return seen, {cid for cid in seen if last[cid] != OrderState.UNKNOWN.value}


async def test_submit_timeouts_and_5xx_never_double_or_lose_an_order(aws_settings: Settings) -> None:
    async with open_rig(aws_settings, sim_config=MARKET) as rig, trading_gateway(rig) as app:
        await rig.admin("POST", "/faults", {"faults": FAULTS, "mode": "replace", "seed": 4})
        mids = await venue_mids(rig)
        clock = Stopwatch()
        made = await feed(app, INTENTS, lambda n: mixed_intent(n, mids, prefix="d1"))
        fed_s = clock()
        intents = [one for one, _ in made]
        refused = [
            (one.intent_id, outcome) for one, outcome in made if outcome.status is not IntakeStatus.ACCEPTED
        ]
        print(f"drill 1: {len(made)} intents fed in {fed_s} s; faults fired {await faults_fired(rig)}")
        assert not refused, f"the intake refused intents: {refused[:5]}"
        report = await wait_books_agree(rig, intents, timeout_s=SETTLE_S)
        settled_s = clock()
        fired = await faults_fired(rig)
        seen, resolved = await asyncio.to_thread(unknown_history, rig.settings)
        figures = {
            "intents": len(intents),
            "faults_fired": fired,
            "unknown_seen": len(seen),
            "unknown_resolved": len(resolved),
            "fed_s": fed_s,
            "settled_s": settled_s,
            "states": dict(report.states),
            "venue_orders": report.venue_orders,
            "venue_fills": report.venue_fills,
        }
        print(f"drill 1: {describe(figures)}")
        assert fired.get("submit_timeout", 0) >= INTENTS // 10, f"the timeout fault barely fired: {figures}"
        assert seen, f"no submit ended UNKNOWN: {figures}"
        assert resolved == seen, f"unresolved UNKNOWNs: {sorted(seen - resolved)[:10]}"
