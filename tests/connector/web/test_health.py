"""The health endpoint's routes: what each answers, what needs the token, and that only /status shows customers."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from decimal import Decimal

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from adapters.moneybird.simulator import MoneybirdSimulator
from connector.clock import ManualClock
from connector.daemon import Daemon
from connector.store.outbox import OutboxStore
from connector.web.app import Site, create_app
from connector.workflow.policy import ApprovalRules, default_policy
from tests.conftest import FAST_RETRIES, SIM_TODAY, moneybird_settings
from tests.support.approvals import approve

TOKEN = "status-token-0123456789"


@pytest.fixture
def daemon(database_url: str, clock: ManualClock) -> Iterator[Daemon]:
    with MoneybirdSimulator.generate(invoices=30, contacts=6, seed=5, today=SIM_TODAY) as simulator:
        settings = moneybird_settings(
            simulator, database_url, "t-0123456789", environ={"STATUS_TOKEN": TOKEN}, status_token="${STATUS_TOKEN}"
        )
        # Every action waits for a person: the customers they are for show up as needing attention.
        everything = ApprovalRules(stages=tuple(stage.name for stage in default_policy().stages))
        policies = {"default": default_policy().model_copy(update={"approval": everything})}
        settings = dataclasses.replace(settings, policies=policies)
        daemon = Daemon(settings, clock=clock, http_options=FAST_RETRIES, serve_health=False)
        daemon.open()
        approve(daemon.store, settings.enabled_administrations, settings.policies)
        daemon.cycle("shop")
        yield daemon
        daemon.close()


@pytest.fixture
def endpoints(daemon: Daemon) -> Iterator[TestClient]:
    """The web application as the daemon serves it, cockpit and all, over HTTPS as a proxy would give it."""
    app = create_app(Site(daemon.settings, daemon.store, daemon.clock), daemon.endpoints())
    with TestClient(app, base_url="https://connector.example", raise_server_exceptions=False) as client:
        yield client


def get(client: TestClient, path: str, **headers: str) -> tuple[int, str, bytes]:
    reply = client.get(path, headers={k.replace("_", "-"): v for k, v in headers.items()}, follow_redirects=False)
    return reply.status_code, reply.headers.get("content-type", ""), reply.content


def test_status_wants_the_bearer_token_and_the_probes_do_not(endpoints: TestClient) -> None:
    assert get(endpoints, "/status.json")[0] == 401
    assert get(endpoints, "/status", accept="application/json")[0] == 401
    status, _, _ = get(endpoints, "/status")  # a browser without the token is sent to sign in
    assert status == 303
    assert get(endpoints, "/status.json", authorization="Bearer wrong-token")[0] == 401
    assert get(endpoints, "/status", authorization=f"Bearer {TOKEN}")[0] == 200
    assert get(endpoints, "/readyz")[0] == 200
    assert get(endpoints, "/metrics")[0] == 200
    # Not started: the scheduler does not run, so the process is not alive in the sense that matters.
    status, _, body = get(endpoints, "/healthz")
    assert status == 503 and json.loads(body)["scheduler"] == "stopped"


def test_only_status_shows_customers(endpoints: TestClient, daemon: Daemon) -> None:
    names = {view.contact_name for view in daemon.store.invoices("shop")} - {None}
    assert names
    for path in ("/healthz", "/readyz", "/metrics"):
        body = get(endpoints, path)[2].decode()
        assert not any(name in body for name in names if name), path
    page = get(endpoints, "/status.json", authorization=f"Bearer {TOKEN}")[2].decode()
    assert "contact_id" in page


def test_status_json_adds_up_to_the_mirror(endpoints: TestClient, daemon: Daemon) -> None:
    status, content_type, body = get(endpoints, "/status", authorization=f"Bearer {TOKEN}", accept="application/json")
    assert status == 200 and content_type == "application/json"
    (shop,) = json.loads(body)["administrations"]
    views = daemon.store.invoices("shop")
    assert shop["open_invoices"] == len(views) == 30
    assert Decimal(shop["open_amount"]["EUR"]) == sum(v.open_amount for v in views)
    assert sum(bucket["invoices"] for bucket in shop["ageing"]) == 30
    assert sum(Decimal(bucket["amount"]) for bucket in shop["ageing"]) == Decimal(shop["open_amount"]["EUR"])
    assert [bucket["bucket"] for bucket in shop["ageing"]] == [
        "not yet due",
        "1-30 days",
        "31-60 days",
        "61-90 days",
        "90+ days",
    ]
    assert shop["ready"] is True and shop["last_sync"]["outcome"] == "success"
    kinds = {item["kind"] for item in shop["attention"]}
    waiting = sum(shop["approval"]["actions_awaiting"].values())
    assert kinds == {"action_awaiting_approval"} and waiting == len(shop["attention"]) > 0


def test_the_html_page_and_the_routes_that_are_not_there(endpoints: TestClient, daemon: Daemon) -> None:
    status, content_type, body = get(endpoints, "/status", authorization=f"Bearer {TOKEN}", accept="text/html")
    page = body.decode()
    assert status == 200 and content_type.startswith("text/html")
    assert "shop" in page and "open invoices" in page and "90+ days" in page
    total = sum(view.open_amount for view in daemon.store.invoices("shop"))
    whole, cents = f"{total:.2f}".split(".")
    assert f"EUR {int(whole):,}".replace(",", ".") + f",{cents}" in page  # Dutch style: 12.345,67
    assert get(endpoints, "/nope")[0] == 404
    assert endpoints.post("/readyz").status_code == 403  # no form is taken without the page's CSRF token


def test_metrics_parse_and_carry_the_store_figures(endpoints: TestClient, daemon: Daemon) -> None:
    families = {f.name: f for f in text_string_to_metric_families(get(endpoints, "/metrics")[2].decode())}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert samples[("connector_invoices_open", (("administration", "shop"),))] == 30
    assert (
        samples[
            ("connector_syncs_total", (("administration", "shop"), ("outcome", "success"), ("platform", "moneybird")))
        ]
        == 1
    )
    calls = samples[("connector_api_calls_total", (("administration", "shop"), ("platform", "moneybird")))]
    (run,) = daemon.store.sync_runs(daemon.store.administration_id("shop") or 0)
    assert calls >= run.api_calls > 0  # the sync's calls, plus the dispatcher's re-checks and notes
    assert samples[("connector_last_successful_sync_timestamp_seconds", (("administration", "shop"),))] == (
        daemon.clock.now().timestamp()
    )
    stages = {s.labels["stage"] for s in families["connector_actions"].samples}
    box = OutboxStore(daemon.store)
    assert stages and stages == {action.stage for action in box.actions(daemon.store.administration_id("shop") or 0)}


def test_metrics_show_the_cycles_working_and_those_waiting_on_their_ledger(
    endpoints: TestClient, daemon: Daemon
) -> None:
    def gauges() -> tuple[float, float]:
        families = {f.name: f for f in text_string_to_metric_families(get(endpoints, "/metrics")[2].decode())}
        return (
            families["connector_cycles_working"].samples[0].value,
            families["connector_cycles_waiting_on_ledger"].samples[0].value,
        )

    assert gauges() == (0, 0)
    with daemon.slots.working():
        assert gauges() == (1, 0)
        with daemon.slots.lend():  # what a wait on the ledger's rate limit does
            assert gauges() == (0, 1)
    assert gauges() == (0, 0)
