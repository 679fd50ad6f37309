"""Moneybird JSON -> domain objects. Pure functions, tested against Moneybird's own example payloads."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from connector.domain import Contact, Invoice, InvoiceStatus, Money, SenderDetails
from connector.ledger.port import BadRecord

# Moneybird states of a sent invoice that still has money outstanding.
OPEN_STATES = ("open", "late", "reminded", "pending_payment")
STATUS_BY_STATE = {
    **dict.fromkeys(OPEN_STATES, InvoiceStatus.OPEN),
    "paid": InvoiceStatus.PAID,
    "uncollectible": InvoiceStatus.UNCOLLECTIBLE,
    "draft": InvoiceStatus.DRAFT,
    "scheduled": InvoiceStatus.DRAFT,
}


MAX_AMOUNT = Decimal(1_000_000_000)  # the spec's range for money: ±1,000,000,000
MAX_DECIMALS = 6
MAX_ID_LENGTH = 64
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class _Problems:
    """Collects every problem of one record, so its quarantine reason names them all."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.found: list[str] = []

    def text(self, key: str, *, required: bool = True, max_length: int = MAX_ID_LENGTH) -> str | None:
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                self.found.append(f"{key}: missing")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            self.found.append(f"{key}: expected a string, got {type(value).__name__}")
            return None
        text = str(value)
        if len(text) > max_length:
            self.found.append(f"{key}: longer than {max_length} characters")
            return None
        return text

    def amount(self, key: str) -> Decimal:
        value = self.data.get(key)
        try:
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise InvalidOperation
            amount = Decimal(str(value).strip())
            if not amount.is_finite():
                raise InvalidOperation
        except InvalidOperation:
            self.found.append(f"{key}: not a decimal amount ({value!r})" if value is not None else f"{key}: missing")
            return Decimal(0)
        if abs(amount) > MAX_AMOUNT:
            self.found.append(f"{key}: outside Moneybird's range of ±{MAX_AMOUNT:,} ({value!r})")
        elif -amount.as_tuple().exponent > MAX_DECIMALS:  # type: ignore[operator]
            self.found.append(f"{key}: more than {MAX_DECIMALS} decimals ({value!r})")
        return amount

    def day(self, key: str, *, required: bool = True) -> date | None:
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                self.found.append(f"{key}: missing")
            return None
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            self.found.append(f"{key}: not a date ({value!r})")
            return None


def _ledger_id(data: Mapping[str, Any]) -> str:
    value = data.get("id")
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else "?"


def _version(data: Mapping[str, Any]) -> str | None:
    value = data.get("version")
    return None if value is None else str(value)


def invoice_from_moneybird(data: Mapping[str, Any]) -> Invoice:
    """Map a `sales_invoice` object; raise BadRecord naming every problem it has."""
    check = _Problems(data)
    ledger_id = check.text("id")
    contact_id = check.text("contact_id")
    due_date = check.day("due_date")
    invoice_date = check.day("invoice_date", required=False)
    total = check.amount("total_price_incl_tax")
    unpaid = check.amount("total_unpaid")
    currency = check.text("currency") or ""
    if currency and not _CURRENCY.match(currency):
        check.found.append(f"currency: not an ISO 4217 code ({currency!r})")
    state = check.text("state") or ""
    if state and state not in STATUS_BY_STATE:
        check.found.append(f"state: unknown state {state!r}")
    number = check.text("invoice_id", required=False, max_length=255)
    payment_url = check.text("payment_url", required=False, max_length=2000)
    if check.found:
        status = STATUS_BY_STATE.get(state)
        raise BadRecord("invoice", _ledger_id(data), "; ".join(check.found), dict(data), _version(data), status)
    assert ledger_id and contact_id and due_date
    paused = data.get("paused")
    return Invoice(
        ledger_id=ledger_id,
        number=number,
        contact_id=contact_id,
        invoice_date=invoice_date,
        due_date=due_date,
        total=Money(total, currency),
        open_amount=Money(unpaid, currency),
        status=STATUS_BY_STATE[state],
        ledger_state=state,
        version=_version(data),
        ledger_reminders_paused=paused if isinstance(paused, bool) else None,
        language=_language(data.get("language")),
        payment_url=payment_url,
        recurring=data.get("recurring_sales_invoice_id") is not None or data.get("subscription_id") is not None,
        # The embedded contact is stored as a contact of its own.
        raw={key: value for key, value in data.items() if key != "contact"},
    )


def _language(value: Any) -> str | None:
    """Moneybird says "nl", "nl-be", "en": keep the language, drop the region."""
    return value.split("-")[0].lower() if isinstance(value, str) and value else None


def contact_from_moneybird(data: Mapping[str, Any]) -> Contact:
    """Map a `contact` object (standalone or embedded in an invoice)."""
    check = _Problems(data)
    ledger_id = check.text("id")
    if check.found:
        raise BadRecord("contact", _ledger_id(data), "; ".join(check.found), dict(data), _version(data))
    assert ledger_id

    def field(key: str) -> str | None:
        value = data.get(key)
        return str(value).strip() or None if isinstance(value, str | int) and not isinstance(value, bool) else None

    company = field("company_name")
    person = " ".join(part for part in (field("firstname"), field("lastname")) if part) or None
    attention = field("send_invoices_to_attention") or field("attention")
    address = ", ".join(part for part in (field("address1"), field("address2")) if part) or None
    return Contact(
        ledger_id=ledger_id,
        name=company or person or attention or f"contact {field('customer_id') or ledger_id}",
        company_name=company,
        person_name=person or attention,
        email=_reminder_address(field("send_invoices_to_email"), field("email")),
        phone=field("phone"),
        address=address,
        zipcode=field("zipcode"),
        city=field("city"),
        country=(field("country") or "").upper()[:2] or None,
        kvk_number=field("chamber_of_commerce"),
        vat_number=field("tax_number"),
        customer_number=field("customer_id"),
        version=_version(data),
        raw=dict(data),
    )


def _reminder_address(invoice_addresses: str | None, general: str | None) -> str | None:
    """Reminders go where invoices go (`send_invoices_to_email`, maybe several, comma-separated),
    else to the contact's general address."""
    for candidate in (invoice_addresses, general):
        if candidate:
            addresses = [part.strip() for part in candidate.replace(";", ",").split(",") if "@" in part]
            if addresses:
                return ", ".join(addresses)
    return None


def sender_from_identity(data: Mapping[str, Any]) -> SenderDetails:
    """A Moneybird identity (the sender block of its invoices) as the administration's sender details."""

    def field(key: str) -> str | None:
        value = data.get(key)
        return value.strip() or None if isinstance(value, str) else None

    street = ", ".join(part for part in (field("address1"), field("address2")) if part)
    place = " ".join(part for part in (_zipcode(field("zipcode")), field("city")) if part)
    return SenderDetails(
        source="Moneybird: the administration's default identity",
        name=field("company_name"),
        kvk=field("chamber_of_commerce"),
        vat_number=(field("tax_number") or "").replace(" ", "").upper() or None,
        address=", ".join(part for part in (street, place) if part) or None,
        email=field("email"),
        phone=field("phone"),
        iban=(field("bank_account_number") or "").replace(" ", "").upper() or None,
    )


def _zipcode(value: str | None) -> str | None:
    """Dutch postcodes as people write them: 3511AB -> 3511 AB."""
    if value is None:
        return None
    compact = value.replace(" ", "").upper()
    return f"{compact[:4]} {compact[4:]}" if len(compact) == 6 and compact[:4].isdigit() else value
