"""Playwright on Debian's chromium: pages that record console errors, login, waits, screenshots."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, expect

from ._stack import REPO, Stack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
]
ARTIFACTS = REPO / "tests" / "e2e" / "artifacts"
ACTION_TIMEOUT_MS = 15_000
SETTLE_TIMEOUT_MS = 45_000
SMALL = {"width": 1280, "height": 800}
LARGE = {"width": 1920, "height": 1080}


class ConsoleErrors:
    """Console errors and uncaught exceptions of every page of a context; `allow` patterns are expected."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.allowed: list[re.Pattern[str]] = []

    def watch(self, page: Page) -> None:
        page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@contextmanager
def browser_page(browser: Browser, viewport: dict[str, int] = SMALL) -> Iterator[tuple[Page, ConsoleErrors]]:
    """A fresh context and page; fails the test if the page logged any unexpected console error."""
    context: BrowserContext = browser.new_context(viewport=viewport, accept_downloads=True)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    console = ConsoleErrors()
    page = context.new_page()
    console.watch(page)
    try:
        yield page, console
    finally:
        context.close()
    assert not console.unexpected(), f"browser console errors: {console.unexpected()}"


def login(page: Page, stack: Stack, username: str) -> None:
    page.goto(stack.ui)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(stack.password(username))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("username")).to_have_text(username)


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def open_page(page: Page, title: str) -> None:
    """Click a navigation link and wait until its data has loaded (no loading state left)."""
    page.get_by_role("navigation", name="Pages").get_by_role("link", name=title, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    settle(page)


def settle(page: Page) -> None:
    """Wait until nothing on the page is loading (audit verification can take a while on a busy stack)."""
    expect(page.locator(".state.loading")).to_have_count(0, timeout=SETTLE_TIMEOUT_MS)


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
