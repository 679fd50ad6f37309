"""Invoice figures for /metrics and /status, aggregated in the database on SQLite and PostgreSQL: the same
counts, the same exact amounts (to the trailing zero) and the same ageing as adding up every open invoice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from connector.clock import ManualClock, business_date
from connector.config import Settings, settings_from_dict
from connector.domain import Contact, Invoice, InvoiceStatus, Money
from connector.health.status import AdministrationFigures, gather
from connector.ledger.port import ChangeBatch
from connector.reports import BUCKETS, bucket_floors
from connector.store import Store
from connector.store import models as rows
from connector.store.overview import OverviewStore


def invoice(
    ledger_id: str, due: date, amount: str, currency: str = "EUR", status: InvoiceStatus = InvoiceStatus.OPEN
) -> Invoice:
    return Invoice(
        ledger_id=ledger_id,
        number=ledger_id,
        contact_id="c1",
        invoice_date=due - timedelta(days=14),
        due_date=due,
        total=Money(Decimal(amount), currency),
        open_amount=Money(Decimal(amount), currency),
        status=status,
        ledger_state=status.value,
    )


def mixed_invoices(today: date) -> list[Invoice]:
    """Invoices on both sides of every bucket boundary, amounts whose sums keep or lose trailing zeros,
    two currencies, a credit note, and closed invoices that must not count."""
    days_past_due = (-5, 0, 1, 30, 31, 60, 61, 90, 91, 400)
    amounts = ("121.00", "10.50", "0.50", "100", "0.10", "0.20", "12345678901234.123456", "-25.00", "0.005", "7")
    found = [
        invoice(f"e{days}", today - timedelta(days=days), amount)
        for days, amount in zip(days_past_due, amounts, strict=True)
    ]
    found += [
        invoice("e-extra", today - timedelta(days=30), "0.40"),
        invoice("u1", today - timedelta(days=31), "19.99", "USD"),
        invoice("u2", today - timedelta(days=31), "0.01", "USD"),
        invoice("u3", today + timedelta(days=10), "5", "USD"),
        invoice("closed", today - timedelta(days=45), "999.99", status=InvoiceStatus.PAID),
    ]
    return found


def figures_from_rows(store: Store, administration_id: int, today: date) -> tuple[int, dict[str, str], list[Any]]:
    """What the figures were before aggregation: every open invoice read and added up in Python."""
    query = select(col(rows.Invoice.currency), col(rows.Invoice.open_amount), col(rows.Invoice.due_date)).where(
        rows.Invoice.administration_id == administration_id, rows.Invoice.status == InvoiceStatus.OPEN
    )
    with store.session() as session:
        open_rows = list(session.exec(query))
    amounts: dict[str, Decimal] = {}
    for currency, amount, _ in open_rows:
        amounts[currency] = amounts.get(currency, Decimal(0)) + amount
    counts, sums = [0] * len(BUCKETS), [Decimal(0)] * len(BUCKETS)
    for _, amount, due in open_rows:
        overdue = (today - due).days
        index = 0 if overdue <= 0 else 1 if overdue <= 30 else 2 if overdue <= 60 else 3 if overdue <= 90 else 4
        counts[index] += 1
        sums[index] += amount
    buckets = [(label, counts[index], str(sums[index])) for index, label in enumerate(BUCKETS)]
    return len(open_rows), {currency: str(amount) for currency, amount in amounts.items()}, buckets


def figures_from_totals(item: AdministrationFigures) -> tuple[int, dict[str, str], list[Any]]:
    amounts = {currency: str(amount) for currency, amount in item.open_amounts.items()}
    return item.open_invoice_count, amounts, [(b.label, b.count, str(b.amount)) for b in item.ageing]


def settings_for(*names: str) -> Settings:
    administrations = [
        {"name": name, "platform": "moneybird", "administration_id": str(index), "token": "${TOKEN}"}
        for index, name in enumerate(names, 1)
    ]
    return settings_from_dict({"administrations": administrations}, environ={"TOKEN": "t"})


@pytest.fixture
def filled(store: Store, clock: ManualClock) -> Iterator[tuple[dict[str, int], date]]:
    today = business_date(clock)
    contact = Contact(ledger_id="c1", name="Bakkerij De Vries B.V.", email="info@example.nl")
    ids = {name: store.ensure_administration(name, "moneybird") for name in ("shop", "bakery", "empty")}
    store.apply_invoice_batch(ids["shop"], ChangeBatch(records=mixed_invoices(today), contacts=[contact]))
    other = [invoice("b1", today - timedelta(days=61), "3.30"), invoice("b2", today - timedelta(days=61), "1.70")]
    store.apply_invoice_batch(ids["bakery"], ChangeBatch(records=other, contacts=[contact]))
    yield ids, today


def test_aggregates_equal_adding_up_every_invoice(store: Store, filled: tuple[dict[str, int], date]) -> None:
    ids, today = filled
    for item in gather(OverviewStore(store), settings_for(*ids), today=today):
        assert item.administration_id is not None
        assert figures_from_totals(item) == figures_from_rows(store, item.administration_id, today), item.name


def test_the_figures_themselves(store: Store, filled: tuple[dict[str, int], date]) -> None:
    _, today = filled
    shop, bakery, empty = gather(OverviewStore(store), settings_for("shop", "bakery", "empty"), today=today)
    assert figures_from_totals(shop) == (
        14,
        {"EUR": "12345678901448.828456", "USD": "25.00"},  # amounts are read as 121, 10.5, 0.4, ...
        [
            ("not yet due", 3, "136.5"),  # 5 days ahead and due today, and USD 5 (10 days ahead)
            ("1-30 days", 3, "100.9"),  # 1 and 30 days past due, and 30 again
            ("31-60 days", 4, "20.30"),  # 31 and 60 days, and USD 19.99 + 0.01 (the bucket mixes currencies)
            ("61-90 days", 2, "12345678901209.123456"),  # 61 and 90 days, a credit note of -25.00
            ("90+ days", 2, "7.005"),
        ],
    )
    nothing = [("not yet due", 0, "0"), ("1-30 days", 0, "0"), ("31-60 days", 0, "0"), ("61-90 days", 0, "0")]
    assert figures_from_totals(bakery) == (
        2,
        {"EUR": "5.0"},
        [*nothing[:3], ("61-90 days", 2, "5.0"), ("90+ days", 0, "0")],
    )
    assert figures_from_totals(empty) == (0, {}, [*nothing, ("90+ days", 0, "0")])


def test_totals_are_grouped_not_per_invoice(store: Store, filled: tuple[dict[str, int], date]) -> None:
    ids, today = filled
    totals = OverviewStore(store).open_invoice_totals(bucket_floors(today))
    assert set(totals) == {ids["shop"], ids["bakery"]}
    assert len(totals[ids["bakery"]]) == 1 and totals[ids["bakery"]][0].count == 2
    assert len({(t.currency, t.bucket) for t in totals[ids["shop"]]}) == len(totals[ids["shop"]]) == 7


def test_readiness_figures_read_no_invoices_and_only_the_actions_awaiting_a_person(
    store: Store, filled: tuple[dict[str, int], date]
) -> None:
    ids, _ = filled
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", record)
    try:
        figures = gather(OverviewStore(store), settings_for(*ids), detail=False)
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", record)
    assert [item.administration_id for item in figures] == list(ids.values())
    assert statements and not [s for s in statements if " invoices" in s]
    # The actions waiting for a person's approval, found through the index on the status: never a scan of the outbox.
    on_actions = [s for s in statements if " actions" in s]
    assert len(on_actions) == 1 and "actions.status = " in on_actions[0]
