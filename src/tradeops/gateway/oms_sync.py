"""Keeping orders true to the venue: the user stream, and a polling fallback for what the stream misses.

:class:`UserStreamSync` applies execution reports (status and each trade) as they arrive and reconnects
with capped backoff. :class:`OrderPoller` reads open orders per symbol and queries the orders that left
the open list (or whose trades are owed) by client order id, every ``poll_interval_s`` normally and
every ``poll_fast_interval_s`` once the stream has been silent for ``stream_silence_s``. Both paths end
in the same :class:`~tradeops.gateway.oms.OrderManager` calls, deduplicated by trade id, so a fill seen
on both is applied once.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

from tradeops.domain.orders import Fill, Order, OrderState
from tradeops.domain.values import Side
from tradeops.gateway.oms import OrderManager
from tradeops.gateway.oms_ports import UserStream
from tradeops.observability import get_logger
from tradeops.store.journal import FencedOut
from tradeops.venue.mapping import MappingError, VenueOrder, optional_decimal, venue_decimal
from tradeops.venue.outcomes import Accepted

log = get_logger("tradeops.gateway.oms")
T = TypeVar("T")


def _text(report: Mapping[str, Any], key: str) -> str:
    value = report.get(key)
    if value is None or value == "":
        raise MappingError(f"executionReport: {key} is missing")
    return str(value)


def _int(report: Mapping[str, Any], key: str) -> int:
    return int(venue_decimal(report.get(key), f"executionReport {key}"))


def _side(report: Mapping[str, Any]) -> Side:
    try:
        return Side(_text(report, "S").lower())
    except ValueError:
        raise MappingError(f"executionReport: side {report.get('S')!r}") from None


def order_from_execution_report(report: Mapping[str, Any], symbol: str) -> VenueOrder:
    """A VenueOrder from a raw spot ``executionReport`` (decimal strings: exact) on unified ``symbol``."""
    return VenueOrder(
        client_order_id=_text(report, "c"),
        venue_order_id=_text(report, "i"),
        symbol=symbol,
        side=_side(report),
        type=_text(report, "o"),
        status=_text(report, "X"),
        quantity=venue_decimal(report.get("q"), "executionReport q"),
        filled=venue_decimal(report.get("z"), "executionReport z"),
        average_price=None,
        price=optional_decimal(report.get("p"), "executionReport p") or None,
        stop_price=optional_decimal(report.get("P"), "executionReport P") or None,
        fills=(),
        created_at=_int(report, "O") if report.get("O") is not None else None,
        updated_at=_int(report, "T") if report.get("T") is not None else None,
        list_id=None,
    )


def fill_from_execution_report(report: Mapping[str, Any], symbol: str) -> Fill | None:
    """The trade of a ``TRADE`` executionReport as a Fill (None for any other execution type)."""
    if report.get("x") != "TRADE":
        return None
    commission = report.get("n")
    return Fill(
        client_order_id=_text(report, "c"),
        trade_id=_text(report, "t"),
        symbol=symbol,
        side=_side(report),
        price=venue_decimal(report.get("L"), "executionReport L"),
        quantity=venue_decimal(report.get("l"), "executionReport l"),
        fee=Decimal(0) if commission is None else venue_decimal(commission, "executionReport n"),
        fee_asset=str(report.get("N") or ""),
        ts=_int(report, "T"),
        is_maker=bool(report.get("m")),
    )


class CcxtUserStream:
    """:class:`UserStream` over a ccxt.pro binance (``make_ccxt_exchange(..., pro=True)``); owns it."""

    def __init__(self, exchange: Any) -> None:
        self._exchange = exchange

    async def watch_orders(self) -> list[VenueOrder]:
        return self._map(await self._exchange.watch_orders(), order_from_execution_report)

    async def watch_fills(self) -> list[Fill]:
        fills = self._map(await self._exchange.watch_my_trades(), fill_from_execution_report)
        return [fill for fill in fills if fill is not None]

    async def close(self) -> None:
        await self._exchange.close()

    @staticmethod
    def _map(items: list[dict[str, Any]], convert: Callable[[Mapping[str, Any], str], T]) -> list[T]:
        mapped: list[T] = []
        for item in items:
            try:
                mapped.append(convert(item["info"], str(item["symbol"])))
            except (MappingError, KeyError, ValueError) as exc:
                log.error("unreadable executionReport skipped", extra={"error": str(exc)})
        return mapped


class UserStreamSync:
    """Applies the user stream to the order manager; knows how long the stream has been silent."""

    def __init__(
        self, manager: OrderManager, stream: UserStream, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._manager = manager
        self._stream = stream
        self._monotonic = monotonic
        self._last_event = monotonic()

    def silent_for_s(self) -> float:
        """Seconds since the last batch of execution reports (or since start)."""
        return self._monotonic() - self._last_event

    async def run(self) -> None:
        """Both watch loops until cancelled; the stream is closed on the way out."""
        manager = self._manager
        try:
            await asyncio.gather(
                self._loop("orders", self._stream.watch_orders, manager.apply_venue_order),
                self._loop("fills", self._stream.watch_fills, manager.apply_fill),
            )
        finally:
            await self._stream.close()

    async def _loop(
        self,
        name: str,
        watch: Callable[[], Awaitable[list[T]]],
        apply: Callable[[T], Awaitable[Order | None]],
    ) -> None:
        config = self._manager.config
        backoff = config.stream_reconnect_initial_s
        while True:
            try:
                batch = await watch()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # ccxt raises NetworkError and friends on a dropped socket
                log.warning("user stream failed; reconnecting", extra={"watch": name, "error": repr(exc)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, config.stream_reconnect_max_s)
                continue
            backoff = config.stream_reconnect_initial_s
            self._last_event = self._monotonic()
            for item in batch:
                try:
                    await apply(item)
                except FencedOut:
                    raise
                except Exception:  # one report failing to apply must not stop the stream; polling catches up
                    log.exception("execution report not applied", extra={"watch": name})


class OrderPoller:
    """The polling fallback; faster while the user stream is silent."""

    def __init__(self, manager: OrderManager, stream_sync: UserStreamSync | None = None) -> None:
        self._manager = manager
        self._stream_sync = stream_sync

    def interval_s(self) -> float:
        config = self._manager.config
        if self._stream_sync is None or self._stream_sync.silent_for_s() > config.stream_silence_s:
            return config.poll_fast_interval_s
        return config.poll_interval_s

    async def run(self) -> None:
        """Poll until cancelled; a failed cycle is logged and the next one runs on schedule.

        The loop wakes every ``poll_fast_interval_s`` and polls once the current interval has passed,
        so a stream falling silent shortens the wait already in progress.
        """
        last_poll = time.monotonic()
        while True:
            await asyncio.sleep(self._manager.config.poll_fast_interval_s)
            if time.monotonic() - last_poll < self.interval_s():
                continue
            last_poll = time.monotonic()
            try:
                await self.poll_once()
            except (asyncio.CancelledError, FencedOut):
                raise
            except Exception:
                log.exception("order poll failed")

    async def poll_once(self) -> None:
        """One pass over working orders (per symbol) and orders whose trades are owed."""
        manager = self._manager
        by_symbol: dict[str, list[Order]] = defaultdict(list)
        for order in manager.working_orders():
            if not manager.is_busy(order.client_order_id):
                by_symbol[order.symbol].append(order)
        for symbol, orders in by_symbol.items():
            outcome = await manager.venue.fetch_open_orders(symbol)
            if not isinstance(outcome, Accepted):
                log.warning("open orders unavailable", extra={"symbol": symbol})
                continue
            open_orders = {report.client_order_id: report for report in outcome.value}
            for order in orders:
                report = open_orders.get(order.client_order_id)
                if report is None:
                    await manager.resolver.check(order.client_order_id)
                elif report.filled > order.filled_quantity or report.status != _venue_status(order):
                    await manager.apply_venue_order(report, fetch_missing_trades=True)
        for order in manager.owing_fills():
            await manager.import_trades(order)


_VENUE_STATUS_NAMES = {OrderState.OPEN: "NEW", OrderState.CANCELING: "PENDING_CANCEL"}


def _venue_status(order: Order) -> str:
    """The Binance status our state corresponds to (for change detection only)."""
    return _VENUE_STATUS_NAMES.get(order.state, order.state.value)
