"""Moneybird JSON -> domain objects, against Moneybird's own example payloads."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.moneybird.mapping import contact_from_moneybird, invoice_from_moneybird
from connector.domain import InvoiceStatus, Money
from connector.ledger.port import BadRecord
from tests.support.fixtures import vendor_payload


def payload(name: str) -> Any:
    return vendor_payload("moneybird", name)


def test_invoices_from_the_synchronization_fetch_example() -> None:
    invoices = [invoice_from_moneybird(item) for item in payload("sales_invoices_synchronization_fetch.response.json")]
    first = invoices[0]
    assert first.ledger_id == "496081512464123498"
    assert first.number == "2026-0003"
    assert first.contact_id == "496081512070907462"
    assert first.due_date == date(2026, 9, 4)
    assert first.invoice_date == date(2026, 8, 21)
    assert first.total == Money(Decimal("363.0"), "EUR")
    assert first.open_amount == Money(Decimal("363.0"), "EUR")
    assert first.status is InvoiceStatus.OPEN and first.ledger_state == "open"
    assert first.version == "1787320219"
    assert first.ledger_reminders_paused is False
    assert "contact" not in first.raw and first.raw["payment_reference"] == "RF6300000000000005KNGSXTR"
    assert all(isinstance(invoice.ledger_id, str) for invoice in invoices)


def test_embedded_contact_of_a_company() -> None:
    item = payload("sales_invoices_synchronization_fetch.response.json")[0]
    contact = contact_from_moneybird(item["contact"])
    assert contact.ledger_id == "496081512070907462"
    assert contact.name == "Foobar Holding B.V."
    assert contact.email == "info@example.com"
    assert contact.is_business
    assert contact.customer_number == "customer-1"
    assert contact.address == "Hoofdstraat 12" and contact.city == "Amsterdam" and contact.country == "NL"
    assert contact.version == "1787320218"


def test_standalone_contact() -> None:
    data = payload("contact_get.response.json")
    contact = contact_from_moneybird(data)
    assert contact.ledger_id == str(data["id"])
    assert contact.name


def test_uncollectible_and_paused_states() -> None:
    uncollectible = invoice_from_moneybird(payload("sales_invoice_mark_as_uncollectible.200.response.json"))
    assert uncollectible.status is InvoiceStatus.UNCOLLECTIBLE
    paused = invoice_from_moneybird(payload("sales_invoice_pause.201.response.json"))
    assert paused.ledger_reminders_paused is True
    assert paused.status is InvoiceStatus.OPEN


def test_an_invoice_made_by_a_subscription_or_recurring_invoice_is_a_periodic_claim() -> None:
    """Its collection costs share the cap on small periodic claims (EUR 140 per six months)."""
    example = payload("sales_invoices_synchronization_fetch.response.json")[0]
    assert example["recurring_sales_invoice_id"] is None and not invoice_from_moneybird(example).recurring
    assert invoice_from_moneybird({**example, "recurring_sales_invoice_id": "496081512464123001"}).recurring
    assert invoice_from_moneybird({**example, "subscription_id": "496081512464123002"}).recurring


BASE = {
    "id": "496081512464123498",
    "contact_id": "496081512070907462",
    "invoice_id": "2026-0003",
    "state": "late",
    "invoice_date": "2026-08-21",
    "due_date": "2026-09-04",
    "currency": "EUR",
    "total_price_incl_tax": "363.0",
    "total_unpaid": "100.5",
    "version": 1787320219,
}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"due_date": None}, "due_date: missing"),
        ({"due_date": "2026-02-30"}, "due_date: not a date ('2026-02-30')"),
        ({"total_price_incl_tax": "abc"}, "total_price_incl_tax: not a decimal amount ('abc')"),
        ({"total_unpaid": 1.5}, "total_unpaid: not a decimal amount (1.5)"),
        ({"total_unpaid": "NaN"}, "total_unpaid: not a decimal amount ('NaN')"),
        ({"state": "haunted"}, "state: unknown state 'haunted'"),
        ({"currency": "EURO"}, "currency: not an ISO 4217 code ('EURO')"),
        ({"contact_id": None}, "contact_id: missing"),
        ({"currency": "ßßß"}, "currency: not an ISO 4217 code ('ßßß')"),
        ({"currency": "eur"}, "currency: not an ISO 4217 code ('eur')"),
        ({"total_unpaid": "1e30"}, "total_unpaid: outside Moneybird's range of ±1,000,000,000 ('1e30')"),
        ({"total_unpaid": "1.0000001"}, "total_unpaid: more than 6 decimals ('1.0000001')"),
        ({"contact_id": "9" * 65}, "contact_id: longer than 64 characters"),
        ({"invoice_id": "2026-" * 60_000}, "invoice_id: longer than 255 characters"),  # was mirrored as None
    ],
)
def test_bad_records_name_their_problem(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(BadRecord) as caught:
        invoice_from_moneybird({**BASE, **change})
    assert caught.value.reason == reason
    assert caught.value.ledger_id == "496081512464123498"
    assert caught.value.entity == "invoice"
    assert caught.value.version == "1787320219"


def test_a_broken_record_still_tells_what_became_of_it() -> None:
    with pytest.raises(BadRecord) as caught:
        invoice_from_moneybird({**BASE, "due_date": None, "state": "paid"})
    assert caught.value.status is InvoiceStatus.PAID


def test_every_problem_of_a_record_is_named() -> None:
    with pytest.raises(BadRecord) as caught:
        invoice_from_moneybird({**BASE, "due_date": None, "total_price_incl_tax": "abc"})
    assert caught.value.reason == "due_date: missing; total_price_incl_tax: not a decimal amount ('abc')"


def test_money_is_exact() -> None:
    invoice = invoice_from_moneybird({**BASE, "total_price_incl_tax": "0.1", "total_unpaid": "0.30"})
    assert invoice.total.amount + invoice.total.amount + invoice.total.amount == invoice.open_amount.amount


def test_reminder_address_prefers_the_invoice_address() -> None:
    contact = contact_from_moneybird(
        {
            "id": 5,
            "firstname": "Anna",
            "lastname": "de Vries",
            "email": "anna@example.nl",
            "send_invoices_to_email": "boekhouding@example.nl, anna@example.nl",
        }
    )
    assert contact.ledger_id == "5"
    assert contact.email == "boekhouding@example.nl, anna@example.nl"
    assert contact.name == "Anna de Vries" and not contact.is_business
    assert (
        contact_from_moneybird({"id": "6", "email": "x@example.nl", "send_invoices_to_email": ""}).email
        == "x@example.nl"
    )


hostile = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8) | st.just([])


@st.composite
def invoice_payloads(draw: st.DrawFn) -> dict[str, Any]:
    """Plausible invoices with any field dropped or replaced by something hostile."""
    data: dict[str, Any] = {}
    for key, good in BASE.items():
        choice = draw(st.sampled_from(["good", "good", "hostile", "absent"]))
        if choice == "good":
            data[key] = good
        elif choice == "hostile":
            data[key] = draw(hostile)
    return data


@given(invoice_payloads())
def test_any_payload_maps_or_is_quarantined(data: dict[str, Any]) -> None:
    """Whatever the ledger sends, mapping either succeeds or raises BadRecord — never anything else."""
    try:
        invoice = invoice_from_moneybird(data)
    except BadRecord as bad:
        assert bad.reason
    else:
        assert isinstance(invoice.total.amount, Decimal)
        assert invoice.due_date == date(2026, 9, 4)


@given(
    st.dictionaries(
        st.sampled_from(["id", "company_name", "firstname", "email", "send_invoices_to_email", "country"]),
        hostile,
    )
)
def test_any_contact_payload_maps_or_is_quarantined(data: dict[str, Any]) -> None:
    try:
        contact = contact_from_moneybird(data)
    except BadRecord as bad:
        assert bad.entity == "contact"
    else:
        assert contact.name
