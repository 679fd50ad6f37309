"""e-Boekhouden JSON -> domain objects, and the connector's block in a relation's note. Pure functions.

The ledger has no due date: an open item's due date is its invoice date plus the payment term, found (in
this order) on the invoice record, on the booking (mutation), on the relation, else the configured
default. A term of 0 counts as "not set": e-Boekhouden fills 0 in when nobody chose a term, and a reminder
on the invoice day would be the embarrassing reading of it. Keys are `mutationId` and `relationId`; the
vendor warns that invoice numbers and relation codes may go away.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from babel import Locale

from connector.domain import CENT, Contact, Invoice, InvoiceStatus, Money
from connector.ledger.port import BadRecord

CURRENCY = "EUR"  # e-Boekhouden books in euros only
UNKNOWN_DATE = date(1, 1, 1)  # what the API sends when it has no date
NOTE_MAX = 40_000  # `note` on a relation
FREE_TEXT_MAX = 100  # `freeText1..10`
BLOCK_MAX_LINES = 40  # the summary keeps the newest lines; the full history stays in the connector's store
BLOCK_START = "--- Incassobeheer (automatisch bijgewerkt door de connector; tekst hierbuiten blijft staan) ---"
BLOCK_END = "--- einde incassobeheer ---"
# Line ends as the web app saved them: a note edited in a browser comes back with CRLF.
_BLOCK = re.compile(re.escape(BLOCK_START) + r"\r?\n(.*?)(?:\r?\n)?" + re.escape(BLOCK_END), re.DOTALL)
# The writable fields of `PATCH /v1/relation/{id}`: the whole relation goes back, since `name` is required,
# an empty `type` turns a private relation into a business, and whether omitted fields are kept is unknown.
PATCHABLE = (
    "type", "code", "name", "salutation", "contact", "gender", "address", "postalCode", "city", "country",
    "address2", "postalCode2", "city2", "country2", "phoneNumber", "mobilePhoneNumber", "faxNumber",
    "emailAddress", "emailAddressInvoice", "emailAddressReminder", "website", "note", "vatNumber", "inactive",
    "termOfPayment", "companyRegistrationNumber", "iban", "bic",
    *(f"freeText{n}" for n in range(1, 11)),
    "doNotReceiveNewsletters", "ledgerId", "mandate", "mandateType", "mandateId", "mandateSignedDate",
)  # fmt: skip


# --- small readers --------------------------------------------------------------------------------------


def amount(value: Any) -> Decimal:
    """A JSON number (read as Decimal or int) or numeric string, rounded to cents; ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str | float):
        raise ValueError(f"not an amount: {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not an amount: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    return number.quantize(CENT, rounding=ROUND_HALF_UP)


def day(value: Any) -> date | None:
    """`YYYY-MM-DD`, or the date part of `2026-08-29T00:00:00+02:00` (relations send that); None for the
    API's unknown date `0001-01-01` and for nothing."""
    if value is None or value == "":
        return None
    text = str(value)
    try:
        found = date.fromisoformat(text[:10])
    except ValueError:
        raise ValueError(f"not a date: {value!r}") from None
    return None if found == UNKNOWN_DATE else found


def ledger_id(value: Any) -> str | None:
    """An id as the mirror keeps it: the decimal string of a positive integer."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return str(value)
    if isinstance(value, str) and value.isdigit() and int(value) > 0:
        return str(int(value))
    return None


def term_days(value: Any) -> int | None:
    """A payment term in days; None when unset (null, 0, or not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        return None
    try:
        days = int(value)
    except (ValueError, ArithmeticError):
        return None
    return days if 0 < days <= 3650 else None


def text(value: Any) -> str | None:
    if value is None:
        return None
    found = str(value).strip()
    return found or None


def digest(data: Any) -> str:
    encoded = json.dumps(data, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]


def stored_form(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as the mirror keeps it: amounts as exact decimal strings (JSON has no decimals)."""
    return {key: str(value) if isinstance(value, Decimal) else value for key, value in row.items()}


# --- open items -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenItem:
    """One row of `GET /v1/mutation/invoice/outstanding?credDeb=D`."""

    mutation_id: str
    relation_id: str
    invoice_number: str | None
    invoice_date: date
    total: Decimal
    paid: Decimal
    outstanding: Decimal
    company: str | None
    row: Mapping[str, Any]

    @property
    def version(self) -> str:
        """What the list says about the item; a change in any of it means the mirror must hear of it."""
        return digest(
            [self.relation_id, self.invoice_number, self.invoice_date.isoformat(), self.total, self.paid,
             self.outstanding]
        )  # fmt: skip


def open_item(row: Mapping[str, Any]) -> OpenItem:
    """Read a list row; BadRecord naming every problem it has."""
    problems: list[str] = []
    mutation_id = ledger_id(row.get("mutationId"))
    if mutation_id is None:
        problems.append(f"mutationId: not an id ({row.get('mutationId')!r})")
    relation_id = ledger_id(row.get("relationId"))
    if relation_id is None:
        problems.append(f"relationId: not an id ({row.get('relationId')!r})")
    invoice_date: date | None = None
    try:
        invoice_date = day(row.get("date"))
        if invoice_date is None:
            problems.append(f"date: unknown ({row.get('date')!r}), so no due date can be derived")
    except ValueError as exc:
        problems.append(f"date: {exc}")
    amounts: dict[str, Decimal] = {}
    for key in ("totalAmount", "paidAmount", "outstandingAmount"):
        try:
            amounts[key] = amount(row.get(key))
        except ValueError as exc:
            problems.append(f"{key}: {exc}")
    if problems:
        kept = stored_form(row)
        raise BadRecord("invoice", mutation_id or str(row.get("mutationId") or "?"), "; ".join(problems), kept,
                        version=digest(kept))  # fmt: skip
    assert mutation_id and relation_id and invoice_date
    return OpenItem(
        mutation_id=mutation_id,
        relation_id=relation_id,
        invoice_number=text(row.get("invoiceNumber")),
        invoice_date=invoice_date,
        total=amounts["totalAmount"],
        paid=amounts["paidAmount"],
        outstanding=amounts["outstandingAmount"],
        company=text(row.get("company")),
        row=stored_form(row),
    )


@dataclass(frozen=True)
class Term:
    """A payment term and where it was found: invoice, mutation, relation or default."""

    days: int
    source: str
    invoice_id: str | None = None
    pdf_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"termOfPayment": self.days, "termSource": self.source, "invoiceId": self.invoice_id,
                "urlPdfFile": self.pdf_url}  # fmt: skip


def term_from_raw(raw: Mapping[str, Any]) -> Term | None:
    """The term the mirror derived earlier (it never changes for a booked invoice)."""
    days, source = raw.get("termOfPayment"), raw.get("termSource")
    if isinstance(days, int) and not isinstance(days, bool) and isinstance(source, str):
        return Term(days, source, raw.get("invoiceId"), raw.get("urlPdfFile"))
    return None


def invoice_term(record: Mapping[str, Any]) -> Term | None:
    """From a `GET /v1/invoice` row; None when it names no term."""
    days = term_days(record.get("termOfPayment"))
    if days is None:
        return None
    return Term(days, "invoice", ledger_id(record.get("id")), text(record.get("urlPdfFile")))


def invoice_from_item(item: OpenItem, term: Term) -> Invoice:
    """An open item with its term. A negative amount is a credit note (or a payment not yet applied): an open
    item the customer has to their credit, which the workflow sets off against their invoices before costs."""
    status = InvoiceStatus.OPEN if item.outstanding != 0 else InvoiceStatus.CANCELLED
    return Invoice(
        ledger_id=item.mutation_id,
        number=item.invoice_number,
        contact_id=item.relation_id,
        invoice_date=item.invoice_date,
        due_date=item.invoice_date + timedelta(days=term.days),
        due_date_assumed=term.source in ("default", "unknown"),
        total=Money(item.total, CURRENCY),
        open_amount=Money(item.outstanding, CURRENCY),
        status=status,
        ledger_state="credit" if item.outstanding < 0 else "outstanding",
        version=item.version,
        raw={"outstanding": dict(item.row), **term.to_json()},
    )


def settled_invoice(raw: Mapping[str, Any], *, deleted: bool) -> Invoice:
    """An invoice that left the outstanding list, from what the mirror held: paid (or credited or written
    off: the API does not say which) when its booking still exists, deleted when it does not."""
    item = open_item(raw.get("outstanding") or {})
    term = term_from_raw(raw) or Term(0, "unknown")
    found = invoice_from_item(item, term)
    status = InvoiceStatus.DELETED if deleted else InvoiceStatus.PAID
    return Invoice(
        ledger_id=found.ledger_id,
        number=found.number,
        contact_id=found.contact_id,
        invoice_date=found.invoice_date,
        due_date=found.due_date,
        total=found.total,
        open_amount=Money(Decimal("0.00"), CURRENCY),
        status=status,
        ledger_state="deleted" if deleted else "settled",
        version=None,
        raw=dict(raw),
    )


# --- relations ------------------------------------------------------------------------------------------


def reminder_address(relation: Mapping[str, Any]) -> str | None:
    """The reminder address, else the invoice address, else the general one."""
    for key in ("emailAddressReminder", "emailAddressInvoice", "emailAddress"):
        found = text(relation.get(key))
        if found:
            return found
    return None


# e-Boekhouden keeps the country as free text ("Nederland", "Germany", "NL"): read as an ISO 3166 code by its
# Dutch or English name. It has no language on a relation either; the country says enough: Dutch where Dutch
# is spoken, English for every other country, the administration's default when none is named.
DUTCH_SPEAKING = frozenset({"NL", "BE", "SR", "AW", "CW", "SX", "BQ"})


@functools.cache
def _country_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for locale in ("en", "nl"):
        for code, name in Locale(locale).territories.items():
            if len(code) == 2 and code.isalpha():
                names.setdefault(_folded(name), code)
    names.update({"holland": "NL", "the netherlands": "NL", "belgie": "BE", "uk": "GB", "england": "GB"})
    return names


def _folded(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.strip().lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def country_code(value: str | None) -> str | None:
    """ISO 3166 alpha-2 for a country as people type it; None when it names no known country."""
    if not value or not value.strip():
        return None
    if len(value.strip()) == 2 and value.strip().isalpha():
        return value.strip().upper()
    return _country_names().get(_folded(value))


def language_for(country: str | None) -> str | None:
    if country is None:
        return None
    return "nl" if country in DUTCH_SPEAKING else "en"


def contact_version(relation: Mapping[str, Any], fetched_at: datetime) -> str:
    """What the relation says, and when it was read: the latter schedules the next read (no change feed)."""
    return f"{digest(relation)}@{fetched_at:%Y-%m-%dT%H:%M:%SZ}"


def fetched_at(version: str | None) -> datetime | None:
    """When the relation behind a contact version was read (aware UTC), or None for another form."""
    if not version or "@" not in version:
        return None
    try:
        return datetime.fromisoformat(version.rsplit("@", 1)[1].replace("Z", "+00:00"))
    except ValueError:
        return None


def contact_from_relation(relation: Mapping[str, Any], fetched: datetime) -> Contact:
    """`type` B is a business, P a private person (consumer rules): P never reads as a business, whatever
    numbers the relation carries. An empty type says nothing: the relation is then a business only on other
    evidence (a KvK or VAT number), and a consumer otherwise (the API treats an omitted type as B when writing,
    but a relation saved without one was never marked a business by anyone)."""
    relation_id = ledger_id(relation.get("id"))
    name = text(relation.get("name"))
    kind = text(relation.get("type"))
    problems = []
    if relation_id is None:
        problems.append(f"id: not an id ({relation.get('id')!r})")
    if name is None:
        problems.append("name: missing")
    if kind not in ("B", "P", None):
        problems.append(f"type: {kind!r} is neither B nor P")
    if problems:
        raise BadRecord("contact", relation_id or str(relation.get("id") or "?"), "; ".join(problems), dict(relation))
    assert relation_id and name
    business = kind == "B"
    private = kind == "P"
    person = text(relation.get("contact"))
    return Contact(
        ledger_id=relation_id,
        name=name,
        company_name=name if business else None,
        person_name=person if business else (person or name),
        email=reminder_address(relation),
        phone=text(relation.get("phoneNumber")) or text(relation.get("mobilePhoneNumber")),
        address=text(relation.get("address")),
        zipcode=text(relation.get("postalCode")),
        city=text(relation.get("city")),
        country=country_code(text(relation.get("country"))),
        kvk_number=None if private else text(relation.get("companyRegistrationNumber")),
        vat_number=None if private else text(relation.get("vatNumber")),
        customer_number=text(relation.get("code")),
        language=language_for(country_code(text(relation.get("country")))),
        version=contact_version(relation, fetched),
        raw=dict(relation),
        kind_in_ledger="business" if business else "consumer" if private else None,
    )


def patch_body(relation: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The relation as `PATCH /v1/relation/{id}` takes it, with `changes` applied."""
    body = {key: relation[key] for key in PATCHABLE if relation.get(key) is not None}
    newsletters = body.get("doNotReceiveNewsletters")
    if newsletters is not None and not isinstance(newsletters, bool):
        body["doNotReceiveNewsletters"] = bool(newsletters)  # an int when read, a bool when written
    body.update(changes)
    body["type"] = text(body.get("type")) or "B"
    return body


# --- the connector's summary on the relation --------------------------------------------------------------


def note_line(label: str, note: str) -> str:
    """One summary line: the invoice it is about, then the note (which ends with the action's reference)."""
    return " ".join(f"{label}: {note}".split())


def summary_lines(field_text: str | None) -> list[str]:
    """The lines of the connector's block in a note (newest first); [] when there is no block."""
    match = _BLOCK.search(field_text or "")
    if match is None:
        return []
    return [line for line in match.group(1).splitlines() if line.strip()]


def with_summary_line(note: str | None, line: str, *, max_length: int = NOTE_MAX) -> str:
    """`note` with `line` on top of the connector's block; everything outside the block stays as it is,
    byte for byte. The block keeps the newest BLOCK_MAX_LINES lines and shrinks (oldest first) so the note
    fits `max_length`; ValueError when even one line does not fit beside the person's text."""
    note = note or ""
    newline = "\r\n" if "\r\n" in note else "\n"
    match = _BLOCK.search(note)
    lines = [line, *[old for old in summary_lines(note) if old != line]][:BLOCK_MAX_LINES]
    if match is None:  # a new block below the person's text, which stays exactly as it was
        separator = "" if not note.strip() else newline if note.endswith("\n") else newline * 2
        before, after = note + separator, ""
    else:
        before, after = note[: match.start()], note[match.end() :]
    while lines:
        block = newline.join([BLOCK_START, *lines, BLOCK_END])
        merged = before + block + after
        if len(merged) <= max_length:
            return merged
        lines.pop()
    raise ValueError(f"the relation's note has no room left for the connector's line (at most {max_length})")


def free_text_line(label: str, note: str, marker: str) -> str:
    """The latest step in at most 100 characters, keeping the invoice and the action's reference."""
    body = note.replace(marker, "").strip()
    line = note_line(label, f"{body} {marker}")
    if len(line) <= FREE_TEXT_MAX:
        return line
    room = FREE_TEXT_MAX - len(marker) - 2  # the ellipsis and a space
    return line[:room].rstrip() + "… " + marker


def has_line(field_text: str | None, label: str, marker: str, *, block: bool) -> bool:
    """Whether the field already carries the note about `label` with `marker` (so it is not written twice)."""
    lines: Sequence[str] = summary_lines(field_text) if block else (field_text or "").splitlines()
    return any(line.startswith(f"{label}: ") and marker in line for line in lines)
