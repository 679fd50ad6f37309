"""The daemon's cycle over an e-Boekhouden administration: one session for every cycle, an expired API token
parks it until a new token is configured, and a clean stop closes the session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from adapters.eboekhouden.simulator import EboekhoudenSimulator
from connector.clock import ManualClock
from connector.config import Settings, settings_from_dict
from connector.daemon import Daemon
from tests.conftest import FAST_RETRIES, SIM_TODAY


@pytest.fixture
def simulator(clock: ManualClock) -> Iterator[EboekhoudenSimulator]:
    with EboekhoudenSimulator.generate(items=30, relations=10, seed=4, today=SIM_TODAY, clock=clock) as sim:
        yield sim


def settings_for(simulator: EboekhoudenSimulator, database_url: str, token: str) -> Settings:
    raw: dict[str, Any] = {
        "connector": {"database_url": database_url, "shutdown_grace_seconds": 0.5},
        "administrations": [
            {
                "name": "initech",
                "platform": "eboekhouden",
                "base_url": simulator.base_url,
                "api_token": "${INITECH_TOKEN}",
                "rate_limit": {"requests": 100000, "per_seconds": 1},
            }
        ],
    }
    return settings_from_dict(raw, environ={"INITECH_TOKEN": token})


def daemon_for(settings: Settings, clock: ManualClock) -> Daemon:
    daemon = Daemon(settings, clock=clock, http_options=FAST_RETRIES, serve_health=False)
    daemon.open()
    return daemon


def test_cycles_share_one_session_and_a_clean_stop_closes_it(
    simulator: EboekhoudenSimulator, database_url: str, clock: ManualClock
) -> None:
    daemon = daemon_for(settings_for(simulator, database_url, simulator.api_token), clock)
    daemon.cycle("initech")
    daemon.cycle("initech")
    status = daemon.status()["administrations"][0]
    assert status["open_invoices"] == len(simulator.outstanding_ids())
    assert simulator.sessions_created == 1 and simulator.active_sessions == 1
    assert daemon.stop()
    assert simulator.active_sessions == 0


def test_an_expired_api_token_parks_until_a_new_one_is_configured(
    simulator: EboekhoudenSimulator, database_url: str, clock: ManualClock
) -> None:
    old_token = simulator.api_token
    daemon = daemon_for(settings_for(simulator, database_url, old_token), clock)
    daemon.cycle("initech")
    simulator.expire_api_token()
    simulator.expire_sessions()
    daemon.cycle("initech")
    record = daemon.overview.administrations()["initech"]
    assert record.parked and record.parked_reason is not None
    assert "expired" in record.parked_reason and old_token not in record.parked_reason
    calls = len(simulator.requests())
    daemon.cycle("initech")
    assert len(simulator.requests()) == calls  # parked: no calls at all
    daemon.stop()

    # The owner creates a new token; the restarted daemon sees other credentials, unparks and syncs.
    new_token = simulator.new_api_token()
    daemon = daemon_for(settings_for(simulator, database_url, new_token), clock)
    daemon.cycle("initech")
    assert not daemon.overview.administrations()["initech"].parked
    assert daemon.status()["administrations"][0]["last_sync"]["outcome"] == "success"
    daemon.stop()
