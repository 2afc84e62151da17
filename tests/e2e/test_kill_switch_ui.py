"""The kill switch from the UI (its own stack: the module leaves trading HALTED)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from ._browser import browser_page, login, open_page, screenshot, settle
from ._stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e"), pytest.mark.timeout(300)]

OPEN_ORDERS_WITHIN_MS = 90_000
CANCELLED_WITHIN_MS = 30_000
KILL_ANSWERED_WITHIN_MS = 30_000


def test_the_kill_switch_halts_trading_and_the_open_orders_disappear(stack: Stack, browser: Browser) -> None:
    with browser_page(browser) as (page, _):
        login(page, stack, stack.user_with("trader"))
        open_page(page, "Orders & trades")
        page.get_by_label("Status").select_option("OPEN")
        open_orders = page.locator("tr[data-order-id]")
        expect(open_orders.first).to_be_visible(timeout=OPEN_ORDERS_WITHIN_MS)  # the demo strategy's orders
        opened = open_orders.evaluate_all("rows => rows.map(r => r.dataset.orderId)")

        open_page(page, "Overview")
        page.get_by_role("button", name="Kill switch…").click()
        dialog = page.get_by_role("dialog", name="Engage the kill switch")
        halt = dialog.get_by_role("button", name="Halt trading")
        expect(halt).to_be_disabled()  # a reason is required
        dialog.get_by_label("Reason").fill("e2e: kill switch drill")
        halt.click()
        expect(dialog).to_be_hidden(timeout=KILL_ANSWERED_WITHIN_MS)
        expect(page.get_by_test_id("trading-state")).to_have_text("HALTED", timeout=10_000)
        expect(page.get_by_role("button", name="Kill switch…")).to_have_count(0)
        screenshot(page, "overview-halted")

        open_page(page, "Orders & trades")
        page.get_by_label("Status").select_option("OPEN")
        settle(page)
        expect(page.get_by_text("No orders match these filters.")).to_be_visible(timeout=CANCELLED_WITHIN_MS)
        page.get_by_label("Status").select_option("")
        page.get_by_label("Search loaded rows").fill(opened[0])
        expect(page.locator(f'tr[data-order-id="{opened[0]}"] .order-state')).not_to_have_text("OPEN")
        screenshot(page, "ledger-halted")


def test_the_kill_switch_dialog_closes_on_escape_and_keeps_focus_inside(
    stack: Stack, browser: Browser
) -> None:
    with browser_page(browser) as (page, _):
        login(page, stack, stack.user_with("risk"))
        opener = page.get_by_role("button", name="Kill switch…")
        if not opener.count():  # the other test of this module halted trading already
            expect(page.get_by_test_id("trading-state")).to_have_text("HALTED")
            opener = page.get_by_role("button", name="Request resume…")
        opener.focus()
        page.keyboard.press("Enter")
        dialog = page.get_by_role("dialog")
        expect(dialog).to_be_visible()
        for _ in range(6):
            page.keyboard.press("Tab")
            assert page.evaluate("() => !!document.activeElement.closest('dialog')"), "focus left the dialog"
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
