"""A message as it went out, byte for byte from the evidence, and an invoice's history, in the cockpit."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from adapters.moneybird.simulator import MoneybirdSimulator
from connector.clock import AMSTERDAM, ManualClock
from connector.daemon import Daemon
from connector.dispatch.mailsink import MailSink
from connector.store.outbox import OutboxStore
from tests.conftest import FAST_RETRIES, moneybird_settings
from tests.support.approvals import approve
from tests.support.web import csrf_of, sign_in, web_client


@pytest.fixture
def mailed(
    database_url: str, clock: ManualClock, simulator: MoneybirdSimulator, smtp_sink: tuple[MailSink, int]
) -> Iterator[Daemon]:
    """One cycle inside the send window, with a real SMTP server: the first reminders went out."""
    email = {"host": "127.0.0.1", "port": smtp_sink[1], "security": "none", "from_address": "debiteuren@winkel.example"}
    settings = moneybird_settings(simulator, database_url, "t-0123456789", sections={"email": email})
    daemon = Daemon(settings, clock=clock, http_options=FAST_RETRIES, serve_health=False)
    daemon.open()
    approve(daemon.store, settings.enabled_administrations, settings.policies)
    daemon.cycle("shop")
    yield daemon
    daemon.close()


def test_a_sent_message_is_shown_from_the_very_bytes_that_left(mailed: Daemon, smtp_sink: tuple[MailSink, int]) -> None:
    sink = smtp_sink[0]
    assert sink.raw, "nothing went out: the test would prove nothing"
    administration_id = mailed.store.administration_id("shop") or 0
    sent = [
        a for a in OutboxStore(mailed.store).actions(administration_id) if a.action == "email" and a.status == "done"
    ]
    action = sent[0]
    with web_client(mailed) as client:
        sign_in(client, mailed, "vera", "viewer")
        page = client.get(f"/a/shop/m/{action.key}").text
        assert "Overgedragen" in page and "250" in page and 'sandbox src="' in page
        body = client.get(f"/a/shop/m/{action.key}/" + re.findall(r"/m/[0-9a-f]+/(\d+)/body", page)[0] + "/body")
        assert body.status_code == 200 and "sandbox" in body.headers["content-security-policy"]
        eml = re.findall(rf"/a/shop/m/{action.key}/file/(\d+)\" download>message.eml", page)
        download = client.get(f"/a/shop/m/{action.key}/file/{eml[0]}")
        assert download.content in sink.raw  # what the SMTP server received, to the byte
        assert "attachment" in download.headers["content-disposition"]
        invoice_id = OutboxStore(mailed.store).invoice_ids(action)[0]
        history = client.get(f"/a/shop/i/{invoice_id}").text
        assert "Geschiedenis" in history and action.key in history
        assert client.get("/a/shop/m/0000").status_code == 404


def test_an_action_ready_to_go_is_postponed_by_a_controller(client: TestClient, daemon: Daemon) -> None:
    administration_id = daemon.store.administration_id("shop") or 0
    pending = OutboxStore(daemon.store).actions(administration_id, ["pending"])
    assert pending, "nothing ready to go: the test would prove nothing"
    action = pending[0]
    sign_in(client, daemon, "petra", "controller")
    page = client.get(f"/a/shop/m/{action.key}").text
    later = (daemon.clock.now() + timedelta(days=3)).date().isoformat()
    answer = client.post(
        f"/a/shop/m/{action.key}/postpone", data={"csrf": csrf_of(page), "until": later, "note": "na de vakantie"}
    )
    assert answer.status_code == 200 and "Uitgesteld" in answer.text
    (again,) = [a for a in OutboxStore(daemon.store).actions(administration_id) if a.key == action.key]
    assert again.status == "pending" and again.next_attempt_at is not None
    assert again.next_attempt_at.astimezone(AMSTERDAM).date().isoformat() == later
    today = daemon.clock.now().date().isoformat()
    assert (
        client.post(f"/a/shop/m/{action.key}/postpone", data={"csrf": csrf_of(answer.text), "until": today}).status_code
        == 400
    )


def test_a_message_not_yet_gone_is_shown_as_it_would_go_out_without_asking_the_ledger(
    client: TestClient, daemon: Daemon, simulator: MoneybirdSimulator
) -> None:
    administration_id = daemon.store.administration_id("shop") or 0
    box = OutboxStore(daemon.store)
    waiting = [a for a in box.actions(administration_id, ["pending"]) if a.action == "email"]
    assert waiting, "no e-mail waiting: the test would prove nothing"
    action = waiting[0]
    numbers = [view.number for view in daemon.store.invoices("shop") if view.ledger_id in box.invoice_ids(action)]
    sign_in(client, daemon, "vera", "viewer")
    asked = len(simulator.requests())
    page = client.get(f"/a/shop/m/{action.key}").text
    assert "Zoals het vandaag zou uitgaan" in page and "Onderwerp" in page
    body = client.get(f"/a/shop/m/{action.key}/preview")
    assert body.status_code == 200 and "sandbox" in body.headers["content-security-policy"]
    assert all(number and number in body.text for number in numbers)
    assert daemon.settings.administration("shop").company.kvk in body.text  # type: ignore[union-attr]
    assert client.get(f"/a/shop/m/{action.key}/preview.pdf").status_code == 404  # a reminder is no letter
    assert len(simulator.requests()) == asked  # the ledger was not asked
