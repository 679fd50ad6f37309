"""An administration's dashboard: its figures, ageing and DSO over time, and going live approved from it."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

from starlette.testclient import TestClient

from adapters.moneybird.simulator import MoneybirdSimulator
from connector.clock import ManualClock
from connector.daemon import Daemon
from connector.store.approvals import ApprovalStore
from connector.store.overview import OverviewStore
from connector.web import i18n
from tests.connector.web.conftest import synced_daemon
from tests.support.web import csrf_of, sign_in, web_client


def test_the_dashboard_shows_the_ageing_that_adds_up_to_the_mirror(client: TestClient, daemon: Daemon) -> None:
    sign_in(client, daemon, "vera", "viewer")
    page = client.get("/a/shop").text
    views = daemon.store.invoices("shop")
    assert i18n.money(sum(v.open_amount for v in views)) in page
    periods = re.findall(r'<tr><th scope="row">([^<]+)</th><td class="num">(\d+)</td>', page)
    assert [label for label, _ in periods] == [
        "nog niet vervallen",
        "1-30 dagen",
        "31-60 dagen",
        "61-90 dagen",
        "90+ dagen",
    ]
    assert sum(int(count) for _, count in periods) == len(views)
    assert 'role="img"' in page and "Live gaan goedkeuren" not in page  # approved already (the fixture)
    assert client.get("/a/nope").status_code == 404


def test_dso_over_time_is_drawn_from_the_recorded_days(client: TestClient, daemon: Daemon, clock: ManualClock) -> None:
    overview = OverviewStore(daemon.store)
    start = clock.now()
    for offset in range(5):
        clock.set(start + timedelta(days=offset))
        assert overview.record_day((start + timedelta(days=offset)).date()) == 1
    clock.set(start + timedelta(days=5))
    sign_in(client, daemon, "vera", "viewer")
    page = client.get("/a/shop").text
    assert page.count('class="dot"') == 6  # five recorded days and today
    (administration_id,) = [r.id for r in overview.administrations().values()]
    days = overview.days(administration_id, start.date())
    assert len(days) == 5 and all(day.open_amount > Decimal(0) and day.invoiced_90_days >= 0 for day in days)


def test_an_admin_approves_going_live_from_the_dashboard_and_it_is_logged_with_their_name(
    database_url: str, clock: ManualClock, simulator: MoneybirdSimulator
) -> None:
    daemon = synced_daemon(database_url, clock, simulator, approved=False)
    try:
        with web_client(daemon) as client:
            sign_in(client, daemon, "petra", "controller")
            page = client.get("/a/shop").text
            assert "Live gaan" in page and "Een beheerder keurt het live gaan goed." in page
            assert client.post("/a/shop/approve", data={"csrf": csrf_of(page)}).status_code == 403
            client.post("/logout", data={"csrf": csrf_of(page)})
            sign_in(client, daemon, "anna", "admin")
            page = client.get("/a/shop").text
            assert "Live gaan goedkeuren" in page
            answer = client.post("/a/shop/approve", data={"csrf": csrf_of(page), "note": "checked the plan"})
            assert answer.status_code == 200 and "Goedgekeurd." in answer.text
            again = client.post("/a/shop/approve", data={"csrf": csrf_of(answer.text)})
            assert "Dit was al goedgekeurd" in again.text
        administration_id = daemon.store.administration_id("shop")
        assert administration_id is not None
        latest = ApprovalStore(daemon.store).latest(administration_id)
        assert latest is not None and latest.approved_by == "Anna (anna)" and latest.note == "checked the plan"
    finally:
        daemon.close()
