"""What every ledger's records must satisfy before the core uses them, whichever ledger sent them.

Text from a ledger ends up in e-mails, letters, case files and notes. Control characters and invisible formatting
characters (a NUL, a right-to-left override that shows "1400-6202" for "2026-0041") are removed, and line breaks
in a one-line field become spaces. A field longer than any real value of its kind is not guessed at: the record
is quarantined with the reason, and the rest of the batch goes on. The sync and the re-check before an action
both pass what an adapter returns through `vet`, so every ledger gets the same treatment.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from typing import Any, TypeVar

from connector.domain import Contact, Invoice
from connector.ledger.port import BadRecord, ChangeBatch

# The longest value the core accepts per text field (ids are stored in 64 characters).
INVOICE_LIMITS = {"ledger_id": 64, "contact_id": 64, "number": 255, "payment_url": 2000}
CONTACT_LIMITS = {
    "ledger_id": 64,
    "name": 255,
    "company_name": 255,
    "person_name": 255,
    "email": 254,
    "phone": 64,
    "address": 500,
    "zipcode": 32,
    "city": 255,
    "country": 64,
    "kvk_number": 32,
    "vat_number": 32,
    "customer_number": 64,
}
_INVISIBLE = {"Cc", "Cf", "Co", "Cs"}  # control, format (bidi overrides, zero-width), private use, surrogates
_SPACES = re.compile(r"\s+")

RecordT = TypeVar("RecordT", Invoice, Contact)


def clean_text(value: str) -> str:
    """One line of visible text: line breaks and tabs become spaces, invisible characters go."""
    spaced = value.replace("\r", " ").replace("\n", " ").replace("\t", " ")
    visible = "".join(ch for ch in spaced if unicodedata.category(ch) not in _INVISIBLE)
    return _SPACES.sub(" ", visible).strip() if visible != value else visible


def vet(batch: ChangeBatch[RecordT]) -> ChangeBatch[RecordT]:
    """The batch with its records' text cleaned, and records with an oversize field moved to `bad`."""
    records: list[RecordT] = []
    contacts: list[Contact] = []
    bad = list(batch.bad)
    for record in batch.records:
        _vet_one(record, records, bad)
    for contact in batch.contacts:
        _vet_one(contact, contacts, bad)
    return dataclasses.replace(batch, records=records, contacts=contacts, bad=bad)


def _vet_one(record: Any, kept: list[Any], bad: list[BadRecord]) -> None:
    entity, limits = ("invoice", INVOICE_LIMITS) if isinstance(record, Invoice) else ("contact", CONTACT_LIMITS)
    problems = []
    changes: dict[str, str] = {}
    for name, limit in limits.items():
        value = getattr(record, name)
        if not isinstance(value, str):
            continue
        cleaned = clean_text(value)
        if not cleaned and value and name == "name":
            problems.append("name: nothing visible in it")
        elif len(cleaned) > limit:
            problems.append(f"{name}: longer than {limit} characters ({len(cleaned):,})")
        elif cleaned != value:
            changes[name] = cleaned
    if problems:
        status = record.status if isinstance(record, Invoice) else None
        bad.append(
            BadRecord(entity, record.ledger_id[:64], "; ".join(problems), dict(record.raw), record.version, status)
        )
        return
    kept.append(dataclasses.replace(record, **changes) if changes else record)
