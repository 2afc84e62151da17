"""LeaseKeeper against an in-memory lease store with LeaseStore's semantics and a jumpable clock.

The clock is real time plus an offset, so loops run at test speed while a "pause" (SIGSTOP, GC) is a
jump of the offset with no code running in between.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable

import pytest

from tradeops.gateway.lease import LeaseKeeper, LeaseTiming, NotLeader
from tradeops.store.leases import Lease

pytestmark = pytest.mark.timeout(20)

Runner = Callable[[LeaseKeeper], "asyncio.Task[None]"]
TIMING = LeaseTiming(ttl_s=1.0, renew_interval_s=0.1, retry_interval_s=0.05, safety_margin_s=0.2)


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def wall_ms(self) -> int:
        return int((time.time() + self.offset) * 1000)

    def jump(self, seconds: float) -> None:
        self.offset += seconds


class MemoryLeases:
    """LeaseStore's conditional semantics on one dict; ``fail``/``gate`` inject errors and hangs."""

    def __init__(self) -> None:
        self.records: dict[str, Lease] = {}
        self.lock = threading.Lock()
        self.fail: dict[str, int] = {}
        self.gate: dict[str, threading.Event] = {}
        self.calls: dict[str, int] = {}

    def _enter(self, op: str) -> None:
        self.calls[op] = self.calls.get(op, 0) + 1
        if op in self.gate:
            self.gate[op].wait(10)
        if self.fail.get(op, 0) > 0:
            self.fail[op] -= 1
            raise ConnectionError(f"injected {op} failure")

    def acquire(self, name: str, owner: str, ttl_ms: int, now_ms: int) -> Lease | None:
        self._enter("acquire")
        with self.lock:
            current = self.records.get(name)
            if current is not None and current.is_held(now_ms) and current.owner != owner:
                return None
            lease = Lease(name, owner, (current.fencing_token if current else 0) + 1, now_ms + ttl_ms)
            self.records[name] = lease
            return lease

    def renew(self, lease: Lease, ttl_ms: int, now_ms: int) -> Lease | None:
        self._enter("renew")
        with self.lock:
            current = self.records.get(lease.name)
            same = current is not None and (current.owner, current.fencing_token) == (
                lease.owner,
                lease.fencing_token,
            )
            if not same or current is None or current.expires_at_ms <= now_ms:
                return None
            renewed = Lease(lease.name, lease.owner, lease.fencing_token, now_ms + ttl_ms)
            self.records[lease.name] = renewed
            return renewed

    def release(self, lease: Lease) -> bool:
        self._enter("release")
        with self.lock:
            current = self.records.get(lease.name)
            if current is None or (current.owner, current.fencing_token) != (
                lease.owner,
                lease.fencing_token,
            ):
                return False
            self.records[lease.name] = Lease(lease.name, "", lease.fencing_token, 0)
            return True


class Recorder:
    def __init__(self) -> None:
        self.acquired: list[int] = []
        self.lost: list[str] = []
        self.lost_event = asyncio.Event()

    async def on_acquired(self, token: int) -> None:
        self.acquired.append(token)

    async def on_lost(self, reason: str) -> None:
        self.lost.append(reason)
        self.lost_event.set()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> MemoryLeases:
    return MemoryLeases()


@pytest.fixture
async def running() -> AsyncIterator[Runner]:
    tasks: list[asyncio.Task[None]] = []

    def start(keeper: LeaseKeeper) -> asyncio.Task[None]:
        tasks.append(asyncio.create_task(keeper.run()))
        return tasks[-1]

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _keeper(store: MemoryLeases, clock: Clock, owner: str, rec: Recorder | None = None) -> LeaseKeeper:
    return LeaseKeeper(
        store,
        "gateway",
        owner,
        timing=TIMING,
        on_acquired=rec.on_acquired if rec else None,
        on_lost=rec.on_lost if rec else None,
        monotonic=clock.monotonic,
        wall_ms=clock.wall_ms,
    )


async def test_acquires_reports_token_and_keeps_renewing(
    store: MemoryLeases, clock: Clock, running: Runner
) -> None:
    rec = Recorder()
    keeper = _keeper(store, clock, "a", rec)
    assert not keeper.is_leader and keeper.fencing_token is None
    with pytest.raises(NotLeader):
        keeper.assert_leader()
    running(keeper)
    async with asyncio.timeout(2):
        assert await keeper.wait_until_leader() == 1
    await asyncio.sleep(0.35)
    assert keeper.assert_leader() == 1 and rec.acquired == [1] and rec.lost == []
    assert store.calls["renew"] >= 2 and store.records["gateway"].owner == "a"


async def test_only_one_of_two_keepers_leads(store: MemoryLeases, clock: Clock, running: Runner) -> None:
    a, b = _keeper(store, clock, "a"), _keeper(store, clock, "b")
    running(a)
    running(b)
    waiters = [asyncio.create_task(a.wait_until_leader()), asyncio.create_task(b.wait_until_leader())]
    done, pending = await asyncio.wait(waiters, timeout=2, return_when=asyncio.FIRST_COMPLETED)
    for waiter in pending:
        waiter.cancel()
    assert [w.result() for w in done] == [1]
    for _ in range(10):
        assert a.is_leader != b.is_leader
        await asyncio.sleep(0.05)


async def test_a_pause_past_expiry_revokes_leadership_before_any_code_runs(
    store: MemoryLeases,
    clock: Clock,
    running: Runner,
) -> None:
    rec = Recorder()
    keeper = _keeper(store, clock, "a", rec)
    running(keeper)
    async with asyncio.timeout(2):
        await keeper.wait_until_leader()
    clock.jump(TIMING.trusted_s)  # the process was frozen: no renewal could run meanwhile
    assert not keeper.is_leader and keeper.fencing_token is None
    with pytest.raises(NotLeader):
        keeper.assert_leader()
    async with asyncio.timeout(2):
        await rec.lost_event.wait()
    assert "expired" in rec.lost[0] or "refused" in rec.lost[0]


async def test_a_hung_renewal_is_a_loss_when_the_tenure_runs_out(
    store: MemoryLeases, clock: Clock, running: Runner
) -> None:
    rec = Recorder()
    keeper = _keeper(store, clock, "a", rec)
    running(keeper)
    async with asyncio.timeout(2):
        await keeper.wait_until_leader()
    store.gate["renew"] = threading.Event()  # the next renewal hangs
    try:
        started = time.monotonic()
        async with asyncio.timeout(3):
            await rec.lost_event.wait()
        assert time.monotonic() - started <= TIMING.trusted_s + 0.5
        assert rec.lost == ["lease expired while its renewal was pending"]
        assert not keeper.is_leader
    finally:
        store.gate.pop("renew").set()


async def test_a_refused_renewal_steps_down_and_a_new_tenure_gets_a_new_token(
    store: MemoryLeases,
    clock: Clock,
    running: Runner,
) -> None:
    rec = Recorder()
    keeper = _keeper(store, clock, "a", rec)
    running(keeper)
    async with asyncio.timeout(2):
        await keeper.wait_until_leader()
    # Another owner took the record over (e.g. after a clock disagreement): renewal must be refused.
    store.records["gateway"] = Lease("gateway", "b", 2, clock.wall_ms() + 300)
    async with asyncio.timeout(2):
        await rec.lost_event.wait()
    assert rec.lost == ["renewal refused: the lease expired or was taken over"]
    async with asyncio.timeout(3):
        assert await keeper.wait_until_leader() == 3  # after b's record expired
    await asyncio.sleep(0.01)  # on_acquired runs as its own task
    assert rec.acquired == [1, 3]


async def test_transient_renew_errors_are_retried_within_the_tenure(
    store: MemoryLeases,
    clock: Clock,
    running: Runner,
) -> None:
    rec = Recorder()
    keeper = _keeper(store, clock, "a", rec)
    running(keeper)
    async with asyncio.timeout(2):
        await keeper.wait_until_leader()
    store.fail["renew"] = 3
    await asyncio.sleep(0.5)
    assert store.fail["renew"] == 0 and keeper.assert_leader() == 1 and rec.lost == []
    store.fail["renew"] = 10_000  # the store stays down: the tenure runs out
    async with asyncio.timeout(3):
        await rec.lost_event.wait()
    assert "expired" in rec.lost[0] and not keeper.is_leader


async def test_acquire_errors_are_retried(store: MemoryLeases, clock: Clock, running: Runner) -> None:
    store.fail["acquire"] = 3
    keeper = _keeper(store, clock, "a")
    running(keeper)
    async with asyncio.timeout(2):
        assert await keeper.wait_until_leader() == 1
    assert store.calls["acquire"] == 4


async def test_release_hands_over_at_once_and_reports_the_step_down(
    store: MemoryLeases,
    clock: Clock,
    running: Runner,
) -> None:
    rec = Recorder()
    a, b = _keeper(store, clock, "a", rec), _keeper(store, clock, "b")
    task = running(a)
    async with asyncio.timeout(2):
        await a.wait_until_leader()
    running(b)
    assert await a.release() is True
    assert not a.is_leader and rec.lost == ["lease released (shutdown)"]
    async with asyncio.timeout(0.5):  # far less than the TTL
        assert await b.wait_until_leader() == 2
        await task  # the released keeper's loop ended
    assert await a.release() is False


async def test_cancelling_run_abandons_the_lease_without_releasing_it(
    store: MemoryLeases,
    clock: Clock,
    running: Runner,
) -> None:
    keeper = _keeper(store, clock, "a")
    task = running(keeper)
    async with asyncio.timeout(2):
        await keeper.wait_until_leader()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert not keeper.is_leader
    assert store.records["gateway"].owner == "a" and store.calls.get("release", 0) == 0


async def test_a_failing_on_acquired_gives_the_lease_up(
    store: MemoryLeases, clock: Clock, running: Runner
) -> None:
    lost: list[str] = []

    async def reconcile(token: int) -> None:
        raise RuntimeError("startup reconciliation failed")

    async def on_lost(reason: str) -> None:
        lost.append(reason)

    keeper = LeaseKeeper(
        store,
        "gateway",
        "a",
        timing=TIMING,
        on_acquired=reconcile,
        on_lost=on_lost,
        monotonic=clock.monotonic,
    )
    running(keeper)
    for _ in range(100):
        if lost:
            break
        await asyncio.sleep(0.01)
    assert lost[0] == "on_acquired failed"
    assert store.calls["release"] >= 1


async def test_losing_the_lease_cancels_a_running_on_acquired(
    store: MemoryLeases, clock: Clock, running: Runner
) -> None:
    cancelled = asyncio.Event()

    async def reconcile(token: int) -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    keeper = LeaseKeeper(
        store, "gateway", "a", timing=TIMING, on_acquired=reconcile, monotonic=clock.monotonic
    )
    running(keeper)
    async with asyncio.timeout(2):
        await keeper.wait_until_leader()
    clock.jump(5)
    async with asyncio.timeout(2):
        await cancelled.wait()


def test_timing_is_validated() -> None:
    with pytest.raises(ValueError):
        LeaseTiming(ttl_s=1.0, renew_interval_s=0.9, safety_margin_s=0.2)
    with pytest.raises(ValueError):
        LeaseTiming(ttl_s=1.0, renew_interval_s=0.1, retry_interval_s=0)
    with pytest.raises(ValueError):
        LeaseKeeper(MemoryLeases(), "", "a")
    assert LeaseTiming().ttl_ms == 10_000 and LeaseTiming().trusted_s == 9.0


async def test_a_failed_release_still_steps_down_and_leaves_the_record_to_expire(
    store: MemoryLeases, clock: Clock, running: Runner
) -> None:
    rec = Recorder()
    keeper = _keeper(store, clock, "a", rec)
    running(keeper)
    async with asyncio.timeout(2):
        await keeper.wait_until_leader()
    store.fail["release"] = 1
    assert await keeper.release() is False
    assert not keeper.is_leader and rec.lost == ["lease released (shutdown)"]
    assert store.records["gateway"].owner == "a"  # expires after the TTL; b then takes it
    b = _keeper(store, clock, "b")
    running(b)
    async with asyncio.timeout(TIMING.ttl_s + 1):
        assert await b.wait_until_leader() == 2
