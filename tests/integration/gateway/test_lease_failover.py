"""Two LeaseKeepers on one DynamoDB lease (moto): single leader, crash and graceful failover, fencing.

TTL 1 s so takeovers happen within the test budget; a monitor samples both keepers every 5 ms and
fails the test if they ever both claim leadership.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator

import pytest

from tradeops.config import Settings
from tradeops.gateway.lease import LeaseKeeper, LeaseTiming, NotLeader
from tradeops.store.journal import FencedOut, JournalStore
from tradeops.store.leases import Lease, LeaseStore
from tradeops.store.provision import create_tables
from tradeops.store.tables import JOURNAL, LEASES

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

TIMING = LeaseTiming(ttl_s=1.0, renew_interval_s=0.2, retry_interval_s=0.1, safety_margin_s=0.2)
STREAM = "orders/BTC-USDT"
FIRST_LEADER_S = 10
"""Wait for a leader at most this long: on a loaded machine an acquire that outlives the 0.8 s trusted
window is given back (never acted on), so the first tenure can take a few tries. Takeover times are
asserted separately, from the moment the old leader is gone."""


class FreezableLeases(LeaseStore):
    """A real LeaseStore whose renewals can be frozen (the renew loop of a paused process)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.frozen = threading.Event()
        self.thawed = threading.Event()

    def renew(self, lease: Lease, ttl_ms: int, now_ms: int) -> Lease | None:
        if self.frozen.is_set():
            self.thawed.wait(10)
        return super().renew(lease, ttl_ms, now_ms)


@pytest.fixture
def lease_settings(aws_settings: Settings) -> Settings:
    create_tables(aws_settings, (LEASES, JOURNAL))
    return aws_settings


class Pair:
    def __init__(self, settings: Settings) -> None:
        self.stores = {name: FreezableLeases(settings) for name in ("a", "b")}
        self.lost: dict[str, list[str]] = {"a": [], "b": []}
        self.keepers = {name: self._keeper(name) for name in ("a", "b")}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.overlaps = 0

    def _keeper(self, name: str) -> LeaseKeeper:
        async def on_lost(reason: str) -> None:
            self.lost[name].append(reason)

        return LeaseKeeper(self.stores[name], "gateway", f"gw-{name}", timing=TIMING, on_lost=on_lost)

    def start(self, name: str) -> None:
        self.tasks[name] = asyncio.create_task(self.keepers[name].run())

    async def monitor(self) -> None:
        while True:
            if all(k.is_leader for k in self.keepers.values()):
                self.overlaps += 1
            await asyncio.sleep(0.005)

    async def leader(self, timeout: float) -> tuple[str, int, float]:
        """The first keeper to lead, its token and how long that took."""
        started = time.monotonic()
        waits = {asyncio.create_task(k.wait_until_leader()): n for n, k in self.keepers.items()}
        done, pending = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        assert done, f"no leader within {timeout} s"
        first = done.pop()
        return waits[first], first.result(), time.monotonic() - started


@pytest.fixture
async def pair(lease_settings: Settings) -> AsyncIterator[Pair]:
    pair = Pair(lease_settings)
    monitor = asyncio.create_task(pair.monitor())
    try:
        yield pair
    finally:
        for store in pair.stores.values():
            store.thawed.set()
        monitor.cancel()
        for task in [*pair.tasks.values(), monitor]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert pair.overlaps == 0, "two keepers claimed leadership at the same time"


async def test_two_keepers_exactly_one_leads(pair: Pair) -> None:
    pair.start("a")
    pair.start("b")
    name, token, _ = await pair.leader(FIRST_LEADER_S)
    stored = pair.stores[name].get("gateway")
    assert stored is not None and (stored.owner, stored.fencing_token) == (f"gw-{name}", token)
    for _ in range(30):  # 1.5 s: several renewals and standby retries
        # Never two leaders. (A leader whose renewal outlives its trusted window steps down by design,
        # so on a loaded machine leadership may move; it may never be shared.)
        assert sum(keeper.is_leader for keeper in pair.keepers.values()) <= 1
        await asyncio.sleep(0.05)
    name, _, _ = await pair.leader(FIRST_LEADER_S)
    other = "b" if name == "a" else "a"
    with pytest.raises(NotLeader):
        pair.keepers[other].assert_leader()


async def test_a_crashed_leader_is_replaced_within_ttl_plus_retry(pair: Pair) -> None:
    pair.start("a")
    assert (await pair.leader(FIRST_LEADER_S))[0] == "a"
    first = pair.keepers["a"].assert_leader()
    pair.start("b")
    await asyncio.sleep(0.3)
    pair.tasks["a"].cancel()  # dies without releasing
    with contextlib.suppress(asyncio.CancelledError):
        await pair.tasks["a"]
    name, token, waited = await pair.leader(FIRST_LEADER_S)
    assert name == "b" and token > first
    # TTL + one retry, plus slack for moto round trips on a loaded 2-core CI machine (the bound
    # is 15 s at the production TTL of 10 s; this keeps the same shape at a 1 s TTL).
    assert waited <= TIMING.ttl_s + TIMING.retry_interval_s + 2.0


async def test_a_graceful_release_hands_over_at_once(pair: Pair) -> None:
    pair.start("a")
    assert (await pair.leader(FIRST_LEADER_S))[0] == "a"
    first = pair.keepers["a"].assert_leader()
    pair.start("b")
    await asyncio.sleep(0.3)
    assert await pair.keepers["a"].release()
    name, token, waited = await pair.leader(FIRST_LEADER_S)
    assert name == "b" and token > first
    assert waited < TIMING.ttl_s / 2
    assert pair.lost["a"] == ["lease released (shutdown)"]


async def test_a_paused_leader_steps_down_and_its_journal_writes_are_fenced(
    pair: Pair, lease_settings: Settings
) -> None:
    journal = JournalStore(lease_settings)
    await asyncio.to_thread(journal.read, STREAM)  # warm the client so the first append is quick
    a, b = pair.keepers["a"], pair.keepers["b"]
    pair.start("a")
    assert (await pair.leader(FIRST_LEADER_S))[0] == "a"
    # Store calls run off the event loop, as in the gateway: a blocking call here would starve a's
    # renew loop and expire its tenure before the test freezes it on purpose.
    stale_token = a.assert_leader()  # the token a writes with, and keeps for its next write
    await asyncio.to_thread(journal.append, STREAM, "order_new", {"n": 1}, "gw-a", stale_token)
    pair.stores["a"].frozen.set()
    pair.start("b")
    async with asyncio.timeout(TIMING.ttl_s + TIMING.retry_interval_s + 1.5):
        assert await b.wait_until_leader() > stale_token
    assert not a.is_leader, "the paused leader still believes it leads"
    with pytest.raises(NotLeader):
        a.assert_leader()
    await asyncio.to_thread(journal.append, STREAM, "order_new", {"n": 2}, "gw-b", b.assert_leader())
    pair.stores["a"].thawed.set()  # SIGCONT: the old leader resumes its write with the old token
    with pytest.raises(FencedOut):
        await asyncio.to_thread(journal.append, STREAM, "order_new", {"n": 3}, "gw-a", stale_token)
    written = await asyncio.to_thread(journal.read, STREAM)
    assert [e.fencing_token for e in written] == [stale_token, b.assert_leader()]
    assert pair.lost["a"] == ["lease expired while its renewal was pending"]
    await asyncio.sleep(0.5)
    assert b.is_leader and not a.is_leader  # a is a standby again; b's renewals continue
