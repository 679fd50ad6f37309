"""The status page in a real browser (Debian's chromium, headless): what a person sees. The screenshot is kept
as a test artifact in test-artifacts/ (or $TEST_ARTIFACTS_DIR)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from adapters.moneybird.simulator import MoneybirdSimulator
from connector.clock import ManualClock
from connector.config import settings_from_dict
from connector.daemon import Daemon
from connector.web.app import Site, create_app
from connector.web.server import WebServer
from tests.conftest import FAST_RETRIES, SIM_TODAY
from tests.support.tools import artifacts

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and os.environ.get("CI"):
    raise RuntimeError("CI must run the browser test: install Debian's chromium (.ci/run does)")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium: apt-get install chromium to run the browser test"
)


class _Text(HTMLParser):
    """The text a person reads, per element class."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._skip += tag in ("style", "script", "title")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("style", "script", "title")

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.text.append(" ".join(data.split()))


@pytest.fixture
def status_url(tmp_path: Path, clock: ManualClock) -> Iterator[tuple[str, Daemon]]:
    with MoneybirdSimulator.generate(invoices=40, contacts=10, seed=9, today=SIM_TODAY) as simulator:
        raw = {
            "connector": {"database_url": f"sqlite:///{tmp_path / 'c.db'}"},
            "cockpit": {"enabled": False},  # the operations page alone, as before the cockpit
            "administrations": [
                {
                    "name": "bakkerij",
                    "platform": "moneybird",
                    "base_url": simulator.base_url,
                    "administration_id": simulator.administration_ids[0],
                    "token": "${T}",
                },
                {
                    "name": "not-yet-synced",
                    "platform": "moneybird",
                    "base_url": simulator.base_url,
                    "administration_id": "123",
                    "token": "${T}",
                },
            ],
        }
        daemon = Daemon(settings_from_dict(raw, environ={"T": "t-0123456789"}), clock=clock, http_options=FAST_RETRIES)
        daemon.open()
        daemon.cycle("bakkerij")
        # Without the cockpit the operations page is open to whoever reaches the port (no status_token here).
        server = WebServer(create_app(Site(daemon.settings, daemon.store, clock), daemon.endpoints()), "127.0.0.1", 0)
        server.start()
        try:
            yield f"{server.url}/status", daemon
        finally:
            server.stop()
            daemon.close()


def chromium(*arguments: str) -> str:
    assert CHROMIUM is not None
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", *arguments]
    # The browser only renders what the server sent: it runs on the real date even when the suite's date is moved
    # (libfaketime makes chromium hang), so its environment leaves the preloaded fake clock out.
    environ = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("FAKETIME")}
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True, env=environ)
    return result.stdout


def test_the_status_page_shows_each_administration(status_url: tuple[str, Daemon], tmp_path: Path) -> None:
    url, daemon = status_url
    dom = chromium("--dump-dom", url)
    reader = _Text()
    reader.feed(dom)
    text = " | ".join(reader.text)

    views = daemon.store.invoices("bakkerij")
    assert "bakkerij" in text and "ready" in text
    assert f"{len(views)} | open invoices" in text
    for bucket in ("not yet due", "1-30 days", "31-60 days", "61-90 days", "90+ days"):
        assert bucket in text
    # The administration that never synced is shown as not ready, with the reason.
    assert "not-yet-synced" in text and "not ready" in text and "no successful sync yet" in text

    screenshot = artifacts() / "status-page.png"
    screenshot.unlink(missing_ok=True)
    chromium(f"--screenshot={screenshot}", "--window-size=1280,1400", "--hide-scrollbars", url)
    assert screenshot.stat().st_size > 10_000
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
