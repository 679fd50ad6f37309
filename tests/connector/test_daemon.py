"""The daemon's cycle, in process: parking on auth failure, no overlap, housekeeping, clean stop."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from adapters.moneybird.simulator import MoneybirdSimulator
from connector.cli import app
from connector.clock import ManualClock, SystemClock
from connector.config import Settings, settings_from_dict
from connector.daemon import Daemon
from connector.dispatch.mailsink import MailSink
from connector.store import Store
from connector.store.evidence import EvidenceStore
from connector.store.leases import LeaseStore
from connector.store.models import Replica, SyncRun
from tests.conftest import FAST_RETRIES, SIM_TODAY, moneybird_settings
from tests.support.approvals import approve
from tests.support.bounces import dsn
from tests.support.imap import dovecot
from tests.support.sender import SENDER

GOOD, BAD = "good-token-0123456789", "revoked-token-0123456789"


@pytest.fixture
def simulator() -> Iterator[MoneybirdSimulator]:
    with MoneybirdSimulator.generate(invoices=12, contacts=4, seed=3, today=SIM_TODAY, valid_tokens=[GOOD]) as sim:
        yield sim


def settings_for(simulator: MoneybirdSimulator, database_url: str, token: str, **connector: Any) -> Settings:
    return moneybird_settings(simulator, database_url, token, shutdown_grace_seconds=0.5, **connector)


def daemon_for(settings: Settings, clock: ManualClock) -> Daemon:
    daemon = Daemon(settings, clock=clock, http_options=FAST_RETRIES, serve_health=False)
    daemon.open()
    approve(daemon.store, settings.enabled_administrations, settings.policies)
    return daemon


def api_requests(simulator: MoneybirdSimulator) -> int:
    return len([r for r in simulator.requests() if r["path"].startswith("/api/")])


def test_an_auth_failure_parks_the_administration_until_the_credentials_change(
    simulator: MoneybirdSimulator, database_url: str, clock: ManualClock
) -> None:
    daemon = daemon_for(settings_for(simulator, database_url, BAD), clock)
    daemon.cycle("shop")
    record = daemon.overview.administrations()["shop"]
    assert record.parked and record.parked_reason
    assert BAD not in record.parked_reason

    # Parked: not retried in a loop, and visible to /readyz and /status.
    calls = api_requests(simulator)
    daemon.cycle("shop")
    daemon.cycle("shop")
    assert api_requests(simulator) == calls
    ready, document = daemon.readiness()
    assert not ready and "parked" in document["administrations"]["shop"]["reason"]
    attention = daemon.status()["administrations"][0]["attention"]
    assert attention[0]["kind"] == "parked"
    daemon.close()

    # The same credentials after a restart: still parked. New ones: tried again, and it syncs.
    restarted = daemon_for(settings_for(simulator, database_url, BAD), clock)
    restarted.cycle("shop")
    assert api_requests(simulator) == calls
    restarted.close()
    renewed = daemon_for(settings_for(simulator, database_url, GOOD), clock)
    renewed.cycle("shop")
    assert not renewed.overview.administrations()["shop"].parked
    assert renewed.readiness()[0] is True
    renewed.close()


def test_unpark_lets_a_person_try_again(
    simulator: MoneybirdSimulator, tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    database_url = f"sqlite:///{tmp_path / 'connector.db'}"
    daemon = daemon_for(settings_for(simulator, database_url, BAD), clock)
    daemon.cycle("shop")
    assert daemon.overview.administrations()["shop"].parked
    config = tmp_path / "config.toml"
    config.write_text(
        f'[connector]\ndatabase_url = "{database_url}"\n\n[[administrations]]\nname = "shop"\nplatform = "moneybird"\n'
        f'administration_id = "{simulator.administration_ids[0]}"\ntoken = "${{SHOP_TOKEN}}"\n'
    )
    monkeypatch.setenv("SHOP_TOKEN", BAD)
    result = CliRunner().invoke(app, ["unpark", "--admin", "shop", "--config", str(config)])
    assert result.exit_code == 0 and "unparked" in result.output
    assert not daemon.overview.administrations()["shop"].parked
    again = CliRunner().invoke(app, ["unpark", "--admin", "shop", "--config", str(config)])
    assert "was not parked" in again.output
    daemon.close()


def test_cycles_of_one_administration_never_overlap(
    simulator: MoneybirdSimulator, database_url: str, clock: ManualClock
) -> None:
    daemon = daemon_for(settings_for(simulator, database_url, GOOD), clock)
    daemon._locks["shop"].acquire()  # a cycle in progress
    daemon.cycle("shop")
    assert api_requests(simulator) == 0
    daemon._locks["shop"].release()
    daemon.cycle("shop")
    assert api_requests(simulator) > 0
    daemon.close()


def test_one_broken_administration_does_not_stop_the_others(
    simulator: MoneybirdSimulator, tmp_path: Path, clock: ManualClock
) -> None:
    raw = {
        "connector": {"database_url": f"sqlite:///{tmp_path / 'c.db'}"},
        "administrations": [
            {
                "name": name,
                "platform": "moneybird",
                "base_url": url,
                "administration_id": admin_id,
                "token": "${T}",
                "company": SENDER,
            }
            for name, url, admin_id in (
                ("gone", "http://127.0.0.1:9", "1"),  # nothing listens on the discard port
                ("shop", simulator.base_url, simulator.administration_ids[0]),
            )
        ],
    }
    daemon = daemon_for(settings_from_dict(raw, environ={"T": GOOD}), clock)
    daemon.cycle("gone")
    daemon.cycle("shop")
    ready, document = daemon.readiness()
    assert not ready
    assert document["administrations"]["shop"] == {"ready": True}
    assert "last attempt failed" in document["administrations"]["gone"]["reason"]
    daemon.close()


def test_housekeeping_prunes_old_runs_but_keeps_the_last_success(
    simulator: MoneybirdSimulator, database_url: str, clock: ManualClock
) -> None:
    daemon = daemon_for(settings_for(simulator, database_url, GOOD, keep_sync_runs_days=7), clock)
    daemon.cycle("shop")
    clock.advance(timedelta(days=1))
    daemon.cycle("shop")
    clock.advance(timedelta(days=30))
    daemon.housekeeping()
    with daemon.store.session() as session:
        runs = list(session.exec(select(SyncRun)))
    assert len(runs) == 1 and runs[0].outcome == "success"
    assert daemon.overview.last_syncs()[runs[0].administration_id].last_success_at == runs[0].finished_at
    daemon.close()


def test_stop_waits_for_the_cycle_in_hand_and_then_gives_up(
    simulator: MoneybirdSimulator, tmp_path: Path, clock: ManualClock
) -> None:
    settings = settings_for(simulator, f"sqlite:///{tmp_path / 'c.db'}", GOOD)
    idle = daemon_for(settings, clock)
    assert idle.stop() is True
    busy = daemon_for(settings, clock)
    busy._locks["shop"].acquire()
    outcome: list[bool] = []
    stopping = threading.Thread(target=lambda: outcome.append(busy.stop()))
    stopping.start()
    stopping.join(5)
    assert outcome == [False]
    busy.store.close()


def test_the_schedule_coalesces_missed_runs_and_serves_health(simulator: MoneybirdSimulator, tmp_path: Path) -> None:
    settings = settings_for(simulator, f"sqlite:///{tmp_path / 'c.db'}", GOOD, health_port=0)
    daemon = Daemon(settings, http_options=FAST_RETRIES)
    daemon.start()
    try:
        job = daemon.scheduler.get_job("cycle:shop") if daemon.scheduler else None
        assert job is not None
        # After a pause (a suspended machine, a long cycle) the missed runs become one run, not a burst.
        assert job.coalesce is True and job.max_instances == 1 and job.misfire_grace_time is None
        assert job.trigger.interval.total_seconds() == settings.administrations[0].sync_interval == 300
        assert daemon.liveness()[0] is True
        assert daemon.health is not None and daemon.health.url.startswith("http://127.0.0.1:")
    finally:
        assert daemon.stop() is True
    assert daemon.liveness()[0] is False


def test_alone_on_a_sqlite_store_a_restart_takes_the_dead_process_leases_at_once(
    simulator: MoneybirdSimulator, database_url: str, clock: ManualClock
) -> None:
    """A kill -9 leaves leases that look alive for another `lease_ttl_seconds`. On SQLite the file lock proves the
    new process runs alone, so it takes them at once; on PostgreSQL another replica may well be alive, so it
    waits for them to run out."""
    settings = settings_for(simulator, database_url, GOOD)
    lease_clock = SystemClock()
    store = Store.open(database_url, clock)
    now = lease_clock.now()
    dead = Replica(name="killed-replica", host="here", pid=1, started_at=now, heartbeat_at=now, expires_at=now)
    assert LeaseStore(store, lease_clock).heartbeat(dead, ["shop"], timedelta(seconds=30)).owned.keys() == {"shop"}
    store.close()
    daemon = Daemon(settings, clock=clock, lease_clock=lease_clock, http_options=FAST_RETRIES, serve_health=False)
    daemon.open()
    try:
        alone = database_url.startswith("sqlite")
        assert daemon.keeper.holds("shop") is alone
        owners = LeaseStore(daemon.store, lease_clock).live_owners()
        assert owners == ({"shop": daemon.keeper.name} if alone else {"shop": "killed-replica"})
    finally:
        daemon.close()


def test_the_daemon_reads_the_bounce_mailbox_and_purges_proof_past_its_retention(
    simulator: MoneybirdSimulator, database_url: str, clock: ManualClock, smtp_sink: tuple[MailSink, int]
) -> None:
    sink, port = smtp_sink
    with dovecot() as imap:
        box = imap.mailbox
        email = {
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "from_address": "debiteuren@bakkerij.example",
            "bounces": {
                "host": box.host,
                "port": box.port,
                "security": "none",
                "username": box.username,
                "password": "${BOUNCES_PASSWORD}",
            },
        }
        password = box.password.get_secret_value() if box.password else ""
        settings = moneybird_settings(
            simulator,
            database_url,
            GOOD,
            environ={"BOUNCES_PASSWORD": password},
            sections={"email": email},
            evidence_retention_days=400,
        )
        daemon = daemon_for(settings, clock)
        for _ in range(30):  # business days until a reminder goes out
            daemon.cycle("shop")
            if sink.raw:
                break
            clock.advance(timedelta(days=1))
        assert sink.raw, "no reminder went out"
        sent = message_from_bytes(sink.raw[0], policy=policy.default)
        imap.deliver(dsn(sink.raw[0], str(sent["To"]).split(",")[0], at=clock.now()))
        daemon.deliveries()
        evidence = EvidenceStore(daemon.store)
        [problem] = evidence.problems()
        assert problem.reason.startswith("5.1.1")
        daemon.deliveries()  # read once
        assert len(evidence.problems()) == 1

        clock.advance(timedelta(days=401))
        daemon.housekeeping()
        assert evidence.proofs() == []
        daemon.close()
