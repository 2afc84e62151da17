"""Operator actions the tests share: a resting manual limit order and waiting on its ledger row."""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, Decimal

from playwright.sync_api import Locator, Page, expect

from ._browser import open_page, settle
from ._stack import Stack

SYMBOL = "BTC/USDT"
ORDER_QUANTITY = "0.001"
RESTING_DISCOUNT = Decimal("0.993")  # 0.7 % under the bid: rests, yet inside the 1 % price collar
FILL_TIMEOUT_MS = 30_000


def place_resting_buy(page: Page, stack: Stack) -> str:
    """Place a limit buy under the market through the UI; its client order id."""
    price = (stack.best_bid(SYMBOL) * RESTING_DISCOUNT).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    open_page(page, "Orders & trades")
    page.get_by_role("button", name="New order…").click()
    dialog = page.get_by_role("dialog", name="New manual order")
    dialog.get_by_label("Symbol").fill(SYMBOL)
    dialog.get_by_label("Side").select_option("buy")
    dialog.get_by_label("Type").select_option("limit")
    dialog.get_by_label("Quantity").fill(ORDER_QUANTITY)
    dialog.get_by_label("Limit price").fill(str(price))
    dialog.get_by_role("button", name="Place order").click()
    expect(dialog).to_be_hidden()
    notice = page.get_by_role("status").filter(has_text="Order accepted:")
    match = re.search(r"Order accepted: (\S+)", notice.inner_text())
    assert match, notice.inner_text()
    return match.group(1)


def order_row(page: Page, client_order_id: str) -> Locator:
    return page.locator(f'tr[data-order-id="{client_order_id}"]')


def expect_order_state(page: Page, client_order_id: str, state: str) -> None:
    settle(page)
    expect(order_row(page, client_order_id).locator(".order-state")).to_have_text(
        state, timeout=FILL_TIMEOUT_MS
    )
