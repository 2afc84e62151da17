"""Portfolio snapshots every second: mark the portfolio at reference mids and store it (issue 4, item 3).

:class:`SnapshotWriter` asks ``reference_mid(symbol)`` (the market data view) for every symbol the
portfolio needs a price for: each position's symbol and ``<asset>/<quote>`` for every non-quote cash
asset. If a needed price is missing it skips that tick (log + ``SnapshotSkipped`` metric) rather than
writing a wrong equity. Marking happens on the event loop (the portfolio is not thread-safe and is
updated there); the blocking store write runs in a thread.

Bounded: ticks are on a fixed grid of ``interval_s``; a tick that comes late (slow write, busy loop) is
not caught up, the writer waits for the next grid point, so there is at most one write per interval
and never a burst. Snapshot timestamps are the grid point (epoch ms), so a rewrite of the same instant
replaces the record.

The store's :class:`~tradeops.store.snapshots.SnapshotRecord` holds totals only (equity, cash,
realized/unrealized PnL, gross/net exposure); per-symbol exposure stays in the in-memory
:class:`~tradeops.domain.portfolio.PortfolioSnapshot` (:attr:`SnapshotWriter.last_snapshot`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

from aws_lambda_powertools import Metrics

from tradeops.aio import cancel_and_wait
from tradeops.domain.portfolio import MissingPriceError, Portfolio, PortfolioSnapshot
from tradeops.gateway.clock import wall_ms
from tradeops.observability import MetricUnit, emit_metric, get_logger
from tradeops.store.snapshots import SnapshotRecord

__all__ = ["SnapshotSink", "SnapshotWriter", "needed_symbols", "to_record"]

log = get_logger("tradeops.gateway")


class SnapshotSink(Protocol):
    """Where snapshots go (blocking; :class:`tradeops.store.snapshots.SnapshotStore` fits)."""

    def put(self, snapshot: SnapshotRecord) -> None: ...


def needed_symbols(portfolio: Portfolio) -> list[str]:
    """Every symbol whose price marking ``portfolio`` may use: positions and non-quote cash assets."""
    quote = portfolio.quote_currency
    symbols = set(portfolio.positions)
    symbols.update(f"{asset}/{quote}" for asset, amount in portfolio.balances.items() if asset != quote)
    return sorted(symbols)


def to_record(account: str, snapshot: PortfolioSnapshot) -> SnapshotRecord:
    """The stored form of ``snapshot``: cash is the quote-currency balance."""
    return SnapshotRecord(
        account=account,
        ts=snapshot.ts,
        equity=snapshot.equity,
        cash=snapshot.balances.get(snapshot.quote_currency, Decimal(0)),
        realized_pnl=snapshot.realized_pnl,
        unrealized_pnl=snapshot.unrealized_pnl,
        gross_exposure=snapshot.gross_exposure,
        net_exposure=snapshot.net_exposure,
    )


class SnapshotWriter:
    """Marks ``portfolio`` at ``reference_mid`` prices and writes it to ``sink`` every ``interval_s``."""

    def __init__(
        self,
        portfolio: Portfolio | Callable[[], Portfolio],
        reference_mid: Callable[[str], Decimal | None],
        sink: SnapshotSink,
        *,
        account: str,
        interval_s: float = 1.0,
        now_ms: Callable[[], int] = wall_ms,
        metrics: Metrics | None = None,
    ) -> None:
        if not account:
            raise ValueError("a snapshot writer needs an account")
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self._portfolio = portfolio
        self._mid = reference_mid
        self._sink = sink
        self.account = account
        self._interval_ms = max(1, round(interval_s * 1000))
        self._now_ms = now_ms
        self._metrics = metrics
        self._task: asyncio.Task[None] | None = None
        self.last_snapshot: PortfolioSnapshot | None = None
        self.written = 0
        self.skipped = 0
        self.failed = 0

    def _current(self) -> Portfolio:
        source = self._portfolio
        return source if isinstance(source, Portfolio) else source()

    def mark(self, ts: int) -> PortfolioSnapshot | None:
        """The portfolio marked at ``ts`` with the current mids; None (counted) when a price is missing."""
        portfolio = self._current()
        prices: dict[str, Decimal] = {}
        for symbol in needed_symbols(portfolio):
            try:
                mid = self._mid(symbol)
            except Exception as exc:  # an unknown symbol in the market data view counts as no price
                log.warning("reference mid lookup failed", extra={"symbol": symbol, "error": repr(exc)})
                mid = None
            if mid is not None and mid.is_finite() and mid > 0:
                prices[symbol] = mid
        try:
            return portfolio.mark(prices, ts)
        except MissingPriceError as exc:
            self.skipped += 1
            log.warning("portfolio snapshot skipped: missing price", extra={"error": str(exc), "ts": ts})
            if self._metrics is not None:
                emit_metric(self._metrics, "SnapshotSkipped", 1, MetricUnit.Count, reason="missing_price")
            return None

    async def write_once(self, ts: int | None = None) -> SnapshotRecord | None:
        """Mark and store one snapshot at ``ts`` (default: now on the interval grid); None if skipped."""
        ts = self._grid(self._now_ms()) if ts is None else ts
        snapshot = self.mark(ts)
        if snapshot is None:
            return None
        record = to_record(self.account, snapshot)
        try:
            await asyncio.to_thread(self._sink.put, record)
        except Exception as exc:
            self.failed += 1
            log.error("portfolio snapshot write failed", extra={"error": repr(exc), "ts": ts})
            if self._metrics is not None:
                emit_metric(self._metrics, "SnapshotWriteFailures", 1, MetricUnit.Count)
            return None
        self.last_snapshot = snapshot
        self.written += 1
        return record

    def _grid(self, now_ms: int) -> int:
        return now_ms - now_ms % self._interval_ms

    async def run(self) -> None:
        """Write one snapshot per grid point until cancelled; late ticks are skipped, not caught up."""
        last_ts: int | None = None
        while True:
            ts = self._grid(self._now_ms())
            if ts != last_ts:
                last_ts = ts
                try:
                    await self.write_once(ts)
                except Exception:  # e.g. a portfolio bug: keep the loop (and the gateway) alive
                    self.failed += 1
                    log.exception("portfolio snapshot failed")
            wait_ms = self._grid(self._now_ms()) + self._interval_ms - self._now_ms()
            await asyncio.sleep(max(wait_ms, 1) / 1000)

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("snapshot writer already started")
        self._task = asyncio.get_running_loop().create_task(self.run(), name="snapshot-writer")

    async def stop(self) -> None:
        """Stop writing (idempotent); a write in flight is cancelled on the loop, its thread finishes."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
