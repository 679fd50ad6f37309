"""A daemon with one synced Moneybird administration, and its web application without a socket."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from adapters.moneybird.simulator import MoneybirdSimulator
from connector.clock import ManualClock
from connector.daemon import Daemon
from tests.conftest import FAST_RETRIES, SIM_TODAY, moneybird_settings
from tests.support.approvals import approve
from tests.support.web import web_client


def synced_daemon(
    database_url: str, clock: ManualClock, simulator: MoneybirdSimulator, *, approved: bool = True, **cockpit: Any
) -> Daemon:
    settings = moneybird_settings(
        simulator, database_url, "t-0123456789", sections={"cockpit": cockpit} if cockpit else None
    )
    daemon = Daemon(settings, clock=clock, http_options=FAST_RETRIES, serve_health=False)
    daemon.open()
    if approved:
        approve(daemon.store, settings.enabled_administrations, settings.policies)
    daemon.cycle("shop")
    return daemon


@pytest.fixture
def simulator() -> Iterator[MoneybirdSimulator]:
    with MoneybirdSimulator.generate(invoices=24, contacts=6, seed=5, today=SIM_TODAY) as simulator:
        yield simulator


@pytest.fixture
def daemon(database_url: str, clock: ManualClock, simulator: MoneybirdSimulator) -> Iterator[Daemon]:
    daemon = synced_daemon(database_url, clock, simulator)
    yield daemon
    daemon.close()


@pytest.fixture
def client(daemon: Daemon) -> Iterator[TestClient]:
    with web_client(daemon) as client:
        yield client
