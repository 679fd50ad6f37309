"""Every ledger's records pass the same checks before the core uses them (`connector.ledger.records`)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from connector.domain import Contact, Invoice, InvoiceStatus, Money
from connector.ledger.port import ChangeBatch
from connector.ledger.records import clean_text, vet


def invoice(ledger_id: str, number: str, status: InvoiceStatus = InvoiceStatus.OPEN) -> Invoice:
    amount = Money(Decimal("121.00"), "EUR")
    return Invoice(ledger_id, number, "c1", date(2026, 10, 1), date(2026, 10, 15), amount, amount, status, "open")


def test_invisible_characters_go_and_line_breaks_become_spaces() -> None:
    assert clean_text("2026-\u202e0041") == "2026-0041"  # a right-to-left override would show it reversed
    assert clean_text("De\x00 Vries\u200b B.V.") == "De Vries B.V."
    assert clean_text("Kerkstraat 1\r\n1234 AB  Utrecht") == "Kerkstraat 1 1234 AB Utrecht"
    assert clean_text("  Café Noël  ") == "  Café Noël  "  # nothing to clean: left exactly as the ledger has it


def test_an_oversize_field_quarantines_the_record_with_its_status_and_the_rest_goes_on() -> None:
    paid_and_broken = invoice("2", "F" * 300_000, InvoiceStatus.PAID)
    batch = vet(ChangeBatch(records=[invoice("1", "2026-\u202e0041"), paid_and_broken]))
    assert [i.number for i in batch.records] == ["2026-0041"]
    (bad,) = batch.bad
    assert (bad.entity, bad.ledger_id) == ("invoice", "2")
    assert bad.reason == "number: longer than 255 characters (300,000)"
    assert bad.status is InvoiceStatus.PAID  # a paid invoice still leaves the open set


def test_a_contact_with_nothing_visible_in_its_name_is_quarantined() -> None:
    batch = vet(ChangeBatch(contacts=[Contact("c1", "\u202e\x00"), Contact("c2", "Jansen\t")]))
    assert [c.name for c in batch.contacts] == ["Jansen"]
    assert [(b.entity, b.ledger_id, b.reason) for b in batch.bad] == [("contact", "c1", "name: nothing visible in it")]
