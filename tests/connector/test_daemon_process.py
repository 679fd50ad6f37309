"""`connector run` as a user runs it: a subprocess against two simulated ledgers (each its own process) and a
real SMTP server. One ledger dies; the other administration carries on; SIGTERM stops cleanly; a restart
repeats nothing."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from connector.dispatch.mailsink import MailSink
from tests.support.network import free_port
from tests.support.processes import child_environ
from tests.support.sender import SENDER_TOML

CONFIG = """\
[connector]
database_url = "sqlite:///{tmp}/connector.db"
health_port = {health_port}
handover_dir = "{tmp}/handover"
send_window = "00:00-24:00"
send_days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
send_on_public_holidays = true
log_format = "json"

[email]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
from_address = "debiteuren@example.nl"
"""
ADMINISTRATION = """
[[administrations]]
name = "{name}"
platform = "moneybird"
base_url = "{base_url}"
administration_id = "{administration_id}"
token = "${{{variable}}}"
sync_interval_seconds = 1
stale_after_seconds = 4
{sender}
"""
METRICS = {
    "connector_syncs",
    "connector_api_calls",
    "connector_api_throttled",
    "connector_invoices_mirrored",
    "connector_invoices_open",
    "connector_open_amount",
    "connector_actions",
    "connector_outbox_depth",
    "connector_outbox_oldest_age_seconds",
    "connector_last_successful_sync_timestamp_seconds",
}


class Simulator:
    def __init__(self, seed: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "connector", "simulate", "moneybird", "--generate", "24", "--contacts", "8"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        listening = self.process.stdout.readline()
        administration = self.process.stdout.readline()
        match = re.match(r"listening on (http://\S+)", listening)
        assert match, listening
        self.base_url = match.group(1)
        self.administration_id = administration.split()[1]

    def requests(self) -> list[dict[str, Any]]:
        root = self.base_url.removesuffix("/api/v2")
        return list(httpx.get(f"{root}/_simulator/requests", timeout=5).json())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(5)


def _wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = condition()
        except httpx.TransportError:
            result = None
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def simulators() -> Iterator[tuple[Simulator, Simulator]]:
    first, second = Simulator(1), Simulator(2)
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


@pytest.mark.slow
def test_run_survives_a_dead_ledger_stops_on_sigterm_and_resumes_without_repeats(
    tmp_path: Path, simulators: tuple[Simulator, Simulator], smtp_sink: tuple[MailSink, int]
) -> None:
    sink, smtp_port = smtp_sink
    doomed, steady = simulators
    health = f"http://127.0.0.1:{free_port()}"
    config = tmp_path / "config.toml"
    config.write_text(
        CONFIG.format(tmp=tmp_path, health_port=health.rsplit(":", 1)[1], smtp_port=smtp_port)
        + ADMINISTRATION.format(
            name="doomed",
            base_url=doomed.base_url,
            administration_id=doomed.administration_id,
            variable="TOKEN_A",
            sender=SENDER_TOML,
        )
        + ADMINISTRATION.format(
            name="steady",
            base_url=steady.base_url,
            administration_id=steady.administration_id,
            variable="TOKEN_B",
            sender=SENDER_TOML,
        )
    )
    env = child_environ(TOKEN_A="token-a-0123456789", TOKEN_B="token-b-0123456789")
    for name in ("doomed", "steady"):  # a person's go-ahead, as in the README's quick start
        command = ["approve", "--admin", name, "--by", "Test Operator", "--config", str(config)]
        approved = subprocess.run(
            [sys.executable, "-m", "connector", *command], env=env, capture_output=True, text=True, timeout=60
        )
        assert approved.returncode == 0, approved.stderr

    def start() -> subprocess.Popen[str]:
        log = (tmp_path / "run.log").open("a")
        return subprocess.Popen(
            [sys.executable, "-m", "connector", "run", "--config", str(config)],
            env=env,
            stdout=log,
            stderr=log,
            text=True,
        )

    def status() -> dict[str, Any]:
        document = httpx.get(f"{health}/status.json", timeout=5).json()
        return {admin["name"]: admin for admin in document["administrations"]}

    daemon = start()
    try:
        ready = _wait_for(lambda: httpx.get(f"{health}/readyz", timeout=5).status_code == 200, 30, "/readyz 200")
        assert ready
        assert httpx.get(f"{health}/healthz", timeout=5).json()["alive"] is True
        # A second process on the same SQLite store refuses to start, and says why and what to do instead.
        second = subprocess.run(
            [sys.executable, "-m", "connector", "run", "--config", str(config)],
            env={**env, "CONNECTOR_HEALTH_PORT": str(free_port())},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1
        assert f"in use by pid {daemon.pid}" in second.stderr and "PostgreSQL" in second.stderr, second.stderr
        # A one-shot dispatch leaves the administrations the daemon owns to the daemon.
        beside = subprocess.run(
            [sys.executable, "-m", "connector", "dispatch", "--config", str(config)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert beside.returncode == 0, beside.stderr
        assert "doomed: skipped, `connector run`" in beside.stderr and "steady: skipped" in beside.stderr
        # Both administrations mirrored and dispatched what was due (the send window is always open here).
        _wait_for(lambda: all(a["outbox_depth"] == 0 and a["actions"] for a in status().values()), 30, "dispatch")

        families = {f.name: f for f in text_string_to_metric_families(httpx.get(f"{health}/metrics").text)}
        assert set(families) >= METRICS, METRICS - set(families)
        invoices_open = {s.labels["administration"]: s.value for s in families["connector_invoices_open"].samples}
        assert invoices_open == {"doomed": 24, "steady": 24}

        doomed.stop()

        def readiness() -> dict[str, Any]:
            reply = httpx.get(f"{health}/readyz", timeout=5)
            document: dict[str, Any] = reply.json()["administrations"]
            assert (reply.status_code == 200) == all(a["ready"] for a in document.values())
            return document

        reasons = _wait_for(lambda: (r := readiness())["doomed"]["ready"] is False and r, 20, "/readyz: doomed")
        assert "last successful sync" in reasons["doomed"]["reason"]
        # On a loaded machine the steady one may miss its 4 s staleness bound for a moment; it is ready again.
        _wait_for(lambda: readiness()["steady"] == {"ready": True}, 10, "/readyz: steady")
        # The other administration keeps syncing.
        before = status()["steady"]["last_successful_sync_at"]
        _wait_for(lambda: status()["steady"]["last_successful_sync_at"] > before, 10, "steady to sync again")
        _wait_for(lambda: status()["doomed"]["last_sync"]["outcome"] == "failed", 30, "the failed sync recorded")
        assert "last attempt failed" in httpx.get(f"{health}/readyz").json()["administrations"]["doomed"]["reason"]

        sent_before = Counter(message["X-Connector-Action"] for message in sink.messages)
        assert sent_before and max(sent_before.values()) == 1
        stopped_at = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=10) == 0
        assert time.monotonic() - stopped_at < 10

        # A restart resumes: it syncs again and finds nothing left to do; nothing is sent or written twice.
        notes_before = [r for r in steady.requests() if r["method"] == "POST" and r["path"].endswith("/notes")]
        restarted_at = time.time()
        daemon = start()
        _wait_for(
            lambda: status()["steady"]["last_successful_sync_at"] > _iso(restarted_at + 1), 30, "a sync after restart"
        )
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=10) == 0
        sent_after = Counter(message["X-Connector-Action"] for message in sink.messages)
        assert sent_after == sent_before
        notes_after = [r for r in steady.requests() if r["method"] == "POST" and r["path"].endswith("/notes")]
        assert len(notes_after) == len(notes_before)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(5)
    log_lines = [json.loads(line) for line in (tmp_path / "run.log").read_text().splitlines() if line.startswith("{")]
    sync_lines = [line for line in log_lines if line["event"] == "sync.finished"]
    assert sync_lines and all(line["administration"] in ("doomed", "steady") for line in sync_lines)
    assert not any("token-a-0123456789" in json.dumps(line) for line in log_lines)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()
