"""The kill switch from the UI (its own stack: the module leaves trading HALTED).

A halt without flatten cancels every working order and keeps the stop-loss/take-profit OCO legs that
protect open positions (docs/runbooks/kill-switch.md): those are the only orders left open.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from tradeops.domain.protection import parse_leg_id

from ._browser import browser_page, login, open_page, screenshot, settle
from ._flows import expect_order_state, order_row, place_resting_buy
from ._stack import Stack, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e"), pytest.mark.timeout(300)]

OPEN_ORDERS_WITHIN_MS = 90_000
CANCELLED_WITHIN_MS = 30_000
KILL_ANSWERED_WITHIN_MS = 30_000


def _is_protective(client_order_id: str) -> bool:
    return parse_leg_id(client_order_id) is not None


def test_the_kill_switch_halts_trading_and_the_open_orders_disappear(stack: Stack, browser: Browser) -> None:
    """Working orders are cancelled; the OCO legs protecting positions stay (docs/runbooks/kill-switch.md)."""
    with browser_page(browser) as (page, _):
        login(page, stack, stack.user_with("trader"))
        resting = place_resting_buy(page, stack)  # a working order that must disappear
        expect_order_state(page, resting, "OPEN")
        page.get_by_label("Status").select_option("OPEN")
        open_orders = page.locator("tr[data-order-id]")
        # the filtered list has loaded once the resting order's row is in it (the unfiltered rows may
        # still be on screen for a moment after the filter changes)
        expect(page.locator(f'tr[data-order-id="{resting}"]')).to_be_visible(timeout=OPEN_ORDERS_WITHIN_MS)
        opened: list[str] = open_orders.evaluate_all("rows => rows.map(r => r.dataset.orderId)")
        assert resting in opened

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

        open_page(page, "Orders & trades")
        page.get_by_label("Status").select_option("OPEN")
        settle(page)

        def only_protection_left() -> bool:
            ids = open_orders.evaluate_all("rows => rows.map(r => r.dataset.orderId)")
            return resting not in ids and all(_is_protective(cid) for cid in ids)

        wait_for(
            only_protection_left, CANCELLED_WITHIN_MS / 1000, "only protective legs left open in the ledger"
        )
        page.get_by_label("Status").select_option("")
        page.get_by_label("Search loaded rows").fill(resting)
        expect(order_row(page, resting).locator(".order-state")).to_have_text("CANCELED")
        screenshot(page, "ledger-halted")
        open_page(page, "Overview")
        screenshot(page, "overview-halted")
    # Ground truth on the venue: no working order is left open.
    working = {cid for cid in opened if not _is_protective(cid)}
    wait_for(
        lambda: not stack.venue_open_orders(working), CANCELLED_WITHIN_MS / 1000, "working orders cancelled"
    )


def test_the_kill_switch_dialog_closes_on_escape_and_keeps_focus_inside(
    stack: Stack, browser: Browser
) -> None:
    with browser_page(browser) as (page, _):
        login(page, stack, stack.user_with("risk"))
        state = page.get_by_test_id("trading-state")
        expect(state).to_have_text(re.compile("ACTIVE|REDUCING|HALTED"), timeout=30_000)  # page loaded
        if state.inner_text().strip() == "HALTED":  # the other test of this module halted trading already
            opener = page.get_by_role("button", name="Request resume…")
        else:
            opener = page.get_by_role("button", name="Kill switch…")
        opener.focus()
        page.keyboard.press("Enter")
        dialog = page.get_by_role("dialog")
        expect(dialog).to_be_visible()
        for _ in range(6):
            page.keyboard.press("Tab")
            assert page.evaluate("() => !!document.activeElement.closest('dialog')"), "focus left the dialog"
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
