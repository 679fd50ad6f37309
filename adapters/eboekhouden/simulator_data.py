"""Data for the e-Boekhouden simulator: value helpers, the administration's books with the indexes the API
needs, seed loading and a deterministic generator of Dutch-looking administrations.

The books hold relations in wire form (camelCase keys, JSON values) and mutations and invoice records in
an internal form (the same camelCase keys, but `Decimal` amounts, `date` dates and an `int` mutation type);
the simulator renders the latter when it answers.

A seed is a document in the API's own shapes; keys may be camelCase or PascalCase (the vendor examples):

    {"apiToken": "...", "administration": {"guid": "...", "company": "..."},
     "relations": [Relation, ...], "mutations": [Mutation, ...], "invoices": [Invoice, ...]}

Each list may also be given as a list envelope `{"items": [...], "count": N}`. Missing ids are assigned
(relations from 1001, mutations from 50001, invoices from 7001); a mutation or invoice naming an unknown
relation gets a stub relation. What is outstanding follows from the mutations alone: a sales invoice
(type 2) is owed the sum of its rows' `amount` (plus their `vatAmount` when `inExVat` is "EX"), and paid
by the rows of payment mutations (type 3) that carry its `invoiceNumber` (and `relationId`); purchase
invoices (type 1) and payments sent (type 4) likewise for `credDeb=C`.
"""

from __future__ import annotations

import random
import re
from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from connector.ledger.sample_data import CITIES, SERVICES, STREETS
from connector.ledger.sample_data import parse_amount as read_amount

# A generated invoice's PDF link: the simulator serves each as a link of its own when it first hands it out.
SIMULATED_PDF = "simulated-pdf:"

__all__ = [
    "BANK_LEDGER",
    "CENT",
    "CREDITORS_LEDGER",
    "DEBTORS_LEDGER",
    "FIRST_INVOICE_ID",
    "FIRST_MUTATION_ID",
    "FIRST_RELATION_ID",
    "INVOICE_TYPES",
    "PAYMENT_TYPES",
    "RELATION_FIELDS",
    "REVENUE_LEDGER",
    "VAT_RATES",
    "Books",
    "LoadedSeed",
    "SortedIds",
    "camel_keys",
    "generate_seed",
    "load_seed",
    "money",
    "parse_amount",
    "parse_day",
    "split_vat",
    "vat_totals",
]

CENT = Decimal("0.01")
FIRST_RELATION_ID = 1001
FIRST_MUTATION_ID = 50001
FIRST_INVOICE_ID = 7001
BANK_LEDGER = 1100
DEBTORS_LEDGER = 1300
CREDITORS_LEDGER = 1600
COSTS_LEDGER = 4000
REVENUE_LEDGER = 8000
INVOICE_TYPES = {1: "C", 2: "D"}  # invoice received (purchase) / sent (sales) -> credDeb
PAYMENT_TYPES = {3: 2, 4: 1}  # payment received / sent -> the invoice type it settles
VAT_RATES = {
    "HOOG_VERK_21": Decimal("0.21"), "LAAG_VERK_9": Decimal("0.09"), "VERL_VERK": Decimal(0),
    "HOOG_INK_21": Decimal("0.21"), "LAAG_INK_9": Decimal("0.09"), "GEEN": Decimal(0),
}  # fmt: skip

_STRING_FIELDS = (
    "code", "name", "salutation", "contact", "address", "postalCode", "city", "country", "address2",
    "postalCode2", "city2", "country2", "phoneNumber", "mobilePhoneNumber", "faxNumber", "emailAddress",
    "emailAddressInvoice", "emailAddressReminder", "website", "note", "vatNumber", "companyRegistrationNumber",
    "iban", "bic", *(f"freeText{n}" for n in range(1, 11)), "mandateId",
)  # fmt: skip
RELATION_FIELDS = (
    "id", "type", "code", "date", "name", "salutation", "contact", "gender", "address", "postalCode", "city",
    "country", "address2", "postalCode2", "city2", "country2", "phoneNumber", "mobilePhoneNumber", "faxNumber",
    "emailAddress", "emailAddressInvoice", "emailAddressReminder", "website", "note", "vatNumber", "inactive",
    "termOfPayment", "companyRegistrationNumber", "iban", "bic", *(f"freeText{n}" for n in range(1, 11)),
    "isClubOrAssociationMember", "doNotReceiveNewsletters", "ledgerId", "mandate", "mandateType", "mandateId",
    "mandateSignedDate",
)  # fmt: skip


# --- values ------------------------------------------------------------------------------------------


def _camel(key: object) -> object:
    return key[:1].lower() + key[1:] if isinstance(key, str) else key


def camel_keys(value: Any) -> Any:
    """A copy with every object key's first letter lower-cased (`InvoiceNumber` -> `invoiceNumber`)."""
    if isinstance(value, Mapping):
        return {_camel(key): camel_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [camel_keys(item) for item in value]
    return value


def parse_amount(value: object) -> Decimal | None:
    """An amount from a JSON number, a Decimal or a string (`"12.50"`, `"12,50"`), rounded to cents."""
    amount = read_amount(value)
    return None if amount is None else amount.quantize(CENT, rounding=ROUND_HALF_UP)


def money(amount: Decimal) -> float:
    """A cent amount as the JSON number e-Boekhouden writes (a double: `131.89`, `100.0`).

    The shortest repr of the nearest double is the same decimal text, so no float artefacts appear."""
    return float(amount)


def parse_day(value: object) -> date | None:
    """A date from `YYYY-MM-DD`, an ISO datetime (its date part, e.g. `2026-08-29T00:00:00+02:00`) or a date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _int(value: object) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _text(value: object) -> str:
    return "" if value is None else str(value)


def split_vat(total: Decimal, vat_code: str) -> tuple[Decimal, Decimal]:
    """(excl, vat) of a total including VAT at the code's rate; the VAT takes the rounding difference."""
    rate = VAT_RATES.get(vat_code, Decimal(0))
    excl = (total / (1 + rate)).quantize(CENT, rounding=ROUND_HALF_UP)
    return excl, total - excl


# --- sorted id sets ------------------------------------------------------------------------------------


class SortedIds:
    """Ids in ascending order for offset paging: new ids are nearly always the highest, so adding appends."""

    def __init__(self, ids: Iterable[int] = ()) -> None:
        self._ids = sorted(set(ids))
        self._members = set(self._ids)

    def add(self, key: int) -> None:
        if key in self._members:
            return
        self._members.add(key)
        if not self._ids or key > self._ids[-1]:
            self._ids.append(key)
        else:
            insort(self._ids, key)

    def discard(self, key: int) -> None:
        if key not in self._members:
            return
        self._members.remove(key)
        del self._ids[bisect_left(self._ids, key)]

    def page(self, offset: int, limit: int) -> list[int]:
        return self._ids[offset : offset + limit]

    def __contains__(self, key: object) -> bool:
        return key in self._members

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[int]:
        return iter(self._ids)


# --- the books ---------------------------------------------------------------------------------------


def mutation_amount(mutation: Mapping[str, Any]) -> Decimal:
    """The mutation's total: its rows' amounts, plus their VAT when the amounts exclude it."""
    total = Decimal(0)
    exclusive = str(mutation.get("inExVat") or "").upper() == "EX"
    for row in mutation.get("rows") or []:
        total += row.get("amount") or Decimal(0)
        if exclusive:
            total += row.get("vatAmount") or Decimal(0)
    return total


@dataclass
class Books:
    """One administration: relations, mutations and invoice records, plus the per-invoice totals so the
    outstanding list never rescans payments."""

    relations: dict[int, dict[str, Any]] = field(default_factory=dict)
    relation_order: SortedIds = field(default_factory=SortedIds)
    note_history: dict[int, list[str]] = field(default_factory=dict)
    mutations: dict[int, dict[str, Any]] = field(default_factory=dict)
    mutation_order: SortedIds = field(default_factory=SortedIds)
    amounts: dict[int, Decimal] = field(default_factory=dict)  # every mutation: its total
    paid: dict[int, Decimal] = field(default_factory=dict)  # invoice mutations: what payments settled
    applied: dict[int, list[tuple[int, Decimal]]] = field(default_factory=dict)  # payment -> (invoice, amount)
    payments_of: dict[int, list[int]] = field(default_factory=dict)  # invoice -> payment mutation ids
    by_number: dict[tuple[int, str], list[int]] = field(default_factory=dict)  # (type, invoiceNumber) -> ids
    outstanding: dict[str, SortedIds] = field(default_factory=lambda: {"D": SortedIds(), "C": SortedIds()})
    invoices: dict[int, dict[str, Any]] = field(default_factory=dict)
    invoice_order: SortedIds = field(default_factory=SortedIds)
    records_by_number: dict[str, list[int]] = field(default_factory=dict)  # invoiceNumber -> invoice ids
    last_ids: dict[str, int] = field(
        default_factory=lambda: {
            "relation": FIRST_RELATION_ID - 1,
            "mutation": FIRST_MUTATION_ID - 1,
            "invoice": FIRST_INVOICE_ID - 1,
        }
    )

    def next_id(self, kind: str) -> int:
        """A fresh id above every id ever used for `kind` (relation, mutation, invoice): never reused."""
        self.last_ids[kind] += 1
        return self.last_ids[kind]

    # relations

    def add_relation(self, relation: dict[str, Any]) -> None:
        key = relation["id"]
        self.last_ids["relation"] = max(self.last_ids["relation"], key)
        self.relations[key] = relation
        self.relation_order.add(key)
        self.note_history.setdefault(key, []).append(relation.get("note") or "")

    def record_note(self, relation_id: int) -> None:
        """Remember the relation's note if it changed (every value it ever had stays visible to tests)."""
        note = self.relations[relation_id].get("note") or ""
        history = self.note_history.setdefault(relation_id, [])
        if not history or history[-1] != note:
            history.append(note)

    # mutations

    def add_mutation(self, mutation: dict[str, Any]) -> None:
        key = mutation["id"]
        if key in self.mutations:
            self.remove_mutation(key)
        self.last_ids["mutation"] = max(self.last_ids["mutation"], key)
        self.mutations[key] = mutation
        self.mutation_order.add(key)
        kind = mutation["type"]
        if kind in INVOICE_TYPES:
            self.amounts[key] = mutation_amount(mutation)
            self.paid[key] = Decimal(0)
            self.by_number.setdefault((kind, mutation["invoiceNumber"]), []).append(key)
            self._refresh(key)
            return
        self.amounts[key] = sum((row.get("amount") or Decimal(0) for row in mutation["rows"]), Decimal(0))
        settles = PAYMENT_TYPES.get(kind)
        if settles is not None:
            self._apply_payment(mutation, settles)

    def remove_mutation(self, mutation_id: int) -> dict[str, Any]:
        mutation = self.mutations.pop(mutation_id)
        self.mutation_order.discard(mutation_id)
        self.amounts.pop(mutation_id, None)
        kind = mutation["type"]
        if kind in INVOICE_TYPES:
            same = self.by_number.get((kind, mutation["invoiceNumber"]), [])
            if mutation_id in same:
                same.remove(mutation_id)
            self.paid.pop(mutation_id, None)
            self.outstanding[INVOICE_TYPES[kind]].discard(mutation_id)
            for payment in self.payments_of.pop(mutation_id, []):
                self.applied[payment] = [
                    (key, part) for key, part in self.applied.get(payment, []) if key != mutation_id
                ]
        for invoice_id, part in self.applied.pop(mutation_id, []):
            self.paid[invoice_id] -= part
            self.payments_of[invoice_id].remove(mutation_id)
            self._refresh(invoice_id)
        return mutation

    def outstanding_amount(self, mutation_id: int) -> Decimal:
        return self.amounts[mutation_id] - self.paid[mutation_id]

    def _apply_payment(self, payment: Mapping[str, Any], settles: int) -> None:
        for row in payment["rows"]:
            number = row.get("invoiceNumber") or payment.get("invoiceNumber")
            if not number:
                continue
            relation_id = row.get("relationId") or payment.get("relationId")
            candidates = self.by_number.get((settles, number), [])
            target = next(
                (key for key in candidates if relation_id is None or self.mutations[key]["relationId"] == relation_id),
                None,
            )
            if target is None:
                continue  # a payment for an invoice that is not booked: it settles nothing
            part = row.get("amount") or Decimal(0)
            self.paid[target] += part
            self.applied.setdefault(payment["id"], []).append((target, part))
            self.payments_of.setdefault(target, []).append(payment["id"])
            self._refresh(target)

    def _refresh(self, mutation_id: int) -> None:
        kind = self.mutations[mutation_id]["type"]
        listed = self.outstanding[INVOICE_TYPES[kind]]
        if self.outstanding_amount(mutation_id) != 0:
            listed.add(mutation_id)
        else:
            listed.discard(mutation_id)

    # invoice records

    def add_invoice(self, invoice: dict[str, Any]) -> None:
        key = invoice["id"]
        if key in self.invoices:
            self.remove_invoice(key)
        self.last_ids["invoice"] = max(self.last_ids["invoice"], key)
        self.invoices[key] = invoice
        self.invoice_order.add(key)
        self.records_by_number.setdefault(invoice["invoiceNumber"], []).append(key)

    def remove_invoice(self, invoice_id: int) -> None:
        invoice = self.invoices.pop(invoice_id)
        self.invoice_order.discard(invoice_id)
        same = self.records_by_number.get(invoice["invoiceNumber"], [])
        if invoice_id in same:
            same.remove(invoice_id)

    def invoice_of(self, mutation: Mapping[str, Any]) -> dict[str, Any] | None:
        """The invoice record of a sales invoice mutation: same invoice number and relation."""
        if mutation["type"] != 2 or not mutation.get("invoiceNumber"):
            return None
        for key in self.records_by_number.get(mutation["invoiceNumber"], []):
            record = self.invoices[key]
            if record.get("relationId") == mutation.get("relationId"):
                return record
        return None


# --- seed loading ------------------------------------------------------------------------------------


@dataclass
class LoadedSeed:
    api_token: str | None
    administration: dict[str, str]
    books: Books


def _section(raw: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    value = raw.get(key) or []
    if isinstance(value, Mapping) and isinstance(value.get("items"), list):
        value = value["items"]  # a list envelope, as GET answers it
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise ValueError(f"seed: '{key}' must be a list of objects")
    return [dict(item) for item in value]


def relation_from(raw: Mapping[str, Any], key: int, today: date) -> dict[str, Any]:
    """A relation in wire form with every field of the spec's Relation, defaults where the seed is silent.

    `gender` and `mandateType` are left out when unset: their schemas are enums that allow neither null nor ""."""
    relation: dict[str, Any] = {}
    for name in RELATION_FIELDS:
        value = raw.get(name)
        if name == "id":
            relation[name] = key
        elif name == "type":
            relation[name] = value if value in ("B", "P") else "B"
        elif name == "date":
            relation[name] = (parse_day(value) or today).isoformat()
        elif name in ("gender", "mandateType"):
            if value not in (None, ""):
                relation[name] = str(value)
        elif name in _STRING_FIELDS:
            relation[name] = _text(value)
        elif name in ("inactive", "mandate"):
            relation[name] = bool(value) if value is not None or name == "mandate" else False
        elif name == "doNotReceiveNewsletters":
            relation[name] = int(value) if isinstance(value, bool | int) else 0
        elif name == "isClubOrAssociationMember":
            relation[name] = _int(value) or 0
        elif name in ("termOfPayment", "ledgerId"):
            relation[name] = _int(value)
        else:  # mandateSignedDate
            relation[name] = value if isinstance(value, str) and value else None
    if not relation["code"]:
        relation["code"] = f"R{key:04d}"
    return relation


def _row(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "ledgerId": _int(raw.get("ledgerId")),
        "vatCode": _text(raw.get("vatCode")),
        "vatAmount": parse_amount(raw.get("vatAmount")),
        "costCenterId": _int(raw.get("costCenterId")),
        "amount": parse_amount(raw.get("amount")) or Decimal(0),
        "description": _text(raw.get("description")),
        "invoiceNumber": _text(raw.get("invoiceNumber")),
        "relationId": _int(raw.get("relationId")),
    }


def vat_totals(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The `vat` summary of a mutation: VAT per code over its rows."""
    totals: dict[str, Decimal] = {}
    for row in rows:
        if row.get("vatCode") and row.get("vatAmount") is not None:
            totals[row["vatCode"]] = totals.get(row["vatCode"], Decimal(0)) + row["vatAmount"]
    return [{"vatCode": code, "amount": amount} for code, amount in totals.items()]


def mutation_from(raw: Mapping[str, Any], key: int, today: date) -> dict[str, Any]:
    kind = _int(raw.get("type"))
    if kind is None or not 1 <= kind <= 7:
        raise ValueError(f"seed: mutation {key} has no valid type (1..7): {raw.get('type')!r}")
    rows = [_row(row) for row in raw.get("rows") or [] if isinstance(row, Mapping)]
    vat = raw.get("vat")
    return {
        "id": key,
        "type": kind,
        "date": parse_day(raw.get("date")) or today,
        "description": _text(raw.get("description")),
        "termOfPayment": _int(raw.get("termOfPayment")),
        "ledgerId": _int(raw.get("ledgerId")),
        "relationId": _int(raw.get("relationId")),
        "inExVat": _text(raw.get("inExVat")) or "EX",
        "invoiceNumber": _text(raw.get("invoiceNumber")),
        "entryNumber": _text(raw.get("entryNumber")),
        "rows": rows,
        "vat": [
            {"vatCode": _text(item.get("vatCode")), "amount": parse_amount(item.get("amount")) or Decimal(0)}
            for item in vat
            if isinstance(item, Mapping)
        ]
        if isinstance(vat, list)
        else vat_totals(rows),
    }


_ITEM_AMOUNTS = ("quantity", "amount", "pricePerUnit", "vatAmount", "discountAmount", "discountPercentage")


def _invoice_item(raw: Mapping[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {name: parse_amount(raw.get(name)) for name in _ITEM_AMOUNTS}
    item.update(
        unitId=_int(raw.get("unitId")),
        code=_text(raw.get("code")),
        productId=_int(raw.get("productId")),
        description=_text(raw.get("description")),
        vatCode=_text(raw.get("vatCode")) or "HOOG_VERK_21",
        ledgerId=_int(raw.get("ledgerId")) or REVENUE_LEDGER,
        costCenterId=_int(raw.get("costCenterId")),
    )
    return item


def invoice_from(raw: Mapping[str, Any], key: int, today: date) -> dict[str, Any]:
    items = [_invoice_item(item) for item in raw.get("items") or [] if isinstance(item, Mapping)]
    excl = parse_amount(raw.get("totalExcl"))
    vat = parse_amount(raw.get("vatAmount"))
    total = parse_amount(raw.get("totalAmount"))
    if excl is None:
        lines = ((i["quantity"] or Decimal(1)) * (i["pricePerUnit"] or Decimal(0)) for i in items)
        excl = sum(lines, Decimal(0)).quantize(CENT)
    if vat is None:
        vat = sum((i["vatAmount"] or Decimal(0) for i in items), Decimal(0))
    return {
        "id": key,
        "invoiceNumber": _text(raw.get("invoiceNumber")),
        "relationId": _int(raw.get("relationId")),
        "date": parse_day(raw.get("date")) or today,
        "reference": _text(raw.get("reference")),
        "text": _text(raw.get("text")),
        "urlPdfFile": _text(raw.get("urlPdfFile")),
        "totalExcl": excl,
        "totalAmount": total if total is not None else excl + vat,
        "vatAmount": vat,
        "termOfPayment": _int(raw.get("termOfPayment")),
        "templateId": _int(raw.get("templateId")),
        "print": raw.get("print") is True,
        "inExVat": _text(raw.get("inExVat")) or "EX",
        "emailTemplateId": _int(raw.get("emailTemplateId")),
        "items": items,
    }


def _with_ids(items: list[dict[str, Any]], first: int) -> list[tuple[int, dict[str, Any]]]:
    """(id, item) in id order; items without a usable id get the next free ones."""
    given = [_int(item.get("id")) for item in items]
    taken = {key for key in given if key is not None}
    following = max(first - 1, *taken) + 1 if taken else first
    keyed: list[tuple[int, dict[str, Any]]] = []
    used: set[int] = set()
    for key, item in zip(given, items, strict=True):
        if key is None or key in used:
            key, following = following, following + 1
        used.add(key)
        keyed.append((key, item))
    return sorted(keyed, key=lambda pair: pair[0])


def load_seed(document: Mapping[str, Any] | None, *, today: date) -> LoadedSeed:
    """Build the books from a seed (see the module docstring); raises ValueError on a malformed one."""
    raw = camel_keys(dict(document or {}))
    books = Books()
    for key, item in _with_ids(_section(raw, "relations"), FIRST_RELATION_ID):
        books.add_relation(relation_from(item, key, today))
    mutations = [
        mutation_from(item, key, today) for key, item in _with_ids(_section(raw, "mutations"), FIRST_MUTATION_ID)
    ]
    invoices = [invoice_from(item, key, today) for key, item in _with_ids(_section(raw, "invoices"), FIRST_INVOICE_ID)]
    for entity in [*mutations, *invoices]:
        relation_id = entity["relationId"]
        if relation_id is not None and relation_id not in books.relations:
            books.add_relation(relation_from({"name": f"Relatie {relation_id}"}, relation_id, today))
    for mutation in mutations:
        books.add_mutation(mutation)
    for invoice in invoices:
        books.add_invoice(invoice)
    administration = raw.get("administration") if isinstance(raw.get("administration"), Mapping) else {}
    token = raw.get("apiToken")
    return LoadedSeed(
        api_token=str(token) if token else None,
        administration={
            "guid": str(administration.get("guid") or "6f1c1e0a-3b9d-4c55-9a63-2f1d5e7b8c90"),
            "company": str(administration.get("company") or "Simulatie Administratie B.V."),
        },
        books=books,
    )


# --- generator -----------------------------------------------------------------------------------------

_MEN = ("Jan", "Pieter", "Daan", "Bram", "Thijs", "Ruben", "Lars", "Sem", "Koen", "Jesse", "Milan", "Luuk",
        "Stijn", "Wouter", "Joris", "Gert", "Henk", "Kees", "Maarten", "Niels")  # fmt: skip
_WOMEN = ("Sanne", "Emma", "Lotte", "Fleur", "Anouk", "Iris", "Noor", "Julia", "Eva", "Sophie", "Tess",
          "Anna", "Lieke", "Femke", "Marloes", "Ineke", "Wilma", "Marieke", "Esther", "Linda")  # fmt: skip
_SURNAMES = (
    ("", "Jansen"), ("de", "Vries"), ("van", "Dijk"), ("", "Bakker"), ("", "Visser"), ("", "Smit"),
    ("", "Meijer"), ("de", "Boer"), ("", "Mulder"), ("de", "Groot"), ("", "Bos"), ("", "Vos"), ("", "Peters"),
    ("", "Hendriks"), ("van", "Leeuwen"), ("", "Dekker"), ("", "Brouwer"), ("de", "Wit"), ("", "Dijkstra"),
    ("van der", "Meer"), ("van den", "Berg"), ("", "Kok"), ("", "Jacobs"), ("van", "Vliet"), ("", "Willems"),
    ("", "Schouten"), ("", "Kuipers"), ("", "Postma"), ("", "Hoekstra"), ("ter", "Horst"), ("", "Zwart"),
)  # fmt: skip
_TRADES = (
    "Installatietechniek", "Bouw", "Advies", "Transport", "Bakkerij", "Schilderwerken", "Hoveniers", "ICT",
    "Catering", "Fietsen", "Architecten", "Metaal", "Reclame", "Interieur", "Logistiek", "Loodgieters",
    "Drukkerij", "Tegelwerken", "Elektrotechniek", "Dakwerken",
)  # fmt: skip
_FORMS = ("B.V.", "B.V.", "B.V.", "Holding B.V.", "V.O.F.", "& Zn.", "Groep B.V.")
_SUPPLIERS = ("Groothandel", "Kantoorartikelen", "Energie", "Lease", "Telecom", "Verzekeringen")
_BANKS = (("ABNA", "ABNANL2A"), ("INGB", "INGBNL2A"), ("RABO", "RABONL2U"), ("TRIO", "TRIONL2U"), ("SNSB", "SNSBNL2A"))
_MONTHS = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober",
           "november", "december")  # fmt: skip
_NOTE_LINES = (
    "Klant sinds {year}.", "Facturen graag met PO-nummer.", "Betaalt meestal na een herinnering.",
    "Afspraak: betaling in twee termijnen is bespreekbaar.", "Contactpersoon administratie: {first}.",
    "Let op: postadres wijkt af van bezoekadres.", "Telefonisch bereikbaar op dinsdag en donderdag.",
    "Ivm verbouwing tijdelijk trager met betalen (gebeld {day}).", "Geen aanmaningen per post sturen.",
)  # fmt: skip
_TEXTS = ("", "", "Wij verzoeken u het bedrag binnen de betalingstermijn over te maken.", "Bedankt voor uw opdracht!")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _iban(rng: random.Random) -> tuple[str, str]:
    """A Dutch IBAN with correct check digits, and its bank's BIC."""
    bank, bic = rng.choice(_BANKS)
    account = f"{rng.randrange(10**10):010d}"
    digits = "".join(str(int(char, 36)) for char in f"{bank}{account}NL00")
    return f"NL{98 - int(digits) % 97:02d}{bank}{account}", bic


def _person(rng: random.Random) -> tuple[str, str, str]:
    """(first name, full name, gender m/v)."""
    male = rng.random() < 0.5
    first = rng.choice(_MEN if male else _WOMEN)
    prefix, last = rng.choice(_SURNAMES)
    return first, f"{first} {prefix} {last}".replace("  ", " "), "m" if male else "v"


def _fake_relation(rng: random.Random, number: int, today: date, *, supplier: bool) -> dict[str, Any]:
    key = FIRST_RELATION_ID + number - 1
    private = not supplier and rng.random() < 0.3
    first, full, gender = _person(rng)
    prefix, last = rng.choice(_SURNAMES)
    family = f"{prefix} {last}".title().strip() if prefix else last
    if supplier:
        name = f"{rng.choice(_SUPPLIERS)} {rng.choice(CITIES)[0]} {rng.choice(_FORMS)}"
    elif private:
        name = full
    else:
        name = f"{family} {rng.choice(_TRADES)} {rng.choice(_FORMS)}"
    city, zip_prefix = rng.choice(CITIES)
    local = _slug(full if private else name).replace("-", ".")
    general, invoices, reminders = f"info.{local}@example.nl", f"facturen.{local}@example.nl", ""
    if private:
        general = invoices = f"{local}.{number}@example.{rng.choice(('nl', 'com'))}"
    roll = rng.random()
    if roll < 0.5:  # a separate reminder address (and often an invoice address)
        reminders = f"debiteuren.{local}@example.nl" if not private else general
        invoices = invoices if rng.random() < 0.7 else ""
    elif roll < 0.75:  # invoice address and general address only
        pass
    elif roll < 0.95:  # general address only
        invoices = ""
    else:  # nobody to e-mail
        general = invoices = ""
    iban, bic = _iban(rng) if rng.random() < 0.6 else ("", "")
    mandate = bool(iban) and not supplier and rng.random() < 0.15
    note = ""
    if rng.random() < 0.3:
        lines = rng.sample(_NOTE_LINES, rng.randint(2, 3))
        day = today - timedelta(days=rng.randint(5, 400))
        note = "\n".join(line.format(year=rng.randint(2012, today.year - 1), first=first, day=day.strftime("%d-%m-%Y"))
                         for line in lines)  # fmt: skip
    relation: dict[str, Any] = {
        "id": key,
        "type": "P" if private else "B",
        "code": f"R{number:04d}",
        "date": (today - timedelta(days=rng.randint(150, 2000))).isoformat(),
        "name": name,
        "salutation": ("Dhr." if gender == "m" else "Mevr.") if rng.random() < 0.6 else "",
        "contact": "" if private else full,
        "gender": gender if private or rng.random() < 0.9 else "a",
        "address": f"{rng.choice(STREETS)} {rng.randint(1, 250)}",
        "postalCode": f"{zip_prefix}{rng.randint(10, 99)} {rng.choice('BCDEGHJKLNRTXZ')}{rng.choice('ABDEHJKLNRTX')}",
        "city": city,
        "country": "Nederland",
        "address2": "", "postalCode2": "", "city2": "", "country2": "",
        "phoneNumber": f"0{rng.choice((20, 30, 10, 40, 50, 70))}-{rng.randint(1_000_000, 9_999_999)}"
        if rng.random() < 0.8 else "",
        "mobilePhoneNumber": f"06-{rng.randint(10_000_000, 99_999_999)}" if rng.random() < 0.4 else "",
        "faxNumber": "",
        "emailAddress": general,
        "emailAddressInvoice": invoices,
        "emailAddressReminder": reminders,
        "website": "" if private or rng.random() < 0.5 else f"www.{_slug(family)}.example.nl"[:50],
        "note": note,
        "vatNumber": "" if private else f"NL{rng.randint(0, 999_999_999):09d}B01",
        "inactive": False,
        "termOfPayment": None if rng.random() < 0.2 else rng.choice((14, 30)),
        "companyRegistrationNumber": "" if private else f"{rng.randint(10_000_000, 99_999_999)}",
        "iban": iban,
        "bic": bic,
        **{f"freeText{n}": "" for n in range(1, 11)},
        "isClubOrAssociationMember": 0,
        "doNotReceiveNewsletters": 1 if rng.random() < 0.2 else 0,
        "ledgerId": None,
        "mandate": mandate,
        "mandateId": f"MND{key}" if mandate else "",
        "mandateSignedDate": None,
    }  # fmt: skip
    if mandate:
        relation["mandateType"] = "D"
    if not private and rng.random() < 0.1:
        relation["freeText1"] = f"Accountmanager: {rng.choice(_MEN + _WOMEN)}"
    return {name: relation[name] for name in RELATION_FIELDS if name in relation}


def _term(rng: random.Random, relation: Mapping[str, Any]) -> int | None:
    roll = rng.random()
    if roll < 0.05:
        return None
    if roll < 0.1:
        return 0
    if relation.get("termOfPayment") and rng.random() < 0.6:
        return int(relation["termOfPayment"])
    return rng.choice((14, 14, 30, 30, 30, 8))


def _vat_code(rng: random.Random, relation: Mapping[str, Any]) -> str:
    roll = rng.random()
    if relation["type"] == "B" and roll < 0.05:
        return "VERL_VERK"
    return "LAAG_VERK_9" if roll > 0.9 else "HOOG_VERK_21"


def _cents(rng: random.Random) -> Decimal:
    """A total between 50.00 and 5,000.00, log-uniform (many small invoices, a few large ones)."""
    return Decimal(int(5_000 * 100 ** rng.random())) / 100


@dataclass
class _Plan:
    """One sales or purchase invoice before ids and numbers are handed out."""

    relation: dict[str, Any]
    day: date
    total: Decimal
    vat_code: str
    term: int | None
    record: bool
    payments: list[tuple[date, Decimal]]
    service: str
    purchase_number: str | None = None
    number: str = ""
    reference: str = ""
    text: str = ""
    pdf: str = ""
    template: int = 2100
    email_template: int = 1100


def _sales_plan(rng: random.Random, relation: dict[str, Any], day: date, today: date, *, historic: bool) -> _Plan:
    total = _cents(rng)
    term = 30 if historic and rng.random() < 0.5 else _term(rng, relation)
    if historic and term is None:
        term = 14
    payments: list[tuple[date, Decimal]] = []
    if historic:
        paid_on = min(today - timedelta(days=1), day + timedelta(days=max(1, (term or 14) + rng.randint(-10, 20))))
        payments.append((max(day, paid_on), total))
    elif rng.random() < 0.1:
        part = (total * Decimal(rng.randint(20, 70)) / 100).quantize(CENT)
        payments.append((day + timedelta(days=rng.randint(0, max(0, (today - day).days))), part))
    record = historic or (term is not None and rng.random() < 0.84)
    return _Plan(
        relation=relation, day=day, total=total, vat_code=_vat_code(rng, relation), term=term, record=record,
        payments=payments, service=rng.choice(SERVICES),
        reference=f"PO-{rng.randint(10_000, 99_999)}" if relation["type"] == "B" and rng.random() < 0.4 else "",
        text=rng.choice(_TEXTS), pdf=f"{SIMULATED_PDF}{rng.getrandbits(128):032x}"
        if rng.random() < 0.85 else "", template=rng.choice((2100, 2100, 2101)),
        email_template=rng.choice((1100, 1101)),
    )  # fmt: skip


def _purchase_plan(rng: random.Random, supplier: dict[str, Any], today: date) -> _Plan:
    day = today - timedelta(days=rng.randint(0, 90))
    total = _cents(rng)
    payments = [(min(today, day + timedelta(days=rng.randint(5, 30))), total)] if rng.random() < 0.25 else []
    return _Plan(
        relation=supplier, day=day, total=total, vat_code="HOOG_INK_21", term=30, record=False, payments=payments,
        service=f"Inkoop {rng.choice(SERVICES).lower()}", purchase_number=f"INK{rng.randint(100_000, 999_999)}",
    )  # fmt: skip


def _rows(plan: _Plan, number: str, ledger: int) -> tuple[list[dict[str, Any]], Decimal, Decimal]:
    excl, vat = split_vat(plan.total, plan.vat_code)
    description = f"{plan.service} {_MONTHS[plan.day.month - 1]} {plan.day.year}"
    row = {
        "ledgerId": ledger, "vatCode": plan.vat_code, "vatAmount": money(vat), "amount": money(excl),
        "description": description, "invoiceNumber": number, "relationId": plan.relation["id"],
    }  # fmt: skip
    return [row], excl, vat


def generate_seed(items: int = 50, relations: int = 20, seed: int = 0, *, today: date) -> dict[str, Any]:
    """An e-Boekhouden-shaped seed with exactly `items` outstanding sales invoices over `relations` relations.

    Also: ~30% as many older, fully paid sales invoices; ~10% of the open ones partly paid; ~80% of sales
    invoices with an invoice record (the rest booked directly as mutations); a few purchase invoices from
    supplier relations (about 1 in 20 relations). Deterministic for (`items`, `relations`, `seed`, `today`)."""
    if items < 0 or relations < 1:
        raise ValueError("need items >= 0 and relations >= 1")
    rng = random.Random(seed)
    supplier_count = relations // 20 if relations >= 4 else 0
    people = [
        _fake_relation(rng, number, today, supplier=number > relations - supplier_count)
        for number in range(1, relations + 1)
    ]
    customers, suppliers = people[: relations - supplier_count], people[relations - supplier_count :]
    owners = [customers[index % len(customers)] for index in range(items)]
    rng.shuffle(owners)
    plans = [
        _sales_plan(rng, owner, today - timedelta(days=rng.randint(0, 119)), today, historic=False) for owner in owners
    ]
    plans += [
        _sales_plan(rng, rng.choice(customers), today - timedelta(days=rng.randint(121, 480)), today, historic=True)
        for _ in range(round(items * 0.3))
    ]
    purchase_count = max(2, items // 40) if suppliers and items else 0
    purchases = [_purchase_plan(rng, rng.choice(suppliers), today) for _ in range(purchase_count)]

    sales_order = sorted(plans, key=lambda plan: plan.day)  # invoice numbers and ids follow the invoice date
    per_year: dict[int, int] = {}
    for plan in sales_order:
        per_year[plan.day.year] = per_year.get(plan.day.year, 0) + 1
        plan.number = f"F{plan.day.year}-{per_year[plan.day.year]:05d}"
    events: list[tuple[date, int, int, _Plan, Decimal | None]] = []  # (day, kind order, sequence, plan, payment)
    for sequence, plan in enumerate([*sales_order, *purchases]):
        events.append((plan.day, 0, sequence, plan, None))
        events.extend((day, 1, sequence, plan, amount) for day, amount in plan.payments)
    events.sort(key=lambda event: event[:3])

    mutations: list[dict[str, Any]] = []
    invoices: list[dict[str, Any]] = []
    entry = 0
    for offset, (day, _, _, plan, paid) in enumerate(events):
        key = FIRST_MUTATION_ID + offset
        sale = plan.purchase_number is None
        number = plan.number if sale else str(plan.purchase_number)
        relation_id = plan.relation["id"]
        if paid is not None:
            entry += 1
            mutations.append({
                "id": key, "type": 3 if sale else 4, "date": day.isoformat(),
                "description": f"Betaling factuur {number}", "ledgerId": BANK_LEDGER, "relationId": relation_id,
                "inExVat": "EX", "invoiceNumber": number, "entryNumber": f"BNK{entry:06d}",
                "rows": [{"ledgerId": DEBTORS_LEDGER if sale else CREDITORS_LEDGER, "vatCode": "GEEN",
                          "vatAmount": 0.0, "amount": money(paid), "description": f"Betaling factuur {number}",
                          "invoiceNumber": number, "relationId": relation_id}],
                "vat": [],
            })  # fmt: skip
            continue
        rows, excl, vat = _rows(plan, number, REVENUE_LEDGER if sale else COSTS_LEDGER)
        mutations.append({
            "id": key, "type": 2 if sale else 1, "date": day.isoformat(), "description": rows[0]["description"],
            "termOfPayment": plan.term, "ledgerId": DEBTORS_LEDGER if sale else CREDITORS_LEDGER,
            "relationId": relation_id, "inExVat": "EX", "invoiceNumber": number, "entryNumber": number,
            "rows": rows, "vat": [{"vatCode": plan.vat_code, "amount": money(vat)}],
        })  # fmt: skip
        if plan.record:
            invoices.append({
                "id": FIRST_INVOICE_ID + len(invoices), "invoiceNumber": number, "relationId": relation_id,
                "date": day.isoformat(), "reference": plan.reference, "text": plan.text, "urlPdfFile": plan.pdf,
                "totalExcl": money(excl), "totalAmount": money(plan.total), "vatAmount": money(vat),
                "termOfPayment": plan.term, "templateId": plan.template, "print": False, "inExVat": "EX",
                "emailTemplateId": plan.email_template,
                "items": [{"quantity": 1.0, "amount": 1.0, "unitId": None, "code": "", "productId": None,
                           "description": rows[0]["description"], "pricePerUnit": money(excl),
                           "vatCode": plan.vat_code, "vatAmount": money(vat), "ledgerId": REVENUE_LEDGER,
                           "costCenterId": None, "discountAmount": None, "discountPercentage": None}],
            })  # fmt: skip
    return {
        "administration": {
            "guid": f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4{rng.getrandbits(12):03x}-"
            f"{0x8000 | rng.getrandbits(14):04x}-{rng.getrandbits(48):012x}",
            "company": "Simulatie Groothandel B.V.",
        },
        "relations": people,
        "mutations": mutations,
        "invoices": invoices,
    }
