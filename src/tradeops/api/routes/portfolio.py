"""Portfolio value, its history and positions.

Totals come from the latest snapshot (written every second by the gateway); mark prices from the
leader's fresh status record (none when the gateway is not reporting: marks and unrealized PnL are then
null rather than stale numbers). ``pnl_today`` is equity now minus the first snapshot of the UTC day;
``high_water_mark`` is the day's highest equity and ``drawdown`` = high-water mark - equity (quote
currency, >= 0). The day's figures are folded incrementally (:class:`DayStats`), so a request reads only
the snapshots written since the previous one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from decimal import Decimal

from tradeops.api import responses as r
from tradeops.api.context import Call, Services
from tradeops.api.errors import BadRequest
from tradeops.api.rbac import EVERYONE, RouteTable
from tradeops.api.requests import HistoryQuery
from tradeops.api.routes.health import fresh_status
from tradeops.api.serializers import dec, opt_dec
from tradeops.store.snapshots import SnapshotRecord

DAY_MS = 86_400_000
_PAGE = 1000


@dataclass
class _Day:
    day_start: int
    last_ts: int
    first_equity: Decimal
    high_water_mark: Decimal


class DayStats:
    """First and highest equity of the current UTC day per account, folded from new snapshots only."""

    def __init__(self) -> None:
        self._days: dict[str, _Day] = {}
        self._lock = threading.Lock()

    def update(self, services: Services, now: int) -> _Day | None:
        account = services.account
        day_start = now - now % DAY_MS
        with self._lock:
            day = self._days.get(account)
            if day is None or day.day_start != day_start:
                day = None
            cursor: str | None = None
            ts_from = day_start if day is None else day.last_ts + 1
            while True:
                page = services.snapshots.between(
                    account, ts_from=ts_from, ts_to=now, now_ms=now, limit=_PAGE, cursor=cursor
                )
                for snapshot in page.items:
                    day = _fold(day, snapshot, day_start)
                if page.cursor is None:
                    break
                cursor = page.cursor
            if day is not None:
                self._days[account] = day
            return day


def _fold(day: _Day | None, snapshot: SnapshotRecord, day_start: int) -> _Day:
    if day is None:
        return _Day(day_start, snapshot.ts, snapshot.equity, snapshot.equity)
    day.last_ts = max(day.last_ts, snapshot.ts)
    day.high_water_mark = max(day.high_water_mark, snapshot.equity)
    return day


def marks(services: Services, now: int) -> dict[str, Decimal]:
    """Mark price per symbol from the leader's fresh status record (empty when the gateway is silent)."""
    status = fresh_status(services, now)
    if status is None:
        return {}
    return {feed.symbol: feed.mark_price for feed in status.feeds if feed.mark_price is not None}


def register(table: RouteTable) -> None:
    day_stats = DayStats()

    @table.route(
        "GET", "/api/portfolio", roles=EVERYONE, tag="portfolio", response=r.PortfolioOut,
        summary="Equity, cash, PnL (today, realized, unrealized), drawdown and exposure by symbol",
    )  # fmt: skip
    def portfolio(call: Call) -> r.PortfolioOut:
        services = call.services
        now = services.clock_ms()
        latest = services.snapshots.latest(services.account)
        prices = marks(services, now)
        exposure = []
        for position in services.positions.for_account(services.account):
            if position.quantity == 0:
                continue
            mark = prices.get(position.symbol)
            notional = None if mark is None else position.quantity * mark
            exposure.append(
                r.ExposureOut(
                    symbol=position.symbol,
                    quantity=dec(position.quantity),
                    mark_price=opt_dec(mark),
                    notional=opt_dec(notional),
                )
            )
        if latest is None:
            return r.PortfolioOut(
                ts=None, equity=None, cash=None, realized_pnl=None, unrealized_pnl=None, pnl_today=None,
                drawdown=None, high_water_mark=None, gross_exposure=None, net_exposure=None,
                exposure=exposure,
            )  # fmt: skip
        day = day_stats.update(services, now)
        hwm = None if day is None else max(day.high_water_mark, latest.equity)
        return r.PortfolioOut(
            ts=latest.ts,
            equity=dec(latest.equity),
            cash=dec(latest.cash),
            realized_pnl=dec(latest.realized_pnl),
            unrealized_pnl=dec(latest.unrealized_pnl),
            pnl_today=None if day is None else dec(latest.equity - day.first_equity),
            drawdown=None if hwm is None else dec(hwm - latest.equity),
            high_water_mark=opt_dec(hwm),
            gross_exposure=dec(latest.gross_exposure),
            net_exposure=dec(latest.net_exposure),
            exposure=exposure,
        )

    @table.route(
        "GET", "/api/portfolio/history", roles=EVERYONE, tag="portfolio", query=HistoryQuery,
        response=r.HistoryPage, summary="Equity and PnL snapshots in [from, to] (oldest first, paged)",
    )  # fmt: skip
    def history(call: Call) -> r.HistoryPage:
        query = call.query_as(HistoryQuery)
        if query.from_ is not None and query.to is not None and query.to < query.from_:
            raise BadRequest("empty time range", fields={"query.to": "must be >= from"})
        services = call.services
        page = services.snapshots.between(
            services.account,
            ts_from=query.from_,
            ts_to=query.to,
            now_ms=services.clock_ms(),
            limit=query.limit,
            cursor=query.cursor,
        )
        items = [
            r.HistoryPointOut(
                ts=s.ts,
                equity=dec(s.equity),
                realized_pnl=dec(s.realized_pnl),
                unrealized_pnl=dec(s.unrealized_pnl),
            )
            for s in page.items
        ]
        return r.HistoryPage(items=items, next_cursor=page.cursor)

    @table.route(
        "GET", "/api/positions", roles=EVERYONE, tag="portfolio", response=r.PositionList,
        summary="Positions with mark price and unrealized PnL",
    )  # fmt: skip
    def positions(call: Call) -> r.PositionList:
        services = call.services
        prices = marks(services, services.clock_ms())
        items = []
        for position in services.positions.for_account(services.account):
            mark = prices.get(position.symbol)
            entry = position.avg_entry_price
            unrealized = None if mark is None or entry is None else (mark - entry) * position.quantity
            if mark is not None and entry is None:
                unrealized = Decimal(0)
            items.append(
                r.PositionOut(
                    symbol=position.symbol,
                    quantity=dec(position.quantity),
                    avg_entry_price=opt_dec(entry),
                    mark_price=opt_dec(mark),
                    unrealized_pnl=opt_dec(unrealized),
                    realized_pnl=dec(position.realized_pnl),
                    updated_at=position.updated_at,
                )
            )
        return r.PositionList(items=items)
