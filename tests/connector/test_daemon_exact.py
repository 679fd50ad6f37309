"""The daemon's cycle over an Exact Online administration: tokens from the vault, the daily call budget
paces it, a dead token chain parks it until a new consent is stored."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from adapters.exact_online.simulator import ExactOnlineSimulator
from connector.clock import ManualClock
from connector.config import Settings, settings_from_dict
from connector.daemon import Daemon
from connector.ledger.oauth import TokenGrant
from tests.conftest import EXACT_SECRET_KEY, FAST_RETRIES, SIM_TODAY
from tests.support.approvals import approve
from tests.support.sender import SENDER
from tests.support.web import status_page


@contextmanager
def exact_simulator(**limits: Any) -> Iterator[ExactOnlineSimulator]:
    # The simulator keeps real time (the daemon reads the budget's reset against the wall clock); the
    # test clock moves alongside it where tokens must expire.
    with ExactOnlineSimulator.generate(
        terms=40, accounts=12, seed=6, today=SIM_TODAY, rate_limit_minutely=100_000, **limits
    ) as sim:
        yield sim


def settings_for(simulator: ExactOnlineSimulator, database_url: str, **administration: Any) -> Settings:
    raw = {
        "connector": {"database_url": database_url, "shutdown_grace_seconds": 0.5},
        "administrations": [
            {
                "name": "acme",
                "platform": "exact_online",
                "company": SENDER,
                "base_url": simulator.base_url,
                "division": simulator.division,
                "client_id": simulator.client_id,
                "client_secret": "${ACME_SECRET}",
                "redirect_uri": simulator.redirect_uri,
                "rate_limit": {"requests": 100000, "per_seconds": 1},
                **administration,
            }
        ],
    }
    environ = {"ACME_SECRET": simulator.client_secret, "CONNECTOR_SECRET_KEY": EXACT_SECRET_KEY}
    return settings_from_dict(raw, environ=environ)


def daemon_for(settings: Settings, clock: ManualClock) -> Daemon:
    daemon = Daemon(settings, clock=clock, http_options=FAST_RETRIES, serve_health=False)
    daemon.open()
    approve(daemon.store, settings.enabled_administrations, settings.policies)
    return daemon


def consent(daemon: Daemon, simulator: ExactOnlineSimulator) -> None:
    """What `connector auth exact` leaves in the store: a fresh token pair in the vault."""
    body = simulator.issue_tokens()
    grant = TokenGrant(body["access_token"], body["refresh_token"], int(body["expires_in"]))
    assert daemon.tokens is not None
    daemon.tokens.save_grant("acme", "exact_online", simulator.client_id, grant)


def api_requests(simulator: ExactOnlineSimulator) -> int:
    return len(simulator.requests())  # the token endpoint included


def open_in_ledger(simulator: ExactOnlineSimulator) -> set[str]:
    return {
        str(term["InvoiceNumber"])
        for term in simulator.open_terms()
        if term.get("LineType", 20) == 20 and term.get("InvoiceNumber")
    }


def budget_of(daemon: Daemon) -> dict[str, Any]:
    budget = daemon.status()["administrations"][0]["api_budget"]
    assert budget is not None
    return dict(budget)


def test_a_cycle_mirrors_the_division_and_reports_the_daily_budget(database_url: str, clock: ManualClock) -> None:
    with exact_simulator() as simulator:
        daemon = daemon_for(settings_for(simulator, database_url), clock)
        try:
            assert daemon.status()["administrations"][0]["api_budget"] is None  # nothing known before a call
            consent(daemon, simulator)
            daemon.cycle("acme")

            mirrored = {view.ledger_id for view in daemon.store.invoices("acme", "open")}
            assert mirrored == open_in_ledger(simulator) and mirrored
            run = daemon.status()["administrations"][0]["last_sync"]
            assert run["outcome"] == "success"
            budget = budget_of(daemon)
            # The invoices' own PDFs come from Exact's /docs/ download, counted on the same budget (to be safe).
            api_calls = len([r for r in simulator.requests() if r["path"].startswith(("/api/v1/", "/docs/"))])
            assert (budget["limit"], budget["reserve"]) == (5000, 500)
            assert budget["remaining"] == 5000 - api_calls < 5000  # what the last answer's headers said
            assert budget["stretched"] is False and budget["interval_seconds"] == 600
            assert budget["calls_per_cycle"] == api_calls
            assert f"{budget['remaining']} / 5000" in status_page(daemon)
            assert simulator.token_refreshes == 0

            # Plenty left: the next cycle is not held back.
            calls = api_requests(simulator)
            daemon.cycle("acme")
            assert api_requests(simulator) > calls
        finally:
            daemon.close()


def test_a_small_daily_budget_stretches_the_interval_and_skips_the_next_cycle(
    database_url: str, clock: ManualClock
) -> None:
    with exact_simulator(rate_limit_daily=600) as simulator:
        # The ledger's day ends 12 h after the wall clock's: the budget's reset is at least 12 h away
        # whatever the hour the test runs (the daemon reads the reset against the wall clock).
        simulator.advance(12 * 3600)
        daemon = daemon_for(settings_for(simulator, database_url, daily_reserve=500), clock)
        try:
            consent(daemon, simulator)
            daemon.cycle("acme")
            assert daemon.store.invoices("acme", "open")
            calls = api_requests(simulator)

            daemon.cycle("acme")  # right after the first: the day's remaining calls would not last
            assert api_requests(simulator) == calls
            budget = budget_of(daemon)
            assert (budget["limit"], budget["reserve"]) == (600, 500)
            assert budget["stretched"] is True and budget["interval_seconds"] > 600
            spendable = budget["remaining"] - budget["reserve"]
            assert spendable > 0
            page = status_page(daemon)
            assert f"{budget['remaining']} / 600" in page and "to last the day" in page

            # Once the stretched interval has passed (here: the daemon's time runs a million times faster),
            # the administration syncs again.
            daemon.time_scale = 1e6
            daemon.cycle("acme")
            assert api_requests(simulator) > calls
        finally:
            daemon.close()


def test_a_dead_chain_parks_until_a_new_consent_is_stored(database_url: str, clock: ManualClock) -> None:
    with exact_simulator() as simulator:
        daemon = daemon_for(settings_for(simulator, database_url), clock)
        try:
            consent(daemon, simulator)
            daemon.cycle("acme")
            assert daemon.overview.administration("acme") is not None
            assert not daemon.overview.administrations()["acme"].parked

            # Someone consents elsewhere (another tool on the same app and user): our chain is dead, which
            # shows once our access token has expired and the refresh is refused.
            simulator.issue_tokens()
            simulator.advance(700)
            clock.advance(timedelta(seconds=700))
            daemon.cycle("acme")
            record = daemon.overview.administrations()["acme"]
            assert record.parked
            assert record.parked_reason is not None and "connector auth exact" in record.parked_reason
            assert simulator.refresh_token not in record.parked_reason
            document = daemon.status()["administrations"][0]
            assert document["parked"] is True and document["attention"][0]["kind"] == "parked"
            assert daemon.readiness()[0] is False

            # Parked: no call at all, not even to the token endpoint, however often the schedule fires.
            calls = api_requests(simulator)
            daemon.cycle("acme")
            daemon.cycle("acme")
            assert api_requests(simulator) == calls

            # A new consent is a new chain (generation 2): the next cycle unparks and syncs.
            consent(daemon, simulator)
            assert daemon.tokens is not None
            status = daemon.tokens.status("acme")
            assert status is not None and status.generation == 2
            simulator.add_payment(int(next(iter(open_in_ledger(simulator)))), "1.00")
            daemon.cycle("acme")
            assert not daemon.overview.administrations()["acme"].parked
            assert api_requests(simulator) > calls
            assert daemon.status()["administrations"][0]["last_sync"]["outcome"] == "success"
            mirrored = {view.ledger_id for view in daemon.store.invoices("acme", "open")}
            assert mirrored == open_in_ledger(simulator)
        finally:
            daemon.close()
