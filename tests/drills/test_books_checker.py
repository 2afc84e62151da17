"""The books checker itself: it must see what it exists to catch, all of it at once.

Orders placed on the venue with the rig's key behind the platform's back (no gateway: nothing journaled)
are a duplicate client order id, venue orders missing from the journal and fills missing from the
fills table; one report must name each of them.
"""

from __future__ import annotations

import pytest

from tradeops.config import Settings
from tradeops.domain.ids import client_order_id

from ._books import check_books
from ._rig import KEY, open_rig

pytestmark = [pytest.mark.integration, pytest.mark.drill, pytest.mark.timeout(60)]


async def test_orders_behind_the_platforms_back_are_each_reported(aws_settings: Settings) -> None:
    async with open_rig(aws_settings) as rig:
        cid = client_order_id("behind-the-back")
        order = {
            "symbol": "SOLUSDT",
            "side": "BUY",
            "type": "MARKET",
            "quantity": "0.5",
            "newClientOrderId": cid,
        }
        for _ in range(2):  # a filled order is not open: the venue accepts the same id again
            rig.sim.venue.new_order(KEY["apiKey"], dict(order))
        report = await check_books(rig)
        venue_orders = await rig.venue_orders()

    assert not report.ok
    assert report.venue_orders == 2 and report.local_orders == 0
    text = "\n".join(report.problems)
    assert f"{cid}: 2 venue orders for one client order id" in text
    assert f"{cid}: venue order" in text and "missing from the journal" in text
    assert sum("not in the fills table" in p for p in report.problems) == report.venue_fills >= 2
    assert "position SOL/USDT: local fills net 0, venue fills net 0.999" in text  # net of the base fee
    assert all(o["clientOrderId"] == cid for o in venue_orders)
    assert report.summary().count("\n  - ") == len(report.problems)
