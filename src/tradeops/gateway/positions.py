"""The positions projection: per symbol, the position every recorded fill implies, kept in DynamoDB.

Positions are derived from fills and nothing else (DESIGN §4.4, issue 7): on start the projector
replays the fills table per symbol (time, then trade id) into :class:`~tradeops.domain.portfolio.Position`
values and writes them; afterwards each newly recorded fill (the OMS records a venue trade id once) is
applied in memory and the symbols it touched are written by a flush loop, at most one write per symbol
per ``flush_interval_s``. A restart therefore rebuilds the same numbers from the same fills, and a fill
imported by reconciliation heals the position through the same path.

A write carries the projector's wall clock; the store refuses an older write over a newer one
(``StaleWrite``), which is what a deposed leader's late flush gets.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable

from tradeops.domain.orders import Fill
from tradeops.domain.portfolio import Position
from tradeops.observability import get_logger
from tradeops.store.base import StaleWrite
from tradeops.store.fills import FillStore
from tradeops.store.positions import PositionRecord, PositionStore

__all__ = ["PositionProjector"]

log = get_logger("tradeops.gateway")
_PAGE = 500
_RECENT_TRADES = 10_000


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class PositionProjector:
    """Keeps the positions table equal to what the fills table implies, for one account."""

    def __init__(
        self,
        fills: FillStore,
        positions: PositionStore,
        account: str,
        symbols: Iterable[str],
        *,
        flush_interval_s: float = 0.5,
        clock_ms: Callable[[], int] = _wall_ms,
    ) -> None:
        if flush_interval_s <= 0:
            raise ValueError("flush_interval_s must be positive")
        self._fills = fills
        self._positions = positions
        self._account = account
        self._symbols = tuple(symbols)
        self._interval = flush_interval_s
        self._clock_ms = clock_ms
        self._held: dict[str, Position] = {}
        self._dirty: set[str] = set()
        self._recent: deque[tuple[str, str]] = deque(maxlen=_RECENT_TRADES)
        self._recent_set: set[tuple[str, str]] = set()
        self._wake = asyncio.Event()

    def position(self, symbol: str) -> Position:
        return self._held.get(symbol) or Position(symbol)

    async def load(self) -> None:
        """Replay every stored fill of the configured symbols and write the resulting positions."""
        for symbol in self._symbols:
            fills = await asyncio.to_thread(self._all_fills, symbol)
            position = Position(symbol)
            for fill in sorted(fills, key=lambda f: (f.ts, f.trade_id)):
                position = position.apply_fill(fill)
                self._remember(fill)
            self._held[symbol] = position
            self._dirty.add(symbol)
        await self.flush()

    def on_fill(self, fill: Fill) -> None:
        """Apply a newly recorded fill (a trade id seen recently is ignored) and schedule its write."""
        key = (fill.symbol, fill.trade_id)
        if key in self._recent_set:
            return
        self._remember(fill)
        self._held[fill.symbol] = self.position(fill.symbol).apply_fill(fill)
        self._dirty.add(fill.symbol)
        self._wake.set()

    async def run(self) -> None:
        """Flush touched symbols at most once per interval until cancelled (a last flush on the way out)."""
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                try:
                    await self.flush()
                except Exception:  # kept dirty, retried next interval: one bad write must not end the loop
                    log.exception("positions not written; retrying")
                await asyncio.sleep(self._interval)
        finally:
            if self._dirty:
                await asyncio.shield(self.flush())

    async def flush(self) -> None:
        """Write every touched symbol's position now; one that fails stays dirty and does not hold up the
        others (the first failure is raised once all were tried)."""
        dirty, self._dirty = self._dirty, set()
        now = self._clock_ms()
        failure: Exception | None = None
        for symbol in sorted(dirty):
            position = self._held[symbol]
            average = position.average_entry_price
            try:
                record = PositionRecord(
                    account=self._account,
                    symbol=symbol,
                    quantity=position.quantity,
                    # fee dust (a buy that closed a short exactly, then its base-asset fee) has no cost
                    # basis: its average is zero, stored as no entry price
                    avg_entry_price=average if average > 0 else None,
                    realized_pnl=position.realized_pnl,
                    updated_at=now,
                )
                await asyncio.to_thread(self._positions.put, record)
            except StaleWrite:
                log.warning("position not written: a newer one is stored", extra={"symbol": symbol})
            except Exception as exc:
                self._dirty.add(symbol)  # kept for the next flush
                self._wake.set()
                failure = failure or exc
        if failure is not None:
            raise failure

    def _all_fills(self, symbol: str) -> list[Fill]:
        found: list[Fill] = []
        cursor: str | None = None
        while True:
            page = self._fills.by_symbol(symbol, limit=_PAGE, cursor=cursor)
            found.extend(page.items)
            cursor = page.cursor
            if cursor is None:
                return found

    def _remember(self, fill: Fill) -> None:
        key = (fill.symbol, fill.trade_id)
        if len(self._recent) == self._recent.maxlen:
            self._recent_set.discard(self._recent[0])
        self._recent.append(key)
        self._recent_set.add(key)
