"""Single active gateway: a fenced DynamoDB lease kept by an asyncio loop (issue 4, item 6).

:class:`LeaseKeeper` tries to acquire the lease (a standby retries every ``retry_interval_s``), renews it
every ``renew_interval_s`` with a TTL of ``ttl_s`` and reports changes through two callbacks:
``on_acquired(token)`` (run as a task: the gateway reconciles there before it trades; cancelled if the
tenure ends first) and ``on_lost(reason)`` (awaited: stop trading now).

Leadership is judged on the local monotonic clock, never on the mere absence of a failed renewal. A
tenure is valid until ``start + ttl_s - safety_margin_s``, where ``start`` is the moment the acquire or
renew request that established it was *sent*; the margin covers clock skew between hosts (the standby
judges expiry on its wall clock). So after a SIGSTOP, a long GC pause or a hung renewal,
:attr:`LeaseKeeper.is_leader` is False as soon as the tenure ran out, before any code gets to notice:
call :meth:`LeaseKeeper.assert_leader` right before every privileged action and pass its token to the
journal, which refuses tokens older than its head (``FencedOut``). A lapse is always a loss: the keeper
steps down, stays standby for one TTL (so a healthy standby wins over a flapping leader), then competes
again for a new tenure and a new token.

Cancelling :meth:`LeaseKeeper.run` abandons the lease without releasing it, as a crash would: another
keeper takes over after the TTL. :meth:`LeaseKeeper.release` gives it up at once for a graceful shutdown.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, TypeVar

from tradeops.aio import wait_event
from tradeops.observability import get_logger
from tradeops.store.leases import Lease

_T = TypeVar("_T")

__all__ = ["LeaseBackend", "LeaseKeeper", "LeaseTiming", "NotLeader"]

OnAcquired = Callable[[int], Awaitable[None]]
OnLost = Callable[[str], Awaitable[None]]

_log = get_logger("tradeops-gateway")


class NotLeader(RuntimeError):
    """A privileged action was attempted without a valid lease (standby, lost, expired or released)."""


class LeaseBackend(Protocol):
    """What the keeper needs of :class:`tradeops.store.leases.LeaseStore` (blocking calls)."""

    def acquire(self, name: str, owner: str, ttl_ms: int, now_ms: int) -> Lease | None: ...

    def renew(self, lease: Lease, ttl_ms: int, now_ms: int) -> Lease | None: ...

    def release(self, lease: Lease) -> bool: ...


@dataclass(frozen=True)
class LeaseTiming:
    """Lease timing in seconds; a tenure is trusted locally for ``ttl_s - safety_margin_s``."""

    ttl_s: float = 10.0
    renew_interval_s: float = 2.0
    retry_interval_s: float = 1.0
    safety_margin_s: float = 1.0

    def __post_init__(self) -> None:
        if self.ttl_s < 0.001 or self.retry_interval_s <= 0 or self.safety_margin_s < 0:
            raise ValueError("ttl_s >= 0.001, retry_interval_s > 0 and safety_margin_s >= 0 are required")
        if not 0 < self.renew_interval_s < self.ttl_s - self.safety_margin_s:
            raise ValueError("renew_interval_s must be positive and shorter than ttl_s - safety_margin_s")

    @property
    def ttl_ms(self) -> int:
        return round(self.ttl_s * 1000)

    @property
    def trusted_s(self) -> float:
        return self.ttl_s - self.safety_margin_s


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class LeaseKeeper:
    """Holds the lease ``name`` for ``owner`` while :meth:`run` runs; see the module docstring."""

    def __init__(
        self,
        store: LeaseBackend,
        name: str,
        owner: str,
        *,
        timing: LeaseTiming | None = None,
        on_acquired: OnAcquired | None = None,
        on_lost: OnLost | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = _wall_ms,
    ) -> None:
        if not name or not owner:
            raise ValueError("lease name and owner must be non-empty")
        self.name = name
        self.owner = owner
        self._store = store
        self._timing = timing or LeaseTiming()
        self._on_acquired = on_acquired
        self._on_lost = on_lost
        self._monotonic = monotonic
        self._wall_ms = wall_ms
        self._held: Lease | None = None
        self._valid_until = 0.0
        self._renew_due = 0.0
        self._cool_down_until = 0.0
        self._closed = False
        self._running = False
        self._wake = asyncio.Event()
        self._leader = asyncio.Event()
        self._acquired_task: asyncio.Task[None] | None = None
        # Its own thread: a renewal must never queue behind the gateway's other store calls in the
        # shared default pool (under load that starved renewals until the tenure ran out).
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"lease-{name}")

    @property
    def is_leader(self) -> bool:
        """True only while a tenure is held and its local validity has not run out."""
        return self._held is not None and self._monotonic() < self._valid_until

    @property
    def fencing_token(self) -> int | None:
        """The current tenure's fencing token, or None when not leader."""
        held = self._held
        return held.fencing_token if held is not None and self.is_leader else None

    def assert_leader(self) -> int:
        """The fencing token to write with; raises :class:`NotLeader` unless the tenure is valid now."""
        token = self.fencing_token
        if token is None:
            raise NotLeader(f"{self.owner} does not hold lease {self.name!r}")
        return token

    async def wait_until_leader(self) -> int:
        """Wait until this keeper leads; returns the fencing token (wrap in ``asyncio.timeout``)."""
        while True:
            await self._leader.wait()
            token = self.fencing_token
            if token is not None:
                return token
            await asyncio.sleep(0.01)  # the tenure lapsed a moment ago: the loop is clearing the flag

    async def run(self) -> None:
        """Acquire, renew and re-acquire until :meth:`release`; cancelling it abandons the lease."""
        if self._running or self._closed:
            raise RuntimeError("LeaseKeeper.run() is already running or the keeper was released")
        self._running = True
        try:
            while not self._closed:
                if self._held is None:
                    cooling = self._cool_down_until - self._monotonic()
                    if cooling > 0:  # just lost a tenure: let a healthy standby win first
                        await self._pause(cooling)
                    elif not await self._try_acquire():
                        await self._pause(self._timing.retry_interval_s)
                    continue
                now = self._monotonic()
                await self._pause(max(0.0, min(self._renew_due, self._valid_until) - now))
                if not self._closed:
                    await self._renew()
        finally:
            self._running = False
            if not self._closed and self._held is not None:
                # Cancelled (crash-like): forget the tenure locally, leave the record to expire.
                self._held = None
                self._leader.clear()
                self._cancel_acquired_task()

    async def release(self) -> bool:
        """Stop the loop and give the lease up so a standby takes over at once; True if it was held."""
        self._closed = True
        self._wake.set()
        lease = self._held
        if lease is None:
            return False
        await self._step_down(lease, "lease released (shutdown)")
        return await self._release_in_store(lease)

    async def _try_acquire(self) -> bool:
        started, now_ms = self._monotonic(), self._wall_ms()
        try:
            lease = await self._off_loop(
                self._store.acquire, self.name, self.owner, self._timing.ttl_ms, now_ms
            )
        except Exception as exc:
            _log.warning("lease %s: acquire failed: %s", self.name, exc, extra=self._fields())
            return False
        if lease is None:
            return False
        if self._closed or self._monotonic() >= started + self._timing.trusted_s:
            # Released meanwhile, or the call outlived the tenure it created: never act on it.
            await self._release_in_store(lease)
            return False
        self._held = lease
        self._valid_until = started + self._timing.trusted_s
        self._renew_due = started + self._timing.renew_interval_s
        self._leader.set()
        _log.info("lease %s acquired", self.name, extra=self._fields())
        if self._on_acquired is not None:
            self._acquired_task = asyncio.create_task(self._run_on_acquired(self._on_acquired, lease))
        return True

    async def _renew(self) -> None:
        lease = self._held
        if lease is None:
            return
        started, now_ms = self._monotonic(), self._wall_ms()
        remaining = self._valid_until - started
        if remaining <= 0:
            await self._step_down(lease, "lease expired before it could be renewed (process paused?)")
            return
        try:
            async with asyncio.timeout(remaining):  # not wait_for: a cancel must never look like a timeout
                renewed = await self._off_loop(self._store.renew, lease, self._timing.ttl_ms, now_ms)
        except TimeoutError:
            await self._step_down(lease, "lease expired while its renewal was pending")
            return
        except Exception as exc:  # transient: keep trying while the tenure is still valid
            _log.warning("lease %s: renew failed: %s", self.name, exc, extra=self._fields())
            self._renew_due = self._monotonic() + self._timing.retry_interval_s
            return
        if self._held is not lease:
            return  # stepped down or released while the call was in flight
        if renewed is None:
            await self._step_down(lease, "renewal refused: the lease expired or was taken over")
        elif self._monotonic() >= self._valid_until:
            await self._step_down(lease, "lease lapsed locally before its renewal returned")
        else:
            self._held = renewed
            self._valid_until = started + self._timing.trusted_s
            self._renew_due = started + self._timing.renew_interval_s

    async def _step_down(self, lease: Lease, reason: str) -> None:
        if self._held is not lease:
            return
        self._held = None
        self._leader.clear()
        self._cool_down_until = self._monotonic() + self._timing.ttl_s
        self._cancel_acquired_task()
        _log.warning("lease %s lost: %s", self.name, reason, extra=self._fields(lease.fencing_token))
        if self._on_lost is not None:
            try:
                await self._on_lost(reason)
            except Exception:
                _log.exception("lease %s: on_lost callback failed", self.name, extra=self._fields())

    async def _run_on_acquired(self, callback: OnAcquired, lease: Lease) -> None:
        try:
            await callback(lease.fencing_token)
        except Exception:
            _log.exception("lease %s: on_acquired failed; giving the lease up", self.name)
            if self._held is lease:
                await self._step_down(lease, "on_acquired failed")
                await self._release_in_store(lease)

    async def _off_loop(self, call: Callable[..., _T], *args: object) -> _T:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, functools.partial(call, *args)
        )

    async def _release_in_store(self, lease: Lease) -> bool:
        try:
            return await self._off_loop(self._store.release, lease)
        except Exception as exc:  # it will expire by itself after the TTL
            _log.warning("lease %s: release failed: %s", self.name, exc, extra=self._fields())
            return False

    def _cancel_acquired_task(self) -> None:
        task = self._acquired_task
        self._acquired_task = None
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()

    async def _pause(self, seconds: float) -> None:
        """Sleep up to ``seconds``; :meth:`release` wakes it early."""
        await wait_event(self._wake, seconds)

    def _fields(self, token: int | None = None) -> dict[str, object]:
        held = self._held
        token = token if token is not None else (held.fencing_token if held is not None else None)
        return {"lease": self.name, "owner": self.owner, "fencing_token": token}
