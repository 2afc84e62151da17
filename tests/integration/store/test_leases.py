"""LeaseStore against moto: exclusivity under concurrency, fencing tokens, renew and release."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tradeops.config import Settings
from tradeops.store.journal import FencedOut, JournalStore
from tradeops.store.leases import Lease, LeaseStore

pytestmark = pytest.mark.integration


def test_acquire_excludes_other_owners_until_expiry(store_settings: Settings) -> None:
    leases = LeaseStore(store_settings)
    a = leases.acquire("gw", "a", ttl_ms=1000, now_ms=10_000)
    assert a == Lease("gw", "a", 1, 11_000)
    assert leases.acquire("gw", "b", ttl_ms=1000, now_ms=10_999) is None
    b = leases.acquire("gw", "b", ttl_ms=1000, now_ms=11_000)
    assert b == Lease("gw", "b", 2, 12_000)
    assert leases.renew(a, ttl_ms=1000, now_ms=11_001) is None  # a's tenure is over
    assert leases.get("gw") == b


def test_renew_extends_only_the_current_unexpired_tenure(store_settings: Settings) -> None:
    leases = LeaseStore(store_settings)
    a = leases.acquire("gw", "a", 1000, 0)
    assert a is not None
    renewed = leases.renew(a, 1000, 900)
    assert renewed == Lease("gw", "a", 1, 1900)
    assert leases.acquire("gw", "b", 1000, 1500) is None
    assert leases.renew(renewed, 1000, 1900) is None  # expired at 1900: must re-acquire
    again = leases.acquire("gw", "a", 1000, 1900)
    assert again is not None and again.fencing_token == 2


def test_release_frees_the_lease_and_keeps_tokens_monotonic(store_settings: Settings) -> None:
    leases = LeaseStore(store_settings)
    a = leases.acquire("gw", "a", 60_000, 0)
    assert a is not None and leases.release(a)
    assert leases.get("gw") == Lease("gw", "", 1, 0)
    assert not leases.release(a)  # already released
    b = leases.acquire("gw", "b", 60_000, 1)
    assert b is not None and b.fencing_token == 2
    assert not leases.release(a)  # a stale holder cannot release b's tenure
    assert leases.get("gw") == b


def test_concurrent_acquirers_never_share_a_lease(store_settings: Settings) -> None:
    leases = LeaseStore(store_settings)
    barrier = threading.Barrier(8)

    def contend(owner: str) -> list[Lease]:
        won = []
        for round_ in range(15):
            barrier.wait()
            # Every round starts after the previous tenure expired: all 8 race for the same record.
            lease = leases.acquire("gw", owner, ttl_ms=10, now_ms=round_ * 100)
            if lease is not None:
                won.append(lease)
        return won

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(contend, [f"owner-{i}" for i in range(8)]))
    winners = sorted((lease for won in results for lease in won), key=lambda lease: lease.fencing_token)
    assert len(winners) == 15  # exactly one winner per round
    assert [lease.fencing_token for lease in winners] == list(range(1, 16))
    assert [lease.expires_at_ms for lease in winners] == [r * 100 + 10 for r in range(15)]


def test_fencing_token_shuts_out_the_previous_holder_from_the_journal(store_settings: Settings) -> None:
    leases, journal = LeaseStore(store_settings), JournalStore(store_settings)
    old = leases.acquire("gateway", "task-1", 1000, 0)
    assert old is not None
    journal.append("gateway", "order", {}, old.owner, old.fencing_token)
    new = leases.acquire("gateway", "task-2", 1000, 5000)  # task-1 paused past its expiry
    assert new is not None and new.fencing_token > old.fencing_token
    journal.append("gateway", "order", {}, new.owner, new.fencing_token)
    with pytest.raises(FencedOut):
        journal.append("gateway", "order", {}, old.owner, old.fencing_token)


@pytest.mark.parametrize(
    ("name", "owner", "ttl_ms", "now_ms"),
    [("", "a", 1, 0), ("gw", "", 1, 0), ("gw", "a", 0, 0), ("gw", "a", 1, -1)],
)
def test_bad_arguments_are_refused(
    store_settings: Settings, name: str, owner: str, ttl_ms: int, now_ms: int
) -> None:
    leases = LeaseStore(store_settings)
    with pytest.raises(ValueError):
        leases.acquire(name, owner, ttl_ms, now_ms)
    assert leases.get("gw") is None
