"""Data for the Moneybird simulator: seed loading with the API's defaults, and a deterministic generator.

Seed objects use the API's own field names. A field the seed leaves out gets a default; a field it gives,
even `null` or an unparseable amount, is kept exactly as given, so tests can serve deliberately bad data.
Amounts are `Decimal` throughout and rendered the way Moneybird renders them (`"363.0"`, `"12.5"`).
"""

from __future__ import annotations

import hashlib
import random
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from connector.ledger.sample_data import CITIES, SERVICES, STREETS

__all__ = [
    "PAUSED_NEXT_REMINDER",
    "REMINDABLE_STATES",
    "Administration",
    "IdFactory",
    "LoadedSeed",
    "dicts_in",
    "format_money",
    "generate_seed",
    "iso_timestamp",
    "load_seed",
    "make_event",
    "next_reminder",
    "open_or_late",
    "parse_date",
    "parse_money",
    "parse_timestamp",
    "unpaid_state",
]

HOST = "https://moneybird.dev"  # the spec examples' host: generated links never point at a real account
TAX_RATE = Decimal("0.21")
CENT = Decimal("0.01")
PAUSED_NEXT_REMINDER = "2099-01-01"
REMINDABLE_STATES = frozenset({"open", "late", "reminded"})
REMINDER_INTERVAL_DAYS = 10  # the second step of Moneybird's default workflow (`due_interval: 10`)
PAYMENT_CONDITIONS = (
    "We verzoeken u vriendelijk het bovenstaande bedrag van {document.total_price} voor "
    "{document.due_date} te voldoen op onze bankrekening onder vermelding van de omschrijving "
    "{document.payment_reference}. Voor vragen kunt u contact opnemen per e-mail."
)
ADMINISTRATION_FIELDS = (
    "id", "name", "language", "currency", "country", "time_zone",
    "access", "suspended", "period_locked_until", "period_start_date",
)  # fmt: skip


# --- values ------------------------------------------------------------------------------------------

_MONEY_TEXT = re.compile(r"-?\d+(?:[.,]\d*)?")


def parse_money(value: object) -> Decimal | None:
    """A Moneybird amount (number, `"363.0"` or `"10,95"`) as Decimal; None when it does not parse."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value) if Decimal(value).is_finite() else None
    if isinstance(value, float):
        return Decimal(repr(value)) if value == value and abs(value) != float("inf") else None
    if isinstance(value, str) and _MONEY_TEXT.fullmatch(value.strip()):
        return Decimal(value.strip().replace(",", "."))
    return None


def format_money(value: Decimal) -> str:
    """Ruby BigDecimal style: at least one decimal, no trailing zeros (`363.0`, `12.5`, `100.25`)."""
    text = format(value, "f")
    text = text.rstrip("0") if "." in text else text + "."
    text = text + "0" if text.endswith(".") else text
    return "0.0" if text == "-0.0" else text


def iso_timestamp(epoch: float) -> str:
    """`2026-08-21T13:51:12.670Z`: UTC with milliseconds, as the API writes timestamps."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_timestamp(value: object) -> datetime | None:
    """ISO 8601 or the filter style `2026-08-21 13:50:12 UTC`; naive times are UTC."""
    if not isinstance(value, str):
        return None
    text = value.strip().removesuffix(" UTC")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_date(value: object) -> date | None:
    if not isinstance(value, str) or len(value) != 10:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def open_or_late(due_date: date | None, today: date) -> str:
    """Moneybird shows an unpaid, unreminded invoice as `late` once its due date has passed."""
    return "late" if due_date is not None and due_date < today else "open"


def _reminded(invoice: Mapping[str, Any]) -> bool:
    count = invoice.get("reminder_count")
    return isinstance(count, int) and not isinstance(count, bool) and count > 0


def unpaid_state(invoice: Mapping[str, Any], today: date) -> str:
    """An unpaid invoice is `reminded` after a reminder, else `open` until its due date and `late` after."""
    return "reminded" if _reminded(invoice) else open_or_late(parse_date(invoice.get("due_date")), today)


def next_reminder(invoice: Mapping[str, Any], today: date) -> object:
    """When Moneybird's own workflow acts next: far away while paused, the due date before the first
    reminder, then every `REMINDER_INTERVAL_DAYS`; nothing for paid, uncollectible or draft invoices."""
    if invoice.get("paused") is True:
        return PAUSED_NEXT_REMINDER
    state = invoice.get("state")
    if state not in REMINDABLE_STATES:
        return None
    if state == "reminded" or _reminded(invoice):
        return (today + timedelta(days=REMINDER_INTERVAL_DAYS)).isoformat()
    return invoice.get("due_date")


def _epoch(moment: date, hour: int = 9) -> float:
    return datetime(moment.year, moment.month, moment.day, hour, tzinfo=UTC).timestamp()


def _digest(*parts: object) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


def _rf_reference(number: int) -> tuple[str, str]:
    """An ISO 11649 creditor reference (long and short form), like `RF6300000000000005KNGSXTR`."""
    body = _base36(number).rjust(21, "0")
    digits = "".join(str(int(char, 36)) for char in body + "RF00")
    check = f"{98 - int(digits) % 97:02d}"
    return f"RF{check}{body}", f"RF{check}{body.lstrip('0') or '0'}"


def _base36(number: int) -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    text = ""
    while True:
        number, digit = divmod(number, 36)
        text = alphabet[digit] + text
        if number == 0:
            return text


def _stringify_ids(value: Any) -> Any:
    """Ids given as JSON numbers become strings, at any depth (`draft_id` is an integer in the API)."""
    if isinstance(value, dict):
        return {
            key: str(item)
            if type(item) is int and (key == "id" or key.endswith("_id")) and key != "draft_id"
            else _stringify_ids(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_stringify_ids(item) for item in value]
    return value


class IdFactory:
    """Hands out increasing 18-digit numeric string ids, above every id a seed already uses."""

    def __init__(self, start: int = 496_081_600_000_000_000) -> None:
        self._next = start
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            self._next += 1
            return str(self._next - 1)

    def observe(self, value: object) -> None:
        text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
        if text.isdigit():
            with self._lock:
                self._next = max(self._next, int(text) + 1)


# --- administrations --------------------------------------------------------------------------------


@dataclass
class Administration:
    """One simulated administration: its settings plus contacts and sales invoices keyed by id."""

    info: dict[str, Any]
    workflow_id: str
    document_style_id: str
    identity_id: str
    tax_rate_id: str
    ledger_account_id: str
    users: list[dict[str, Any]]
    api_user_id: str
    identity: dict[str, Any] = field(default_factory=dict)  # the default identity: the sender on its invoices
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.info["id"])

    @property
    def url_token(self) -> str:
        return _digest("administration", self.id)


@dataclass
class LoadedSeed:
    tokens: frozenset[str] | None
    administrations: list[Administration]
    ids: IdFactory


def make_event(
    administration_id: str,
    user_id: str,
    action: str,
    at: float,
    *,
    data: dict[str, Any] | None = None,
    link: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """An entry of an entity's `events` list; `link` is (entity id, entity type)."""
    stamp = iso_timestamp(at)
    return {
        "administration_id": administration_id,
        "user_id": user_id,
        "action": action,
        "link_entity_id": link[0] if link else None,
        "link_entity_type": link[1] if link else None,
        "data": data or {},
        "created_at": stamp,
        "updated_at": stamp,
    }


def _default_users(ids: IdFactory, at: float) -> list[dict[str, Any]]:
    stamp = iso_timestamp(at)
    owner = {
        "id": ids.next(), "name": "Sim Eigenaar", "created_at": stamp, "updated_at": stamp,
        "email": "eigenaar@example.nl", "email_validated": True, "language": "nl",
        "time_zone": "Europe/Amsterdam", "user_type": "owner",
        "permissions": ["sales_invoices", "documents", "estimates", "bank", "settings", "ownership", "time_entries"],
    }  # fmt: skip
    api_user = {
        **owner, "id": ids.next(), "name": "Ledger connector (API)", "email": "api@example.nl",
        "user_type": "api_user", "permissions": ["sales_invoices", "settings"],
    }  # fmt: skip
    return [owner, api_user]


def _load_administration(raw: Mapping[str, Any], ids: IdFactory, today: date, now: float) -> Administration:
    raw = _stringify_ids(dict(raw))
    info: dict[str, Any] = {
        "id": None, "name": "Simulatie B.V.", "language": "nl", "currency": "EUR", "country": "NL",
        "time_zone": "Europe/Amsterdam", "access": "user", "suspended": False, "period_locked_until": None,
        "period_start_date": f"{today.year - 1}-01-01",
    }  # fmt: skip
    info.update({key: raw[key] for key in ADMINISTRATION_FIELDS if key in raw})
    info["id"] = str(info["id"]) if info["id"] is not None else ids.next()
    users = [{"id": ids.next(), **user} for user in _objects(raw, "users")] or _default_users(ids, now)
    api_users = [user for user in users if user.get("user_type") == "api_user"]
    if not api_users:
        api_users = [_default_users(ids, now)[1]]
        users.append(api_users[0])
    shared = {name: str(raw.get(name) or ids.next()) for name in _ADMINISTRATION_IDS}
    administration = _new_administration(info, shared, users, str(api_users[0]["id"]))
    administration.identity = _identity(raw.get("identity"), administration, now)
    for number, contact in enumerate(_objects(raw, "contacts"), start=1):
        completed = complete_contact(contact, administration, ids, number, now)
        administration.contacts[str(completed["id"])] = completed
    numbers: dict[int, int] = {}  # invoice numbers run per year: 2026-00001, ...
    for invoice in _objects(raw, "sales_invoices"):
        invoice = _link_contact(dict(invoice), administration, ids, now)
        year = (parse_date(invoice.get("invoice_date")) or today).year
        numbers[year] = numbers.get(year, 0) + 1
        completed = complete_invoice(invoice, administration, ids, today, numbers[year], now)
        administration.invoices[str(completed["id"])] = completed
    return administration


def _identity(raw: object, administration: Administration, now: float) -> dict[str, Any]:
    """The default identity as `GET /identities/default` shows it; a seed's `identity` object overrides fields.
    Without one: the administration's name and a made-up address, KvK and VAT number, as a real one has."""
    if raw is not None and not isinstance(raw, dict):
        raise ValueError(f"seed administration {administration.id!r}: 'identity' must be an object")
    stamp = iso_timestamp(now)
    identity: dict[str, Any] = {
        "id": administration.identity_id, "administration_id": administration.id,
        "company_name": administration.info["name"], "city": "Utrecht", "country": "NL", "zipcode": "3511AB",
        "address1": "Simulatiestraat 1", "address2": None, "email": "administratie@simulatie.example",
        "phone": "030-1234567", "bank_account_name": administration.info["name"],
        "bank_account_number": "NL91ABNA0417164300", "bank_account_bic": None, "custom_fields": [],
        "updated_at": stamp, "created_at": stamp, "chamber_of_commerce": "12345678", "tax_number": "NL000099998B57",
    }  # fmt: skip
    identity.update(raw or {})
    return identity


def _objects(raw: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    """A seed list of objects; anything else is a seed format error, not bad data to serve."""
    items = raw.get(key) or []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ValueError(f"seed administration {raw.get('id')!r}: '{key}' must be a list of objects")
    return items


_ADMINISTRATION_IDS = ("workflow_id", "document_style_id", "identity_id", "tax_rate_id", "ledger_account_id")


def _new_administration(
    info: dict[str, Any], shared: Mapping[str, str], users: list[dict[str, Any]], api_user_id: str
) -> Administration:
    return Administration(
        info=info,
        workflow_id=shared["workflow_id"],
        document_style_id=shared["document_style_id"],
        identity_id=shared["identity_id"],
        tax_rate_id=shared["tax_rate_id"],
        ledger_account_id=shared["ledger_account_id"],
        users=users,
        api_user_id=api_user_id,
    )


def _link_contact(
    invoice: dict[str, Any], administration: Administration, ids: IdFactory, now: float
) -> dict[str, Any]:
    """Take an embedded `contact` out of the invoice (it is rendered at response time) and make sure the
    invoice's contact exists, creating it from the embedded object or as a stub."""
    embedded = invoice.pop("contact", None)
    if "contact_id" not in invoice:
        embedded_id = embedded.get("id") if isinstance(embedded, dict) else None
        invoice["contact_id"] = str(embedded_id) if embedded_id is not None else ids.next()
    contact_id = invoice["contact_id"]
    if isinstance(contact_id, str) and contact_id not in administration.contacts:
        source = {**embedded, "id": contact_id} if isinstance(embedded, dict) else {"id": contact_id}
        source.setdefault("company_name", "Onbekende klant")
        number = len(administration.contacts) + 1
        administration.contacts[contact_id] = complete_contact(source, administration, ids, number, now)
    return invoice


def load_seed(seed: Mapping[str, Any] | None, *, today: date, now: float) -> LoadedSeed:
    """Build simulator state from a seed dict: `{"tokens": [...], "administrations": [...]}`."""
    seed = seed if seed is not None else {}
    if not isinstance(seed, Mapping):
        raise ValueError("a seed must be a JSON object")
    raw_administrations = seed.get("administrations") or [{}]
    if not isinstance(raw_administrations, list) or not all(isinstance(a, Mapping) for a in raw_administrations):
        raise ValueError("seed 'administrations' must be a list of objects")
    tokens = seed.get("tokens")
    ids = IdFactory()
    _observe_ids(ids, raw_administrations)
    administrations = [_load_administration(raw, ids, today, now) for raw in raw_administrations]
    return LoadedSeed(
        tokens=frozenset(str(token) for token in tokens) if tokens is not None else None,
        administrations=administrations,
        ids=ids,
    )


def _observe_ids(ids: IdFactory, administrations: Iterable[Mapping[str, Any]]) -> None:
    """New ids must not collide with the ids the simulator looks things up by."""
    for administration in administrations:
        ids.observe(administration.get("id"))
        for contact in dicts_in(administration.get("contacts")):
            ids.observe(contact.get("id"))
        for invoice in dicts_in(administration.get("sales_invoices")):
            ids.observe(invoice.get("id"))
            for key in ("payments", "notes", "details"):
                for child in dicts_in(invoice.get(key)):
                    ids.observe(child.get("id"))


def dicts_in(value: object) -> list[dict[str, Any]]:
    """The dict items of a list; anything else (bad seed data) reads as empty."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


# --- contacts ---------------------------------------------------------------------------------------


def complete_contact(
    raw: Mapping[str, Any], administration: Administration, ids: IdFactory, number: int, now: float
) -> dict[str, Any]:
    """A full contact (as `GET /contacts/{id}` returns it) from a partial seed contact."""
    given = dict(raw)
    contact_id = str(given["id"]) if given.get("id") is not None else ids.next()
    created = parse_timestamp(given.get("created_at"))
    updated = parse_timestamp(given.get("updated_at")) or created
    created_stamp = iso_timestamp(created.timestamp() if created else now)
    updated_stamp = iso_timestamp(updated.timestamp()) if updated else created_stamp
    email = given.get("email")
    contact: dict[str, Any] = {
        "id": contact_id, "administration_id": administration.id, "company_name": None,
        "firstname": None, "lastname": None, "address1": None, "address2": None, "zipcode": None,
        "city": None, "country": "NL", "phone": None, "delivery_method": "Email",
        "customer_id": str(number), "tax_number": None, "chamber_of_commerce": None, "bank_account": None,
        "is_trusted": False, "max_transfer_amount": None, "attention": None, "email": email,
        "email_ubl": True, "send_invoices_to_attention": None, "send_invoices_to_email": email,
        "send_estimates_to_attention": None, "send_estimates_to_email": email, "direct_debit": False,
        "sepa_active": False, "sepa_iban": None, "sepa_iban_account_name": None, "sepa_bic": None,
        "sepa_mandate_id": None, "sepa_mandate_date": None, "sepa_sequence_type": "RCUR",
        "credit_card_number": None, "credit_card_reference": None, "credit_card_type": None,
        "tax_number_validated_at": None, "tax_number_valid": None, "invoice_workflow_id": None,
        "estimate_workflow_id": None, "si_identifier": None, "si_identifier_type": None,
        "moneybird_payments_mandate": False, "created_at": created_stamp, "updated_at": updated_stamp,
        "version": int(updated.timestamp()) if updated else int(now),
        "sales_invoices_url": f"{HOST}/{administration.id}/sales_invoices/{_digest('contact', contact_id)}/all",
        "notes": [], "custom_fields": [], "contact_people": [], "archived": False,
        "events": [make_event(administration.id, administration.api_user_id, "contact_created",
                              created.timestamp() if created else now)],
    }  # fmt: skip
    contact.update(given)
    contact["id"] = contact_id
    return contact


# --- sales invoices ---------------------------------------------------------------------------------


def make_detail(
    ids: IdFactory, administration: Administration, description: str, price: Decimal, row_order: int, at: float
) -> dict[str, Any]:
    """One invoice line of `1 x price`, excluding 21% VAT."""
    stamp = iso_timestamp(at)
    amount = format_money(price)
    return {
        "id": ids.next(), "administration_id": administration.id, "tax_rate_id": administration.tax_rate_id,
        "ledger_account_id": administration.ledger_account_id, "project_id": None, "product_id": None,
        "amount": "1 x", "amount_decimal": "1.0", "description": description, "price": amount,
        "period": None, "row_order": row_order, "total_price_excl_tax_with_discount": amount,
        "total_price_excl_tax_with_discount_base": amount, "tax_report_reference": ["NL/1a"],
        "mandatory_tax_text": None, "created_at": stamp, "updated_at": stamp,
    }  # fmt: skip


def _vat(amount: Decimal) -> Decimal:
    return (amount * TAX_RATE).quantize(CENT, rounding=ROUND_HALF_UP)


def _details_total(details: object) -> Decimal | None:
    lines = dicts_in(details)
    amounts = [parse_money(line.get("total_price_excl_tax_with_discount", line.get("price"))) for line in lines]
    if not lines or any(amount is None for amount in amounts):
        return None
    return sum((amount for amount in amounts if amount is not None), Decimal(0))


@dataclass
class _Totals:
    """Default totals: derived from what the seed gives; a value that cannot be derived copies its source."""

    excl: Decimal | None
    incl: Decimal | None
    fields: dict[str, Any]


def _totals(given: Mapping[str, Any]) -> _Totals:
    has_excl, has_incl = "total_price_excl_tax" in given, "total_price_incl_tax" in given
    excl = parse_money(given.get("total_price_excl_tax"))
    incl = parse_money(given.get("total_price_incl_tax"))
    if not has_excl and not has_incl:
        excl = _details_total(given.get("details")) or Decimal("100.0")
    if not has_excl and incl is not None:
        excl = (incl / (1 + TAX_RATE)).quantize(CENT, rounding=ROUND_HALF_UP)
    if not has_incl and excl is not None:
        incl = excl + _vat(excl)
    payments = [parse_money(payment.get("price")) for payment in dicts_in(given.get("payments"))]
    paid = None if any(p is None for p in payments) else sum((p for p in payments if p is not None), Decimal(0))
    if "total_paid" in given:
        paid = parse_money(given["total_paid"])
    raw_incl = given.get("total_price_incl_tax")
    excl_text = format_money(excl) if excl is not None else raw_incl
    incl_text = format_money(incl) if incl is not None else raw_incl
    unpaid_text = format_money(incl - paid) if incl is not None and paid is not None else incl_text
    fields = {
        "total_paid": format_money(paid) if paid is not None else "0.0",
        "total_unpaid": unpaid_text,
        "total_unpaid_base": given.get("total_unpaid", unpaid_text),
        "total_price_excl_tax": excl_text,
        "total_price_excl_tax_base": given.get("total_price_excl_tax", excl_text),
        "total_price_incl_tax": incl_text,
        "total_price_incl_tax_base": given.get("total_price_incl_tax", incl_text),
        "total_discount": "0.0",
    }
    return _Totals(excl, incl, fields)


def _default_events(
    administration: Administration, state: str, created: float, due: date | None, email: object, invoice_id: object
) -> list[dict[str, Any]]:
    user = administration.users[0]["id"] if administration.users else administration.api_user_id
    events = [make_event(administration.id, user, "sales_invoice_created", created)]
    if state == "draft":
        return events
    events.append(make_event(administration.id, user, "sales_invoice_state_changed_to_open", created + 0.1))
    data = {"email_address": email, "email_message": f"In de bijlage vindt u factuur {invoice_id}."}
    events.append(make_event(administration.id, user, "sales_invoice_send_email", created + 0.2, data=data))
    if state == "late" and due is not None:
        late_at = max(created + 1, _epoch(due + timedelta(days=1), hour=0) + 300)
        events.append(make_event(administration.id, user, "sales_invoice_state_changed_to_late", late_at))
    return events


def complete_invoice(
    raw: Mapping[str, Any], administration: Administration, ids: IdFactory, today: date, number: int, now: float
) -> dict[str, Any]:
    """A full sales invoice (as the API returns it, `contact` rendered later) from a partial seed invoice.

    Besides filling defaults this keeps `open`/`late` consistent with the due date and `today`.
    """
    given = dict(raw)
    invoice_id = str(given["id"]) if given.get("id") is not None else ids.next()
    invoice_date = given.get("invoice_date", today.isoformat())
    day = parse_date(invoice_date)
    due_date = given.get("due_date", ((day or today) + timedelta(days=14)).isoformat())
    due = parse_date(due_date)
    totals = _totals(given)
    probe = {"due_date": due_date, "reminder_count": given.get("reminder_count", 0), "paused": given.get("paused")}
    unpaid = parse_money(given.get("total_unpaid", totals.fields["total_unpaid"]))
    if "state" not in given:
        state = "paid" if unpaid is not None and unpaid <= 0 else unpaid_state(probe, today)
    elif given["state"] in ("open", "late") and due is not None:
        state = open_or_late(due, today)
    else:
        state = given["state"]
    draft = state == "draft"
    paused = given.get("paused", False) is True
    created = parse_timestamp(given.get("created_at"))
    created_epoch = created.timestamp() if created else now
    contact = administration.contacts.get(str(given.get("contact_id")), {})
    long_reference, short_reference = _rf_reference(int(invoice_id) % 10**12 if invoice_id.isdigit() else number)
    number_text = None if draft else f"{(day or today).year}-{number:05d}"
    events = given.get("events")
    if events is None:
        events = _default_events(
            administration, state, created_epoch, due, contact.get("email"), given.get("invoice_id", number_text)
        )
    updated = parse_timestamp(given.get("updated_at"))
    updated_epoch = updated.timestamp() if updated else max([created_epoch, *_event_times(events)])
    public_url = (
        f"{HOST}/{administration.id}/external/{administration.url_token}/{_digest('invoice', invoice_id)}/sales_invoice"
    )
    invoice: dict[str, Any] = {
        "id": invoice_id, "administration_id": administration.id, "contact_id": None, "contact": None,
        "contact_person_id": None, "contact_person": None, "invoice_id": number_text,
        "recurring_sales_invoice_id": None, "subscription_id": None, "workflow_id": administration.workflow_id,
        "document_style_id": administration.document_style_id, "identity_id": administration.identity_id,
        "draft_id": number if draft else None, "state": state, "invoice_date": invoice_date,
        "due_date": due_date, "payment_conditions": PAYMENT_CONDITIONS, "payment_reference": long_reference,
        "short_payment_reference": short_reference, "reference": None, "language": "nl", "currency": "EUR",
        "discount": "0.0", "original_sales_invoice_id": None, "paused": paused,
        "paid_at": _default_paid_at(state, given, invoice_date), "sent_at": None if draft else invoice_date,
        "created_at": iso_timestamp(created_epoch), "updated_at": iso_timestamp(updated_epoch),
        "public_view_code": str(int(_digest("view", invoice_id)[:8], 16) % 900_000 + 100_000),
        "public_view_code_expires_at": iso_timestamp(created_epoch + 92 * 86_400), "version": int(updated_epoch),
        "details": None, "payments": [], **totals.fields, "prices_are_incl_tax": False,
        "marked_dubious_on": None, "marked_uncollectible_on": None, "reminder_count": 0,
        "next_reminder": next_reminder({**probe, "state": state}, today),
        "original_estimate_id": None, "url": public_url, "payment_url": public_url, "custom_fields": [],
        "notes": [], "attachments": [], "events": events, "tax_totals": [], "time_entries": [],
    }  # fmt: skip
    if totals.excl is not None and totals.incl is not None:
        invoice["tax_totals"] = [_tax_total(administration, totals.excl, totals.incl)]
    if "details" not in given:
        description = str(given.get("reference") or "Werkzaamheden")
        lines = [make_detail(ids, administration, description, totals.excl, 1, created_epoch)] if totals.excl else []
        invoice["details"] = lines
    invoice.update(given)
    invoice["id"] = invoice_id
    invoice["contact"] = None  # rendered from the current contact at response time
    return invoice


def _event_times(events: object) -> list[float]:
    moments = (parse_timestamp(event.get("created_at")) for event in dicts_in(events))
    return [moment.timestamp() for moment in moments if moment is not None]


def _default_paid_at(state: str, given: Mapping[str, Any], invoice_date: object) -> object:
    if state != "paid":
        return None
    dates = [payment.get("payment_date") for payment in dicts_in(given.get("payments"))]
    return dates[-1] if dates else invoice_date


def _tax_total(administration: Administration, excl: Decimal, incl: Decimal) -> dict[str, Any]:
    taxable, tax = format_money(excl), format_money(incl - excl)
    return {
        "tax_rate_id": administration.tax_rate_id,
        "taxable_amount": taxable,
        "taxable_amount_base": taxable,
        "tax_amount": tax,
        "tax_amount_base": tax,
    }


# --- generator --------------------------------------------------------------------------------------

_FIRST_NAMES = (
    "Jan", "Pieter", "Sanne", "Emma", "Daan", "Lotte", "Bram", "Fleur", "Thijs", "Anouk", "Ruben", "Iris",
    "Lars", "Noor", "Sem", "Julia", "Koen", "Eva", "Jesse", "Sophie", "Milan", "Tess", "Luuk", "Anna",
    "Stijn", "Lieke", "Wouter", "Femke", "Joris", "Marloes", "Gert", "Ineke", "Henk", "Wilma",
)  # fmt: skip
_LAST_NAMES = (
    "de Vries", "Jansen", "van Dijk", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder", "de Groot",
    "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker", "Brouwer", "de Wit", "Dijkstra", "Smits",
    "de Graaf", "van der Meer", "van den Berg", "Kok", "Jacobs", "van Vliet", "Willems", "van der Linden",
    "Schouten", "Kuipers", "Verhoeven", "Postma", "Hoekstra", "Jonker",
)  # fmt: skip
_TRADES = (
    "Installatietechniek", "Bouw", "Advies", "Transport", "Bakkerij", "Schilderwerken", "Hoveniers", "ICT",
    "Catering", "Fietsen", "Architecten", "Metaalbewerking", "Reclame", "Interieur", "Zorg", "Logistiek",
)  # fmt: skip
_LEGAL_FORMS = ("B.V.", "B.V.", "B.V.", "Holding B.V.", "V.O.F.", "& Zn.")
_MIN_EXCL_CENTS, _MAX_EXCL_CENTS = 2_067, 2_066_115  # incl. 21% VAT: 25.01 .. 24,999.99


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _fake_contact(rng: random.Random, contact_id: str, index: int, created: float) -> dict[str, Any]:
    city, zip_prefix = rng.choice(CITIES)
    zipcode = f"{zip_prefix}{rng.randint(10, 99)} {rng.choice('BCDEGHJKLMNPRTVXZ')}{rng.choice('ABCDEGHJKLMNPRTVXZ')}"
    contact: dict[str, Any] = {
        "id": contact_id,
        "address1": f"{rng.choice(STREETS)} {rng.randint(1, 250)}",
        "zipcode": zipcode,
        "city": city,
        "created_at": iso_timestamp(created),
    }
    lastname = rng.choice(_LAST_NAMES)
    if rng.random() < 0.4:
        name = f"{lastname[0].upper()}{lastname[1:]} {rng.choice(_TRADES)} {rng.choice(_LEGAL_FORMS)}"
        contact["company_name"] = name
        contact["chamber_of_commerce"] = str(rng.randint(10_000_000, 99_999_999))
        contact["tax_number"] = f"NL{rng.randint(0, 999_999_999):09d}B01"
        contact["email"] = f"administratie.{_slug(name)}.{index}@example.{rng.choice(('nl', 'com'))}"
    else:
        firstname = rng.choice(_FIRST_NAMES)
        contact["firstname"], contact["lastname"] = firstname, lastname
        contact["email"] = f"{_slug(firstname)}.{_slug(lastname)}.{index}@example.{rng.choice(('nl', 'com', 'org'))}"
    return contact


def _fake_invoice(
    rng: random.Random, ids: IdFactory, administration: Administration, contact_id: str, day: date
) -> dict[str, Any]:
    created = _epoch(day, hour=7) + rng.randrange(9 * 3600) + rng.randrange(1000) / 1000
    excl_cents = int(_MIN_EXCL_CENTS * (_MAX_EXCL_CENTS / _MIN_EXCL_CENTS) ** rng.random())  # log-uniform
    cuts = sorted(rng.sample(range(1, excl_cents), rng.randint(0, 2))) if excl_cents > 3 else []
    parts = [b - a for a, b in zip([0, *cuts], [*cuts, excl_cents], strict=True)]
    details = [
        make_detail(ids, administration, rng.choice(SERVICES), Decimal(cents) / 100, row, created)
        for row, cents in enumerate(parts, start=1)
    ]
    excl = Decimal(excl_cents) / 100
    return {
        "id": ids.next(),
        "contact_id": contact_id,
        "invoice_date": day.isoformat(),
        "due_date": (day + timedelta(days=14 if rng.random() < 0.7 else 30)).isoformat(),
        "reference": f"PO-{rng.randint(10_000, 99_999)}" if rng.random() < 0.4 else None,
        "created_at": iso_timestamp(created),
        "details": details,
        "total_price_excl_tax": format_money(excl),
        "total_price_incl_tax": format_money(excl + _vat(excl)),
    }


def generate_seed(
    *, invoices: int, contacts: int, administrations: int = 1, seed: int = 0, today: date
) -> dict[str, Any]:
    """A seed of `administrations` administrations, each with `invoices` unpaid sales invoices over
    `contacts` Dutch contacts (~40% companies). Deterministic for (`seed`, `today`)."""
    if invoices < 0 or contacts < 1 or administrations < 1:
        raise ValueError("need invoices >= 0, contacts >= 1 and administrations >= 1")
    rng = random.Random(seed)
    ids = IdFactory(496_081_500_000_000_000 + rng.randrange(10**12) * 1000)
    result = []
    for index in range(administrations):
        administration_id = ids.next()
        shared = {name: ids.next() for name in _ADMINISTRATION_IDS}
        profile = _new_administration({"id": administration_id}, shared, [], "")  # for the detail lines
        oldest = _epoch(today - timedelta(days=730))
        people = [
            _fake_contact(rng, ids.next(), number, oldest + rng.randrange(600 * 86_400))
            for number in range(1, contacts + 1)
        ]
        owners = [person["id"] for person in people[:invoices]]
        owners += [rng.choice(people)["id"] for _ in range(invoices - len(owners))]
        rng.shuffle(owners)
        days = sorted(today - timedelta(days=rng.randrange(120)) for _ in range(invoices))
        sales_invoices = [_fake_invoice(rng, ids, profile, owner, day) for owner, day in zip(owners, days, strict=True)]
        result.append(
            {
                "id": administration_id,
                "name": f"Simulatie {index + 1} B.V." if administrations > 1 else "Simulatie B.V.",
                **shared,
                "contacts": people,
                "sales_invoices": sales_invoices,
            }
        )
    return {"administrations": result}
