"""Playwright (sync API) driving Debian's chromium, headless, with no network beyond the test server.

Chromium comes from apt (`make test` installs it via its browser-deps target), never from
Playwright's own download: missing() skips locally and fails under CI when it is absent.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT, missing

CHROMIUM = os.environ.get("EMO7ION_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = ROOT / "var" / "screenshots"

# Playwright's sync API runs an event loop in this thread; Django refuses ORM calls from a thread with
# a running loop unless told that this (single-threaded test) use is safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def chromium_browser():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        missing(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; `make test` does)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed (requirements-dev.txt)")
    executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium_browser, live_server):
    """A fresh browser context (own cookies, downloads allowed). Every request that leaves the test
    server is recorded in page.outside_requests: no page may need the internet."""
    context = chromium_browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith((live_server.url, "data:", "blob:", "about:")) else None)
    page.outside_requests = outside
    # JavaScript errors, and responses that failed (the browser's own /favicon.ico probe aside).
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    page.on("pageerror", lambda e: console_errors.append(str(e)))
    page.on("response", lambda r: console_errors.append(f"HTTP {r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    page.console_errors = console_errors
    yield page
    context.close()
    # Every page any browser test opened loaded under the site's Content-Security-Policy without a violation.
    violations = [e for e in console_errors if "Content Security Policy" in e or "Content-Security-Policy" in e]
    assert not violations, f"CSP violations: {violations}"


def screenshot(page, name: str, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def sign_in(page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    page.wait_for_load_state("load")
    assert "/accounts/login/" not in page.url, "sign-in failed"


def wait_for_charts(page, minimum: int) -> int:
    """Every .js-plotly-plot holds an svg drawn by plotly.js; returns how many there are."""
    page.wait_for_function(
        """(n) => { const plots = [...document.querySelectorAll('.js-plotly-plot')];
                    return plots.length >= n && plots.every(p => p.querySelector('svg.main-svg')); }""",
        arg=minimum, timeout=30_000)
    return page.locator(".js-plotly-plot").count()


def wait_for_images(page, selector: str) -> int:
    """Scroll each (lazily loaded) image into view and wait until it has decoded; returns how many."""
    images = page.locator(selector)
    for i in range(images.count()):
        images.nth(i).scroll_into_view_if_needed()
        page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=images.nth(i).element_handle())
    page.evaluate("window.scrollTo(0, 0)")
    return images.count()
