"""Exact Online JSON -> domain objects: dates, terms summed into invoices, the reminder address."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.exact_online.mapping import (
    contact_from_account,
    exact_date,
    exact_instant,
    invoice_from_terms,
    invoices_from_terms,
    reminder_address,
    term_from_receivable,
    term_from_receivables_list,
)
from connector.ledger.port import BadRecord, InvoiceStatus

ACCOUNT = "8b6c2e3a-1f0d-4b0e-9a51-6c1f1f0c2a11"
OTHER = "0f3c7c51-55aa-4c4e-8d3b-0a1b2c3d4e5f"


def ms(day: date) -> str:
    return f"/Date({int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)})/"


def receivable(term_id: str, number: int, amount: str, due: date, *, status: int = 20, **extra: Any) -> dict[str, Any]:
    return {
        "ID": term_id,
        "Account": ACCOUNT,
        "AmountDC": Decimal(amount),
        "Currency": "EUR",
        "AmountFC": Decimal(amount),
        "DueDate": ms(due),
        "InvoiceDate": ms(date(2026, 9, 1)),
        "InvoiceNumber": number,
        "IsFullyPaid": status == 50,
        "Status": status,
        **extra,
    }


def test_date_only_fields_are_the_date_the_ledger_shows() -> None:
    assert exact_date("/Date(1725840000000)/") == date(2024, 9, 9)
    assert exact_date("2026-11-24T00:00:00") == date(2026, 11, 24)
    assert exact_date(None) is None


def test_instants_are_amsterdam_wall_clock_encoded_as_utc() -> None:
    # Exact's Modified for an invoice made at 14:31 UTC in summer reads 16:31 "UTC".
    assert exact_instant("/Date(1782405060000)/") == datetime(2026, 6, 25, 14, 31, tzinfo=UTC)
    winter = int(datetime(2026, 1, 15, 10, 0, tzinfo=UTC).timestamp() * 1000)
    assert exact_instant(f"/Date({winter})/") == datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def test_several_open_terms_make_one_invoice_with_their_sum_and_earliest_due_date() -> None:
    terms = [
        term_from_receivable(receivable("t2", 7, "60.50", date(2026, 12, 1))),
        term_from_receivable(receivable("t1", 7, "40.00", date(2026, 11, 1))),
        term_from_receivable(receivable("t0", 7, "25.00", date(2026, 10, 1), status=50)),
    ]
    invoice = invoice_from_terms(7, terms)
    assert invoice.ledger_id == invoice.number == "7"
    assert invoice.open_amount.amount == Decimal("100.50")
    assert invoice.total.amount == Decimal("125.50")
    assert invoice.due_date == date(2026, 11, 1)
    assert invoice.status is InvoiceStatus.OPEN and invoice.contact_id == ACCOUNT


def test_an_invoice_whose_terms_are_all_matched_is_paid() -> None:
    invoice = invoice_from_terms(8, [term_from_receivable(receivable("t", 8, "99", date(2026, 11, 1), status=50))])
    assert invoice.status is InvoiceStatus.PAID and invoice.open_amount.amount == 0


def test_an_unmatched_payment_for_the_invoice_nets_against_it_and_payments_without_invoice_are_skipped() -> None:
    terms = [
        term_from_receivable(receivable("t1", 9, "100.00", date(2026, 11, 1))),
        term_from_receivable(receivable("p1", 9, "-30.00", date(2026, 11, 20))),
        term_from_receivable(receivable("p2", 0, "-12.00", date(2026, 11, 20))),
    ]
    invoices, bad = invoices_from_terms(terms)
    assert not bad and [i.ledger_id for i in invoices] == ["9"]
    assert invoices[0].open_amount.amount == Decimal("70.00")


def test_terms_naming_two_accounts_are_quarantined() -> None:
    terms = [
        term_from_receivable(receivable("t1", 10, "1", date(2026, 11, 1))),
        term_from_receivable(receivable("t2", 10, "1", date(2026, 11, 1), Account=OTHER)),
    ]
    invoices, bad = invoices_from_terms(terms)
    assert not invoices and bad[0].ledger_id == "10" and "accounts" in bad[0].reason
    with pytest.raises(BadRecord):
        invoice_from_terms(10, terms)


def test_the_version_does_not_depend_on_which_endpoint_the_terms_came_from() -> None:
    listed = term_from_receivables_list(
        {
            "HID": 387,
            "Id": "t1",
            "AccountId": ACCOUNT.upper(),
            "Amount": Decimal("100.5"),
            "CurrencyCode": "EUR",
            "DueDate": ms(date(2026, 11, 1)),
            "InvoiceNumber": 11,
        }
    )
    fed = term_from_receivable(receivable("T1", 11, "100.50", date(2026, 11, 1)))
    assert listed.key == fed.key == "t1" and listed.account_id == fed.account_id
    assert invoice_from_terms(11, [listed]).version == invoice_from_terms(11, [fed]).version


@given(
    st.lists(
        st.tuples(
            st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999"), places=2),
            st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)),
            st.booleans(),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_open_amount_and_due_date_follow_the_open_terms(rows: list[tuple[Decimal, date, bool]]) -> None:
    terms = [
        term_from_receivable(receivable(f"t{i}", 12, str(value), due, status=20 if is_open else 50))
        for i, (value, due, is_open) in enumerate(rows)
    ]
    invoice = invoice_from_terms(12, terms)
    open_rows = [(value, due) for value, due, is_open in rows if is_open]
    assert invoice.open_amount.amount == sum((value for value, _ in open_rows), Decimal(0))
    assert invoice.status is (InvoiceStatus.OPEN if open_rows else InvoiceStatus.PAID)
    if open_rows:
        assert invoice.due_date == min(due for _, due in open_rows)


def person(person_id: str, email: str | None, name: str, *, main: bool = False) -> dict[str, Any]:
    return {"ID": person_id, "Email": email, "FullName": name, "IsMainContact": main, "Account": ACCOUNT}


def test_reminder_address_order_main_contact_then_account_then_other_people() -> None:
    account = {"ID": ACCOUNT, "Name": "Bakkerij", "Email": "administratie@bakkerij.nl", "MainContact": "p-main"}
    people = [person("p-other", "anna@bakkerij.nl", "Anna"), person("p-main", "jan@bakkerij.nl", "Jan")]
    assert reminder_address(account, people) == "jan@bakkerij.nl"
    people[1]["Email"] = None
    assert reminder_address(account, people) == "administratie@bakkerij.nl"
    assert reminder_address({**account, "Email": "  "}, people) == "anna@bakkerij.nl"
    assert reminder_address({**account, "Email": None}, [person("p-main", None, "Jan")]) is None
    flagged = [person("p-x", "flagged@bakkerij.nl", "Flag", main=True)]
    assert reminder_address({"ID": ACCOUNT, "Name": "B", "Email": "a@b.nl"}, flagged) == "flagged@bakkerij.nl"


def test_accounts_are_read_with_their_padding_stripped() -> None:
    contact = contact_from_account(
        {
            "ID": ACCOUNT.upper(),
            "Code": "                25",
            "Name": "Bakkerij de Korenbloem",
            "Email": "info@korenbloem.nl",
            "Country": "NL ",
            "ChamberOfCommerce": "12345678",
            "Language": "NL        ",
        },
        [],
    )
    assert contact.ledger_id == ACCOUNT and contact.customer_number == "25" and contact.country == "NL"
    assert contact.is_business and contact.company_name == "Bakkerij de Korenbloem"
    consumer = contact_from_account({"ID": OTHER, "Name": "J. de Vries", "Email": "j@example.nl"}, [])
    assert not consumer.is_business and consumer.person_name == "J. de Vries"
    with pytest.raises(BadRecord, match="without a name"):
        contact_from_account({"ID": OTHER, "Name": " "}, [])
