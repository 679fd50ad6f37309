"""Customers in the cockpit: found by name, their page with one timeline, and a pause for a dispute that shows
in the timeline with who paused it and stops what was planned."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from connector.daemon import Daemon
from connector.store.workflow import WorkflowStore
from tests.support.web import csrf_of, sign_in


def test_customers_are_listed_and_found(client: TestClient, daemon: Daemon) -> None:
    sign_in(client, daemon, "vera", "viewer")
    page = client.get("/a/shop/customers").text
    listed = re.findall(r'href="/a/shop/c/([^"]+)">([^<]+)</a>', page)
    assert listed and "Klanten met openstaande facturen:" in page
    contact_id, name = listed[0]
    found = client.get("/a/shop/customers", params={"q": name.split()[0].lower()}).text
    assert f'/a/shop/c/{contact_id}"' in found
    assert "Pauzeren" not in client.get(f"/a/shop/c/{contact_id}").text  # a viewer sees no buttons


def test_a_dispute_paused_from_the_customer_page_stops_the_plan_and_shows_in_the_timeline(
    client: TestClient, daemon: Daemon
) -> None:
    sign_in(client, daemon, "petra", "controller")
    contact_id = re.findall(r'href="/a/shop/c/([^"]+)"', client.get("/a/shop/customers").text)[0]
    page = client.get(f"/a/shop/c/{contact_id}").text
    assert "Tijdlijn" in page and "Gepland:" in page  # what is next for them
    invoice_id = re.findall(r'action="/a/shop/i/([^/]+)/pause"', page)[0]
    answer = client.post(
        f"/a/shop/i/{invoice_id}/pause",
        data={"csrf": csrf_of(page), "reason": "dispute", "note": "zegt nooit geleverd"},
    )
    assert answer.status_code == 200 and "Gepauzeerd." in answer.text
    assert "Besluit:</b> gepauzeerd" in answer.text and "geschil · zegt nooit geleverd" in answer.text
    assert re.search(r"Gepland:</b> (<a [^>]*>)?(herinnering|beltaak)", answer.text)
    assert "door Petra (petra)" in answer.text
    twice = client.post(f"/a/shop/i/{invoice_id}/pause", data={"csrf": csrf_of(page), "reason": "dispute"})
    assert "was al gepauzeerd" in twice.text and twice.text.count("Besluit:</b> gepauzeerd") == 1
    administration_id = daemon.store.administration_id("shop") or 0
    planned = WorkflowStore(daemon.store).due_actions(
        administration_id, daemon.settings.administration("shop"), daemon.settings.policies, daemon.clock.now().date()
    )
    assert all(invoice_id not in action.invoices for action in planned)
    resumed = client.post(f"/a/shop/i/{invoice_id}/resume", data={"csrf": csrf_of(answer.text)})
    assert "Hervat." in resumed.text and "hervat" in resumed.text
    assert (
        client.post(
            f"/a/shop/i/{invoice_id}/pause", data={"csrf": csrf_of(resumed.text), "reason": "because"}
        ).status_code
        == 400
    )


def test_a_customer_excluded_and_treated_as_a_business(client: TestClient, daemon: Daemon) -> None:
    sign_in(client, daemon, "petra", "controller")
    contact_id = re.findall(r'href="/a/shop/c/([^"]+)"', client.get("/a/shop/customers").text)[0]
    page = client.get(f"/a/shop/c/{contact_id}").text
    page = client.post(f"/a/shop/c/{contact_id}/exclude", data={"csrf": csrf_of(page), "excluded": "1"}).text
    assert "Uitgesloten." in page and "Weer meenemen in herinneringen" in page
    page = client.post(f"/a/shop/c/{contact_id}/kind", data={"csrf": csrf_of(page), "kind": "business"}).text
    administration_id = daemon.store.administration_id("shop") or 0
    workflow = WorkflowStore(daemon.store)
    assert workflow.is_excluded(administration_id, contact_id)
    assert workflow.debtor(administration_id, contact_id)[0].value == "business"
    assert client.get("/a/shop/c/nobody").status_code == 404


def test_invoices_are_listed_searched_and_filtered(client: TestClient, daemon: Daemon) -> None:
    sign_in(client, daemon, "vera", "viewer")
    views = daemon.store.invoices("shop")
    page = client.get("/a/shop/invoices").text
    assert f"Gevonden facturen: {len(views)}" in page
    today = daemon.clock.now().date()
    late = [v for v in views if v.due_date < today]
    assert f"Gevonden facturen: {len(late)}" in client.get("/a/shop/invoices", params={"overdue": "1"}).text
    one = views[0]
    found = client.get("/a/shop/invoices", params={"q": one.number}).text
    assert f'/a/shop/i/{one.ledger_id}"' in found and "Gevonden facturen: 1" in found
    assert "Gevonden facturen: 0" in client.get("/a/shop/invoices", params={"paused": "1"}).text
    assert client.get("/a/shop/invoices", params={"state": "bogus"}).status_code == 200  # taken as open
