"""A stateful e-Boekhouden REST API simulator: a real HTTP server shaped like `https://api.e-boekhouden.nl`.

Used by the test suite and the benchmarks. What it reproduces (platform notes §1-6, 8):

- `POST /v1/session` trades the long-lived API token (plus a `source` matching `^[\\w_ ]{1,10}$`) for a
  short-lived session token, sent back as the *raw* `Authorization` header value; `DELETE /v1/session` ends it;
  a missing, unknown, ended or expired session answers 401 with no body;
- lists `{"items": [...], "count": <items on this page>}` with `limit` (1..2000, default 100) and `offset`,
  and the platform's filter syntax (`p=v`, `p[not_eq]`, `p[like]` with `%`/`?`, `p[gt|gte|lt|lte]`,
  `p[range]=a,b` inclusive; one filter per parameter);
- `GET /v1/mutation/invoice/outstanding` (`credDeb` mandatory) computed from the mutations: a sales invoice
  (type 2) stays listed while its rows' total minus the type 3 payment rows carrying its invoice number is
  not zero; `credDeb=C` does the same for purchase invoices (type 1, paid by type 4);
- mutations (list rows without `rows`), invoice records (only for invoices made in the invoicing module;
  ~20% of generated receivables are booked directly and have none), relations (list rows carry only
  `id`, `type`, `code`) and `PATCH /v1/relation/{id}` with `name` required and `type` falling back to `B`;
- the vendor's error codes (`PAGE_001`, `MUTA_006`, `REL_047`, `API_SESSION_002`, ...) in the spec's
  `Error` shape, camelCase keys, amounts as JSON numbers, dates as `YYYY-MM-DD`.

Unverified against the live API (no captures exist); the simulator picks a reading and documents it:

- the session lifetime (default 3600 s) and that it is absolute, not sliding;
- `Bearer <token>` is refused (the vendor's Quick Start says raw; some clients send Bearer);
- `count` is the page size, not the total;
- PATCH is a partial update: omitted fields keep their value, except `type`, which becomes `B` when omitted
  or empty (the spec: "Defaults to B if empty") — the pitfall of flipping a private relation to business;
- mutation `type` is written as the spec's string enum (`"2"`); the vendor example shows a number;
- which invoices `/v1/invoice` lists (here: every invoice record, paid or not);
- the error `type` of a 404 (`"notFound"` here), `traceId` values, and that `errors` is never sent;
- throttling: none is published, so none by default; `rate_limit` enables a fixed window per session
  token answering 429 with `Retry-After` (seconds). Rate windows and fault bursts run on the wall clock;
  sessions expire on the simulator clock;
- expiring or revoking the API token stops new sessions but leaves running ones alone.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from adapters.eboekhouden.simulator_data import (
    BANK_LEDGER,
    CREDITORS_LEDGER,
    DEBTORS_LEDGER,
    INVOICE_TYPES,
    REVENUE_LEDGER,
    SIMULATED_PDF,
    camel_keys,
    generate_seed,
    load_seed,
    money,
    parse_amount,
    parse_day,
    split_vat,
    vat_totals,
)
from connector.clock import Clock, SystemClock, business_date
from connector.ledger import simulation
from connector.ledger.simulation import Faults, HttpError, Request, Response, SimulatorServer, sample_pdf

__all__ = ["EboekhoudenSimulator"]

MAX_LIMIT = 2000
DEFAULT_LIMIT = 100
NOTE_MAX = 40_000
FREE_TEXT_MAX = 100
_SOURCE = re.compile(r"[\w ]{1,10}")
_FILTER_KEY = re.compile(r"(?P<name>[A-Za-z0-9]+)(?:\[(?P<op>[A-Za-z_]*)\])?")
_EMAIL = re.compile(r"[^@\s;,]+@[^@\s;,]+\.[^@\s;,]+")

# --- errors ------------------------------------------------------------------------------------------

CODES = {
    "ERR_001": "Something went wrong.",
    "ERR_002": "Your request contains an invalid value.",
    "DATA_01": "No content body provided.",
    "PAGE_001": "Limit must be between 1 and 2000.",
    "PAGE_002": "Offset must be greater than or equal to 0.",
    "SECURITY_001": "No permission to access the requested resource.",
    "API_SESSION_001": "Source is missing.",
    "API_SESSION_002": "Source does not match pattern.",
    "API_SESSION_003": "Access token is missing or empty.",
    "API_SESSION_004": "Access token has expired.",
    "MUTA_006": "Credit/Debit is missing.",
    "MUTA_007": "Credit/Debit must be 'C' or 'D'.",
    "MUT_300": "Mutation not found.",
    "FACT_021": "Invoice not found.",
    "REL_001": "Relation type is invalid (B,P).",
    "REL_002": "Name is mandatory.",
    "REL_003": "Name is too long.",
    "REL_004": "Gender is invalid (m,v,a).",
    "REL_030": "Term of payment too low.",
    "REL_047": "Note too long.",
    "REL_051": "Mandate type is invalid (E,D).",
    "REL_055": "Relation not found.",
}
# PATCH string fields: (max length, code of "too long"); free texts are REL_037..REL_046.
_TOO_LONG = {
    "code": (15, "REL_006", "Code is too long."), "salutation": (50, "REL_010", "Salutation is too long."),
    "contact": (50, "REL_009", "Contact is too long."), "address": (150, "REL_011", "Address is too long."),
    "postalCode": (50, "REL_012", "Postal code is too long."), "city": (50, "REL_013", "City is too long."),
    "country": (50, "REL_014", "Country is too long."), "address2": (150, "REL_015", "Address 2 is too long."),
    "postalCode2": (50, "REL_016", "Postal code 2 is too long."), "city2": (50, "REL_017", "City 2 is too long."),
    "country2": (50, "REL_018", "Country 2 is too long."), "phoneNumber": (50, "REL_019", "Phone is too long."),
    "mobilePhoneNumber": (50, "REL_020", "Mobile is too long."), "faxNumber": (50, "REL_021", "Fax is too long."),
    "emailAddress": (150, "REL_022", "Email is too long."),
    "emailAddressInvoice": (150, "REL_024", "Email invoice is too long."),
    "emailAddressReminder": (150, "REL_026", "Email reminder is too long."),
    "website": (50, "REL_028", "Website is too long."), "note": (NOTE_MAX, "REL_047", "Note too long."),
    "vatNumber": (50, "REL_035", "VAT number is too long."),
    "companyRegistrationNumber": (50, "REL_050", "Company registration number is too long."),
    "iban": (50, "REL_029", "Iban is too long."), "bic": (20, "REL_032", "BIC is too long."),
    "mandateId": (35, "REL_034", "Mandate ID is too long."),
    **{f"freeText{n}": (FREE_TEXT_MAX, f"REL_{36 + n:03d}", f"Free text {n} is too long.") for n in range(1, 11)},
}  # fmt: skip
_INVALID_EMAIL = {
    "emailAddress": ("REL_023", "Email is invalid."),
    "emailAddressInvoice": ("REL_025", "Email invoice is invalid."),
    "emailAddressReminder": ("REL_027", "Email reminder is invalid."),
}
_NULLABLE_PATCH = {"freeText1", "freeText2", "freeText3"}


def _trace_id() -> str:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"


def api_error(
    status: int, code: str | None, title: str | None = None, *, kind: str = "validation", prop: str | None = None
) -> Response:
    """The spec's `Error` body: `{type, title, status, code?, propertyName?, traceId}` (never `errors`)."""
    body: dict[str, Any] = {"type": kind, "title": title or CODES.get(code or "", "Something went wrong.")}
    body["status"] = status
    if code is not None:
        body["code"] = code
    if prop is not None:
        body["propertyName"] = prop
    body["traceId"] = _trace_id()
    return Response.json(body, status)


def _fail(status: int, code: str, title: str | None = None, *, prop: str | None = None) -> HttpError:
    kind = "notFound" if status == 404 else "validation"
    return HttpError(api_error(status, code, title, kind=kind, prop=prop))


# --- filters -----------------------------------------------------------------------------------------

STRING, INT, DATE = "string", "int", "date"
_OPERATORS = {
    STRING: frozenset({"eq", "not_eq", "like", "not_like"}),
    INT: frozenset({"eq", "not_eq", "gt", "gte", "lt", "lte", "range"}),
    DATE: frozenset({"eq", "not_eq", "gt", "gte", "lt", "lte", "range"}),
}


@dataclass(frozen=True)
class Filter:
    """One `param[op]=value` filter; `test` compares a row's value."""

    field: str
    op: str
    operands: tuple[Any, ...]

    def test(self, value: Any) -> bool:
        if self.op in ("like", "not_like"):
            found = isinstance(value, str) and self.operands[0].fullmatch(value) is not None
            return found if self.op == "like" else not found
        if value is None:
            return self.op == "not_eq"
        first = self.operands[0]
        try:
            if self.op == "eq":
                return bool(value == first)
            if self.op == "not_eq":
                return bool(value != first)
            if self.op == "gt":
                return bool(value > first)
            if self.op == "gte":
                return bool(value >= first)
            if self.op == "lt":
                return bool(value < first)
            if self.op == "lte":
                return bool(value <= first)
            return bool(first <= value <= self.operands[1])  # range, inclusive
        except TypeError:  # a seed value of another type
            return False


def _like(pattern: str) -> re.Pattern[str]:
    """`%` any run of characters, `?` one character; case-insensitive like SQL Server's default collation."""
    parts = (".*" if char == "%" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _operand(kind: str, text: str, name: str) -> Any:
    if kind == INT:
        if not re.fullmatch(r"-?\d+", text.strip()):
            raise _fail(400, "ERR_002", prop=name)
        return int(text)
    if kind == DATE:
        try:
            return date.fromisoformat(text.strip())
        except ValueError:
            raise _fail(400, "ERR_002", prop=name) from None
    return text


def parse_filters(query: Mapping[str, str], fields: Mapping[str, tuple[str, str]]) -> list[Filter]:
    """Filters from the query for the given parameters (lower-cased name -> (wire name, kind)); other
    parameters are ignored. A bad operator or value, or two filters on one parameter, answer ERR_002."""
    filters: dict[str, Filter] = {}
    for key, text in query.items():
        match = _FILTER_KEY.fullmatch(key)
        if match is None or match.group("name").lower() not in fields:
            continue
        name, kind = fields[match.group("name").lower()]
        op = (match.group("op") or "eq").lower()
        if op not in _OPERATORS[kind] or name in filters:
            raise _fail(400, "ERR_002", prop=name)
        if op in ("like", "not_like"):
            operands: tuple[Any, ...] = (_like(text),)
        elif op == "range":
            bounds = text.split(",")
            if len(bounds) != 2:
                raise _fail(400, "ERR_002", prop=name)
            operands = tuple(_operand(kind, bound, name) for bound in bounds)
        else:
            operands = (_operand(kind, text, name),)
        filters[name] = Filter(name, op, operands)
    return list(filters.values())


def _matches(filters: list[Filter], values: Mapping[str, Any]) -> bool:
    return all(item.test(values.get(item.field)) for item in filters)


# --- rendering -----------------------------------------------------------------------------------------


def _put(target: dict[str, Any], name: str, value: Any) -> None:
    """Set a field the spec does not allow to be null: left out when there is no value."""
    if value is not None:
        target[name] = money(value) if isinstance(value, Decimal) else value


def render_row(row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "ledgerId", row.get("ledgerId"))
    out["vatCode"] = row.get("vatCode") or ""
    _put(out, "vatAmount", row.get("vatAmount"))
    _put(out, "costCenterId", row.get("costCenterId"))
    out["amount"] = money(row.get("amount") or Decimal(0))
    out["description"] = row.get("description") or ""
    out["invoiceNumber"] = row.get("invoiceNumber") or ""
    _put(out, "relationId", row.get("relationId"))
    return out


def render_mutation(mutation: Mapping[str, Any]) -> dict[str, Any]:
    """`GET /v1/mutation/{id}`: the full mutation with rows and VAT summary."""
    out: dict[str, Any] = {
        "id": mutation["id"],
        "type": str(mutation["type"]),
        "date": mutation["date"].isoformat(),
        "description": mutation.get("description") or "",
    }
    _put(out, "termOfPayment", mutation.get("termOfPayment"))
    _put(out, "ledgerId", mutation.get("ledgerId"))
    _put(out, "relationId", mutation.get("relationId"))
    out["inExVat"] = mutation.get("inExVat") or ""
    out["invoiceNumber"] = mutation.get("invoiceNumber") or ""
    out["entryNumber"] = mutation.get("entryNumber") or ""
    out["rows"] = [render_row(row) for row in mutation["rows"]]
    out["vat"] = [{"vatCode": item["vatCode"], "amount": money(item["amount"])} for item in mutation["vat"]]
    return out


def render_mutation_item(mutation: Mapping[str, Any], amount: Decimal) -> dict[str, Any]:
    """A `GET /v1/mutation` row: no rows, but the mutation's `amount`."""
    out: dict[str, Any] = {"id": mutation["id"], "type": str(mutation["type"]), "date": mutation["date"].isoformat()}
    out["invoiceNumber"] = mutation.get("invoiceNumber") or ""
    _put(out, "ledgerId", mutation.get("ledgerId"))
    out["amount"] = money(amount)
    out["entryNumber"] = mutation.get("entryNumber") or ""
    return out


def render_invoice(invoice: Mapping[str, Any], *, detail: bool) -> dict[str, Any]:
    """A `GET /v1/invoice` row, or with `detail` the `GET /v1/invoice/{id}` body (adds inExVat,
    emailTemplateId and items)."""
    out: dict[str, Any] = {"id": invoice["id"], "invoiceNumber": invoice["invoiceNumber"]}
    _put(out, "relationId", invoice.get("relationId"))
    out["date"] = invoice["date"].isoformat()
    for name in ("reference", "text", "urlPdfFile"):
        out[name] = invoice.get(name) or ""
    for name in ("totalExcl", "totalAmount", "vatAmount"):
        out[name] = money(invoice[name])
    _put(out, "termOfPayment", invoice.get("termOfPayment"))
    _put(out, "templateId", invoice.get("templateId"))
    out["print"] = bool(invoice.get("print"))
    if detail:
        out["inExVat"] = invoice.get("inExVat") or "EX"
        _put(out, "emailTemplateId", invoice.get("emailTemplateId"))
        out["items"] = [_render_item(item) for item in invoice["items"]]
    return out


def _render_item(item: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "quantity", item.get("quantity"))
    _put(out, "amount", item.get("amount"))
    out["unitId"] = item.get("unitId")
    out["code"] = item.get("code") or ""
    out["productId"] = item.get("productId")
    out["description"] = item.get("description") or ""
    _put(out, "pricePerUnit", item.get("pricePerUnit"))
    out["vatCode"] = item["vatCode"]
    _put(out, "vatAmount", item.get("vatAmount"))
    out["ledgerId"] = item["ledgerId"]
    out["costCenterId"] = item.get("costCenterId")
    for name in ("discountAmount", "discountPercentage"):
        value = item.get(name)
        out[name] = money(value) if isinstance(value, Decimal) else None
    return out


def _int_id(value: int | str) -> int:
    if isinstance(value, bool):
        raise KeyError(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise KeyError(value) from None


# --- the simulator -----------------------------------------------------------------------------------


class EboekhoudenSimulator(SimulatorServer):
    """The e-Boekhouden REST API (the parts the connector uses) over one administration."""

    base_path = ""

    def __init__(
        self,
        seed: Mapping[str, Any] | None = None,
        *,
        api_token: str | None = None,
        session_seconds: int = 3600,
        faults: Faults | str | None = None,
        today: date | None = None,
        clock: Clock | None = None,
        rate_limit: int | None = None,
        rate_window_seconds: float = 60.0,
    ) -> None:
        """`today` fixes the business date (defaults for new bookings); `clock` drives every moment
        (session expiry). Without `api_token` the seed's is used, else a random one."""
        super().__init__(
            rate_limit=rate_limit if rate_limit is not None else sys.maxsize,
            rate_window_seconds=rate_window_seconds,
            faults=faults,
        )
        self._clock = clock or SystemClock()
        self._fixed_today = today
        self.session_seconds = session_seconds
        self.rate_limit = rate_limit
        loaded = load_seed(seed, today=self.today)
        self._books = loaded.books
        self._administration = loaded.administration
        self._api_token = api_token or loaded.api_token or secrets.token_hex(32)
        self._api_status = "valid"  # valid | expired | revoked
        self._sessions: dict[str, float] = {}  # session token -> expiry (epoch seconds, simulator clock)
        self._sessions_created = 0
        self._register_routes()

    @classmethod
    def generate(
        cls,
        items: int = 50,
        relations: int = 20,
        seed: int = 0,
        today: date | None = None,
        *,
        api_token: str | None = None,
        session_seconds: int = 3600,
        faults: Faults | str | None = None,
        clock: Clock | None = None,
        rate_limit: int | None = None,
        rate_window_seconds: float = 60.0,
    ) -> EboekhoudenSimulator:
        """A simulator over a generated administration (see `simulator_data.generate_seed`); deterministic
        per seed and business date."""
        day = today or business_date(clock or SystemClock())
        return cls(
            generate_seed(items, relations, seed, today=day),
            api_token=api_token,
            session_seconds=session_seconds,
            faults=faults,
            today=today,
            clock=clock,
            rate_limit=rate_limit,
            rate_window_seconds=rate_window_seconds,
        )

    # -- time and credentials -------------------------------------------------------------------------

    def now(self) -> datetime:
        """The simulated moment (aware UTC)."""
        return self._clock.now().astimezone(UTC)

    @property
    def today(self) -> date:
        """The business date: fixed if given, else today in Amsterdam on the clock."""
        return self._fixed_today or business_date(self._clock)

    @property
    def api_token(self) -> str:
        return self._api_token

    @property
    def sessions_created(self) -> int:
        with self.lock:
            return self._sessions_created

    @property
    def active_sessions(self) -> int:
        """Sessions that would still be accepted now."""
        with self.lock:
            now = self.now().timestamp()
            return sum(1 for expiry in self._sessions.values() if now < expiry)

    def expire_sessions(self) -> None:
        """Every current session token stops working (the next call with it answers 401)."""
        with self.lock:
            self._sessions.clear()

    def expire_api_token(self) -> None:
        """The API token reached its end date: new sessions answer API_SESSION_004."""
        with self.lock:
            self._api_status = "expired"

    def revoke_api_token(self) -> None:
        """The API token was deleted in the web app: new sessions answer 403 (Login failed)."""
        with self.lock:
            self._api_status = "revoked"

    def new_api_token(self) -> str:
        """The owner creates a new API token (the old one stops working); returns it."""
        with self.lock:
            self._api_token = secrets.token_hex(32)
            self._api_status = "valid"
            return self._api_token

    # -- direct state access for tests: no HTTP, not logged; wire-shaped copies ----------------------

    def relation_ids(self) -> list[str]:
        with self.lock:
            return [str(key) for key in self._books.relation_order]

    def relation(self, relation_id: int | str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self._relation(_int_id(relation_id)))

    def update_relation(self, relation_id: int | str, **fields: Any) -> None:
        """A person editing the relation in the web app: fields (wire names) overwrite as given."""
        with self.lock:
            key = _int_id(relation_id)
            relation = self._relation(key)
            relation.update(camel_keys(copy.deepcopy(fields)))
            self._books.record_note(key)

    def renumber(self, mutation_id: int | str, invoice_number: str) -> None:
        """A person correcting a booking's invoice number in the web app."""
        with self.lock:
            mutation = self._mutation(_int_id(mutation_id))
            mutation["invoiceNumber"] = invoice_number
            for row in mutation.get("rows") or []:
                row["invoiceNumber"] = invoice_number

    def note_history(self, relation_id: int | str) -> list[str]:
        """Every value the relation's note has had, oldest first (the seed's value included)."""
        with self.lock:
            key = _int_id(relation_id)
            self._relation(key)
            return list(self._books.note_history.get(key, []))

    def outstanding_ids(self, cred_deb: str = "D") -> list[str]:
        with self.lock:
            return [str(key) for key in self._books.outstanding[cred_deb]]

    def sales_invoice_ids(self) -> list[str]:
        """Every sales invoice mutation, outstanding or not."""
        with self.lock:
            return [str(key) for key, mutation in self._books.mutations.items() if mutation["type"] == 2]

    def outstanding(self, mutation_id: int | str) -> dict[str, Any] | None:
        """The mutation's row in the outstanding list, or None when it is not outstanding."""
        with self.lock:
            key = _int_id(mutation_id)
            mutation = self._books.mutations.get(key)
            if mutation is None or mutation["type"] not in INVOICE_TYPES:
                return None
            if key not in self._books.outstanding[INVOICE_TYPES[mutation["type"]]]:
                return None
            return self._outstanding_row(key)

    def mutation(self, mutation_id: int | str) -> dict[str, Any]:
        with self.lock:
            return render_mutation(self._mutation(_int_id(mutation_id)))

    def invoice_for(self, mutation_id: int | str) -> dict[str, Any] | None:
        """The invoice record (detail form) of a sales invoice mutation, None when it was booked directly."""
        with self.lock:
            record = self._books.invoice_of(self._mutation(_int_id(mutation_id)))
            return None if record is None else render_invoice(record, detail=True)

    def add_payment(self, mutation_id: int | str, amount: Decimal | None = None, on: date | None = None) -> str:
        """Book a payment (type 3 for a sales invoice, type 4 for a purchase invoice) against the invoice
        mutation; `amount=None` pays whatever is outstanding. Returns the payment mutation's id."""
        with self.lock:
            invoice = self._mutation(_int_id(mutation_id))
            if invoice["type"] not in INVOICE_TYPES:
                raise ValueError(f"mutation {mutation_id} is not an invoice (type {invoice['type']})")
            open_amount = self._books.outstanding_amount(invoice["id"])
            paid = open_amount if amount is None else parse_amount(amount)
            if paid is None or paid == 0:
                raise ValueError(f"nothing to pay: amount {amount!r}, outstanding {open_amount}")
            sale = invoice["type"] == 2
            key = self._books.next_id("mutation")
            number = invoice["invoiceNumber"]
            text = f"Betaling factuur {number}"
            self._books.add_mutation({
                "id": key, "type": 3 if sale else 4, "date": on or self.today, "description": text,
                "termOfPayment": None, "ledgerId": BANK_LEDGER, "relationId": invoice["relationId"],
                "inExVat": "EX", "invoiceNumber": number, "entryNumber": f"BNK{key}",
                "rows": [{"ledgerId": DEBTORS_LEDGER if sale else CREDITORS_LEDGER, "vatCode": "GEEN",
                          "vatAmount": Decimal(0), "costCenterId": None, "amount": paid, "description": text,
                          "invoiceNumber": number, "relationId": invoice["relationId"]}],
                "vat": [],
            })  # fmt: skip
            return str(key)

    def add_invoice(
        self,
        relation_id: int | str,
        amount: Decimal,
        *,
        term_of_payment: int | None = 14,
        on: date | None = None,
        with_invoice_record: bool = True,
    ) -> str:
        """Book a sales invoice of `amount` (incl. 21% VAT) for the relation, with an invoice record unless
        told not (then it is a receivable booked directly). Returns the new mutation id."""
        total = parse_amount(amount)
        if total is None:
            raise ValueError(f"not an amount: {amount!r}")
        with self.lock:
            relation = self._relation(_int_id(relation_id))
            day = on or self.today
            number = self._next_invoice_number(day.year)
            excl, vat = split_vat(total, "HOOG_VERK_21")
            key = self._books.next_id("mutation")
            text = f"Factuur {number}"
            row = {
                "ledgerId": REVENUE_LEDGER, "vatCode": "HOOG_VERK_21", "vatAmount": vat, "costCenterId": None,
                "amount": excl, "description": text, "invoiceNumber": number, "relationId": relation["id"],
            }  # fmt: skip
            self._books.add_mutation({
                "id": key, "type": 2, "date": day, "description": text, "termOfPayment": term_of_payment,
                "ledgerId": DEBTORS_LEDGER, "relationId": relation["id"], "inExVat": "EX", "invoiceNumber": number,
                "entryNumber": number, "rows": [row], "vat": vat_totals([row]),
            })  # fmt: skip
            if with_invoice_record:
                self._books.add_invoice({
                    "id": self._books.next_id("invoice"), "invoiceNumber": number, "relationId": relation["id"],
                    "date": day, "reference": "", "text": "", "urlPdfFile": "", "totalExcl": excl,
                    "totalAmount": total, "vatAmount": vat, "termOfPayment": term_of_payment, "templateId": 2100,
                    "print": False, "inExVat": "EX", "emailTemplateId": 1100,
                    "items": [{"quantity": Decimal(1), "amount": Decimal(1), "unitId": None, "code": "",
                               "productId": None, "description": text, "pricePerUnit": excl,
                               "vatCode": "HOOG_VERK_21", "vatAmount": vat, "ledgerId": REVENUE_LEDGER,
                               "costCenterId": None, "discountAmount": None, "discountPercentage": None}],
                })  # fmt: skip
            return str(key)

    def delete_mutation(self, mutation_id: int | str) -> None:
        """Remove a mutation entirely (404 afterwards, off every list), with its invoice record if it has
        one. Deleting a payment puts what it paid back on the invoice."""
        with self.lock:
            mutation = self._mutation(_int_id(mutation_id))
            record = self._books.invoice_of(mutation)
            if record is not None:
                self._books.remove_invoice(record["id"])
            self._books.remove_mutation(mutation["id"])

    def summary_lines(self) -> list[str]:
        """What the CLI prints after the API token."""
        with self.lock:
            books = self._books
            owed = sum((books.outstanding_amount(key) for key in books.outstanding["D"]), Decimal(0))
            lines = [
                f'administration "{self._administration["company"]}": {len(books.relations)} relations, '
                f"{len(books.outstanding['D'])} outstanding sales invoices (EUR {owed}), "
                f"{len(books.outstanding['C'])} outstanding purchase invoices, {len(books.invoices)} invoice "
                f"records, {len(books.mutations)} mutations",
            ]
        limit = "none" if self.rate_limit is None else f"{self.rate_limit} per {self.rate_limiter.window_seconds:g} s"
        origin = self.base_url if self._httpd is not None else "http://127.0.0.1:<port>"
        lines += [
            f'session: POST {origin}/v1/session {{"accessToken": <api_token>, "source": "Connector"}}, '
            f"then send the token as the raw Authorization header; sessions last {self.session_seconds} s",
            f"rate limit: {limit}",
            f"faults: {self.faults.spec or 'none'}",
            f"request log: GET {origin}/_simulator/requests",
        ]
        return lines

    # -- internals ------------------------------------------------------------------------------------

    def _relation(self, key: int) -> dict[str, Any]:
        found = self._books.relations.get(key)
        if found is None:
            raise KeyError(f"no relation {key}")
        return found

    def _mutation(self, key: int) -> dict[str, Any]:
        found = self._books.mutations.get(key)
        if found is None:
            raise KeyError(f"no mutation {key}")
        return found

    def _next_invoice_number(self, year: int) -> str:
        prefix = f"F{year}-"
        used = [
            int(number[len(prefix) :])
            for kind, number in self._books.by_number
            if kind == 2 and number.startswith(prefix) and number[len(prefix) :].isdigit()
        ]
        return f"{prefix}{max(used, default=0) + 1:05d}"

    def _outstanding_row(self, key: int) -> dict[str, Any]:
        books = self._books
        mutation = books.mutations[key]
        relation = books.relations.get(mutation["relationId"]) or {}
        total, paid = books.amounts[key], books.paid[key]
        return {
            "date": mutation["date"].isoformat(),
            "mutationId": key,
            "invoiceNumber": mutation["invoiceNumber"],
            "relationId": mutation["relationId"],
            "relationCode": relation.get("code", ""),
            "company": relation.get("name", ""),
            "totalAmount": money(total),
            "paidAmount": money(paid),
            "outstandingAmount": money(total - paid),
        }

    # -- response hooks -------------------------------------------------------------------------------

    def extract_token(self, headers: Mapping[str, str]) -> str | None:
        """The raw `Authorization` value is the session token (a `Bearer ` prefix makes it a wrong one)."""
        return headers.get("authorization", "").strip() or None

    def is_authorized(self, token: str | None) -> bool:
        if token is None:
            return False
        with self.lock:
            expiry = self._sessions.get(token)
            if expiry is None:
                return False
            if self.now().timestamp() >= expiry:
                del self._sessions[token]
                return False
            return True

    def unauthorized_response(self, request: Request) -> Response:
        return Response.empty(401)

    def error_response(self, status: int, message: str) -> Response:
        return api_error(status, None, message, kind="error")

    def not_found_response(self, request: Request) -> Response:
        allowed = self.router.methods(request.path)
        if allowed:
            return Response(405, b"", None, {"Allow": ", ".join(sorted(allowed))})
        return Response.empty(404)

    def server_error_response(self, status: int) -> Response:
        if status == 500:
            return api_error(500, "ERR_001", kind="error")
        return super().server_error_response(status)

    # -- routing --------------------------------------------------------------------------------------

    def _register_routes(self) -> None:
        self.public_route("POST", r"/v1/session", self._create_session)
        self.route("DELETE", r"/v1/session", self._end_session)
        self.route("GET", r"/v1/administration/linked", self._linked_administrations)
        self.route("GET", r"/v1/mutation/invoice/outstanding", self._list_outstanding)
        self.route("GET", r"/v1/mutation", self._list_mutations)
        self.route("GET", r"/v1/mutation/(?P<id>-?\d+)", self._get_mutation)
        self.route("GET", r"/v1/invoice", self._list_invoices)
        self.route("GET", r"/v1/invoice/(?P<id>-?\d+)", self._get_invoice)
        self.route("GET", r"/v1/relation", self._list_relations)
        self.route("GET", r"/v1/relation/(?P<id>-?\d+)", self._get_relation)
        self.route("PATCH", r"/v1/relation/(?P<id>-?\d+)", self._patch_relation)
        self.control_route("POST", r"/_simulator/payments", self._payment_endpoint)
        self.control_route("POST", r"/_simulator/expire-sessions", self._expire_sessions_endpoint)

    # -- session --------------------------------------------------------------------------------------

    def _body(self, request: Request) -> dict[str, Any]:
        if not request.body.strip():
            raise _fail(400, "DATA_01")
        try:
            body = json.loads(request.body)
        except ValueError:
            raise _fail(400, "ERR_002") from None
        if not isinstance(body, dict):
            raise _fail(400, "ERR_002")
        return camel_keys(body)  # type: ignore[no-any-return]

    def _create_session(self, request: Request) -> Response:
        body = self._body(request)
        source, token = body.get("source"), body.get("accessToken")
        if source is None or source == "":
            raise _fail(400, "API_SESSION_001", prop="source")
        if not isinstance(source, str) or _SOURCE.fullmatch(source) is None:
            raise _fail(400, "API_SESSION_002", prop="source")
        if not isinstance(token, str) or not token.strip():
            raise _fail(400, "API_SESSION_003", prop="accessToken")
        if not secrets.compare_digest(token.encode(), self._api_token.encode()) or self._api_status == "revoked":
            refused = {"type": "security", "title": "Login failed", "status": 403, "code": "SECURITY_001"}
            return Response.json({**refused, "securityType": "0", "traceId": _trace_id()}, 403)
        if self._api_status == "expired":
            raise _fail(400, "API_SESSION_004", prop="accessToken")
        session = secrets.token_urlsafe(48)
        self._sessions[session] = self.now().timestamp() + self.session_seconds
        self._sessions_created += 1
        return Response.json({"token": session, "expiresIn": self.session_seconds})

    def _end_session(self, request: Request) -> Response:
        self._sessions.pop(request.token or "", None)
        return Response.empty(204)

    # -- lists ----------------------------------------------------------------------------------------

    @staticmethod
    def _query(request: Request) -> dict[str, str]:
        """Query parameters with lower-cased names (ASP.NET binds them case-insensitively)."""
        return {name.lower(): value for name, value in request.query.items()}

    @staticmethod
    def _paging(query: Mapping[str, str]) -> tuple[int, int]:
        def number(name: str, default: int, code: str, valid: Callable[[int], bool]) -> int:
            text = query.get(name)
            if text is None:
                return default
            if not re.fullmatch(r"\s*-?\d+\s*", text):
                raise _fail(400, "ERR_002", prop=name)
            value = int(text)
            if not valid(value):
                raise _fail(400, code, prop=name)
            return value

        limit = number("limit", DEFAULT_LIMIT, "PAGE_001", lambda value: 1 <= value <= MAX_LIMIT)
        offset = number("offset", 0, "PAGE_002", lambda value: value >= 0)
        return limit, offset

    @staticmethod
    def _page(items: list[dict[str, Any]]) -> Response:
        return Response.json({"items": items, "count": len(items)})

    def _linked_administrations(self, request: Request) -> Response:
        limit, offset = self._paging(self._query(request))
        return self._page([dict(self._administration)][offset : offset + limit])

    def _list_outstanding(self, request: Request) -> Response:
        query = self._query(request)
        cred_deb = query.get("creddeb")
        if cred_deb is None or not cred_deb.strip():
            raise _fail(400, "MUTA_006", prop="credDeb")
        if cred_deb not in ("C", "D"):
            raise _fail(400, "MUTA_007", prop="credDeb")
        limit, offset = self._paging(query)
        filters = parse_filters(query, {"invoicenumber": ("invoiceNumber", STRING)})
        listed = self._books.outstanding[cred_deb]
        if filters:
            mutations = self._books.mutations
            keys = [key for key in listed if _matches(filters, mutations[key])][offset : offset + limit]
        else:
            keys = listed.page(offset, limit)
        return self._page([self._outstanding_row(key) for key in keys])

    def _list_mutations(self, request: Request) -> Response:
        query = self._query(request)
        limit, offset = self._paging(query)
        fields = {
            "id": ("id", INT), "type": ("type", INT), "invoicenumber": ("invoiceNumber", STRING),
            "description": ("description", STRING), "date": ("date", DATE),
        }  # fmt: skip
        filters = parse_filters(query, fields)
        books = self._books
        if filters:
            keys = [key for key in books.mutation_order if _matches(filters, books.mutations[key])]
            keys = keys[offset : offset + limit]
        else:
            keys = books.mutation_order.page(offset, limit)
        return self._page([render_mutation_item(books.mutations[key], books.amounts[key]) for key in keys])

    def _get_mutation(self, request: Request) -> Response:
        mutation = self._books.mutations.get(int(request.params["id"]))
        if mutation is None:
            raise _fail(404, "MUT_300")
        return Response.json(render_mutation(mutation))

    def _list_invoices(self, request: Request) -> Response:
        query = self._query(request)
        limit, offset = self._paging(query)
        fields = {
            "invoicenumber": ("invoiceNumber", STRING), "relationid": ("relationId", INT), "date": ("date", DATE),
        }  # fmt: skip
        filters = parse_filters(query, fields)
        books = self._books
        if filters:
            keys = [key for key in books.invoice_order if _matches(filters, books.invoices[key])]
            keys = keys[offset : offset + limit]
        else:
            keys = books.invoice_order.page(offset, limit)
        return self._page([render_invoice(self._with_pdf(books.invoices[key]), detail=False) for key in keys])

    def _get_invoice(self, request: Request) -> Response:
        invoice = self._books.invoices.get(int(request.params["id"]))
        if invoice is None:
            raise _fail(404, "FACT_021")
        return Response.json(render_invoice(self._with_pdf(invoice), detail=True))

    def _with_pdf(self, invoice: dict[str, Any]) -> dict[str, Any]:
        """As e-Boekhouden: a shareable link to the invoice's PDF (`urlPdfFile`). A generated invoice's link is
        served here, made once and kept; a seeded one is handed out as it was given."""
        if str(invoice.get("urlPdfFile") or "").startswith(SIMULATED_PDF):
            lines = [f"Factuur {invoice['invoiceNumber']}", f"Totaal EUR {money(invoice['totalAmount'])}"]
            name = f"{invoice['invoiceNumber']}.pdf"
            invoice["urlPdfFile"] = self.publish_file(
                sample_pdf(lines), "application/pdf", name=name, valid_seconds=1e9
            )
        return invoice

    def _list_relations(self, request: Request) -> Response:
        query = self._query(request)
        limit, offset = self._paging(query)
        fields = {
            "code": ("code", STRING), "type": ("type", STRING), "name": ("name", STRING),
            "email": ("emailAddress", STRING), "contact": ("contact", STRING), "city": ("city", STRING),
        }  # fmt: skip
        filters = parse_filters(query, fields)
        books = self._books
        if filters:
            keys = [key for key in books.relation_order if _matches(filters, books.relations[key])]
            keys = keys[offset : offset + limit]
        else:
            keys = books.relation_order.page(offset, limit)
        rows = [{name: books.relations[key][name] for name in ("id", "type", "code")} for key in keys]
        return self._page(rows)

    # -- relations ------------------------------------------------------------------------------------

    def _get_relation(self, request: Request) -> Response:
        relation = self._books.relations.get(int(request.params["id"]))
        if relation is None:
            raise _fail(404, "REL_055")
        return Response.json(relation)

    def _patch_relation(self, request: Request) -> Response:
        key = int(request.params["id"])
        relation = self._books.relations.get(key)
        if relation is None:
            raise _fail(404, "REL_055")
        changes = self._relation_changes(self._body(request))
        relation.update(changes)
        for name in ("gender", "mandateType"):  # enums without null: a cleared value is left out
            if relation.get(name) is None:
                relation.pop(name, None)
        self._books.record_note(key)
        return Response.empty(204)

    def _relation_changes(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Validate a PatchRelation body and return the stored values it sets; raises the first error."""
        name = body.get("name")
        if not isinstance(name, str | None):
            raise _fail(400, "ERR_002", prop="name")
        if name is None or not name.strip():
            raise _fail(400, "REL_002", prop="name")
        if len(name) > 100:
            raise _fail(400, "REL_003", prop="name")
        kind = body.get("type")
        if kind not in (None, "", "B", "P"):
            raise _fail(400, "REL_001", prop="type")
        changes: dict[str, Any] = {"name": name, "type": kind or "B"}  # an omitted or empty type means B
        for field_name, (longest, code, title) in _TOO_LONG.items():
            if field_name not in body:
                continue
            value = body[field_name]
            if not isinstance(value, str | None):
                raise _fail(400, "ERR_002", prop=field_name)
            if value is not None and len(value) > longest:
                raise _fail(400, code, title, prop=field_name)
            if (
                field_name in _INVALID_EMAIL
                and value
                and not all(_EMAIL.fullmatch(part.strip()) for part in re.split(r"[;,]", value) if part.strip())
            ):
                raise _fail(400, *_INVALID_EMAIL[field_name], prop=field_name)
            changes[field_name] = value if value is not None or field_name in _NULLABLE_PATCH else ""
        for field_name, allowed, code in (
            ("gender", ("m", "v", "a"), "REL_004"),
            ("mandateType", ("E", "D"), "REL_051"),
        ):
            if field_name in body:
                value = body[field_name]
                if value not in (None, "", *allowed):
                    raise _fail(400, code, prop=field_name)
                changes[field_name] = value or None
        self._typed_changes(body, changes)
        return changes

    @staticmethod
    def _typed_changes(body: Mapping[str, Any], changes: dict[str, Any]) -> None:
        """The non-text PATCH fields: booleans, integers and the mandate date."""
        for field_name in ("inactive", "doNotReceiveNewsletters"):
            if field_name in body:
                value = body[field_name]
                if not isinstance(value, bool | None):
                    raise _fail(400, "ERR_002", prop=field_name)
                if field_name == "doNotReceiveNewsletters":  # a boolean in PATCH, an integer in GET
                    changes[field_name] = None if value is None else int(value)
                else:
                    changes[field_name] = value
        if "mandate" in body:
            if not isinstance(body["mandate"], bool):
                raise _fail(400, "ERR_002", prop="mandate")
            changes["mandate"] = body["mandate"]
        for field_name in ("termOfPayment", "ledgerId"):
            if field_name in body:
                value = body[field_name]
                if isinstance(value, bool) or not isinstance(value, int | None):
                    raise _fail(400, "ERR_002", prop=field_name)
                if field_name == "termOfPayment" and value is not None and value < 0:
                    raise _fail(400, "REL_030", prop=field_name)
                changes[field_name] = value
        if "mandateSignedDate" in body:
            value = body["mandateSignedDate"]
            if value is not None and parse_day(value) is None:
                raise _fail(400, "ERR_002", prop="mandateSignedDate")
            changes["mandateSignedDate"] = value

    # -- control endpoints ----------------------------------------------------------------------------

    def _payment_endpoint(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict) or isinstance(body.get("mutationId"), bool):
            return self.error_response(400, 'expected {"mutationId": 50001, "amount": "12.50"}')
        amount = body.get("amount")
        parsed = None if amount is None else parse_amount(amount)
        if amount is not None and parsed is None:
            return self.error_response(400, 'amount must be a number or a string like "12.50"')
        try:
            payment = self.add_payment(body.get("mutationId"), parsed)  # type: ignore[arg-type]
            return Response.json({"paymentId": payment, "outstanding": self.outstanding(body["mutationId"])})
        except KeyError as exc:
            return self.error_response(404, str(exc.args[0]) if exc.args else "not found")
        except ValueError as exc:
            return self.error_response(400, str(exc))

    def _expire_sessions_endpoint(self, _: Request) -> Response:
        self.expire_sessions()
        return Response.empty(204)


# --- CLI -------------------------------------------------------------------------------------------------


def command(
    port: simulation.PortOption = 0,
    seed_file: Annotated[
        Path | None, simulation.seed_file_option('{"apiToken": ..., "relations": [...], "mutations": [...]}')
    ] = None,
    generate: simulation.GenerateOption = None,
    contacts: simulation.ContactsOption = None,
    faults: simulation.FaultsOption = None,
    fault_seed: simulation.FaultSeedOption = 0,
    session_seconds: Annotated[int, typer.Option(help="Session-token lifetime.")] = 3600,
    timeout_seconds: simulation.FaultTimeoutOption = 5.0,
) -> None:
    """A stateful e-Boekhouden REST API on 127.0.0.1; prints the URL, then the API token, then a summary."""
    options: dict[str, Any] = {
        "faults": Faults(faults, fault_seed, timeout_seconds),
        "session_seconds": session_seconds,
    }
    simulation.serve_from_cli(
        port=port,
        seed_file=seed_file,
        generate=generate,
        contacts=contacts,
        from_seed=lambda seed: EboekhoudenSimulator(seed, **options),
        generated=lambda items, people: EboekhoudenSimulator.generate(items=items, relations=people, **options),
        lines=lambda simulator: [f"api_token: {simulator.api_token}", *simulator.summary_lines()],
    )
