"""Progress on a terminal: a long sync or dispatch shows how far it is; a pipe gets only the summary."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import threading
from pathlib import Path

from adapters.moneybird.simulator import MoneybirdSimulator
from tests.conftest import SIM_TODAY
from tests.connector.test_cli import connector
from tests.support.processes import child_environ


def on_a_terminal(*args: str, cwd: Path) -> tuple[int, str, str]:
    """Run `connector` with its stderr on a pseudo-terminal (as a person at a shell has it)."""
    master, slave = pty.openpty()
    environ = child_environ(COLUMNS="200", TERM="xterm")
    process = subprocess.Popen(
        [sys.executable, "-m", "connector", *args],
        cwd=cwd,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
    )
    os.close(slave)
    seen = bytearray()

    def read() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the other end closed
                return
            if not chunk:
                return
            seen.extend(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    stdout, _ = process.communicate(timeout=120)
    reader.join(10)
    os.close(master)
    return process.returncode, stdout, seen.decode(errors="replace")


def test_a_sync_shows_its_progress_on_a_terminal_and_nothing_in_a_pipe(tmp_path: Path) -> None:
    with MoneybirdSimulator.generate(invoices=400, contacts=60, seed=4, today=SIM_TODAY, rate_limit=10_000) as sim:
        (tmp_path / "config.toml").write_text(
            f"""
[connector]
database_url = "sqlite:///connector.db"

[[administrations]]
name = "shop"
platform = "moneybird"
base_url = "{sim.base_url}"
administration_id = "{sim.administration_ids[0]}"
token = "${{SHOP_TOKEN}}"
"""
        )
        (tmp_path / ".env").write_text("SHOP_TOKEN=shop-test-token\n")
        code, stdout, terminal = on_a_terminal("sync", cwd=tmp_path)
        assert code == 0, terminal
        assert stdout.startswith("shop: success in ")
        shown = [(int(i), int(c)) for i, c in re.findall(r"shop: (\d+) invoices, (\d+) contacts, \d+ calls", terminal)]
        assert shown, terminal
        assert shown == sorted(shown) and shown[-1][0] == 400  # it counts up to what was stored
        piped = connector("sync", cwd=tmp_path)
        assert piped.returncode == 0 and not re.search(r"shop: \d+ invoices", piped.stderr)  # only the log lines
