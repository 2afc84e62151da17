"""Protective OCO calls on the venue: place an :class:`~tradeops.domain.protection.OcoPlan`, list open OCOs.

A thin layer over :class:`~tradeops.venue.adapter.VenueAdapter` (kept out of it to keep it small): the
placement is the adapter's ``create_oco`` (``POST /api/v3/orderList/oco``); the list query runs through
the adapter's call wrapper, so it charges the shared weight budget, uses the current key and is
classified like every other call (a failed read is ``Retryable``). Cancelling is not here: cancelling
one leg of an OCO cancels the whole list on Binance, so the OMS cancels a leg like any order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ccxt.async_support import binance

from tradeops.domain.protection import OcoPlan
from tradeops.venue.adapter import Outcome, VenueAdapter
from tradeops.venue.mapping import MappingError, OcoResult
from tradeops.venue.outcomes import CallKind

__all__ = ["OPEN_ORDER_LIST_WEIGHT", "OpenOrderList", "ProtectiveOrders", "open_lists_from_raw"]

OPEN_ORDER_LIST_WEIGHT = 6
"""Binance request weight of ``GET /api/v3/openOrderList``."""


@dataclass(frozen=True)
class OpenOrderList:
    """An order list the venue reports open: its client id, venue symbol and legs' client ids."""

    list_client_order_id: str
    venue_symbol: str
    leg_client_order_ids: tuple[str, ...]


def open_lists_from_raw(raw: Any) -> dict[str, OpenOrderList]:
    """``GET /api/v3/openOrderList`` body -> open lists by list client id."""
    if not isinstance(raw, list):
        raise MappingError(f"openOrderList: expected a list, got {type(raw).__name__}")
    found: dict[str, OpenOrderList] = {}
    for entry in raw:
        if not isinstance(entry, Mapping) or not entry.get("listClientOrderId"):
            raise MappingError(f"openOrderList: entry without listClientOrderId: {entry!r}")
        legs = tuple(str(o.get("clientOrderId")) for o in entry.get("orders") or () if isinstance(o, Mapping))
        list_cid = str(entry["listClientOrderId"])
        found[list_cid] = OpenOrderList(list_cid, str(entry.get("symbol", "")), legs)
    return found


class ProtectiveOrders:
    """OCO placement and supervision queries through one shared adapter."""

    def __init__(self, adapter: VenueAdapter) -> None:
        self._adapter = adapter

    async def place(self, plan: OcoPlan) -> Outcome[OcoResult]:
        """Send ``plan`` (stop-loss-limit GTC + limit-maker take-profit) with its list client id."""
        return await self._adapter.create_oco(
            plan.symbol,
            plan.side,
            plan.quantity,
            take_profit_price=plan.take_profit_price,
            stop_price=plan.stop_price,
            stop_limit_price=plan.stop_limit_price,
            list_client_order_id=plan.list_client_order_id,
        )

    async def open_order_lists(self) -> Outcome[dict[str, OpenOrderList]]:
        """Every open order list of the account, by list client id."""

        async def op(ex: binance) -> dict[str, OpenOrderList]:
            return open_lists_from_raw(await ex.privateGetOpenOrderList({}))

        # The adapter's wrapper: weight budget, key choice and outcome classification in one place.
        return await self._adapter._call(CallKind.READ, OPEN_ORDER_LIST_WEIGHT, op)
