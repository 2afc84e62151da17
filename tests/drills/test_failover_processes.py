"""Drill 7 (issue 4): two gateway processes, fenced failover at the production lease timing.

* SIGKILL the leader: the standby takes the lease when it expires (TTL 10 s, what ``python -m
  tradeops.gateway`` uses), runs its startup reconciliation and trades: an intent published right after
  the kill is executed on the venue within 15 s of the kill.
* SIGSTOP the (new) leader until a third process has taken the lease, then SIGCONT it: it must step down
  (its JSON log says the session ended on a lost lease or a fenced write, and it no longer reports ready)
  and nothing it writes reaches the journal: after the new leader's first entry no entry carries an
  older fencing token.
* Throughout, the venue never saw two orders for one intent (one venue order per client order id).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tradeops.config import Settings
from tradeops.domain.events import TradeIntent
from tradeops.domain.ids import client_order_id

from ._books import check_books
from ._processes import (
    free_port,
    is_alive,
    is_ready,
    journal_entries,
    log_lines,
    publish,
    seconds_until_ready,
)
from ._rig import DrillRig, intent, open_rig, until

pytestmark = [pytest.mark.integration, pytest.mark.drill, pytest.mark.timeout(420)]

TAKEOVER_LIMIT_S = 15.0
INTAKE_POLL_S = 2  # SessionTuning's intake long poll (what the gateway process uses)


async def executed(rig: DrillRig, one: TradeIntent) -> bool:
    cid = client_order_id(one.intent_id)
    return any(o["clientOrderId"] == cid and o["status"] == "FILLED" for o in await rig.venue_orders())


async def seconds_until_executed(rig: DrillRig, one: TradeIntent, since: float, timeout_s: float) -> float:
    while not await executed(rig, one):
        assert time.monotonic() - since < timeout_s, f"{one.intent_id} not executed in {timeout_s} s"
        await asyncio.sleep(0.1)
    return time.monotonic() - since


def stepped_down(records: list[dict[str, object]]) -> list[str]:
    """The reasons the process's log gives for ending a trading session (lease lost or fenced)."""
    return [
        str(r.get("reason", ""))
        for r in records
        if r.get("message") == "trading session ending"
        and any(word in str(r.get("reason", "")) for word in ("lease lost", "fenced"))
    ]


async def test_standby_takes_over_after_sigkill_and_a_resumed_leader_is_fenced(
    aws_settings: Settings, tmp_path: Path
) -> None:
    async with open_rig(aws_settings) as rig:
        ports = {name: free_port() for name in ("a", "b", "c")}
        logs = {name: tmp_path / f"gw-{name}.log" for name in ports}
        procs: dict[str, subprocess.Popen[bytes]] = {}
        procs["a"] = rig.spawn_gateway("gw-a", ports["a"], logs["a"])
        await seconds_until_ready(rig, ports["a"], 90, "gw-a leads")
        procs["b"] = rig.spawn_gateway("gw-b", ports["b"], logs["b"])
        await until(lambda: is_alive(rig, ports["b"]), 60, "gw-b up as standby")
        await asyncio.sleep(3)  # gw-b's market data and clock are running: a warm standby
        assert not await is_ready(rig, ports["b"]), "two gateways ready at once"
        warmup = intent("fo-warm", symbol="BTC/USDT", quantity="0.001")
        await publish(rig, [warmup])
        await until(lambda: executed(rig, warmup), 30, "gw-a trades")

        # -- SIGKILL the leader: the standby trades within 15 s ----------------------------------------
        procs["a"].kill()
        killed_at = time.monotonic()
        # A receive the killed process had pending (its 2 s long poll) can still take a message, which then
        # stays invisible for the queue's visibility timeout (30 s): at-least-once redelivery, not failover.
        # So the intent is published once that poll is over, long before the lease expires.
        await asyncio.sleep(INTAKE_POLL_S + 1)
        after_kill = intent("fo-after-kill", symbol="ETH/USDT", quantity="0.01")
        await publish(rig, [after_kill])
        takeover_s = await seconds_until_executed(rig, after_kill, killed_at, 60)
        await seconds_until_ready(rig, ports["b"], 30, "gw-b ready")

        # -- SIGSTOP the new leader past its lease; a third process takes over; SIGCONT ----------------
        procs["c"] = rig.spawn_gateway("gw-c", ports["c"], logs["c"])
        await until(lambda: is_alive(rig, ports["c"]), 60, "gw-c up as standby")
        resting = intent(
            "fo-resting",
            symbol="SOL/USDT",
            quantity="0.1",
            limit=(Decimal((await rig.sim_state())["symbols"]["SOLUSDT"]["mid"]) * Decimal("0.995")).quantize(
                Decimal("0.01")
            ),
            expires_at=datetime.now(UTC) + timedelta(seconds=20),  # gw-b's expiry fires after SIGCONT
        )
        await publish(rig, [resting])
        await until(lambda: venue_has(rig, resting), 30, "gw-b placed the resting order")
        procs["b"].send_signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        try:
            await seconds_until_ready(rig, ports["c"], 60, "gw-c takes over from the stopped gw-b")
            c_leads_s = time.monotonic() - stopped_at
            during = intent("fo-during-stop", symbol="BTC/USDT", quantity="0.001")
            await publish(rig, [during])
            await until(lambda: executed(rig, during), 30, "gw-c trades")
        finally:
            procs["b"].send_signal(signal.SIGCONT)
        await until(lambda: _async(bool(stepped_down(log_lines(logs["b"])))), 30, "gw-b steps down")
        await asyncio.sleep(2)
        assert not await is_ready(rig, ports["b"]) and await is_ready(rig, ports["c"])

        # -- the journal: no write of the deposed leader after the new leader's first entry ------------
        await until(lambda: venue_status_is(rig, resting, "CANCELED"), 60, "the resting order expired")
        sent = [warmup, after_kill, resting, during]
        settle_from = time.monotonic()
        while not (books := await check_books(rig, sent)).ok:
            assert time.monotonic() - settle_from < 90, f"the books disagree: {books.summary()}"
            await asyncio.sleep(1.0)
        entries = await asyncio.to_thread(journal_entries, rig)
        tokens = [e.fencing_token for e in entries]
        newest = max(tokens)
        first_of_newest = tokens.index(newest)
        stale_after = [e.seq for e in entries[first_of_newest:] if e.fencing_token < newest]
        assert not stale_after, f"entries with an older token after the new leader's first: {stale_after}"
        assert tokens == sorted(tokens), "fencing tokens in the journal never go back"
        b_records = log_lines(logs["b"])
        refusals = [
            r for r in b_records if any(w in str(r) for w in ("FencedOut", "NotLeader", "fenced while"))
        ]
        per_cid = Counter(o["clientOrderId"] for o in await rig.venue_orders())
        assert all(count == 1 for count in per_cid.values()), per_cid
        print(
            f"\ndrill 7: SIGKILL -> standby executed an intent {takeover_s:.1f} s after the kill "
            f"(limit {TAKEOVER_LIMIT_S} s); SIGSTOP -> gw-c ready {c_leads_s:.1f} s after the stop; "
            f"gw-b stepped down: {stepped_down(b_records)}; refused writes logged by gw-b: {len(refusals)}; "
            f"journal tokens {sorted(set(tokens))}, {len(entries)} entries"
        )
        assert takeover_s <= TAKEOVER_LIMIT_S, f"the standby traded {takeover_s:.1f} s after the kill"


async def venue_status_is(rig: DrillRig, one: TradeIntent, status: str) -> bool:
    cid = client_order_id(one.intent_id)
    return any(o["clientOrderId"] == cid and o["status"] == status for o in await rig.venue_orders())


async def venue_has(rig: DrillRig, one: TradeIntent) -> bool:
    cid = client_order_id(one.intent_id)
    return any(o["clientOrderId"] == cid for o in await rig.venue_orders())


async def _async(value: bool) -> bool:
    return value
