"""e-Boekhouden payloads -> domain objects, and the connector's block in a relation's note (pure functions)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.eboekhouden.mapping import (
    BLOCK_END,
    BLOCK_MAX_LINES,
    BLOCK_START,
    FREE_TEXT_MAX,
    NOTE_MAX,
    Term,
    amount,
    contact_from_relation,
    fetched_at,
    free_text_line,
    has_line,
    invoice_from_item,
    invoice_term,
    open_item,
    patch_body,
    settled_invoice,
    summary_lines,
    term_days,
    term_from_raw,
    with_summary_line,
)
from connector.domain import InvoiceStatus
from connector.ledger.port import BadRecord
from tests.support.fixtures import vendor_payload

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def _camel(data: Any) -> Any:
    """The vendor's examples are PascalCase; the wire is camelCase (normalised here, never in production)."""
    if isinstance(data, dict):
        return {key[:1].lower() + key[1:]: _camel(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_camel(value) for value in data]
    return data


def vendor_example(name: str) -> Any:
    return _camel(vendor_payload("eboekhouden", name))


def item_row(**changes: Any) -> dict[str, Any]:
    row = {
        "date": "2026-10-01",
        "mutationId": 50017,
        "invoiceNumber": "F2026-00017",
        "relationId": 1004,
        "relationCode": "R0004",
        "company": "Bakkerij De Vries",
        "totalAmount": Decimal("121.00"),
        "paidAmount": Decimal("21.00"),
        "outstandingAmount": Decimal("100.00"),
    }
    return {**row, **changes}


# --- open items -----------------------------------------------------------------------------------------


def test_an_open_item_with_its_term_is_an_open_invoice_due_after_the_term() -> None:
    invoice = invoice_from_item(open_item(item_row()), Term(14, "invoice", "7017", "https://e.example/pdf"))
    assert invoice.ledger_id == "50017" and invoice.contact_id == "1004" and invoice.number == "F2026-00017"
    assert invoice.invoice_date == date(2026, 10, 1) and invoice.due_date == date(2026, 10, 15)
    assert invoice.total.amount == Decimal("121.00") and invoice.open_amount.amount == Decimal("100.00")
    assert invoice.total.currency == "EUR" and invoice.status is InvoiceStatus.OPEN
    assert invoice.raw["termOfPayment"] == 14 and invoice.raw["termSource"] == "invoice"
    assert invoice.raw["outstanding"]["totalAmount"] == "121.00"  # exact decimals, stored as text
    assert term_from_raw(invoice.raw) == Term(14, "invoice", "7017", "https://e.example/pdf")
    assert not invoice.due_date_assumed


def test_a_due_date_from_the_default_term_is_marked_assumed() -> None:
    """No term on the invoice, its booking or the relation: the configured default gives a due date, marked as
    assumed so that no legal stage goes on it without a person."""
    assumed = invoice_from_item(open_item(item_row()), Term(30, "default"))
    assert assumed.due_date == date(2026, 10, 31) and assumed.due_date_assumed
    assert not invoice_from_item(open_item(item_row()), Term(30, "relation")).due_date_assumed


def test_the_vendor_example_row_reads_and_its_unknown_date_is_refused() -> None:
    row = vendor_example("mutation_invoice_outstanding_list.response.json")["items"][0]
    with pytest.raises(BadRecord, match="date: unknown") as refused:
        open_item(row)
    assert refused.value.ledger_id == "1" and refused.value.version  # quarantined until the row changes
    item = open_item({**row, "date": "2026-08-29"})
    assert item.relation_id == "101" and item.invoice_number is None and item.company == "SkillSource"


def test_a_broken_row_names_every_problem() -> None:
    with pytest.raises(BadRecord) as refused:
        open_item(item_row(mutationId=None, relationId="x", totalAmount="lots", date="yesterday"))
    reason = refused.value.reason
    assert "mutationId" in reason and "relationId" in reason and "totalAmount" in reason and "date" in reason


def test_amounts_are_read_as_decimals_and_rounded_to_cents() -> None:
    assert amount(Decimal("131.89")) == Decimal("131.89")
    assert amount(Decimal("0.1")) == Decimal("0.10")
    assert amount(Decimal("10.005")) == Decimal("10.01")
    assert amount(12) == Decimal("12.00")
    for wrong in (None, True, "12,50", "NaN", [1]):
        with pytest.raises(ValueError):
            amount(wrong)


def test_the_version_changes_with_a_payment_and_not_otherwise() -> None:
    before = open_item(item_row())
    assert open_item(item_row()).version == before.version
    assert open_item(item_row(paidAmount=Decimal("31.00"), outstandingAmount=Decimal("90.00"))).version != (
        before.version
    )


def test_a_credit_note_is_an_open_credit_of_the_customer() -> None:
    """Mirrored with its amount (it once showed as cancelled, without one), so that it is set off against the
    customer's invoices before costs are computed, as Moneybird's and Exact Online's credits are."""
    row = item_row(totalAmount=Decimal("-50.00"), paidAmount=Decimal(0), outstandingAmount=Decimal("-50.00"))
    invoice = invoice_from_item(open_item(row), Term(0, "credit"))
    assert invoice.status is InvoiceStatus.OPEN and invoice.open_amount.amount == Decimal("-50.00")
    assert invoice.ledger_state == "credit" and not invoice.due_date_assumed


def test_terms_of_zero_or_nothing_are_unset() -> None:
    assert [term_days(v) for v in (14, "30", 0, None, -3, True, "x")] == [14, 30, None, None, None, None, None]
    example = vendor_example("invoice_list.response.json")["items"][0]
    assert invoice_term(example) == Term(14, "invoice", "1000", None)  # an empty PDF url is no url
    assert invoice_term({**example, "termOfPayment": 0}) is None


def test_a_settled_item_is_paid_when_booked_and_deleted_when_not() -> None:
    raw = invoice_from_item(open_item(item_row()), Term(30, "mutation")).raw
    paid = settled_invoice(raw, deleted=False)
    assert paid.status is InvoiceStatus.PAID and paid.open_amount.amount == 0 and paid.ledger_state == "settled"
    assert paid.due_date == date(2026, 10, 31)
    assert settled_invoice(raw, deleted=True).status is InvoiceStatus.DELETED


# --- relations ------------------------------------------------------------------------------------------


def test_the_vendor_relation_is_a_business_mailed_at_its_reminder_address() -> None:
    relation = vendor_example("relation_get.response.json")
    contact = contact_from_relation(relation, NOW)
    assert contact.ledger_id == "1" and contact.name == "Company" and contact.is_business
    assert contact.email == "reminder@company.com"
    assert contact.person_name == "John Doe" and contact.kvk_number == "12345678"
    assert contact.customer_number == "REL123" and contact.zipcode == "1000 AB" and contact.country == "NL"
    assert fetched_at(contact.version) == NOW.replace(microsecond=0)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"emailAddressReminder": "r@x.nl", "emailAddressInvoice": "i@x.nl", "emailAddress": "a@x.nl"}, "r@x.nl"),
        ({"emailAddressReminder": " ", "emailAddressInvoice": "i@x.nl", "emailAddress": "a@x.nl"}, "i@x.nl"),
        ({"emailAddressReminder": None, "emailAddressInvoice": "", "emailAddress": "a@x.nl"}, "a@x.nl"),
        ({"emailAddressReminder": None, "emailAddressInvoice": None, "emailAddress": None}, None),
    ],
)
def test_the_reminder_address_falls_back_in_the_documented_order(fields: dict[str, Any], expected: str) -> None:
    relation = {"id": 7, "type": "B", "name": "Acme", **fields}
    assert contact_from_relation(relation, NOW).email == expected


@pytest.mark.parametrize(
    ("country", "code", "language"),
    [
        ("Nederland", "NL", "nl"),
        ("Netherlands", "NL", "nl"),
        ("nl", "NL", "nl"),
        ("Belgie", "BE", "nl"),
        ("België", "BE", "nl"),
        ("Duitsland", "DE", "en"),
        ("Germany", "DE", "en"),
        ("Verenigd Koninkrijk", "GB", "en"),
        ("", None, None),
        ("Atlantis", None, None),
    ],
)
def test_the_country_is_read_as_a_code_and_sets_the_letters_language(
    country: str, code: str | None, language: str | None
) -> None:
    contact = contact_from_relation({"id": 7, "type": "B", "name": "Acme", "country": country}, NOW)
    assert (contact.country, contact.language) == (code, language)


def test_a_private_relation_is_a_consumer_whatever_numbers_it_carries() -> None:
    relation = {
        "id": 8,
        "type": "P",
        "name": "J. Jansen",
        "vatNumber": "NL001234567B01",
        "companyRegistrationNumber": "1234",
    }
    contact = contact_from_relation(relation, NOW)
    assert not contact.is_business and contact.person_name == "J. Jansen" and contact.company_name is None
    assert contact.raw["vatNumber"] == "NL001234567B01"  # kept, only not read as a business
    assert contact.kind_in_ledger == "consumer"


def test_a_relation_without_a_type_is_a_business_only_on_evidence() -> None:
    """An empty type once read as a business: the business letter, costs due at once and commercial interest."""
    bare = contact_from_relation({"id": 9, "type": "", "name": "Smit"}, NOW)
    assert not bare.is_business and bare.kind_in_ledger is None and bare.person_name == "Smit"
    numbered = contact_from_relation({"id": 9, "name": "Smit", "companyRegistrationNumber": "87654321"}, NOW)
    assert numbered.is_business and numbered.business_evidence == "KvK number 87654321"
    typed = contact_from_relation({"id": 9, "type": "B", "name": "Smit"}, NOW)
    assert typed.is_business and typed.business_evidence == "marked as a business in the ledger"


def test_a_relation_without_a_name_or_with_an_unknown_type_is_quarantined() -> None:
    with pytest.raises(BadRecord, match=r"name: missing.*type"):
        contact_from_relation({"id": 9, "type": "X", "name": " "}, NOW)


def test_the_patch_sends_the_whole_relation_with_name_and_type() -> None:
    relation = vendor_example("relation_get.response.json")
    body = patch_body({**relation, "type": "P"}, {"note": "new"})
    assert body["name"] == "Company" and body["type"] == "P" and body["note"] == "new"
    assert body["doNotReceiveNewsletters"] is False  # an int when read, a bool when written
    assert "id" not in body and "date" not in body and "isClubOrAssociationMember" not in body
    assert patch_body({"name": "X", "type": ""}, {})["type"] == "B"


# --- the connector's block --------------------------------------------------------------------------------

LINE = "Factuur F1: Herinnering verstuurd naar a@b.nl op 24 november 2026 [ref 0123456789ab]"


def test_the_block_goes_below_a_persons_text_and_is_updated_in_place() -> None:
    person = "Belt liever na 14:00.\nContact: Jan"
    first = with_summary_line(person, LINE)
    assert first.startswith(person + "\n\n" + BLOCK_START) and first.endswith(BLOCK_END)
    edited = "Nieuw: betaalt altijd laat\n\n" + first + "\nPS van een mens"  # a person writes around it
    second = with_summary_line(edited, "Factuur F2: Aanmaning [ref 1111111111ab]")
    assert second.startswith("Nieuw: betaalt altijd laat\n\n" + person + "\n\n")
    assert second.endswith(BLOCK_END + "\nPS van een mens")
    assert summary_lines(second) == ["Factuur F2: Aanmaning [ref 1111111111ab]", LINE]
    assert has_line(second, "Factuur F1", "[ref 0123456789ab]", block=True)
    assert not has_line(second, "Factuur F2", "[ref 0123456789ab]", block=True)


def test_the_block_keeps_the_newest_lines_and_fits_the_note() -> None:
    note = ""
    for n in range(BLOCK_MAX_LINES + 5):
        note = with_summary_line(note, f"Factuur F{n}: stap [ref {n:012x}]")
    lines = summary_lines(note)
    assert len(lines) == BLOCK_MAX_LINES and lines[0].startswith(f"Factuur F{BLOCK_MAX_LINES + 4}:")
    crowded = "x" * (NOTE_MAX - 400)  # room for the block's frame and about two lines
    squeezed = crowded
    for n in range(5):
        squeezed = with_summary_line(squeezed, f"Factuur F{n}: stap [ref {n:012x}]" + " lang" * 20)
    assert len(squeezed) <= NOTE_MAX and squeezed.startswith(crowded)
    assert 1 <= len(summary_lines(squeezed)) < 5 and summary_lines(squeezed)[0].startswith("Factuur F4:")
    with pytest.raises(ValueError, match="no room"):
        with_summary_line("x" * NOTE_MAX, LINE)


def test_a_free_text_field_holds_the_latest_step_in_100_characters() -> None:
    marker = "[ref 0123456789ab]"
    line = free_text_line(
        "Factuur F2026-00017", "Ingebrekestelling verstuurd naar debiteuren@voorbeeld.nl " + marker, marker
    )
    assert len(line) <= FREE_TEXT_MAX and line.startswith("Factuur F2026-00017: ") and line.endswith(marker)
    assert has_line(line, "Factuur F2026-00017", marker, block=False)


PERSON_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300).filter(
    lambda text: BLOCK_START not in text and BLOCK_END not in text
)


def _outside(note: str) -> str:
    start = note.index(BLOCK_START)
    end = note.index(BLOCK_END, start) + len(BLOCK_END)
    return note[:start] + note[end:]


@settings(max_examples=200, deadline=None)
@given(before=PERSON_TEXT, edits=st.lists(st.tuples(PERSON_TEXT, PERSON_TEXT), min_size=1, max_size=6))
def test_a_persons_text_survives_every_write_back(before: str, edits: list[tuple[str, str]]) -> None:
    """Whatever a person wrote, and writes above or below the block between write-backs, stays byte for byte."""
    note = before
    for n, (above, below) in enumerate(edits):
        line = f"Factuur F{n}: stap {n} [ref {n:012x}]"
        written = with_summary_line(note, line)
        if BLOCK_START in note:
            assert _outside(written) == _outside(note)
        else:
            assert written.startswith(note)
        assert summary_lines(written)[0] == line and len(summary_lines(written)) == n + 1
        note = above + written + below  # the person edits around the block


def test_a_note_saved_with_windows_line_ends_keeps_one_block() -> None:
    saved = with_summary_line("Belt liever na 14:00.", LINE).replace("\n", "\r\n")  # a browser saved it
    assert has_line(saved, "Factuur F1", "[ref 0123456789ab]", block=True)
    again = with_summary_line(saved, "Factuur F2: Aanmaning [ref 1111111111ab]")
    assert again.count(BLOCK_START) == 1 and again.startswith("Belt liever na 14:00.\r\n\r\n")
    assert summary_lines(again) == ["Factuur F2: Aanmaning [ref 1111111111ab]", LINE]
    assert "\n" not in again.replace("\r\n", "")  # one kind of line end throughout
