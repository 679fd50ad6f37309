"""Exact Online JSON -> domain objects. Pure functions; no I/O.

Exact has no invoice with an open amount: it has payment terms, one row per open (part of an) invoice.
An invoice here is the sum of its terms: open amount = the open terms' amounts, due date = the earliest
open term's. Terms come from three places with their own field names (ReceivablesList for the first
load, cashflow/Receivables for targeted reads, sync/Cashflow/PaymentTerms for the change feed); `Term`
is what they have in common.

Dates arrive as `/Date(ms)/` holding Amsterdam wall-clock time encoded as if it were UTC; date-only
fields are midnight of that date and are read as plain dates, never shifted.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connector.clock import AMSTERDAM
from connector.ledger.port import BadRecord, Contact, Invoice, InvoiceStatus, Money, SenderDetails

_DATE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")
RECEIPT = 20  # PaymentTerms.LineType: 20 receipt (what customers owe), 22 payment (what we owe)
OPEN_STATUSES = frozenset({20, 30})  # 20 open, 30 selected for collection; 40 processed, 50 matched
NO_INVOICE = 0  # a cashflow entry (a payment not yet matched) without an invoice number


def exact_date(value: Any) -> date | None:
    """A date-only field: the calendar date the ledger shows, whatever the encoding."""
    if value in (None, ""):
        return None
    text = str(value)
    match = _DATE.match(text)
    if match:
        return datetime.fromtimestamp(int(match.group(1)) / 1000, UTC).date()
    return date.fromisoformat(text[:10])


def exact_instant(value: Any) -> datetime | None:
    """A date-time field as a real instant (UTC): the wall clock is Amsterdam's, encoded as if UTC."""
    if value in (None, ""):
        return None
    match = _DATE.match(str(value))
    if not match:
        parsed = datetime.fromisoformat(str(value))
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=AMSTERDAM)).astimezone(UTC)
    wall = datetime.fromtimestamp(int(match.group(1)) / 1000, UTC).replace(tzinfo=None)
    return wall.replace(tzinfo=AMSTERDAM).astimezone(UTC)


def text(value: Any) -> str | None:
    """Exact pads codes and languages with spaces ("NL        ", "            25")."""
    if value is None:
        return None
    stripped = str(value).strip()
    return stripped or None


def amount(value: Any) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not an amount: {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not an amount: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    return number


def invoice_number(value: Any) -> int:
    if isinstance(value, bool) or value in (None, ""):
        return NO_INVOICE
    return int(str(value).strip())


def stored_form(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as the mirror keeps it: amounts as exact decimal strings (JSON has no decimals), no metadata."""
    return {
        key: str(value) if isinstance(value, Decimal) else value for key, value in row.items() if key != "__metadata"
    }


# --- terms ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """One payment term of a sales invoice, whichever endpoint it came from."""

    key: str  # the term's ID (or HID when only that is known)
    invoice_number: int
    account_id: str
    amount: Decimal
    currency: str
    due_date: date | None
    invoice_date: date | None
    is_open: bool
    description: str | None
    your_ref: str | None
    raw: Mapping[str, Any]


def term_from_receivables_list(row: Mapping[str, Any]) -> Term:
    """`read/financial/ReceivablesList`: only open terms; `Id` is documented obsolete, `HID` is the key."""
    return Term(
        key=str(row.get("Id") or f"hid:{row['HID']}").lower(),
        invoice_number=invoice_number(row.get("InvoiceNumber")),
        account_id=str(row["AccountId"]).lower(),
        amount=amount(row.get("Amount")),
        currency=text(row.get("CurrencyCode")) or "EUR",
        due_date=exact_date(row.get("DueDate")),
        invoice_date=exact_date(row.get("InvoiceDate")),
        is_open=True,
        description=text(row.get("Description")),
        your_ref=text(row.get("YourRef")),
        raw=row,
    )


def term_from_receivable(row: Mapping[str, Any]) -> Term:
    """`cashflow/Receivables` and `sync/Cashflow/PaymentTerms`: open and settled terms alike."""
    status = int(row.get("Status") or 20)
    fully_paid = row.get("IsFullyPaid") in (True, "true", "True", 1)
    currency = text(row.get("Currency"))
    foreign = row.get("AmountFC")
    value = foreign if currency and foreign is not None else row.get("AmountDC")
    return Term(
        key=str(row["ID"]).lower(),
        invoice_number=invoice_number(row.get("InvoiceNumber")),
        account_id=str(row["Account"]).lower(),
        amount=amount(value),
        currency=currency or "EUR",
        due_date=exact_date(row.get("DueDate")),
        invoice_date=exact_date(row.get("InvoiceDate")),
        is_open=status in OPEN_STATUSES and not fully_paid,
        description=text(row.get("Description")),
        your_ref=text(row.get("YourRef")),
        raw=row,
    )


def is_receipt(row: Mapping[str, Any]) -> bool:
    """Sync rows cover both sides: keep what customers owe (sync endpoints filter only on Timestamp)."""
    line_type = row.get("LineType")
    return line_type is None or int(line_type) == RECEIPT


def invoices_from_terms(terms: Iterable[Term]) -> tuple[list[Invoice], list[BadRecord]]:
    """Group terms into invoices. An invoice with no open term left is paid; terms without an invoice
    number (payments not yet matched to an invoice) are not invoices and are left out."""
    grouped: dict[int, list[Term]] = {}
    for term in terms:
        if term.invoice_number != NO_INVOICE:
            grouped.setdefault(term.invoice_number, []).append(term)
    invoices: list[Invoice] = []
    bad: list[BadRecord] = []
    for number, group in grouped.items():
        try:
            invoices.append(invoice_from_terms(number, group))
        except BadRecord as problem:
            bad.append(problem)
    return invoices, bad


def invoice_from_terms(number: int, terms: Sequence[Term]) -> Invoice:
    ledger_id = str(number)
    payload = {"InvoiceNumber": number, "terms": [stored_form(term.raw) for term in terms]}
    accounts = {term.account_id for term in terms}
    currencies = {term.currency for term in terms}
    if len(accounts) != 1:
        raise BadRecord("invoice", ledger_id, f"its terms name {len(accounts)} different accounts", payload)
    if len(currencies) != 1:
        raise BadRecord("invoice", ledger_id, f"its terms are in several currencies: {sorted(currencies)}", payload)
    open_terms = [term for term in terms if term.is_open]
    due_dates = [term.due_date for term in open_terms if term.due_date is not None]
    if open_terms and not due_dates:
        raise BadRecord("invoice", ledger_id, "no due date on any open term", payload)
    currency = currencies.pop()
    open_amount = sum((term.amount for term in open_terms), Decimal(0))
    total = sum((term.amount for term in terms), Decimal(0))
    invoice_dates = [term.invoice_date for term in terms if term.invoice_date is not None]
    status = InvoiceStatus.OPEN if open_terms else InvoiceStatus.PAID
    due_date = min(due_dates) if due_dates else max(t.due_date or date.min for t in terms)
    return Invoice(
        ledger_id=ledger_id,
        number=ledger_id,
        contact_id=accounts.pop(),
        invoice_date=min(invoice_dates) if invoice_dates else None,
        due_date=due_date,
        total=Money(total, currency),
        open_amount=Money(open_amount, currency),
        status=status,
        ledger_state="open" if open_terms else "paid",
        version=_version(open_terms),
        raw=payload,
    )


def _version(open_terms: Sequence[Term]) -> str:
    """Changes when what is owed changes, whichever endpoint the terms were read from."""
    material = "|".join(sorted(f"{t.due_date}:{t.amount.normalize():f}:{t.currency}" for t in open_terms))
    return hashlib.sha256(material.encode()).hexdigest()[:16]


# --- accounts -------------------------------------------------------------------------------------------


def reminder_address(account: Mapping[str, Any], people: Sequence[Mapping[str, Any]]) -> str | None:
    """Where reminders go, most specific first:

    1. the account's main contact (`Accounts.MainContact`, or the person flagged `IsMainContact`) if that
       person has an e-mail address: Exact addresses the account's documents to them;
    2. the account's own `Email` (often the administration's mailbox);
    3. any other contact person of the account with an address, by name, so a reminder still reaches
       someone at the customer.
    """
    main_id = text(account.get("MainContact"))
    by_name = sorted(people, key=lambda p: (text(p.get("FullName")) or "", str(p.get("ID"))))
    main = [p for p in by_name if (main_id and str(p.get("ID")).lower() == main_id.lower()) or p.get("IsMainContact")]
    for person in main:
        if text(person.get("Email")):
            return text(person.get("Email"))
    if text(account.get("Email")):
        return text(account.get("Email"))
    for person in by_name:
        if text(person.get("Email")):
            return text(person.get("Email"))
    return None


def contact_from_account(account: Mapping[str, Any], people: Sequence[Mapping[str, Any]]) -> Contact:
    ledger_id = str(account.get("ID") or "").lower()
    if not ledger_id:
        raise BadRecord("contact", "?", "account without an ID", dict(account))
    name = text(account.get("Name"))
    if name is None:
        raise BadRecord("contact", ledger_id, "account without a name", dict(account))
    main_id = (text(account.get("MainContact")) or "").lower()
    main = next((p for p in people if str(p.get("ID")).lower() == main_id or p.get("IsMainContact")), None)
    country = text(account.get("Country"))
    kvk, vat = text(account.get("ChamberOfCommerce")), text(account.get("VATNumber"))
    business = bool(kvk or vat)
    stamps = sorted(f"{p.get('ID')}:{p.get('Timestamp') or p.get('Modified') or ''}" for p in people)
    version_material = "|".join([str(account.get("Timestamp") or account.get("Modified") or ""), *stamps])
    return Contact(
        ledger_id=ledger_id,
        name=name,
        # Exact has no B2B/B2C flag: a KvK or VAT number is taken as a business, else a person's account.
        company_name=name if business else None,
        person_name=text(main.get("FullName")) if main else (None if business else name),
        email=reminder_address(account, people),
        phone=text(account.get("Phone")),
        address=text(account.get("AddressLine1")),
        zipcode=text(account.get("Postcode")),
        city=text(account.get("City")),
        country=country[:2].upper() if country else None,
        kvk_number=kvk,
        vat_number=vat,
        customer_number=text(account.get("Code")),
        language=(text(account.get("Language")) or "")[:2].lower() or None,
        version=hashlib.sha256(version_material.encode()).hexdigest()[:16],
        raw={"account": stored_form(account), "people": [stored_form(p) for p in people]},
    )


DIVISION_FIELDS = (
    "Code,Description,ChamberOfCommerceNumber,VATNumber,AddressLine1,AddressLine2,Postcode,City,Email,Phone"
)


def sender_from_division(row: Mapping[str, Any]) -> SenderDetails:
    """An Exact Online division (`system/Divisions`) as the administration's sender details. Exact keeps no
    bank account on the division: the IBAN is for a person to add."""
    street = ", ".join(part for part in (text(row.get("AddressLine1")), text(row.get("AddressLine2"))) if part)
    place = " ".join(part for part in (text(row.get("Postcode")), text(row.get("City"))) if part)
    return SenderDetails(
        source=f"Exact Online: division {row.get('Code')}",
        name=text(row.get("Description")),
        kvk=text(row.get("ChamberOfCommerceNumber")),
        vat_number=(text(row.get("VATNumber")) or "").replace(" ", "").upper() or None,
        address=", ".join(part for part in (street, place) if part) or None,
        email=text(row.get("Email")),
        phone=text(row.get("Phone")),
    )
