"""The operator UI against `tradeops up` in Debian's chromium: trader, four-eyes risk, viewer, every page.

Screenshots of every page go to tests/e2e/artifacts/ (the overview also to docs/screenshot-overview.png).
"""

from __future__ import annotations

import shutil
from decimal import Decimal

import pytest
from playwright.sync_api import Browser, expect

from ._browser import LARGE, browser_page, login, open_page, screenshot, settle, sign_out
from ._flows import expect_order_state, order_row, place_resting_buy
from ._stack import REPO, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e"), pytest.mark.timeout(300)]

PAGES = [
    "Overview",
    "Positions",
    "Orders & trades",
    "Risk",
    "Strategies",
    "Alerts",
    "Reconciliation",
    "Audit",
]
CURVE_MOVES_WITHIN_MS = 20_000
BOOK_WITHIN_MS = 60_000  # the demo strategy's first orders and fills
CHANGED_LIMIT = "max_daily_notional"  # doubled: loosens nothing the other tests rely on


def test_a_trader_logs_in_and_sees_the_equity_curve_move(stack: Stack, browser: Browser) -> None:
    with browser_page(browser) as (page, _):
        login(page, stack, stack.user_with("trader"))
        chart = page.get_by_test_id("equity-chart")
        expect(chart).to_be_visible()
        expect(page.get_by_test_id("trading-state")).to_have_text("ACTIVE")
        expect(page.get_by_test_id("pnl-today")).not_to_have_text("—")
        before = (chart.get_attribute("data-points"), chart.get_attribute("data-last-ts"))
        page.wait_for_function(
            """([el, points, ts]) => el.dataset.points !== points || el.dataset.lastTs !== ts""",
            arg=[chart.element_handle(), *before],
            timeout=CURVE_MOVES_WITHIN_MS,
        )
        assert int(chart.get_attribute("data-points") or 0) >= 1
        expect(page.get_by_test_id("health-strip")).to_contain_text("Gateway: ready")  # status is fresh
        expect(page.get_by_test_id("gateway-down")).to_have_count(0)
        expect(page.get_by_test_id("exposure").locator("tbody tr").first).to_be_visible(
            timeout=BOOK_WITHIN_MS
        )


def test_a_trader_places_and_cancels_a_limit_order_and_sees_it_in_the_ledger(
    stack: Stack, browser: Browser
) -> None:
    with browser_page(browser) as (page, _):
        login(page, stack, stack.user_with("trader"))
        client_order_id = place_resting_buy(page, stack)
        expect_order_state(page, client_order_id, "OPEN")
        row = order_row(page, client_order_id)
        expect(row).to_contain_text("manual")
        row.get_by_role("button", name=f"Cancel order {client_order_id}").click()
        expect_order_state(page, client_order_id, "CANCELED")
        page.get_by_label("Search loaded rows").fill(client_order_id)
        expect(page.locator("tr[data-order-id]")).to_have_count(1)
        with page.expect_download() as download:
            page.get_by_role("button", name="Export CSV (1 rows)").click()
        csv = download.value.path().read_text()
        assert client_order_id in csv and "CANCELED" in csv
        screenshot(page, "ledger")
        row.get_by_role("link", name=client_order_id).click()
        expect(page.get_by_test_id("order-state")).to_have_text("CANCELED")
        settle(page)
        expect(page.locator("table tbody tr").first).to_be_visible()  # the order's journal history
        screenshot(page, "order-detail")


def test_four_eyes_a_proposer_cannot_approve_and_a_second_risk_user_can(
    stack: Stack, browser: Browser
) -> None:
    proposer, approver = stack.user_with("risk", 0), stack.user_with("risk", 1)
    with browser_page(browser) as (page, _):
        login(page, stack, proposer)
        open_page(page, "Risk")
        preferred = page.locator(f'tr[data-limit="{CHANGED_LIMIT}"]')
        row = preferred if preferred.count() else page.locator("tr[data-limit]").first
        name, scope = row.get_attribute("data-limit"), row.get_attribute("data-scope")
        old_value = Decimal(row.locator(".limit-value").get_attribute("data-value") or "")
        new_value = old_value * 2 if old_value else Decimal(1)
        page.get_by_label("Limit", exact=True).fill(name or "")
        page.get_by_label("Scope").fill(scope or "")
        page.get_by_label("New value").fill(str(new_value))
        page.get_by_label("Reason").fill("e2e: four-eyes change")
        page.get_by_role("button", name="Propose", exact=True).click()
        notice = page.get_by_role("status").filter(has_text="created")
        proposal_id = notice.inner_text().split("Proposal ", 1)[1].split(" ", 1)[0]
        proposal = page.locator(f'tr[data-proposal-id="{proposal_id}"]')
        expect(proposal).to_contain_text(proposer)
        expect(proposal.get_by_role("button", name="Approve")).to_be_disabled()
        expect(proposal).to_contain_text("a different user must approve it")
        screenshot(page, "risk-proposer")
        sign_out(page)

        login(page, stack, approver)
        open_page(page, "Risk")
        proposal.get_by_role("button", name="Approve").click()
        changed = page.locator(f'tr[data-limit="{name}"][data-scope="{scope}"] .limit-value')
        page.wait_for_function(
            "([el, want]) => el && Number(el.dataset.value) === Number(want)",
            arg=[changed.element_handle(), str(new_value)],
        )
        assert Decimal(changed.get_attribute("data-value") or "") == new_value
        expect(proposal).to_have_count(0)  # no longer pending
        page.get_by_label("Status").select_option("APPLIED")  # approving applies the change at once
        expect(proposal).to_contain_text("APPLIED")
        expect(proposal).to_contain_text(approver)
        expect(proposal).to_contain_text(proposer)
        screenshot(page, "risk-approved")


def test_a_viewer_sees_no_controls(stack: Stack, browser: Browser) -> None:
    with browser_page(browser) as (page, _):
        login(page, stack, stack.user_with("viewer"))
        nav = page.get_by_role("navigation", name="Pages").get_by_role("link")
        titles = nav.all_inner_texts()
        assert "Overview" in titles and "Orders & trades" in titles
        for title in titles:
            open_page(page, title)
            expect(page.locator("[data-control]")).to_have_count(0)
        open_page(page, "Overview")
        expect(page.get_by_role("button", name="Kill switch…")).to_have_count(0)


def test_a_stale_or_invalid_session_returns_to_the_login_page_with_a_message(
    stack: Stack, browser: Browser
) -> None:
    with browser_page(browser) as (page, console):
        console.allow(r"status of 401")  # the API's answer to the forged token, logged by chromium
        login(page, stack, stack.user_with("trader"))
        # Forge the token in the reloaded document before the app starts. Forging it in the live
        # page races its 1 s health poll: the poll meets the 401 first, signs out and clears the
        # session, and the reload then finds no session to refuse (and so shows no message).
        page.add_init_script(
            """(() => {
                const s = JSON.parse(sessionStorage.getItem("tradeops.session"));
                sessionStorage.setItem("tradeops.session", JSON.stringify({...s, token: "not-a-jwt"}));
            })()"""
        )
        page.reload()
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        expect(page.get_by_role("status")).to_contain_text("sign in again")


@pytest.mark.parametrize("role", ["admin", "trader"])
def test_every_page_renders_without_errors_and_is_saved_as_a_screenshot(
    stack: Stack, browser: Browser, role: str
) -> None:
    with browser_page(browser) as (page, _):
        login(page, stack, stack.user_with(role))
        titles = page.get_by_role("navigation", name="Pages").get_by_role("link").all_inner_texts()
        assert titles and set(titles) <= set(PAGES)
        for title in titles:
            open_page(page, title)
            expect(page.locator(".state.error")).to_have_count(0)
            screenshot(page, f"{role}-{title.lower().replace(' & ', '-').replace(' ', '-')}")
    if role == "admin":
        with browser_page(browser, viewport=LARGE) as (page, _):
            login(page, stack, stack.user_with(role))
            open_page(page, "Overview")
            page.wait_for_function(
                "() => Number(document.querySelector('[data-testid=equity-chart]').dataset.points) > 1"
            )
            expect(page.get_by_test_id("health-strip")).to_contain_text("Gateway: ready")
            expect(page.get_by_test_id("gateway-down")).to_have_count(0)  # the README shows a live book
            expect(page.get_by_test_id("exposure").locator("tbody tr").first).to_be_visible(
                timeout=BOOK_WITHIN_MS
            )
            shutil.copyfile(screenshot(page, "overview-1920"), REPO / "docs" / "screenshot-overview.png")
