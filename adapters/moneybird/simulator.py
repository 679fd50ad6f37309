"""A stateful Moneybird API simulator: a real HTTP server shaped like `https://moneybird.com/api/v2`.

Used by the test suite, the benchmarks and the demo. Paths, field names, error bodies and the 429 headers
follow the official OpenAPI spec; where the real API's behaviour is unverified the simulator picks the
stricter reading so clients that rely on luck fail here first:

- a `filter` without `period` gets `period:this_year` (on the list *and* the synchronization endpoint);
- the list endpoint pages 50 per page by default and answers 400 for a page past the last one;
- `send_reminders` refuses invoices that are not open/late/reminded, belong to another contact or use
  another workflow, document style or identity than given.

`version` is epoch seconds like the real API, but strictly increasing per change so no change is invisible.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import typer

from adapters.moneybird.simulator_data import (
    PAUSED_NEXT_REMINDER,
    REMINDABLE_STATES,
    Administration,
    dicts_in,
    format_money,
    generate_seed,
    iso_timestamp,
    load_seed,
    make_event,
    next_reminder,
    parse_date,
    parse_money,
    parse_timestamp,
    unpaid_state,
)
from connector.clock import Clock, SystemClock, business_date
from connector.ledger import simulation
from connector.ledger.simulation import (
    Faults,
    HttpError,
    RateDecision,
    Request,
    Response,
    SimulatorServer,
    sample_pdf,
)

__all__ = ["InvoiceFilter", "MoneybirdSimulator", "parse_invoice_filter", "period_range"]

INVOICE_STATES = frozenset(
    {"draft", "open", "scheduled", "pending_payment", "late", "reminded", "paid", "uncollectible"}
)
SYNC_FETCH_LIMIT = 100
DEFAULT_PER_PAGE = 50
CONTACT_WRITABLE_FIELDS = frozenset(
    {
        "company_name", "address1", "address2", "zipcode", "city", "country", "phone", "delivery_method",
        "email_ubl", "customer_id", "tax_number", "firstname", "lastname", "chamber_of_commerce",
        "bank_account", "send_invoices_to_attention", "send_invoices_to_email", "send_estimates_to_attention",
        "send_estimates_to_email", "sepa_active", "sepa_iban", "sepa_iban_account_name", "sepa_bic",
        "sepa_mandate_id", "sepa_mandate_date", "sepa_sequence_type", "invoice_workflow_id",
        "estimate_workflow_id", "si_identifier_type", "si_identifier", "direct_debit",
    }
)  # fmt: skip
_REMINDER_KEYS = ("contact_id", "workflow_id", "document_style_id", "identity_id", "sales_invoice_ids")
_REMINDER_EVENTS = {"Email": "email", "Manual": "manually", "Post": "post"}


# --- errors -----------------------------------------------------------------------------------------


def _error(status: int, message: str, symbolic: Mapping[str, str] | None = None) -> HttpError:
    body: dict[str, Any] = {"error": message}
    if symbolic:
        body["symbolic"] = dict(symbolic)
    return HttpError(Response.json(body, status))


def _not_found(key: str = "id") -> HttpError:
    return _error(404, "record not found", {key: "not_found"})


def _invalid(errors: Mapping[str, tuple[str, str]]) -> HttpError:
    """A 422 validation error: field -> (message, symbolic code), e.g. ("can't be blank", "blank")."""
    body = {
        "error": {name: [message] for name, (message, _) in errors.items()},
        "details": {name: [{"error": code}] for name, (_, code) in errors.items()},
    }
    return HttpError(Response.json(body, 422))


# --- filters ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceFilter:
    """A parsed `filter` parameter; None means the key does not restrict."""

    states: frozenset[str] | None = None
    period: tuple[date, date] | None = None
    contact_ids: frozenset[str] | None = None
    references: frozenset[str] | None = None
    workflow_ids: frozenset[str] | None = None
    recurring_ids: frozenset[str] | None = None
    after: tuple[tuple[str, datetime], ...] = ()  # (timestamp field, exclusive lower bound)

    def select(self, invoices: Iterable[dict[str, Any]], today: date) -> list[dict[str, Any]]:
        """The matching invoices in order; only the keys that restrict anything are checked."""
        checks = self._checks(today)
        if not checks:
            return list(invoices)
        return [invoice for invoice in invoices if all(check(invoice) for check in checks)]

    def _checks(self, today: date) -> list[_Check]:
        checks = [
            _value_in(key, allowed)
            for key, allowed in (
                ("state", self.states),
                ("contact_id", self.contact_ids),
                ("reference", self.references),
                ("workflow_id", self.workflow_ids),
                ("recurring_sales_invoice_id", self.recurring_ids),
            )
            if allowed is not None
        ]
        if self.period is not None:
            checks.append(_dated_in(self.period, today))
        checks.extend(_stamped_after(key, bound) for key, bound in self.after)
        return checks


_Check = Callable[[Mapping[str, Any]], bool]


def _value_in(key: str, allowed: frozenset[str]) -> _Check:
    return lambda invoice: _as_id(invoice.get(key)) in allowed


def _dated_in(period: tuple[date, date], today: date) -> _Check:
    return lambda invoice: _in_period(invoice.get("invoice_date"), period, today)


def _stamped_after(key: str, bound: datetime) -> _Check:
    return lambda invoice: _later(invoice.get(key), bound)


def _as_id(value: object) -> str | None:
    return None if value is None else str(value)


def _in_period(invoice_date: object, period: tuple[date, date], today: date) -> bool:
    """Invoices match on invoice_date; one without a date (a draft) only when the period holds today."""
    day = today if invoice_date is None else parse_date(invoice_date)
    return day is not None and period[0] <= day <= period[1]


def _later(stamp: object, bound: datetime) -> bool:
    moment = parse_timestamp(stamp)
    return moment is not None and moment > bound


def _filter_terms(text: str) -> dict[str, str]:
    """`key:value,key:a|b` -> {key: value}; terms without a colon are ignored like unknown keys."""
    terms = {}
    for term in text.split(","):
        key, sep, value = term.partition(":")
        if sep:
            terms[key.strip()] = value.strip()
    return terms


def _month_end(year: int, month: int) -> date:
    return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


def _shift_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def period_range(keyword: str, today: date) -> tuple[date, date] | None:
    """The dates of a named period (`this_month`, `prev_quarter`, ...) relative to today; None if unknown."""
    offset_name, _, unit = keyword.partition("_")
    offset = {"prev": -1, "this": 0, "next": 1}.get(offset_name)
    if offset is None:
        return None
    if unit == "week":
        start = today - timedelta(days=today.weekday()) + timedelta(weeks=offset)
        return start, start + timedelta(days=6)
    months = {"month": 1, "quarter": 3, "year": 12}.get(unit)
    if months is None:
        return None
    first = date(today.year, (today.month - 1) // months * months + 1, 1)
    start = _shift_months(first, offset * months)
    end_month = _shift_months(start, months - 1)
    return start, _month_end(end_month.year, end_month.month)


def _custom_period(value: str) -> tuple[date, date]:
    start_text, _, end_text = value.partition("..")
    if not start_text or not end_text:
        raise _error(400, "Period must have both a start and end date")
    try:
        start, end = _period_bound(start_text, end=False), _period_bound(end_text, end=True)
    except ValueError:
        raise _error(400, "Period is not valid", {"filter": "invalid"}) from None
    return start, end


def _period_bound(text: str, *, end: bool) -> date:
    if len(text) == 8 and text.isdigit():
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    if len(text) == 6 and text.isdigit():
        first = date(int(text[:4]), int(text[4:]), 1)  # validates the month
        return _month_end(first.year, first.month) if end else first
    raise ValueError(text)


def _parse_period(value: str, today: date) -> tuple[date, date]:
    if ".." in value:
        return _custom_period(value)
    period = period_range(value, today)
    if period is None:
        raise _error(400, "Period is not included in the list", {"filter": "invalid"})
    return period


def _time_bounds(terms: Mapping[str, str]) -> tuple[tuple[str, datetime], ...]:
    """`created_after`/`updated_after` terms as (field, bound) pairs; 400 when a time does not parse."""
    bounds = []
    for name, key in (("created_after", "created_at"), ("updated_after", "updated_at")):
        if name in terms:
            moment = parse_timestamp(terms[name])
            if moment is None:
                raise _error(400, f"{name} is not a valid time", {"filter": "invalid"})
            bounds.append((key, moment))
    return tuple(bounds)


def _id_set(value: str | None) -> frozenset[str] | None:
    return None if value is None else frozenset(value.split("|"))


def parse_invoice_filter(text: str | None, today: date, *, default_period: bool) -> InvoiceFilter:
    """Parse a sales invoice `filter`; raises HttpError (400) for invalid values.

    With no filter at all, `default_period` decides whether `period:this_year` applies (the list endpoint's
    documented default). A filter that is given but lacks `period` always gets `period:this_year`.
    """
    if not text:
        return InvoiceFilter(period=period_range("this_year", today) if default_period else None)
    terms = _filter_terms(text)
    states = frozenset(terms.get("state", "all").split("|"))
    if not states <= INVOICE_STATES | {"all"}:
        raise _error(400, "Status is not included in the list", {"filter": "invalid"})
    return InvoiceFilter(
        states=None if "all" in states else states,
        period=_parse_period(terms.get("period", "this_year"), today),
        contact_ids=_id_set(terms.get("contact_id")),
        references=_id_set(terms.get("reference")),
        workflow_ids=_id_set(terms.get("workflow_id")),
        recurring_ids=_id_set(terms.get("recurring_sales_invoice_id")),
        after=_time_bounds(terms),
    )


# --- the simulator ----------------------------------------------------------------------------------


def _without_events(contact: Mapping[str, Any]) -> dict[str, Any]:
    """The embedded contact of an invoice is the full contact minus `events`."""
    return {key: value for key, value in contact.items() if key != "events"}


def _append(entity: dict[str, Any], key: str, item: dict[str, Any]) -> None:
    if isinstance(entity.get(key), list):
        entity[key].append(item)
    else:  # bad seed data: start a fresh list rather than crash
        entity[key] = [item]


def _truthy(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1", "yes"))


def _requested_ids(body: object) -> list[str]:
    """The first 100 distinct `ids` of a synchronization POST, as strings."""
    if not isinstance(body, dict) or "ids" not in body:
        raise _error(400, "Ids is required", {"ids": "required"})
    if not isinstance(body["ids"], list):
        raise _error(400, "Ids isn't an array", {"ids": "array"})
    given = [str(item) for item in body["ids"] if isinstance(item, int | str) and not isinstance(item, bool)]
    return list(dict.fromkeys(given[:SYNC_FETCH_LIMIT]))


class MoneybirdSimulator(SimulatorServer):
    """The Moneybird API (the parts the connector uses) over one or more simulated administrations."""

    base_path = "/api/v2"

    def __init__(
        self,
        seed: Mapping[str, Any] | None = None,
        *,
        valid_tokens: Iterable[str] | None = None,
        rate_limit: int = 150,
        rate_window_seconds: float = 300.0,
        faults: Faults | str | None = None,
        today: date | None = None,
        clock: Clock | None = None,
    ) -> None:
        """`today` fixes the business date; `clock` lets it run (the demo's accelerated clock); neither: today."""
        self._clock = clock or SystemClock()
        loaded = load_seed(seed, today=today or business_date(self._clock), now=time.time())
        super().__init__(
            valid_tokens=valid_tokens if valid_tokens is not None else loaded.tokens,
            rate_limit=rate_limit,
            rate_window_seconds=rate_window_seconds,
            faults=faults,
        )
        self._fixed_today = today
        self._ids = loaded.ids
        self._administrations = {administration.id: administration for administration in loaded.administrations}
        self._register_routes()

    @classmethod
    def generate(
        cls,
        invoices: int = 10_000,
        contacts: int = 2_000,
        administrations: int = 1,
        seed: int = 0,
        today: date | None = None,
        *,
        valid_tokens: Iterable[str] | None = None,
        rate_limit: int = 150,
        rate_window_seconds: float = 300.0,
        faults: Faults | str | None = None,
        clock: Clock | None = None,
    ) -> MoneybirdSimulator:
        """A simulator over generated data (see `simulator_data.generate_seed`); deterministic per seed."""
        data = generate_seed(
            invoices=invoices,
            contacts=contacts,
            administrations=administrations,
            seed=seed,
            today=today or business_date(clock or SystemClock()),
        )
        return cls(
            data,
            valid_tokens=valid_tokens,
            rate_limit=rate_limit,
            rate_window_seconds=rate_window_seconds,
            faults=faults,
            today=today,
            clock=clock,
        )

    @property
    def today(self) -> date:
        """The business date for periods, due dates and defaults: fixed if given, else today in Amsterdam."""
        return self._fixed_today or business_date(self._clock)

    @property
    def administration_ids(self) -> list[str]:
        return list(self._administrations)

    # -- direct state access for tests: no HTTP, not logged, not rate limited; returns deep copies --

    def get_invoice(self, administration_id: str, invoice_id: str) -> dict[str, Any]:
        with self.lock:
            administration = self._direct_administration(administration_id)
            return copy.deepcopy(self._render_invoice(administration, self._direct_invoice(administration, invoice_id)))

    def get_contact(self, administration_id: str, contact_id: str) -> dict[str, Any]:
        with self.lock:
            contact = self._direct_administration(administration_id).contacts.get(str(contact_id))
            if contact is None:
                raise KeyError(f"no contact {contact_id} in administration {administration_id}")
            return copy.deepcopy(contact)

    def update_invoice(self, administration_id: str, invoice_id: str, **fields: Any) -> None:
        """Overwrite fields as given (no validation) and bump the version; an explicit `version` wins."""
        with self.lock:
            invoice = self._direct_invoice(self._direct_administration(administration_id), invoice_id)
            self._touch(invoice)
            invoice.update(copy.deepcopy(fields))
            invoice["contact"] = None  # always rendered from the contact store; relink with contact_id

    def update_contact(self, administration_id: str, contact_id: str, **fields: Any) -> None:
        with self.lock:
            contact = self._direct_administration(administration_id).contacts.get(str(contact_id))
            if contact is None:
                raise KeyError(f"no contact {contact_id} in administration {administration_id}")
            self._touch(contact)
            contact.update(copy.deepcopy(fields))

    def add_payment(
        self, administration_id: str, invoice_id: str, price: str | Decimal, payment_date: str | None = None
    ) -> dict[str, Any]:
        """Register a payment exactly as `POST .../payments` does; returns the payment."""
        amount = parse_money(price)
        if amount is None:
            raise ValueError(f"not an amount: {price!r}")
        with self.lock:
            administration = self._direct_administration(administration_id)
            invoice = self._direct_invoice(administration, invoice_id)
            day = payment_date or self.today.isoformat()
            return copy.deepcopy(self._register_payment(administration, invoice, amount, day, {}))

    def invoice_ids(self, administration_id: str, state: str | None = None) -> list[str]:
        with self.lock:
            invoices = self._direct_administration(administration_id).invoices
            return [key for key, invoice in invoices.items() if state is None or invoice.get("state") == state]

    def contact_ids(self, administration_id: str) -> list[str]:
        with self.lock:
            return list(self._direct_administration(administration_id).contacts)

    def _direct_administration(self, administration_id: str) -> Administration:
        administration = self._administrations.get(str(administration_id))
        if administration is None:
            raise KeyError(f"no administration {administration_id}")
        return administration

    @staticmethod
    def _direct_invoice(administration: Administration, invoice_id: str) -> dict[str, Any]:
        invoice = administration.invoices.get(str(invoice_id))
        if invoice is None:
            raise KeyError(f"no sales invoice {invoice_id} in administration {administration.id}")
        return invoice

    # -- CLI summary ------------------------------------------------------------------------------

    def summary_lines(self) -> list[str]:
        """What the CLI prints after the listening line."""
        lines = [
            f'administration {administration.id} "{administration.info.get("name")}": '
            f"{len(administration.invoices)} invoices, {len(administration.contacts)} contacts"
            for administration in self._administrations.values()
        ]
        tokens = "any bearer token" if self.valid_tokens is None else ", ".join(sorted(self.valid_tokens))
        lines.append(f"accepted tokens: {tokens}")
        limiter = self.rate_limiter
        lines.append(f"rate limit: {limiter.limit} requests per {limiter.window_seconds:g} s per token")
        lines.append(f"faults: {self.faults.spec or 'none'}")
        lines.append(f"request log: GET {self.base_url.removesuffix(self.base_path)}/_simulator/requests")
        return lines

    # -- response hooks ---------------------------------------------------------------------------

    def rate_limited_response(self, decision: RateDecision) -> Response:
        """Moneybird's 429: `Retry later`, and both reset headers as UTC epoch seconds (not a delay)."""
        reset = str(math.ceil(decision.reset_at))
        headers = {
            "RateLimit-Limit": str(decision.limit),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": reset,
            "Retry-After": reset,
        }
        return Response.text("Retry later", 429, headers=headers)

    # -- routing ----------------------------------------------------------------------------------

    def _register_routes(self) -> None:
        administration = r"/(?P<administration_id>\d+)"
        invoices = administration + r"/sales_invoices"
        invoice = invoices + r"/(?P<id>\d+)"
        contacts = administration + r"/contacts"
        routes = (
            ("GET", r"/administrations", self._list_administrations),
            ("GET", invoices + r"/synchronization", self._invoice_versions),
            ("POST", invoices + r"/synchronization", self._fetch_invoices),
            ("GET", invoices, self._list_invoices),
            ("POST", invoices + r"/send_reminders", self._send_reminders),
            ("GET", invoice, self._get_invoice),
            ("GET", invoice + r"/download_pdf", self._download_pdf),
            ("DELETE", invoice, self._delete_invoice),
            ("POST", invoice + r"/notes", self._create_note),
            ("DELETE", invoice + r"/notes/(?P<note_id>\d+)", self._delete_note),
            ("POST", invoice + r"/payments", self._create_payment),
            ("DELETE", invoice + r"/payments/(?P<payment_id>\d+)", self._delete_payment),
            ("POST", invoice + r"/pause", self._pause),
            ("POST", invoice + r"/resume", self._resume),
            ("PATCH", invoice + r"/mark_as_dubious", self._mark_dubious),
            ("PATCH", invoice + r"/mark_as_uncollectible", self._mark_uncollectible),
            ("GET", contacts + r"/synchronization", self._contact_versions),
            ("POST", contacts + r"/synchronization", self._fetch_contacts),
            ("GET", contacts + r"/(?P<id>\d+)", self._get_contact),
            ("PATCH", contacts + r"/(?P<id>\d+)", self._patch_contact),
            ("GET", administration + r"/users", self._list_users),
            ("GET", administration + r"/identities/default", self._default_identity),
        )
        for method, pattern, handler in routes:
            self.route(method, pattern + r"(?:\.json)?", handler)

    # -- shared pieces ----------------------------------------------------------------------------

    def _administration(self, request: Request) -> Administration:
        administration = self._administrations.get(request.params["administration_id"])
        if administration is None:
            raise _not_found("administration_id")
        return administration

    def _invoice(self, request: Request) -> tuple[Administration, dict[str, Any]]:
        administration = self._administration(request)
        invoice = administration.invoices.get(request.params["id"])
        if invoice is None:
            raise _not_found("id")
        return administration, invoice

    def _render_invoice(self, administration: Administration, invoice: Mapping[str, Any]) -> dict[str, Any]:
        rendered = dict(invoice)
        contact = administration.contacts.get(str(invoice.get("contact_id")))
        rendered["contact"] = _without_events(contact) if contact is not None else None
        return rendered

    def _invoice_response(self, administration: Administration, invoice: dict[str, Any], status: int) -> Response:
        return Response.json(self._render_invoice(administration, invoice), status)

    @staticmethod
    def _touch(entity: dict[str, Any]) -> None:
        """Bump `version` to max(now, last + 1) epoch seconds and set `updated_at` to match."""
        now = time.time()
        last = entity.get("version")
        version = max(int(now), (last if isinstance(last, int) and not isinstance(last, bool) else 0) + 1)
        entity["version"] = version
        entity["updated_at"] = iso_timestamp(max(now, float(version)))

    def _record(
        self,
        administration: Administration,
        entity: dict[str, Any],
        action: str,
        *,
        data: dict[str, Any] | None = None,
        link: tuple[str, str] | None = None,
    ) -> None:
        """Append an event by the API user to an invoice's or contact's `events`."""
        event = make_event(administration.id, administration.api_user_id, action, time.time(), data=data, link=link)
        _append(entity, "events", event)

    def _change_state(self, administration: Administration, invoice: dict[str, Any], state: str) -> None:
        if invoice.get("state") != state:
            invoice["state"] = state
            self._record(administration, invoice, f"sales_invoice_state_changed_to_{state}")

    # -- administrations and users ----------------------------------------------------------------

    def _list_administrations(self, request: Request) -> Response:
        return Response.json([administration.info for administration in self._administrations.values()])

    def _default_identity(self, request: Request) -> Response:
        return Response.json(self._administration(request).identity)

    def _list_users(self, request: Request) -> Response:
        users = self._administration(request).users
        if not _truthy(request.query.get("include_api_users")):
            users = [user for user in users if user.get("user_type") != "api_user"]
        return Response.json(users)

    # -- sales invoices: reading ------------------------------------------------------------------

    def _invoice_versions(self, request: Request) -> Response:
        administration = self._administration(request)
        wanted = parse_invoice_filter(request.query.get("filter"), self.today, default_period=False)
        selected = wanted.select(administration.invoices.values(), self.today)
        return Response.json([{"id": invoice["id"], "version": invoice.get("version")} for invoice in selected])

    def _fetch_invoices(self, request: Request) -> Response:
        administration = self._administration(request)
        found = (administration.invoices.get(key) for key in _requested_ids(request.json()))
        return Response.json([self._render_invoice(administration, invoice) for invoice in found if invoice])

    def _list_invoices(self, request: Request) -> Response:
        administration = self._administration(request)
        wanted = parse_invoice_filter(request.query.get("filter"), self.today, default_period=True)
        per_page = self._page_parameter(request, "per_page", DEFAULT_PER_PAGE, maximum=100)
        page = self._page_parameter(request, "page", 1, maximum=None)
        matching = wanted.select(administration.invoices.values(), self.today)
        last_page = max(1, math.ceil(len(matching) / per_page))
        if page > last_page:
            raise _error(400, "page does not have a valid value")
        shown = matching[(page - 1) * per_page : page * per_page]
        links = [(page + 1, "next")] if page < last_page else []
        links += [(page - 1, "prev")] if page > 1 else []
        headers = {"Link": ", ".join(f'<{self._page_url(request, n)}>; rel="{rel}"' for n, rel in links)}
        body = [self._render_invoice(administration, invoice) for invoice in shown]
        return Response.json(body, headers=headers if links else None)

    @staticmethod
    def _page_parameter(request: Request, name: str, default: int, maximum: int | None) -> int:
        text = request.query.get(name)
        if text is None:
            return default
        value = int(text) if text.strip().isdigit() else 0
        if value < 1 or (maximum is not None and value > maximum):
            raise _error(400, f"{name} does not have a valid value")
        return value

    def _page_url(self, request: Request, page: int) -> str:
        host = request.headers.get("host") or f"{self._host}:{self.port}"
        return f"http://{host}{request.path}?{urlencode({**request.query, 'page': str(page)})}"

    def _get_invoice(self, request: Request) -> Response:
        administration, invoice = self._invoice(request)
        return self._invoice_response(administration, invoice, 200)

    def _download_pdf(self, request: Request) -> Response:
        """As Moneybird: a redirect to the PDF, valid for 30 seconds."""
        _, invoice = self._invoice(request)
        lines = [f"Factuur {invoice.get('invoice_id')}", f"Totaal EUR {invoice.get('total_price_incl_tax')}"]
        url = self.publish_file(sample_pdf(lines), "application/pdf", name=f"{invoice.get('invoice_id')}.pdf")
        return Response(302, headers={"Location": url})

    def _delete_invoice(self, request: Request) -> Response:
        administration, invoice = self._invoice(request)
        del administration.invoices[str(invoice["id"])]
        return Response.empty(204)

    # -- notes and payments -----------------------------------------------------------------------

    def _create_note(self, request: Request) -> Response:
        administration, invoice = self._invoice(request)
        body = request.json()
        fields = body.get("note") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            raise _error(400, "note is missing")
        text = fields.get("note")
        if not isinstance(text, str) or not text.strip():
            raise _invalid({"note": ("can't be blank", "blank")})
        assignee = fields.get("assignee_id")
        assignee_id = None if assignee is None else str(assignee)
        if assignee_id is not None and assignee_id not in {str(user.get("id")) for user in administration.users}:
            raise _error(404, "Assignee not found")
        stamp = iso_timestamp(time.time())
        note: dict[str, Any] = {
            "id": self._ids.next(), "administration_id": administration.id, "entity_id": str(invoice["id"]),
            "entity_type": "SalesInvoice", "user_id": administration.api_user_id, "assignee_id": assignee_id,
            "todo": _truthy(fields.get("todo")) or assignee_id is not None, "note": text, "completed_at": None,
            "completed_by_id": None, "todo_type": None, "data": {}, "created_at": stamp, "updated_at": stamp,
        }  # fmt: skip
        _append(invoice, "notes", note)
        self._record(administration, invoice, "note_created", link=(note["id"], "Note"))
        self._touch(invoice)
        return Response.json(note, 201)

    def _delete_note(self, request: Request) -> Response:
        administration, invoice = self._invoice(request)
        notes = invoice.get("notes")
        notes = notes if isinstance(notes, list) else []
        note = next((n for n in dicts_in(notes) if str(n.get("id")) == request.params["note_id"]), None)
        if note is None:
            raise _not_found("id")
        notes.remove(note)
        self._record(administration, invoice, "note_destroyed", link=(str(note["id"]), "Note"))
        self._touch(invoice)
        return Response.empty(204)

    def _create_payment(self, request: Request) -> Response:
        administration, invoice = self._invoice(request)
        body = request.json()
        fields = body.get("payment") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            raise _error(400, "payment is missing")
        errors: dict[str, tuple[str, str]] = {}
        price = parse_money(fields.get("price"))
        if fields.get("price") in (None, ""):
            errors["price"] = ("can't be blank", "blank")
        elif price is None or abs(price) > 1_000_000_000:
            errors["price"] = ("is not a number", "not_a_number")
        day_text = fields.get("payment_date")
        day = parse_date(day_text[:10]) if isinstance(day_text, str) else None
        if day_text in (None, ""):
            errors["payment_date"] = ("can't be blank", "blank")
        elif day is None:
            errors["payment_date"] = ("is invalid", "invalid")
        if errors or price is None or day is None:
            raise _invalid(errors)
        payment = self._register_payment(administration, invoice, price, day.isoformat(), fields)
        return Response.json(payment, 201)

    def _register_payment(
        self,
        administration: Administration,
        invoice: dict[str, Any],
        price: Decimal,
        payment_date: str,
        fields: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Record a payment; totals change only when they parse (bad seed data stays as given)."""
        stamp = iso_timestamp(time.time())
        base = parse_money(fields.get("price_base"))
        payment: dict[str, Any] = {
            "id": self._ids.next(), "administration_id": administration.id, "invoice_type": "SalesInvoice",
            "invoice_id": str(invoice["id"]), "financial_account_id": _as_id(fields.get("financial_account_id")),
            "user_id": administration.api_user_id, "payment_transaction_id": None,
            "transaction_identifier": fields.get("transaction_identifier"), "price": format_money(price),
            "price_base": format_money(base if base is not None else price), "payment_date": payment_date,
            "credit_invoice_id": None, "financial_mutation_id": _as_id(fields.get("financial_mutation_id")),
            "ledger_account_id": _as_id(fields.get("ledger_account_id")) or administration.ledger_account_id,
            "linked_payment_id": None, "manual_payment_action": fields.get("manual_payment_action"),
            "created_at": stamp, "updated_at": stamp,
        }  # fmt: skip
        _append(invoice, "payments", payment)
        self._record(administration, invoice, "payment_registered", link=(payment["id"], "Payment"))
        unpaid = self._shift_totals(invoice, price)
        if unpaid is not None and unpaid <= 0 and invoice.get("state") != "paid":
            self._change_state(administration, invoice, "paid")
            invoice["paid_at"] = payment_date
            invoice["next_reminder"] = None
        self._touch(invoice)
        return payment

    @staticmethod
    def _shift_totals(invoice: dict[str, Any], paid: Decimal) -> Decimal | None:
        """Move `paid` from unpaid to paid; returns the new total_unpaid (None if it does not parse)."""
        for key, sign in (("total_paid", 1), ("total_unpaid", -1), ("total_unpaid_base", -1)):
            amount = parse_money(invoice.get(key))
            if amount is not None:
                invoice[key] = format_money(amount + sign * paid)
        return parse_money(invoice.get("total_unpaid"))

    def _delete_payment(self, request: Request) -> Response:
        administration, invoice = self._invoice(request)
        payments = invoice.get("payments")
        payments = payments if isinstance(payments, list) else []
        payment = next((p for p in dicts_in(payments) if str(p.get("id")) == request.params["payment_id"]), None)
        if payment is None:
            raise _not_found("id")
        payments.remove(payment)
        self._record(administration, invoice, "payment_destroyed", link=(str(payment["id"]), "Payment"))
        price = parse_money(payment.get("price"))
        unpaid = self._shift_totals(invoice, -price) if price is not None else None
        if invoice.get("state") == "paid" and unpaid is not None and unpaid > 0:
            self._change_state(administration, invoice, unpaid_state(invoice, self.today))
            invoice["paid_at"] = None
            invoice["next_reminder"] = next_reminder(invoice, self.today)
        self._touch(invoice)
        return Response.empty(204)

    # -- workflow ---------------------------------------------------------------------------------

    def _pause(self, request: Request) -> Response:
        administration, invoice = self._invoice(request)
        if invoice.get("paused") is True:
            raise _error(422, "The sales_invoice is already paused")
        invoice["paused"] = True
        invoice["next_reminder"] = PAUSED_NEXT_REMINDER
        self._record(administration, invoice, "sales_invoice_paused")
        self._touch(invoice)
        return self._invoice_response(administration, invoice, 201)

    def _resume(self, request: Request) -> Response:
        administration, invoice = self._invoice(request)
        if invoice.get("paused") is not True:
            raise _error(422, "The sales_invoice isn't paused")
        invoice["paused"] = False
        invoice["next_reminder"] = next_reminder(invoice, self.today)
        self._record(administration, invoice, "sales_invoice_unpaused")
        self._touch(invoice)
        return self._invoice_response(administration, invoice, 201)

    def _send_reminders(self, request: Request) -> Response:
        administration = self._administration(request)
        body = request.json()
        reminders = body.get("sales_invoice_reminders") if isinstance(body, dict) else None
        if not isinstance(reminders, list):
            raise _error(400, "sales_invoice_reminders is missing")
        planned = [self._check_reminder(administration, index, item) for index, item in enumerate(reminders)]
        for invoices, channel, data in planned:  # everything was validated first: all or nothing
            for invoice in invoices:
                self._remind(administration, invoice, channel, data)
        return Response.json(200)

    def _check_reminder(
        self, administration: Administration, index: int, item: object
    ) -> tuple[list[dict[str, Any]], str, dict[str, Any]]:
        """Validate one reminder; returns its invoices, the event suffix and the event data."""
        prefix = f"sales_invoice_reminders[{index}]"
        if not isinstance(item, dict):
            raise _error(400, f"{prefix} is invalid")
        missing = [f"{prefix}[{key}] is missing" for key in _REMINDER_KEYS if item.get(key) in (None, "")]
        if missing:
            raise _error(400, ", ".join(missing))
        method = item.get("delivery_method")
        if method is not None and method not in ("Email", "Manual"):
            raise _error(400, f"{prefix}[delivery_method] does not have a valid value")
        invoice_ids = item["sales_invoice_ids"]
        if not isinstance(invoice_ids, list) or not invoice_ids:
            raise _invalid({"sales_invoice_ids": ("can't be blank", "blank")})
        contact = administration.contacts.get(str(item["contact_id"]))
        if contact is None:
            raise _error(422, "Contact not found", {"contact_id": "not_found"})
        invoices = [self._remindable(administration, item, str(key)) for key in invoice_ids]
        channel = method or contact.get("delivery_method") or "Email"
        data: dict[str, Any] = {}
        if channel == "Email":
            data["email_address"] = (
                item.get("email_address") or contact.get("send_invoices_to_email") or contact.get("email")
            )
        return invoices, _REMINDER_EVENTS.get(str(channel), "email"), data

    def _remindable(self, administration: Administration, item: Mapping[str, Any], invoice_id: str) -> dict[str, Any]:
        invoice = administration.invoices.get(invoice_id)
        if invoice is None or str(invoice.get("contact_id")) != str(item["contact_id"]):
            raise _error(
                422, f"Sales invoice {invoice_id} not found for this contact", {"sales_invoice_ids": "not_found"}
            )
        if invoice.get("state") not in REMINDABLE_STATES:
            raise _error(422, f"Sales invoice {invoice_id} can't be reminded", {"sales_invoice_ids": "invalid"})
        for key in ("workflow_id", "document_style_id", "identity_id"):
            if str(invoice.get(key)) != str(item[key]):
                raise _error(422, f"{key} does not match sales invoice {invoice_id}", {key: "invalid"})
        return invoice

    def _remind(
        self, administration: Administration, invoice: dict[str, Any], channel: str, data: dict[str, Any]
    ) -> None:
        count = invoice.get("reminder_count")
        invoice["reminder_count"] = (count if isinstance(count, int) and not isinstance(count, bool) else 0) + 1
        self._change_state(administration, invoice, "reminded")
        self._record(administration, invoice, f"sales_invoice_send_reminder_{channel}", data=dict(data))
        invoice["next_reminder"] = next_reminder(invoice, self.today)
        self._touch(invoice)

    def _marked_date(self, request: Request, key: str) -> str:
        body = request.json()
        value = body.get(key) if isinstance(body, dict) else None
        if value is None:
            return self.today.isoformat()
        if parse_date(value) is None:
            raise _error(400, f"{key} does not have a valid value")
        return str(value)

    def _mark_dubious(self, request: Request) -> Response:
        administration, invoice = self._invoice(request)
        invoice["marked_dubious_on"] = self._marked_date(request, "dubious_date")
        self._record(administration, invoice, "sales_invoice_marked_as_dubious")
        self._touch(invoice)
        return self._invoice_response(administration, invoice, 200)

    def _mark_uncollectible(self, request: Request) -> Response:
        administration, invoice = self._invoice(request)
        invoice["marked_uncollectible_on"] = self._marked_date(request, "uncollectible_date")
        self._change_state(administration, invoice, "uncollectible")
        self._record(administration, invoice, "sales_invoice_marked_as_uncollectible")
        self._touch(invoice)
        return self._invoice_response(administration, invoice, 200)

    # -- contacts ---------------------------------------------------------------------------------

    def _contact(self, request: Request) -> tuple[Administration, dict[str, Any]]:
        administration = self._administration(request)
        contact = administration.contacts.get(request.params["id"])
        if contact is None:
            raise _not_found("id")
        return administration, contact

    def _contact_versions(self, request: Request) -> Response:
        """Ids and versions of the contacts; `filter` understands created_after/updated_after only."""
        administration = self._administration(request)
        bounds = _time_bounds(_filter_terms(request.query.get("filter") or ""))
        archived = _truthy(request.query.get("include_archived"))
        versions = [
            {"id": contact["id"], "version": contact.get("version")}
            for contact in administration.contacts.values()
            if (archived or contact.get("archived") is not True)
            and all(_later(contact.get(key), bound) for key, bound in bounds)
        ]
        return Response.json(versions)

    def _fetch_contacts(self, request: Request) -> Response:
        administration = self._administration(request)
        found = (administration.contacts.get(key) for key in _requested_ids(request.json()))
        return Response.json([contact for contact in found if contact])

    def _get_contact(self, request: Request) -> Response:
        return Response.json(self._contact(request)[1])

    def _patch_contact(self, request: Request) -> Response:
        administration, contact = self._contact(request)
        body = request.json()
        changes = body.get("contact") if isinstance(body, dict) else None
        if not isinstance(changes, dict):
            raise _error(400, "contact is missing")
        if "is_trusted" in changes:
            raise _error(
                400, "An contact can only be trusted during the approval of a payment.", {"is_trusted": "permission"}
            )
        updates = {key: value for key, value in changes.items() if key in CONTACT_WRITABLE_FIELDS}
        merged = {**contact, **updates}
        if not any(
            isinstance(merged.get(k), str) and merged[k].strip() for k in ("company_name", "firstname", "lastname")
        ):
            raise _invalid({key: ("is required", "is required") for key in ("firstname", "lastname", "company_name")})
        contact.update(updates)
        self._record(administration, contact, "contact_changed")
        self._touch(contact)
        return Response.json(contact)


# --- CLI ----------------------------------------------------------------------------------------------


def command(
    port: simulation.PortOption = 0,
    seed_file: Annotated[Path | None, simulation.seed_file_option('{"administrations": [...]}')] = None,
    generate: simulation.GenerateOption = None,
    contacts: simulation.ContactsOption = None,
    faults: simulation.FaultsOption = None,
    fault_seed: simulation.FaultSeedOption = 0,
    rate_limit: Annotated[int, typer.Option(help="Requests per window per token.")] = 150,
    rate_window: Annotated[float, typer.Option(help="Rate-limit window in seconds.")] = 300.0,
    timeout_seconds: simulation.FaultTimeoutOption = 5.0,
) -> None:
    """A stateful Moneybird API on 127.0.0.1; prints `listening on http://127.0.0.1:PORT/api/v2` first."""
    options: dict[str, Any] = {
        "faults": Faults(faults, fault_seed, timeout_seconds),
        "rate_limit": rate_limit,
        "rate_window_seconds": rate_window,
    }
    simulation.serve_from_cli(
        port=port,
        seed_file=seed_file,
        generate=generate,
        contacts=contacts,
        from_seed=lambda seed: MoneybirdSimulator(seed, **options),
        generated=lambda invoices, people: MoneybirdSimulator.generate(invoices=invoices, contacts=people, **options),
    )
