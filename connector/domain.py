"""Plain typed objects the core works with. The core never sees platform JSON: adapters map into these."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError(f"Money.amount must be Decimal, not {type(self.amount).__name__}")
        if len(self.currency) != 3 or not self.currency.isalpha() or not self.currency.isupper():
            raise ValueError(f"currency must be an ISO 4217 code, got {self.currency!r}")

    def __str__(self) -> str:
        return f"{self.currency} {format_amount(self.amount)}"


def format_amount(amount: Decimal) -> str:
    """A decimal string with at least two decimals and no exponent ('363.0' -> '363.00')."""
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        amount = amount.quantize(CENT)
    return f"{amount:f}"


class InvoiceStatus(StrEnum):
    """The mirror's normalised view of an invoice; the ledger's own word is kept as `ledger_state`."""

    OPEN = "open"
    PAID = "paid"
    UNCOLLECTIBLE = "uncollectible"
    DRAFT = "draft"  # turned back into a draft or not sent yet: nobody owes anything
    CANCELLED = "cancelled"  # credited or voided
    DELETED = "deleted"

    @property
    def is_open(self) -> bool:
        return self is InvoiceStatus.OPEN


@dataclass(frozen=True, slots=True)
class Contact:
    ledger_id: str
    name: str
    company_name: str | None = None
    person_name: str | None = None
    email: str | None = None  # where reminders go, already resolved by the adapter
    phone: str | None = None
    address: str | None = None
    zipcode: str | None = None
    city: str | None = None
    country: str | None = None
    kvk_number: str | None = None
    vat_number: str | None = None
    customer_number: str | None = None
    language: str | None = None  # ISO 639-1; used when the invoice names no language of its own
    version: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # The ledger's own flag, where it has one (e-Boekhouden's relation type): "business", "consumer" or None.
    kind_in_ledger: str | None = None

    @property
    def business_evidence(self) -> str | None:
        """What shows this customer is not a consumer, or None: then the consumer rules apply (the stricter
        ones, and the safe default). A company name alone shows nothing (a consumer's contact often carries
        one); a KvK or VAT number does, a legal entity's form in the name does (a B.V. is never a consumer), and
        so does a ledger that marks the relation a business. A ledger that marks it a private person wins over
        any number. A person's decision (`connector exclude CONTACT --kind`) wins over all of this."""
        if self.kind_in_ledger == "consumer":
            return None
        if _filled(self.kvk_number):
            return f"KvK number {self.kvk_number}"
        if _filled(self.vat_number):
            return f"VAT number {self.vat_number}"
        if self.kind_in_ledger == "business":
            return "marked as a business in the ledger"
        form = legal_form(self.company_name)
        if form is not None:
            return f"legal form {form} in the name {self.company_name!r}"
        return None

    @property
    def is_business(self) -> bool:
        return self.business_evidence is not None


# Legal entities (rechtspersonen) and partnerships: never a consumer, who is a natural person acting privately.
_LEGAL_FORMS = re.compile(
    r"(?:^|[\s,(])(B\.?V\.?|N\.?V\.?|V\.?O\.?F\.?|Stichting|Vereniging|Co[öo]peratie|GmbH|Ltd\.?|B\.?V\.?B\.?A\.?)"
    r"(?=$|[\s,.)])",
    re.IGNORECASE,
)


def legal_form(company_name: str | None) -> str | None:
    """The legal form a company name states ("B.V.", "Stichting"), or None."""
    found = _LEGAL_FORMS.search(company_name or "")
    return found.group(1) if found else None


def _filled(value: str | None) -> bool:
    return bool(value and value.strip())


@dataclass(frozen=True, slots=True)
class SenderDetails:
    """What a ledger knows about the business whose books it keeps: the sender its reminders should name.
    Only what the ledger holds; a person checks it before it goes into the configuration."""

    source: str  # where it was read, in the ledger's words ("Moneybird: default identity")
    name: str | None = None
    kvk: str | None = None
    vat_number: str | None = None
    address: str | None = None  # one line: "Bakkersstraat 1, 3511 AB Utrecht"
    email: str | None = None
    phone: str | None = None
    iban: str | None = None


@dataclass(frozen=True, slots=True)
class Invoice:
    ledger_id: str
    number: str | None
    contact_id: str
    invoice_date: date | None
    due_date: date
    total: Money
    open_amount: Money
    status: InvoiceStatus
    ledger_state: str
    version: str | None = None
    ledger_reminders_paused: bool | None = None
    language: str | None = None  # the invoice's language picks the reminder's (ISO 639-1: "nl", "en")
    payment_url: str | None = None  # the ledger's pay page, when it has one
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # The ledger names no payment term: the due date comes from the configured default. Without an agreed term
    # the debtor may not be in default (art. 6:82-6:83 BW), so no legal stage goes without a person's say.
    due_date_assumed: bool = False
    # Made by a subscription or a recurring invoice in the ledger: a periodic claim, whose collection costs are
    # capped (EUR 140 per six months for periodic amounts under EUR 266.67, Wki, from 1 October 2024).
    recurring: bool = False

    def __post_init__(self) -> None:
        if self.total.currency != self.open_amount.currency:
            raise ValueError("total and open amount must share a currency")
