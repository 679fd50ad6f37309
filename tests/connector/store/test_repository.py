"""The store on SQLite and PostgreSQL: exact money, UTC instants, batches with their cursor, quarantine."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from connector.clock import ManualClock
from connector.domain import Contact, Invoice, InvoiceStatus, Money
from connector.ledger.port import BadRecord, ChangeBatch
from connector.store import Store, migrate


def invoice(
    ledger_id: str,
    *,
    status: InvoiceStatus = InvoiceStatus.OPEN,
    open_amount: str = "121.00",
    version: str = "1",
    contact: str = "c1",
) -> Invoice:
    return Invoice(
        ledger_id=ledger_id,
        number=f"2026-{ledger_id}",
        contact_id=contact,
        invoice_date=date(2026, 10, 1),
        due_date=date(2026, 10, 15),
        total=Money(Decimal("121.00"), "EUR"),
        open_amount=Money(Decimal(open_amount), "EUR"),
        status=status,
        ledger_state=status.value,
        version=version,
        raw={"id": ledger_id},
    )


def contact(ledger_id: str = "c1", version: str = "1", name: str = "Bakkerij De Vries B.V.") -> Contact:
    return Contact(ledger_id=ledger_id, name=name, company_name=name, email="info@example.nl", version=version)


def test_store_is_at_the_latest_schema(store: Store) -> None:
    assert migrate.current_revision(store.engine) == migrate.head_revision(store.engine)


def test_migrations_build_exactly_the_models(store: Store) -> None:
    """A model changed without a migration (or a migration edited without the model) shows up here."""
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert differences == []


def test_money_survives_exactly(store: Store) -> None:
    admin = store.ensure_administration("acme", "moneybird")
    tricky = "12345678901234.123456"
    store.apply_invoice_batch(admin, ChangeBatch(records=[invoice("1", open_amount=tricky)], contacts=[contact()]))
    (view,) = store.invoices("acme")
    assert view.open_amount == Decimal(tricky)
    assert view.to_json()["open_amount"] == tricky
    assert view.to_json()["total"] == "121.00"


def test_instants_come_back_in_utc(store: Store, clock: ManualClock) -> None:
    admin = store.ensure_administration("acme", "moneybird")
    store.apply_invoice_batch(admin, ChangeBatch(records=[invoice("1")]))
    (view,) = store.invoices("acme")
    assert view.first_seen_at == clock.now()
    assert view.first_seen_at.tzinfo is not None and view.first_seen_at.utcoffset() == timedelta(0)


def test_upsert_keeps_first_seen_and_closes_once(store: Store, clock: ManualClock) -> None:
    admin = store.ensure_administration("acme", "moneybird")
    first_seen = clock.now()
    store.apply_invoice_batch(admin, ChangeBatch(records=[invoice("1"), invoice("2")], contacts=[contact()]))
    clock.advance(timedelta(hours=1))
    result = store.apply_invoice_batch(
        admin, ChangeBatch(records=[invoice("1", status=InvoiceStatus.PAID, open_amount="0", version="2")])
    )
    assert result.closed == 1
    closed_at = clock.now()
    clock.advance(timedelta(hours=1))
    # seen again, still paid: closed_at does not move and it is not counted again
    again = store.apply_invoice_batch(
        admin, ChangeBatch(records=[invoice("1", status=InvoiceStatus.PAID, open_amount="0", version="3")])
    )
    assert again.closed == 0
    paid = {v.ledger_id: v for v in store.invoices("acme", "all")}["1"]
    assert paid.state == "paid" and paid.first_seen_at == first_seen and paid.closed_at == closed_at
    assert paid.last_seen_at == clock.now()
    assert [v.ledger_id for v in store.invoices("acme", "open")] == ["2"]
    assert [v.ledger_id for v in store.invoices("acme", "closed")] == ["1"]
    assert store.open_invoice_versions(admin) == {"2": "1"}


def test_a_reopened_invoice_is_open_again(store: Store) -> None:
    admin = store.ensure_administration("acme", "moneybird")
    store.apply_invoice_batch(admin, ChangeBatch(records=[invoice("1", status=InvoiceStatus.PAID)]))
    store.apply_invoice_batch(admin, ChangeBatch(records=[invoice("1", version="9")]))
    (view,) = store.invoices("acme", "all")
    assert view.state == "open" and view.closed_at is None


def test_deleted_invoices_are_closed_as_deleted(store: Store) -> None:
    admin = store.ensure_administration("acme", "moneybird")
    store.apply_invoice_batch(admin, ChangeBatch(records=[invoice("1")]))
    result = store.apply_invoice_batch(admin, ChangeBatch(deleted=["1", "never-seen"]))
    assert result.closed == 1
    (view,) = store.invoices("acme", "all")
    assert view.state == "deleted" and view.closed_at is not None


def test_cursor_is_stored_with_its_batch(store: Store) -> None:
    admin = store.ensure_administration("acme", "exact_online")
    assert store.cursor(admin, "invoices") is None
    store.apply_invoice_batch(admin, ChangeBatch(records=[invoice("1")], cursor="ts-100"))
    assert store.cursor(admin, "invoices") == "ts-100"
    store.apply_invoice_batch(admin, ChangeBatch(records=[invoice("2")]))  # no cursor: unchanged
    assert store.cursor(admin, "invoices") == "ts-100"


def test_a_failed_batch_stores_nothing_not_even_its_cursor(store: Store) -> None:
    admin = store.ensure_administration("acme", "exact_online")
    broken = invoice("1")
    object.__setattr__(broken, "raw", {"not json": object()})  # cannot be serialised: the write fails
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises
        store.apply_invoice_batch(admin, ChangeBatch(records=[invoice("0"), broken], cursor="ts-1"))
    assert store.invoices("acme", "all") == []
    assert store.cursor(admin, "invoices") is None


def test_quarantine_records_reason_and_resolves_when_fixed(store: Store) -> None:
    admin = store.ensure_administration("acme", "moneybird")
    bad = BadRecord("invoice", "7", "due_date: missing", {"id": "7", "due_date": None}, version="5")
    result = store.apply_invoice_batch(admin, ChangeBatch(records=[invoice("1")], bad=[bad]))
    assert result.quarantined == 1 and result.upserted == 1
    (row,) = store.quarantined(admin)
    assert (row.ledger_id, row.reason, row.payload, row.ledger_version) == (
        "7",
        "due_date: missing",
        {"id": "7", "due_date": None},
        "5",
    )
    assert store.quarantined_versions(admin, "invoice") == {"7": "5"}
    store.apply_invoice_batch(admin, ChangeBatch(records=[invoice("7", version="6")]))
    assert store.quarantined(admin) == []
    assert len(store.quarantined(admin, include_resolved=True)) == 1


def test_contacts_and_missing_contacts(store: Store) -> None:
    admin = store.ensure_administration("acme", "moneybird")
    store.apply_invoice_batch(
        admin,
        ChangeBatch(records=[invoice("1", contact="c1"), invoice("2", contact="c2")], contacts=[contact("c1")]),
    )
    assert store.missing_contact_ids(admin) == {"c2"}
    store.apply_contact_batch(
        admin,
        ChangeBatch(records=[contact("c2", name="Jansen"), contact("c1", version="2", name="De Vries Holding")]),
    )
    assert store.missing_contact_ids(admin) == set()
    assert store.contact_versions(admin) == {"c1": "2", "c2": "1"}
    names = {v.ledger_id: v.contact_name for v in store.invoices("acme")}
    assert names == {"1": "De Vries Holding", "2": "Jansen"}


def test_administrations_are_separate(store: Store) -> None:
    a = store.ensure_administration("a", "moneybird")
    b = store.ensure_administration("b", "moneybird")
    assert store.ensure_administration("a", "moneybird") == a
    store.apply_invoice_batch(a, ChangeBatch(records=[invoice("1")]))
    store.apply_invoice_batch(b, ChangeBatch(records=[invoice("1", open_amount="5")]))
    assert [(v.administration, v.open_amount) for v in store.invoices(state="all")] == [
        ("a", Decimal("121")),
        ("b", Decimal("5")),
    ]


def test_sync_runs_are_recorded(store: Store, clock: ManualClock) -> None:
    admin = store.ensure_administration("acme", "moneybird")
    run = store.start_sync_run(admin, rate_key="moneybird:abc")
    clock.advance(timedelta(seconds=3))
    store.finish_sync_run(run, outcome="success", api_calls=7, api_calls_by_endpoint={"x": 7})
    (row,) = store.sync_runs(admin)
    assert row.outcome == "success" and row.api_calls == 7 and row.api_calls_by_endpoint == {"x": 7}
    assert row.finished_at is not None and row.finished_at - row.started_at == timedelta(seconds=3)
    assert store.recent_api_calls("moneybird:abc", timedelta(minutes=5)) == [(row.finished_at, 7)]
    assert store.recent_api_calls("moneybird:other", timedelta(minutes=5)) == []
    clock.advance(timedelta(minutes=6))
    assert store.recent_api_calls("moneybird:abc", timedelta(minutes=5)) == []


def test_a_killed_run_still_tells_what_it_spent_and_is_abandoned_later(store: Store, clock: ManualClock) -> None:
    """Runs of two administrations on one token share the budget; a run that never finished counts too."""
    a = store.ensure_administration("a", "moneybird")
    b = store.ensure_administration("b", "moneybird")
    killed = store.start_sync_run(a, rate_key="moneybird:shared")
    clock.advance(timedelta(seconds=10))
    store.record_progress(killed, api_calls=40)  # ...and then the process died
    store.finish_sync_run(store.start_sync_run(b, rate_key="moneybird:shared"), outcome="success", api_calls=5)
    spent = store.recent_api_calls("moneybird:shared", timedelta(minutes=5))
    assert sorted(calls for _, calls in spent) == [5, 40]
    clock.advance(timedelta(seconds=10))
    store.start_sync_run(a, rate_key="moneybird:shared")  # the next pass of `a` closes the dead one
    dead = store.sync_runs(a)[1]
    assert dead.id == killed and dead.outcome == "abandoned" and dead.api_calls == 40
    assert dead.finished_at == dead.progress_at


def test_sqlite_runs_with_wal_and_foreign_keys(tmp_path: object, clock: ManualClock) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/x/store.db", clock)
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    with pytest.raises(sa.exc.IntegrityError):
        store.apply_invoice_batch(999, ChangeBatch(records=[invoice("1")]))
    store.close()


def test_naive_datetimes_are_refused(store: Store) -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    object.__setattr__(clock, "now", lambda: datetime(2026, 1, 1))  # a naive clock is a defect
    naive = Store(store.engine, clock)
    with pytest.raises(sa.exc.StatementError, match="naive"):
        naive.ensure_administration("x", "moneybird")


def test_the_upgrade_judges_every_customer_again_on_evidence(tmp_path: Path) -> None:
    """Before 0008 a company name alone made a business (costs due at once, commercial interest); now a KvK or
    VAT number, the ledger's own flag or a legal entity's form in the name is needed. Invoices made by a
    subscription are marked periodic, and e-Boekhouden's dated by the default term marked as assumed."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    migrate.upgrade(engine, "0007")
    at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    with engine.begin() as connection:
        for name, platform in (("mb", "moneybird"), ("eb", "eboekhouden")):
            connection.execute(
                sa.text(
                    "INSERT INTO administrations (name, platform, ledger_reference, created_at)"
                    " VALUES (:n, :p, '', :at)"
                ),
                {"n": name, "p": platform, "at": at},
            )
        for administration_id, ledger_id, company, kvk, raw in (
            (1, "family", "Fam. Jansen", None, "{}"),
            (1, "bv", "Bakkerij De Vries B.V.", None, "{}"),
            (1, "kvk", "Jansen Timmerwerken", "12345678", "{}"),
            (2, "typed", "Schildersbedrijf Smit", None, '{"type": "B"}'),
            (2, "untyped", "Smit", None, '{"type": ""}'),
        ):
            connection.execute(
                sa.text(
                    "INSERT INTO contacts (administration_id, ledger_id, name, company_name, kvk_number, is_business,"
                    " raw, first_seen_at, last_seen_at) VALUES (:a, :l, :n, :n, :k, 1, :raw, :at, :at)"
                ),
                {"a": administration_id, "l": ledger_id, "n": company, "k": kvk, "raw": raw, "at": at},
            )
        for administration_id, ledger_id, raw in (
            (1, "subscription", '{"subscription_id": "77"}'),
            (1, "one-off", '{"subscription_id": null, "recurring_sales_invoice_id": null}'),
            (2, "no-term", '{"termOfPayment": 30, "termSource": "default"}'),
            (2, "term", '{"termOfPayment": 14, "termSource": "invoice"}'),
            (2, "credit", '{"outstanding": {"outstandingAmount": "-50.00"}, "termSource": "credit"}'),
        ):
            connection.execute(
                sa.text(
                    "INSERT INTO invoices (administration_id, ledger_id, contact_ledger_id, due_date, currency, total,"
                    " open_amount, status, ledger_state, raw, first_seen_at, last_seen_at)"
                    " VALUES (:a, :l, 'c', '2026-01-01', 'EUR', '121.00', '121.00', 'open', 'open', :raw, :at, :at)"
                ),
                {"a": administration_id, "l": ledger_id, "raw": raw, "at": at},
            )
        connection.execute(
            sa.text("UPDATE invoices SET status = 'cancelled', open_amount = '0' WHERE ledger_id = 'credit'")
        )
    migrate.upgrade(engine)
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT ledger_id, is_business, kind_in_ledger FROM contacts")).all()
        invoices = connection.execute(sa.text("SELECT ledger_id, recurring, due_date_assumed FROM invoices")).all()
        credit = connection.execute(
            sa.text("SELECT status, open_amount FROM invoices WHERE ledger_id = 'credit'")
        ).one()
    engine.dispose()
    assert {row[0]: (bool(row[1]), bool(row[2])) for row in invoices} == {
        "subscription": (True, False),
        "one-off": (False, False),
        "no-term": (False, True),
        "term": (False, False),
        "credit": (False, False),
    }
    # An e-Boekhouden credit note, once mirrored as cancelled without its amount, is an open credit again.
    assert credit[0] == "open" and Decimal(str(credit[1])) == Decimal("-50.00")
    assert {row[0]: (bool(row[1]), row[2]) for row in rows} == {
        "family": (False, None),
        "bv": (True, None),
        "kvk": (True, None),
        "typed": (True, "business"),
        "untyped": (False, None),
    }
