"""A real browser for the cockpit's tests: Debian's chromium, headless, driven by Playwright (whose own browser
download is never used), and axe-core's accessibility rules run in the page."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.tools import artifacts, tool

# The rules a page must pass: WCAG 2.1 A and AA (labels, contrast, names, structure), and axe's best practices.
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}}


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's chromium. It runs on the real date even when the suite's date is moved: libfaketime makes it hang,
    so neither Playwright's driver nor the browser gets the preloaded fake clock."""
    executable = tool("chromium", "chromium", also=("/usr/bin/chromium",))
    saved = {key: os.environ.pop(key) for key in list(os.environ) if key == "LD_PRELOAD" or key.startswith("FAKETIME")}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=executable,
                args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
                env={key: value for key, value in os.environ.items()},
            )
            try:
                yield browser
            finally:
                browser.close()
    finally:
        os.environ.update(saved)


def accessibility_problems(page: Page) -> list[str]:
    """What axe-core finds wrong on the page, one line per rule broken, with where."""
    found: dict[str, Any] = Axe().run(page, options=AXE_OPTIONS).response
    return [
        f"{rule['id']} ({rule['impact']}): {rule['help']} at {[node['target'] for node in rule['nodes']][:3]}"
        for rule in found["violations"]
    ]


def screenshot(page: Page, name: str) -> None:
    page.screenshot(path=str(artifacts() / name), full_page=True)
