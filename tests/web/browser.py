"""The browser tests' shared pieces: the headless Chromium (skipped where absent, required where
``ASSISTFLOW_REQUIRE_BROWSER`` says so), a live server on the test database, and a staff member's page."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PASSWORD, ROOT

# --- the browser and the live server -----------------------------------------------------------------


CHROMIUM = os.environ.get("ASSISTFLOW_CHROMIUM", "/usr/bin/chromium")


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


SHOTS = ROOT / "test-artifacts" / "screenshots"


TIMEOUT_MS = 30_000  # generous: CI runs on a busy 2-core machine


def wait_until(page: Any, expression: str, arg: Any = None, seconds: float = 30) -> Any:
    """Poll ``expression`` (a JavaScript function of ``arg``) in the page until it is truthy; its value.
    Playwright's ``wait_for_function`` polls with ``eval`` inside the page, which the pages' CSP
    (``script-src 'self'``) refuses whenever the first check is false; ``evaluate`` is not subject to it."""
    deadline = time.monotonic() + seconds
    while True:
        value = page.evaluate(expression, arg)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {seconds} s: {expression}")
        page.wait_for_timeout(50)


def _unavailable() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        return f"chromium not found at {CHROMIUM} (as root: apt-get install chromium)"
    return None


def _require_or_skip(reason: str | None) -> None:
    """Skip with the reason, or fail where the browser tests are required (CI)."""
    if reason is None:
        return
    if os.environ.get("ASSISTFLOW_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests are required here but cannot run: {reason}")
    pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    _require_or_skip(_unavailable())
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture()
def live_server(app, app_ctx) -> Iterator[str]:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class Staff:
    """One member of staff in their own browser context (own cookies)."""

    def __init__(self, browser, base: str, username: str, *, width: int = 1280, height: int = 860):
        self.base, self.username = base, username
        self.context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda err: self.errors.append(str(err)))
        # anything the pages' Content-Security-Policy refused (a script, style, font, image or request)
        self.page.on("console", self._csp_violation)

    def _csp_violation(self, message) -> None:
        if "Content Security Policy" in message.text:
            self.errors.append(message.text)

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)

    def login(self) -> Staff:
        self.goto("/login")
        self.page.get_by_label("用户名").fill(self.username)
        self.page.get_by_label("密码").fill(PASSWORD)
        self.page.get_by_label("密码").press("Enter")  # the keyboard submits the form
        self.page.wait_for_url(self.base + "/")
        return self

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def fits_width(self) -> bool:
        return self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")

    def close(self) -> None:
        assert not self.errors, self.errors  # no JavaScript errors on any page
        self.context.close()
