"""The balances baseline (issue 7): the venue's balances written to the balances table by the leader.

Reconciliation compares the venue's balances with the last snapshot moved by our fills after it
(:mod:`tradeops.reconciliation.local_side`); without a snapshot it cannot compare balances at all. The
leader writes one at session start (after the startup reconciliation imported what was missing), every
``interval_s``, and ``debounce_s`` after fills stop arriving (a burst of fills costs one snapshot).

A snapshot is stamped with the estimated moment the venue read it (the midpoint of the request, on the
exchange's clock): fills after it move the baseline, fills before it are in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal

from tradeops.observability import get_logger
from tradeops.store.balances import BalanceStore
from tradeops.venue.adapter import Outcome
from tradeops.venue.outcomes import Accepted

__all__ = ["BalanceBaseline", "BalanceFetch"]

log = get_logger("tradeops.gateway")
BalanceFetch = Callable[[], Awaitable[Outcome[dict[str, tuple[Decimal, Decimal]]]]]
"""The venue adapter's ``fetch_balances``: ``{asset: (free, locked)}``."""


def _local_ms() -> int:
    return time.time_ns() // 1_000_000


class BalanceBaseline:
    """Writes the account's venue balances as reconciliation's baseline; see the module docstring."""

    def __init__(
        self,
        fetch: BalanceFetch,
        store: BalanceStore,
        account: str,
        *,
        interval_s: float = 60.0,
        debounce_s: float = 2.0,
        clock_ms: Callable[[], int] = _local_ms,
    ) -> None:
        if interval_s <= 0 or debounce_s < 0:
            raise ValueError("interval_s must be positive and debounce_s >= 0")
        self._fetch = fetch
        self._store = store
        self._account = account
        self._interval_s = interval_s
        self._debounce_s = debounce_s
        self._clock_ms = clock_ms
        self._fills = asyncio.Event()
        self.written = 0
        """Snapshots written so far."""

    def fills_changed(self) -> None:
        """A fill was recorded: write a snapshot once fills have been quiet for ``debounce_s``."""
        self._fills.set()

    async def write_now(self) -> bool:
        """Read the venue's balances and store them; False (logged) when the venue did not answer."""
        sent = self._clock_ms()
        outcome = await self._fetch()
        if not isinstance(outcome, Accepted):
            log.warning("balances not read: baseline not written", extra={"outcome": repr(outcome)})
            return False
        read_at = (sent + self._clock_ms()) // 2
        count = await asyncio.to_thread(self._store.put_snapshot, self._account, outcome.value, read_at)
        self.written += 1
        log.info("balances baseline written", extra={"assets": count, "as_of": read_at})
        return True

    async def run(self) -> None:
        """Write every ``interval_s`` and after fills (debounced) until cancelled; failures are logged."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval_s):  # fills never postpone a write past this
                    await self._fills.wait()
                    while self._fills.is_set():
                        self._fills.clear()
                        await asyncio.sleep(self._debounce_s)
            self._fills.clear()
            try:
                await self.write_now()
            except Exception:  # the baseline is advisory: the next write retries
                log.exception("balances baseline write failed")
