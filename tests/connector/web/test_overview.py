"""The overview over all administrations: what a person reads there adds up to the mirror, in Dutch."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from starlette.testclient import TestClient

from connector.daemon import Daemon
from connector.health.status import AdministrationFigures
from connector.store.models import DailyFigure
from connector.store.overview import OverviewStore
from connector.web import i18n, overview
from tests.support.web import sign_in


def test_the_overview_adds_up_to_the_mirror_in_dutch(client: TestClient, daemon: Daemon) -> None:
    sign_in(client, daemon)
    page = client.get("/").text
    views = daemon.store.invoices("shop")
    open_total = sum(view.open_amount for view in views)
    assert i18n.money(open_total) in page  # "€ 12.345,67"
    assert re.search(r"€\s?[\d.]+,\d\d", page)
    assert "Administraties" in page and "Vervallen" in page and "shop" in page
    assert 'lang="nl"' in page


def test_the_overview_speaks_english_to_who_asks(client: TestClient, daemon: Daemon) -> None:
    sign_in(client, daemon)
    page = client.get("/").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    client.post("/language", data={"csrf": token, "language": "en", "next": "/"})
    page = client.get("/").text
    assert 'lang="en"' in page and "Overdue" in page and "Administrations" in page


def row(name: str, open_amount: str, attention: int, platform: str = "moneybird") -> overview.Row:
    return overview.Row(
        name=name,
        platform=platform,
        currency="EUR",
        open_amount=Decimal(open_amount),
        overdue_amount=Decimal(open_amount) / 2,
        open_invoices=3,
        overdue_invoices=1,
        dso=Decimal(40),
        actions_due=2,
        attention=attention,
        state="ready",
        reason=None,
    )


def test_a_thousand_administrations_are_filtered_sorted_and_paged_with_totals_over_all_that_match() -> None:
    every = [row(f"klant-{n:04d}", f"{n}.50", n % 7, "exact_online" if n % 3 else "moneybird") for n in range(1000)]
    shown = overview.view(every, sort="open", descending=True)
    assert shown.total == shown.matching == 1000 and shown.pages == 20 and len(shown.rows) == 50
    assert [r.name for r in shown.rows[:2]] == ["klant-0999", "klant-0998"]
    assert shown.totals["open"] == sum(Decimal(f"{n}.50") for n in range(1000))
    only = overview.view(
        every, query="KLANT-00", platform="moneybird", attention_only=True, sort="name", descending=False
    )
    expected = [f"klant-{n:04d}" for n in range(100) if n % 3 == 0 and n % 7]
    assert only.matching == len(expected) and [r.name for r in only.rows] == expected[:50]
    assert overview.view(every, page=99).page == 20  # past the end: the last page


def test_dso_is_open_over_invoiced_in_ninety_days_times_ninety(daemon: Daemon) -> None:
    figures = AdministrationFigures(
        daemon.settings.administration("shop"),
        administration_id=1,
        actions={("reminder", "failed"): 2, ("reminder", "pending"): 3, ("reminder", "done"): 9},
        quarantined=1,
        approved=True,
    )
    day = DailyFigure(
        administration_id=1,
        day=date(2026, 12, 31),
        currency="EUR",
        open_amount=Decimal(300),
        overdue_amount=Decimal(200),
        invoiced_90_days=Decimal(900),
        open_invoices=4,
        overdue_invoices=3,
        recorded_at=daemon.clock.now(),
    )
    (found,) = overview.rows([figures], {1: [day]}, {"shop": None})
    assert found.dso == Decimal(30) and found.open_amount == Decimal(300) and found.overdue_amount == Decimal(200)
    assert (found.open_invoices, found.overdue_invoices) == (4, 3)
    assert found.attention == 3 and found.actions_due == 3 and found.state == "ready"
    (nothing_known,) = overview.rows([figures], {}, {"shop": None})
    assert nothing_known.dso is None and nothing_known.open_amount == 0
    assert overview.dso_window(date(2026, 12, 31)) == date(2026, 10, 2)


def test_the_days_figures_kept_after_a_sync_are_what_adding_up_the_invoices_gives(daemon: Daemon) -> None:
    store = OverviewStore(daemon.store)
    today = daemon.clock.now().date()
    (administration_id,) = [record.id for record in store.administrations().values()]
    kept = store.figures_of_day(today)[administration_id]  # the daemon's cycle kept them after its sync
    live = store.day_figures(today, administration_id)[administration_id]
    assert [(r.open_amount, r.overdue_amount, r.open_invoices) for r in kept] == [
        (r.open_amount, r.overdue_amount, r.open_invoices) for r in live
    ]
    views = daemon.store.invoices("shop")
    assert kept[0].open_amount == sum(v.open_amount for v in views)
    assert kept[0].overdue_amount == sum(v.open_amount for v in views if v.due_date < today)
