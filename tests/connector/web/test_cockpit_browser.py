"""The cockpit in a real browser (Debian's chromium through Playwright): a person signs in with the keyboard,
finds the administration on the overview, approves going live, and every page passes axe-core's WCAG 2.1 AA
rules; pauses an invoice for a dispute and sees the timeline change. Screenshots of the overview, a dashboard,
the attention queue and a customer's timeline are kept in test-artifacts/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from adapters.moneybird.simulator import MoneybirdSimulator
from connector.clock import ManualClock
from connector.daemon import Daemon
from connector.store.approvals import ApprovalStore
from connector.store.outbox import OutboxStore
from connector.store.overview import OverviewStore
from connector.store.users import UserStore
from connector.web.app import Site, create_app
from connector.web.server import WebServer
from tests.connector.web.conftest import synced_daemon
from tests.support.approvals import approve
from tests.support.browser import accessibility_problems, chromium, screenshot
from tests.support.web import PASSWORD


@pytest.fixture
def served(database_url: str, clock: ManualClock, simulator: MoneybirdSimulator) -> Iterator[tuple[str, Daemon]]:
    # Over plain HTTP on this machine: the browser keeps a Secure cookie for localhost only, so the cookie is not
    # marked Secure here (behind a proxy with TLS it is).
    daemon = synced_daemon(database_url, clock, simulator, approved=False, cookie_secure=False)
    UserStore(daemon.store).add("anna", "admin", by="test", display_name="Anna de Boer", password=PASSWORD)
    now = clock.now()
    for back in range(30, 0, -1):  # a month of recorded days, for the DSO over time
        clock.set(now - timedelta(days=back))
        OverviewStore(daemon.store).record_day(clock.now().date())
    clock.set(now)
    server = WebServer(create_app(Site(daemon.settings, daemon.store, clock), daemon.endpoints()), "127.0.0.1", 0)
    server.start()
    try:
        yield server.url, daemon
    finally:
        server.stop()
        daemon.close()


@pytest.fixture
def page(served: tuple[str, Daemon]) -> Iterator[Page]:
    with chromium() as browser:
        context = browser.new_context(base_url=served[0], locale="nl-NL", viewport={"width": 1280, "height": 900})
        yield context.new_page()
        context.close()


def test_sign_in_with_the_keyboard_and_approve_going_live(page: Page, served: tuple[str, Daemon]) -> None:
    _, daemon = served
    page.goto("/")
    expect(page).to_have_url("/login?next=%2F")
    assert accessibility_problems(page) == []
    page.keyboard.type("anna")  # the name field has the focus
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Administraties")).to_be_visible()
    row = page.get_by_role("row", name="shop")
    expect(row.get_by_text("wacht op goedkeuring")).to_be_visible()
    assert accessibility_problems(page) == []
    screenshot(page, "cockpit-overview.png")

    row.get_by_role("link", name="shop").click()
    expect(page.get_by_role("heading", name="Live gaan")).to_be_visible()
    assert accessibility_problems(page) == []
    page.get_by_label("Notitie voor het logboek (niet verplicht)").fill("plan nagekeken")
    page.get_by_role("button", name="Live gaan goedkeuren").click()
    expect(page.get_by_role("status")).to_contain_text("Goedgekeurd.")
    screenshot(page, "cockpit-dashboard.png")

    administration_id = daemon.store.administration_id("shop")
    assert administration_id is not None
    latest = ApprovalStore(daemon.store).latest(administration_id)
    assert latest is not None and latest.approved_by == "Anna de Boer (anna)" and latest.note == "plan nagekeken"

    daemon.cycle("shop")  # the first dispatch after going live: what is due is planned
    page.get_by_role("link", name=re.compile("^Aandacht")).click()
    expect(page.get_by_role("heading", name=re.compile("^Aandacht"))).to_be_visible()
    assert accessibility_problems(page) == []
    screenshot(page, "cockpit-attention.png")


def test_pause_an_invoice_for_a_dispute_and_see_the_timeline_change(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Gebruikersnaam").fill("anna")
    page.get_by_label("Wachtwoord").fill(PASSWORD)
    page.get_by_role("button", name="Inloggen").click()
    page.goto("/a/shop/customers")
    assert accessibility_problems(page) == []
    page.get_by_role("row").nth(1).get_by_role("link").click()
    timeline = page.get_by_role("region", name="Tijdlijn")
    expect(timeline).to_be_visible()
    expect(timeline.get_by_text("Gepland:").first).to_be_visible()
    before = timeline.get_by_role("listitem").count()
    assert accessibility_problems(page) == []

    first = page.get_by_role("row").nth(1)
    number = first.get_by_role("rowheader").inner_text()
    first.get_by_text(f"Pauzeren {number}", exact=True).click()  # opens the form in place
    first.get_by_label("Reden").select_option("dispute")
    first.get_by_label("Notitie").fill("klant zegt: nooit geleverd")
    first.get_by_role("button", name=f"Factuur {number} pauzeren").click()

    expect(page.get_by_role("status")).to_contain_text("Gepauzeerd.")
    newest = timeline.get_by_role("listitem").filter(has_text="gepauzeerd").first
    expect(newest).to_contain_text("geschil")
    expect(newest).to_contain_text("klant zegt: nooit geleverd")
    expect(newest).to_contain_text("door Anna de Boer (anna)")
    assert timeline.get_by_role("listitem").count() == before + 1
    expect(page.get_by_role("row").nth(1)).to_contain_text("gepauzeerd: geschil")
    assert accessibility_problems(page) == []
    screenshot(page, "cockpit-customer-timeline.png")


def test_a_message_waiting_to_go_is_shown_in_its_frame_as_it_would_go_out(
    page: Page, served: tuple[str, Daemon]
) -> None:
    _, daemon = served
    approve(daemon.store, daemon.settings.enabled_administrations, daemon.settings.policies)
    daemon.cycle("shop")  # planned; without an SMTP server configured, the e-mails wait
    administration_id = daemon.store.administration_id("shop") or 0
    box = OutboxStore(daemon.store)
    waiting = [a for a in box.actions(administration_id, ["pending"]) if a.action == "email"]
    assert waiting, "no e-mail waiting: the test would prove nothing"
    action = waiting[0]
    numbers = [v.number for v in daemon.store.invoices("shop") if v.ledger_id in box.invoice_ids(action)]
    page.goto(f"/login?next=/a/shop/m/{action.key}")
    page.get_by_label("Gebruikersnaam").fill("anna")
    page.get_by_label("Wachtwoord").fill(PASSWORD)
    page.get_by_role("button", name="Inloggen").click()
    expect(page.get_by_role("heading", name="Zoals het vandaag zou uitgaan")).to_be_visible()
    frame = page.frame_locator("iframe.mail")
    for number in numbers:
        expect(frame.get_by_text(number).first).to_be_visible()  # the frame is allowed, and shows the e-mail
    assert accessibility_problems(page) == []
    screenshot(page, "cockpit-message-preview.png")

    page.get_by_role("link", name="Sjablonen").click()
    page.get_by_role("link", name="reminder (nl)").click()
    expect(page.get_by_label("Onderwerp")).to_have_value(re.compile("^Herinnering"))
    expect(page.get_by_role("region", name="Voorbeeld op een echt bericht")).to_contain_text("Herinnering")
    assert accessibility_problems(page) == []
    screenshot(page, "cockpit-template.png")
