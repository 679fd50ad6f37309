"""A stateful Exact Online API simulator: a real HTTP server shaped like `https://start.exactonline.nl`.

Used by the test suite, the benchmarks and the demo. What it reproduces (see the platform notes):

- OAuth2 authorization-code flow with auto-consent, 600 s access tokens, refresh-token rotation
  ("Old refresh token used." for any earlier token of the chain) and the too-early-refresh refusal;
- the OData envelope `{"d": {"results": [...], "__next": ...}}` with `__metadata` on every row, `$select`,
  a real `$filter` parser (OData v2 literals, `and`/`or`/`not`, parentheses), `$top`, keyset paging with
  `$skiptoken` (60 rows per page, 1000 on `sync/` and `bulk/`), mandatory `$filter`/`$select` rules;
- dates as `/Date(ms)/` in Amsterdam wall-clock time, amounts as JSON numbers, padded codes;
- rate limits per app and division (fixed minute and UTC-day windows, `X-RateLimit-*` headers in epoch
  milliseconds), and the one-hour endpoint block after more than 10 errors per hour;
- payment terms that split on partial payment, a global `Timestamp` rowversion and `sync/Deleted`.

Where Exact's behaviour is unverified the simulator picks the stricter reading (e.g. string literals do
not match GUID fields, `$skip` is refused). String comparisons in `$filter` ignore case and trailing blanks,
like SQL Server's default collation.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import re
import secrets
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, urlencode

import typer

from adapters.exact_online.odata import (
    BOOL,
    DATETIME,
    DECIMAL,
    GUID,
    INT,
    STRING,
    SYNTAX_ERROR,
    CompiledFilter,
    Field,
    FilterError,
    compile_filter,
    const,
    fields_of,
    linked,
    own,
)
from adapters.exact_online.simulator_data import (
    ENTITY_CONTACT,
    ENTITY_PAYMENT_TERM,
    LINE_RECEIVABLE,
    STATUS_MATCHED,
    STATUS_OPEN,
    Division,
    add_months,
    exact_date,
    generate_seed,
    is_guid,
    is_open,
    json_number,
    load_seed,
    local_naive,
    new_guid,
    pad_language,
    parse_amount,
    parse_exact_datetime,
    split_amount,
)
from connector.clock import AMSTERDAM, Clock, SystemClock, business_date
from connector.ledger import simulation
from connector.ledger.simulation import Faults, HttpError, Request, Response, SimulatorServer, sample_pdf

__all__ = ["ExactOnlineSimulator"]

STANDARD_PAGE = 60
BULK_PAGE = 1000
CODE_LIFETIME_SECONDS = 180
ERROR_WINDOW_SECONDS = 3600
BLOCK_SECONDS = 3600
SELECT_REQUIRED = "Please add a $select or a $top=1 statement to the query string."
ERROR_STATUSES = frozenset({400, 401, 403, 404})
ACCOUNT_WRITABLE = ("Remarks", "Blocked", "Email", "Language", "MainContact")
TASK_TYPES = {0: "Other", 1: "Call", 2: "Request for information", 3: "Investigate", 4: "Correspondence"}
_DIVISION_IN_PATH = re.compile(r"/api/v1/(\d+)/")
_KEY_SEGMENT = re.compile(r"\([^)]*\)")
_URL_SAFE = ",'():*"  # kept literal in __next links, like Exact writes them


# --- errors ------------------------------------------------------------------------------------------


def exact_error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """Exact's OData error body: `{"error": {"code": "", "message": {"lang": "", "value": ...}}}`."""
    return Response.json({"error": {"code": "", "message": {"lang": "", "value": message}}}, status, headers)


def _fail(status: int, message: str, headers: Mapping[str, str] | None = None) -> HttpError:
    return HttpError(exact_error(status, message, headers))


def _oauth_error(status: int, error: str, description: str | None = None, **headers: str) -> Response:
    body = {"error": error} if description is None else {"error": error, "error_description": description}
    return Response.json(body, status, headers)


# --- endpoints as views over the state ---------------------------------------------------------------

Scan = Callable[[Division, Any], Iterator[tuple[Any, dict[str, Any]]]]


@dataclass(frozen=True)
class View:
    """One OData collection: its fields, its order (the `$skiptoken` key) and its rules."""

    resource: str  # below /api/v1/{division}/
    type_name: str
    fields: Mapping[str, Field]
    scan: Scan
    key: str = "guid"  # guid: guid'…'; int64: 123L; int: 123
    key_field: str = "ID"
    page_size: int = STANDARD_PAGE
    select_required: bool = False
    filterable: frozenset[str] | None = None  # None: every field
    filter_refusal: str = "Filtering on field '{field}' is not supported on this endpoint."
    mandatory: tuple[str, ...] = ()  # a $filter must use one of these
    lookup: Callable[[Division, str], dict[str, Any] | None] | None = None


def _key_text(view: View, key: Any) -> str:
    if view.key == "guid":
        return f"guid'{key}'"
    if view.key == "int64":
        return f"{key}L"
    return str(key)


def _parse_skiptoken(view: View, text: str) -> Any:
    if view.key == "guid":
        match = re.fullmatch(r"guid'([^']*)'", text.strip())
        if match is None or not is_guid(match.group(1)):
            raise _fail(400, SYNTAX_ERROR)
        return match.group(1).lower()
    match = re.fullmatch(r"(-?\d+)[Ll]?", text.strip())
    if match is None:
        raise _fail(400, SYNTAX_ERROR)
    return int(match.group(1))


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return json_number(value)
    if isinstance(value, date):
        return exact_date(value)
    return value


def _naive_exact_date(moment: datetime) -> str:
    return f"/Date({(moment.replace(tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)})/"


# --- rate limits and the error budget ----------------------------------------------------------------


@dataclass(frozen=True)
class RateState:
    allowed: bool
    exceeded: str | None  # "daily" | "minutely"
    daily_limit: int
    daily_remaining: int
    daily_reset_ms: int
    minutely_limit: int
    minutely_remaining: int
    minutely_reset_ms: int

    def headers(self, only: str | None = None) -> dict[str, str]:
        daily = {
            "X-RateLimit-Limit": str(self.daily_limit),
            "X-RateLimit-Remaining": str(self.daily_remaining),
            "X-RateLimit-Reset": str(self.daily_reset_ms),
        }
        minutely = {
            "X-RateLimit-Minutely-Limit": str(self.minutely_limit),
            "X-RateLimit-Minutely-Remaining": str(self.minutely_remaining),
            "X-RateLimit-Minutely-Reset": str(self.minutely_reset_ms),
        }
        if only == "daily":
            return daily
        if only == "minutely":
            return minutely
        return {**daily, **minutely}


class ExactRateLimits:
    """Fixed windows per key: the clock's whole minute and the UTC day. Refused calls consume nothing."""

    def __init__(self, minutely: int, daily: int) -> None:
        if minutely < 1 or daily < 1:
            raise ValueError("rate limits must be positive")
        self.minutely = minutely
        self.daily = daily
        self._windows: dict[str, list[int]] = {}  # key -> [minute start, count, day start, count]

    def hit(self, key: str, now: float) -> RateState:
        minute, day = int(now // 60) * 60, int(now // 86_400) * 86_400
        window = self._windows.setdefault(key, [minute, 0, day, 0])
        if window[0] != minute:
            window[0], window[1] = minute, 0
        if window[2] != day:
            window[2], window[3] = day, 0
        exceeded = "daily" if window[3] >= self.daily else "minutely" if window[1] >= self.minutely else None
        if exceeded is None:
            window[1] += 1
            window[3] += 1
        return RateState(
            allowed=exceeded is None,
            exceeded=exceeded,
            daily_limit=self.daily,
            daily_remaining=max(0, self.daily - window[3]),
            daily_reset_ms=(day + 86_400) * 1000,
            minutely_limit=self.minutely,
            minutely_remaining=max(0, self.minutely - window[1]),
            minutely_reset_ms=(minute + 60) * 1000,
        )


class ErrorBudget:
    """More than `threshold` 4xx answers on one endpoint within an hour block it for an hour."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self._errors: dict[str, deque[float]] = {}
        self._blocked_until: dict[str, float] = {}

    def blocked(self, endpoint: str, now: float) -> bool:
        return self._blocked_until.get(endpoint, 0.0) > now

    def record(self, endpoint: str, now: float) -> None:
        times = self._errors.setdefault(endpoint, deque())
        times.append(now)
        while times and times[0] <= now - ERROR_WINDOW_SECONDS:
            times.popleft()
        if len(times) > self.threshold:
            self._blocked_until[endpoint] = now + BLOCK_SECONDS
            times.clear()


def _endpoint_key(path: str) -> str:
    """The endpoint an error counts against: the path without entity keys (`Accounts(guid'…')`)."""
    return _KEY_SEGMENT.sub("", path).rstrip("/")


# --- the simulator -----------------------------------------------------------------------------------


@dataclass
class _Code:
    issued: float
    redirect_uri: str


@dataclass
class _TokenState:
    refresh_token: str
    old_refresh_tokens: set[str] = field(default_factory=set)
    access_tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (epoch seconds)
    access_issued_at: float | None = None
    codes: dict[str, _Code] = field(default_factory=dict)
    refreshes: int = 0


def _new_refresh_token() -> str:
    return "__1P!I" + secrets.token_urlsafe(48)


def _new_access_token() -> str:
    return "AAEA" + secrets.token_urlsafe(96)


class ExactOnlineSimulator(SimulatorServer):
    """Exact Online's REST API (the parts the connector uses) over one app and one or more divisions."""

    base_path = ""

    def __init__(
        self,
        seed: Mapping[str, Any] | None = None,
        *,
        rate_limit_minutely: int = 60,
        rate_limit_daily: int = 5000,
        faults: Faults | str | None = None,
        today: date | None = None,
        clock: Clock | None = None,
        access_token_seconds: int = 600,
        min_refresh_seconds: int = 570,
        error_block_threshold: int = 10,
    ) -> None:
        """`today` fixes the business date (payment dates, defaults); `clock` drives every moment."""
        super().__init__(faults=faults)
        self._clock = clock or SystemClock()
        self._offset = timedelta()
        self._fixed_today = today
        loaded = load_seed(seed, now=self.now(), today=self.today)
        self._app = loaded.app
        self._user = loaded.user
        self._stamps = loaded.stamps
        self._divisions = {division.code: division for division in loaded.divisions}
        self._first = loaded.divisions[0]
        self.access_token_seconds = access_token_seconds
        self.min_refresh_seconds = min_refresh_seconds
        self._tokens = _TokenState(refresh_token=loaded.refresh_token or _new_refresh_token())
        self._limits = ExactRateLimits(rate_limit_minutely, rate_limit_daily)
        self._errors = ErrorBudget(error_block_threshold)
        self._views = self._build_views()
        self._register_routes()

    @classmethod
    def generate(
        cls,
        terms: int = 500,
        accounts: int = 150,
        seed: int = 0,
        today: date | None = None,
        *,
        rate_limit_minutely: int = 60,
        rate_limit_daily: int = 5000,
        faults: Faults | str | None = None,
        clock: Clock | None = None,
        access_token_seconds: int = 600,
        min_refresh_seconds: int = 570,
        error_block_threshold: int = 10,
    ) -> ExactOnlineSimulator:
        """A simulator over one generated division (see `simulator_data.generate_seed`); deterministic per
        seed and business date."""
        day = today or business_date(clock or SystemClock())
        data = generate_seed(terms=terms, accounts=accounts, seed=seed, today=day)
        return cls(
            data,
            rate_limit_minutely=rate_limit_minutely,
            rate_limit_daily=rate_limit_daily,
            faults=faults,
            today=today,
            clock=clock,
            access_token_seconds=access_token_seconds,
            min_refresh_seconds=min_refresh_seconds,
            error_block_threshold=error_block_threshold,
        )

    # -- time -------------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The simulated moment: the clock plus whatever `advance` added (aware UTC)."""
        return self._clock.now().astimezone(UTC) + self._offset

    def _epoch(self) -> float:
        return self.now().timestamp()

    def advance(self, seconds: float) -> datetime:
        """Move the simulator's time forward (token expiry, rate windows, Modified stamps)."""
        with self.lock:
            self._offset += timedelta(seconds=seconds)
            return self.now()

    @property
    def today(self) -> date:
        return self._fixed_today or self.now().astimezone(AMSTERDAM).date()

    # -- the app and its tokens -------------------------------------------------------------------

    @property
    def client_id(self) -> str:
        return self._app.client_id

    @property
    def client_secret(self) -> str:
        return self._app.client_secret

    @property
    def redirect_uri(self) -> str:
        return self._app.redirect_uri

    @property
    def division(self) -> int:
        """The first division (also `Me.CurrentDivision`)."""
        return self._first.code

    @property
    def divisions(self) -> list[int]:
        return list(self._divisions)

    @property
    def refresh_token(self) -> str:
        """The refresh token that is valid right now."""
        with self.lock:
            return self._tokens.refresh_token

    @property
    def last_timestamp(self) -> int:
        """The newest `Timestamp` handed out (to any entity of any division)."""
        with self.lock:
            return self._stamps.last

    @property
    def token_refreshes(self) -> int:
        """Successful refresh-token rotations so far."""
        with self.lock:
            return self._tokens.refreshes

    def issue_tokens(self, *, refreshable_now: bool = False) -> dict[str, str]:
        """A fresh token pair as if the user consented again; every earlier refresh token becomes "old".

        `refreshable_now=True` back-dates the pair's access token so that it is already expired and the
        refresh token can be used at once (what the CLI prints)."""
        with self.lock:
            return self._consent(backdate=refreshable_now)

    def _consent(self, *, backdate: bool = False) -> dict[str, str]:
        state = self._tokens
        state.old_refresh_tokens.add(state.refresh_token)
        state.refresh_token = _new_refresh_token()
        return self._token_body(self._issue_access(backdate=backdate))

    def _issue_access(self, *, backdate: bool = False) -> str:
        issued = self._epoch() - (self.access_token_seconds if backdate else 0)
        token = _new_access_token()
        self._tokens.access_tokens[token] = issued + self.access_token_seconds
        self._tokens.access_issued_at = issued
        return token

    def _token_body(self, access_token: str) -> dict[str, str]:
        return {
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": str(self.access_token_seconds),
            "refresh_token": self._tokens.refresh_token,
        }

    # -- direct state access for tests: no HTTP, not logged, not rate limited ---------------------

    def _direct_division(self, division: int | None) -> Division:
        found = self._divisions.get(self.division if division is None else int(division))
        if found is None:
            raise KeyError(f"no division {division}")
        return found

    def account_ids(self, *, division: int | None = None) -> list[str]:
        """Account IDs in Code order (generated suppliers come last)."""
        with self.lock:
            accounts = self._direct_division(division).accounts.values()
            return [account["ID"] for account in sorted(accounts, key=lambda a: str(a.get("Code")).strip().zfill(18))]

    def contact_ids(self, account_id: str | None = None, *, division: int | None = None) -> list[str]:
        with self.lock:
            contacts = self._direct_division(division).contacts.values()
            return [c["ID"] for c in contacts if account_id is None or c.get("Account") == account_id.lower()]

    def account(self, account_id: str, *, division: int | None = None) -> dict[str, Any]:
        with self.lock:
            found = self._direct_division(division).accounts.get(account_id.lower())
            if found is None:
                raise KeyError(f"no account {account_id}")
            return copy.deepcopy(found)

    def contact(self, contact_id: str, *, division: int | None = None) -> dict[str, Any]:
        with self.lock:
            found = self._direct_division(division).contacts.get(contact_id.lower())
            if found is None:
                raise KeyError(f"no contact {contact_id}")
            return copy.deepcopy(found)

    def open_invoice_numbers(self, *, division: int | None = None) -> list[int]:
        with self.lock:
            index = self._direct_division(division).open_by_hid
            return sorted({term["InvoiceNumber"] for _, term in index.after(None)})

    def open_terms(self, invoice_number: int | None = None, *, division: int | None = None) -> list[dict[str, Any]]:
        """Open receivable terms (HID order) as stored: Decimal amounts, date due dates, aware moments."""
        with self.lock:
            index = self._direct_division(division).open_by_hid
            return [
                copy.deepcopy(term)
                for _, term in index.after(None)
                if invoice_number is None or term["InvoiceNumber"] == invoice_number
            ]

    def terms(self, invoice_number: int, *, division: int | None = None) -> list[dict[str, Any]]:
        """Every receivable term of an invoice, paid ones included, in HID order."""
        with self.lock:
            rows = self._invoice_terms(self._direct_division(division), invoice_number)
            return [copy.deepcopy(term) for term in sorted(rows, key=lambda t: t["HID"])]

    def notes(self, account_id: str | None = None, *, division: int | None = None) -> list[dict[str, Any]]:
        """CommunicationNotes in creation order."""
        with self.lock:
            rows = self._direct_division(division).notes.values()
            return [copy.deepcopy(n) for n in rows if account_id is None or n.get("Account") == account_id.lower()]

    def tasks(self, account_id: str | None = None, *, division: int | None = None) -> list[dict[str, Any]]:
        with self.lock:
            rows = self._direct_division(division).tasks.values()
            return [copy.deepcopy(t) for t in rows if account_id is None or t.get("Account") == account_id.lower()]

    def deleted(self, *, division: int | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(row) for _, row in self._direct_division(division).deleted_by_stamp.after(None)]

    def add_payment(
        self, invoice_number: int, amount: Decimal | str | int | float, *, division: int | None = None
    ) -> None:
        """Pay an invoice's open terms, oldest due date first. A term paid in part splits: the paid part
        stays as the old term (Status 50), the rest becomes a new open term (new ID and HID). An amount
        above what is open is ignored beyond the open total."""
        paid = parse_amount(amount)
        if paid is None or paid <= 0:
            raise ValueError(f"not a positive amount: {amount!r}")
        with self.lock:
            target = self._direct_division(division)
            open_terms = [t for t in self._invoice_terms(target, invoice_number) if is_open(t)]
            if not open_terms:
                raise KeyError(f"invoice {invoice_number} has no open terms in division {target.code}")
            for term in sorted(open_terms, key=lambda t: (t["DueDate"], t["HID"])):
                if paid <= 0:
                    break
                outstanding: Decimal = term["AmountDC"]
                if paid >= outstanding:
                    self._touch_term(target, term, Status=STATUS_MATCHED, IsFullyPaid=True, LastPaymentDate=self.today)
                    paid -= outstanding
                    continue
                rest = outstanding - paid
                self._touch_term(
                    target, term, AmountDC=paid, AmountFC=paid, Status=STATUS_MATCHED, IsFullyPaid=True,
                    LastPaymentDate=self.today,
                )  # fmt: skip
                now = self.now()
                remainder = {
                    **copy.deepcopy(term), "ID": new_guid(), "HID": target.next_hid(), "AmountDC": rest,
                    "AmountFC": rest, "Status": STATUS_OPEN, "IsFullyPaid": False, "Created": now, "Modified": now,
                    "Timestamp": self._stamps.next(),
                }  # fmt: skip
                target.index_term(remainder)
                paid = Decimal(0)

    def add_invoice(
        self,
        account_id: str,
        amount: Decimal | str | int,
        due_date: date,
        invoice_date: date | None = None,
        terms: int = 1,
        *,
        division: int | None = None,
        description: str | None = None,
        your_ref: str | None = None,
    ) -> int:
        """A new sales invoice in `terms` terms (due a month apart); returns its invoice number."""
        total = parse_amount(amount)
        if total is None or terms < 1:
            raise ValueError("need an amount and at least one term")
        with self.lock:
            target = self._direct_division(division)
            account = target.accounts.get(account_id.lower())
            if account is None:
                raise KeyError(f"no account {account_id} in division {target.code}")
            numbers = target.receivable_numbers()
            number = max(numbers) + 1 if numbers else self.today.year % 100 * 1_000_000 + 700_001
            day = invoice_date or self.today
            entry, now = new_guid(), self.now()
            for step, share in enumerate(split_amount(total, terms)):
                term: dict[str, Any] = {
                    "ID": new_guid(), "HID": target.next_hid(), "Account": account["ID"], "AccountContact": None,
                    "AmountDC": share, "AmountFC": share, "Currency": "EUR",
                    "Description": description or f"Factuur {number}", "DueDate": add_months(due_date, step),
                    "EntryDate": day, "EntryNumber": number, "InvoiceDate": day, "InvoiceNumber": number,
                    "IsFullyPaid": False, "LastPaymentDate": None, "LineType": LINE_RECEIVABLE,
                    "Status": STATUS_OPEN, "YourRef": your_ref, "TransactionEntryID": entry, "Created": now,
                    "Modified": now, "Timestamp": self._stamps.next(),
                }  # fmt: skip
                target.index_term(term)
            return number

    def delete_invoice(self, invoice_number: int, *, division: int | None = None) -> None:
        """Remove every receivable term of the invoice; each shows up in sync/Deleted (EntityType 10)."""
        with self.lock:
            target = self._direct_division(division)
            rows = self._invoice_terms(target, invoice_number)
            if not rows:
                raise KeyError(f"no invoice {invoice_number} in division {target.code}")
            for term in sorted(rows, key=lambda t: t["HID"]):
                target.unindex_term(term)
                self._record_deleted(target, term["ID"], ENTITY_PAYMENT_TERM)

    def delete_contact(self, contact_id: str, *, division: int | None = None) -> None:
        """Remove a contact (sync/Deleted EntityType 5); an account's MainContact pointing at it clears."""
        with self.lock:
            target = self._direct_division(division)
            contact = target.contacts.get(contact_id.lower())
            if contact is None:
                raise KeyError(f"no contact {contact_id}")
            target.unindex_contact(contact)
            self._record_deleted(target, contact["ID"], ENTITY_CONTACT)
            for account in list(target.accounts.values()):
                if account.get("MainContact") == contact["ID"]:
                    self._touch_account(target, account, MainContact=None)

    def update_division(self, division: int | None = None, **fields: Any) -> None:
        """Overwrite fields of a division's `system/Divisions` row (its address, KvK and VAT numbers, ...)."""
        with self.lock:
            self._direct_division(division).info.update(copy.deepcopy(fields))

    def update_account(self, account_id: str, *, division: int | None = None, **fields: Any) -> None:
        """Overwrite fields as given (no validation); bumps Timestamp and Modified."""
        with self.lock:
            target = self._direct_division(division)
            account = target.accounts.get(account_id.lower())
            if account is None:
                raise KeyError(f"no account {account_id}")
            self._touch_account(target, account, **copy.deepcopy(fields))
            if "MainContact" in fields:
                self._sync_main_contact(target, account)

    def update_contact(self, contact_id: str, *, division: int | None = None, **fields: Any) -> None:
        """Overwrite fields as given; FullName follows FirstName/LastName unless given too."""
        with self.lock:
            target = self._direct_division(division)
            contact = target.contacts.get(contact_id.lower())
            if contact is None:
                raise KeyError(f"no contact {contact_id}")
            changes = copy.deepcopy(fields)
            if ("FirstName" in changes or "LastName" in changes) and "FullName" not in changes:
                merged = {**contact, **changes}
                parts = [merged.get(key) for key in ("FirstName", "MiddleName", "LastName")]
                changes["FullName"] = " ".join(str(part) for part in parts if part) or None
            self._touch_contact(target, contact, **changes)

    def summary_lines(self) -> list[str]:
        """What the CLI prints after the credentials."""
        lines = []
        for division in self._divisions.values():
            open_terms = len(division.open_by_hid)
            invoices = len({term["InvoiceNumber"] for _, term in division.open_by_hid.after(None)})
            payables = sum(1 for term in division.terms.values() if term.get("LineType") != LINE_RECEIVABLE)
            lines.append(
                f'division {division.code} "{division.info.get("Description")}": {len(division.accounts)} accounts, '
                f"{len(division.contacts)} contacts, {open_terms} open receivable terms ({invoices} invoices), "
                f"{payables} payable terms"
            )
        origin = self.base_url
        lines += [
            f"authorize: {origin}/api/oauth2/auth  token: {origin}/api/oauth2/token  redirect_uri: {self.redirect_uri}",
            f"tokens: access {self.access_token_seconds} s, refresh allowed after {self.min_refresh_seconds} s",
            f"rate limits: {self._limits.minutely} per minute, {self._limits.daily} per day per division",
            f"faults: {self.faults.spec or 'none'}",
            f"request log: GET {origin}/_simulator/requests",
        ]
        return lines

    # -- state changes --------------------------------------------------------------------------------

    @staticmethod
    def _invoice_terms(division: Division, invoice_number: int) -> list[dict[str, Any]]:
        return [
            term
            for term in division.terms.values()
            if term.get("LineType") == LINE_RECEIVABLE and term.get("InvoiceNumber") == invoice_number
        ]

    def _touch_term(self, division: Division, term: dict[str, Any], **changes: Any) -> None:
        division.unindex_term(term)
        term.update(changes, Timestamp=self._stamps.next(), Modified=self.now())
        division.index_term(term)

    def _touch_account(self, division: Division, account: dict[str, Any], **changes: Any) -> None:
        division.unindex_account(account)
        account.update(changes, Timestamp=self._stamps.next(), Modified=self.now())
        account["ID"] = str(account["ID"]).lower()
        division.index_account(account)

    def _touch_contact(self, division: Division, contact: dict[str, Any], **changes: Any) -> None:
        division.unindex_contact(contact)
        contact.update(changes, Timestamp=self._stamps.next(), Modified=self.now())
        contact["ID"] = str(contact["ID"]).lower()
        division.index_contact(contact)

    def _sync_main_contact(self, division: Division, account: Mapping[str, Any]) -> None:
        for contact in list(division.contacts.values()):
            if contact.get("Account") == account["ID"]:
                wanted = contact["ID"] == account.get("MainContact")
                if contact.get("IsMainContact") is not wanted:
                    self._touch_contact(division, contact, IsMainContact=wanted)

    def _record_deleted(self, division: Division, key: str, entity_type: int) -> None:
        division.index_deleted(
            {
                "ID": new_guid(),
                "EntityKey": key,
                "EntityType": entity_type,
                "DeletedBy": self._user.id,
                "DeletedDate": self.now(),
                "Division": division.code,
                "FullName": self._user.full_name,
                "Timestamp": self._stamps.next(),
            }
        )

    # -- response hooks -----------------------------------------------------------------------------

    def error_response(self, status: int, message: str) -> Response:
        return exact_error(status, message)

    def unauthorized_response(self, request: Request) -> Response:
        return exact_error(401, "Access token is invalid")

    def not_found_response(self, request: Request) -> Response:
        allowed = self.router.methods(request.path)
        if allowed:
            return exact_error(
                405,
                f"The requested resource does not support http method '{request.method}'.",
                {"Allow": ", ".join(sorted(allowed))},
            )
        return exact_error(404, "Not found")

    def server_error_response(self, status: int) -> Response:
        if status == 500:
            return exact_error(
                500, "A problem has occurred. The cause of this issue will be investigated as soon as possible."
            )
        return super().server_error_response(status)

    # -- the pipeline -------------------------------------------------------------------------------

    def handle_api(self, request: Request) -> Response | None:
        """Faults, the endpoint block, the rate limits, the token; rate headers on every answer."""
        fault = self.faults.draw()
        if fault == "drop":
            return None
        endpoint = _endpoint_key(request.path)
        match = _DIVISION_IN_PATH.match(request.path)
        rate_key = f"{self.client_id}/{match.group(1) if match else self.division}"
        with self.lock:
            now = self._epoch()
            if self._errors.blocked(endpoint, now):
                return exact_error(429, "API rate limit exceeded")
            rate = self._limits.hit(rate_key, now)
        if not rate.allowed:
            return exact_error(429, "Too many requests", rate.headers(only=rate.exceeded))
        if fault == "429":
            headers = {
                "X-RateLimit-Minutely-Limit": str(self._limits.minutely),
                "X-RateLimit-Minutely-Remaining": "0",
                "X-RateLimit-Minutely-Reset": str(int((now + self.burst_seconds) * 1000)),
            }
            return exact_error(429, "Too many requests", headers)
        if fault == "timeout":
            self.stall()
        if fault in ("500", "502", "503"):
            response = self.server_error_response(int(fault or 0))
        elif fault == "malformed":
            response = self.malformed_response()
        else:
            response = self._authenticate(request) or self.route_api(request)
        if response.status in ERROR_STATUSES:
            with self.lock:
                self._errors.record(endpoint, self._epoch())
        response.headers.update(rate.headers())
        return response

    def _authenticate(self, request: Request) -> Response | None:
        with self.lock:
            expiry = self._tokens.access_tokens.get(request.token or "")
            now = self._epoch()
        if expiry is None:
            return exact_error(401, "Access token is invalid")
        if now >= expiry:
            challenge = 'Bearer error="invalid_token", error_description="access token expired"'
            return exact_error(401, "Access token expired", {"WWW-Authenticate": challenge})
        return None

    # -- routing --------------------------------------------------------------------------------------

    def _register_routes(self) -> None:
        self.public_route("GET", r"/api/oauth2/auth", self._authorize)
        self.public_route("POST", r"/api/oauth2/token", self._token)
        self.control_route("POST", r"/_simulator/clock", self._clock_endpoint)
        self.control_route("POST", r"/_simulator/payments", self._payment_endpoint)
        division = r"/api/v1/(?P<division>\d+)/"
        key = r"\((?P<key>[^)]*)\)"
        views = self._views
        self.route("GET", r"/api/v1/current/Me", self._me)
        for name in ("Divisions", "AllDivisions"):
            self.route("GET", division + f"system/{name}", self._list(views[f"system/{name}"], validate=False))
        for resource in (
            "read/financial/ReceivablesList", "cashflow/Receivables", "sync/Cashflow/PaymentTerms", "sync/Deleted",
            "sync/CRM/Accounts", "sync/CRM/Contacts", "bulk/CRM/Accounts", "bulk/CRM/Contacts",
            "bulk/Cashflow/Receivables", "crm/Accounts", "crm/Contacts", "activities/CommunicationNotes",
            "activities/Tasks", "documents/Documents", "documents/DocumentAttachments",
        ):  # fmt: skip
            self.route("GET", division + resource, self._list(views[resource]))
        self.route("GET", r"/docs/SysAttachment\.aspx", self._attachment_file)
        for resource in ("crm/Accounts", "crm/Contacts", "activities/CommunicationNotes", "activities/Tasks"):
            self.route("GET", division + resource + key, self._single(views[resource]))
        self.route("PUT", division + "crm/Accounts" + key, self._put_account)
        self.route("POST", division + "activities/CommunicationNotes", self._post_note)
        self.route("POST", division + "activities/Tasks", self._post_task)
        self.route("GET", division + "read/sync/Sync/SyncTimestamp", self._sync_timestamp)

    def _division(self, request: Request) -> Division:
        found = self._divisions.get(int(request.params["division"]))
        if found is None:
            raise _fail(403, "Forbidden - WrongDivision", {"Reason": "NoDivisionAccess"})
        return found

    def _origin(self, request: Request) -> str:
        return f"http://{request.headers.get('host') or f'{self._host}:{self.port}'}"

    # -- OData collections --------------------------------------------------------------------------

    def _list(self, view: View, *, validate: bool = True) -> Callable[[Request], Response]:
        def handler(request: Request) -> Response:
            division = self._division(request) if validate else self._first
            segment = request.params["division"]
            return self._collection(request, view, division, segment)

        return handler

    def _single(self, view: View) -> Callable[[Request], Response]:
        def handler(request: Request) -> Response:
            division = self._division(request)
            key = _parse_skiptoken(view, request.params["key"])
            entity = view.lookup(division, key) if view.lookup is not None else None
            if entity is None:
                raise _fail(404, "Not found")
            names = self._selected(view, request.query.get("$select"))
            row = self._render(view, division, key, entity, names, self._origin(request), request.params["division"])
            return Response.json({"d": row})

        return handler

    def _selected(self, view: View, text: str | None) -> list[str]:
        if text is None or text.strip() in ("", "*"):
            return list(view.fields)
        names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
        for name in names:
            if name not in view.fields:
                raise _fail(400, f"Property '{name}' does not exist on type '{view.type_name}'.")
        return names

    def _collection(self, request: Request, view: View, division: Division, segment: str) -> Response:
        query = request.query
        if "$skip" in query:
            raise _fail(400, "$skip is not supported on this endpoint: follow the __next link ($skiptoken).")
        top = self._top(query.get("$top"))
        select_text = query.get("$select")
        if view.select_required and (select_text is None or select_text.strip() in ("", "*")) and top != 1:
            raise _fail(400, SELECT_REQUIRED)
        names = self._selected(view, select_text)
        filter_text = (query.get("$filter") or "").strip()
        compiled = self._filter(view, filter_text)
        after = _parse_skiptoken(view, query["$skiptoken"]) if "$skiptoken" in query else None
        if compiled is not None and compiled.timestamp_floor is not None and view.key_field == "Timestamp":
            after = compiled.timestamp_floor if after is None else max(after, compiled.timestamp_floor)
        limit = view.page_size if top is None else min(top, view.page_size)
        rows: list[tuple[Any, dict[str, Any]]] = []
        more = False
        for key, entity in view.scan(division, after):
            if compiled is not None and not compiled.test(division, entity):
                continue
            if len(rows) >= limit:
                more = True
                break
            rows.append((key, entity))
        if top is not None and top <= view.page_size:
            more = False
        origin = self._origin(request)
        body: dict[str, Any] = {
            "results": [self._render(view, division, key, entity, names, origin, segment) for key, entity in rows]
        }
        if more and rows:
            params = [("$select", select_text), ("$filter", filter_text or None)]
            params.append(("$top", str(top - len(rows)) if top is not None else None))
            params.append(("$skiptoken", _key_text(view, rows[-1][0])))
            text = "&".join(f"{name}={quote(value, safe=_URL_SAFE)}" for name, value in params if value is not None)
            body["__next"] = f"{origin}{request.path}?{text}"
        return Response.json({"d": body})

    @staticmethod
    def _top(text: str | None) -> int | None:
        if text is None:
            return None
        if not text.strip().isdigit():
            raise _fail(400, SYNTAX_ERROR)
        return int(text.strip())

    @staticmethod
    def _filter(view: View, text: str) -> CompiledFilter | None:
        if not text:
            if view.mandatory:
                raise _fail(
                    400,
                    "A GET request for this endpoint must have a $filter parameter with one of the following "
                    f"fields in the url:{','.join(view.mandatory)}.",
                )
            return None
        try:
            compiled = compile_filter(text, view.fields, view.type_name)
        except FilterError as exc:
            raise _fail(400, str(exc)) from None
        if view.filterable is not None:
            for name in sorted(compiled.fields - view.filterable):
                raise _fail(400, view.filter_refusal.format(field=name))
        if view.mandatory and not compiled.fields & set(view.mandatory):
            raise _fail(
                400,
                "A GET request for this endpoint must have a $filter parameter with one of the following "
                f"fields in the url:{','.join(view.mandatory)}.",
            )
        return compiled

    def _render(
        self, view: View, division: Division, key: Any, entity: Mapping[str, Any], names: list[str], origin: str,
        segment: str,
    ) -> dict[str, Any]:  # fmt: skip
        row: dict[str, Any] = {
            "__metadata": {
                "uri": f"{origin}/api/v1/{segment}/{view.resource}({_key_text(view, key)})",
                "type": view.type_name,
            }
        }
        fields = view.fields
        for name in names:
            row[name] = _encode(fields[name].get(division, entity))
        return row

    # -- the views ----------------------------------------------------------------------------------

    def _build_views(self) -> dict[str, View]:
        user = self._user
        audit = {
            "Creator": const(GUID, user.id), "CreatorFullName": const(STRING, user.full_name),
            "Modifier": const(GUID, user.id), "ModifierFullName": const(STRING, user.full_name),
        }  # fmt: skip
        division_code = Field(INT, lambda division, row: division.code)
        term_fields: dict[str, Field] = {
            "ID": own(GUID, "ID"), "Account": own(GUID, "Account"),
            "AccountCode": linked(STRING, "Account", "accounts", "Code"),
            "AccountName": linked(STRING, "Account", "accounts", "Name"),
            "AccountContact": own(GUID, "AccountContact"),
            "AccountContactName": linked(STRING, "AccountContact", "contacts", "FullName"),
            "AmountDC": own(DECIMAL, "AmountDC"), "AmountFC": own(DECIMAL, "AmountFC"),
            "Currency": own(STRING, "Currency"), "Description": own(STRING, "Description"),
            "DueDate": own(DATETIME, "DueDate"), "EntryDate": own(DATETIME, "EntryDate"),
            "EntryNumber": own(INT, "EntryNumber"), "InvoiceDate": own(DATETIME, "InvoiceDate"),
            "InvoiceNumber": own(INT, "InvoiceNumber"), "IsFullyPaid": own(BOOL, "IsFullyPaid"),
            "LastPaymentDate": own(DATETIME, "LastPaymentDate"), "Status": own(INT, "Status"),
            "YourRef": own(STRING, "YourRef"), "TransactionEntryID": own(GUID, "TransactionEntryID"),
            "Division": division_code, "Created": own(DATETIME, "Created"), "Modified": own(DATETIME, "Modified"),
        }  # fmt: skip
        sync_terms = {**term_fields, "Timestamp": own(INT, "Timestamp"), "LineType": own(INT, "LineType")}
        receivables_list = {
            "HID": own(INT, "HID"), "AccountId": own(GUID, "Account"),
            "AccountCode": linked(STRING, "Account", "accounts", "Code"),
            "AccountName": linked(STRING, "Account", "accounts", "Name"),
            "Amount": own(DECIMAL, "AmountDC"), "AmountInTransit": const(DECIMAL, Decimal(0)),
            "CurrencyCode": own(STRING, "Currency"), "Description": own(STRING, "Description"),
            "DueDate": own(DATETIME, "DueDate"), "EntryNumber": own(INT, "EntryNumber"), "Id": own(GUID, "ID"),
            "InvoiceDate": own(DATETIME, "InvoiceDate"), "InvoiceNumber": own(INT, "InvoiceNumber"),
            "JournalCode": const(STRING, "70"), "JournalDescription": const(STRING, "Verkoopboek"),
            "YourRef": own(STRING, "YourRef"),
        }  # fmt: skip
        account_fields: dict[str, Field] = {
            **fields_of({
                "ID": GUID, "Code": STRING, "Name": STRING, "Email": STRING, "Phone": STRING, "Language": STRING,
                "ChamberOfCommerce": STRING, "VATNumber": STRING, "Country": STRING, "City": STRING,
                "Postcode": STRING, "AddressLine1": STRING, "AddressLine2": STRING, "AddressLine3": STRING,
                "MainContact": GUID, "InvoiceAccount": GUID,
            }),
            "InvoiceAccountCode": linked(STRING, "InvoiceAccount", "accounts", "Code"),
            "InvoiceAccountName": linked(STRING, "InvoiceAccount", "accounts", "Name"),
            **fields_of({
                "IsSales": BOOL, "IsSupplier": BOOL, "Status": STRING, "Blocked": BOOL, "Remarks": STRING,
                "Type": STRING, "Website": STRING,
            }),
            "Division": division_code, "Created": own(DATETIME, "Created"), "Modified": own(DATETIME, "Modified"),
            **audit,
        }  # fmt: skip
        contact_fields: dict[str, Field] = {
            "ID": own(GUID, "ID"), "Account": own(GUID, "Account"),
            "AccountName": linked(STRING, "Account", "accounts", "Name"),
            "AccountIsCustomer": linked(BOOL, "Account", "accounts", "IsSales"),
            "AccountIsSupplier": linked(BOOL, "Account", "accounts", "IsSupplier"),
            "AccountMainContact": linked(GUID, "Account", "accounts", "MainContact"),
            **fields_of({
                "FirstName": STRING, "MiddleName": STRING, "LastName": STRING, "FullName": STRING,
                "Initials": STRING, "Title": STRING, "Email": STRING,
            }),
            "BusinessEmail": own(STRING, "Email"),
            **fields_of({
                "Phone": STRING, "Mobile": STRING, "IsMainContact": BOOL, "IsMailingExcluded": BOOL,
                "Language": STRING, "JobTitleDescription": STRING, "Notes": STRING,
            }),
            "Division": division_code, "Created": own(DATETIME, "Created"), "Modified": own(DATETIME, "Modified"),
            **audit,
        }  # fmt: skip
        deleted_fields = fields_of({
            "ID": GUID, "EntityKey": GUID, "EntityType": INT, "DeletedBy": GUID, "DeletedDate": DATETIME,
            "Division": INT, "FullName": STRING, "Timestamp": INT,
        })  # fmt: skip
        note_fields: dict[str, Field] = {
            "ID": own(GUID, "ID"), "Account": own(GUID, "Account"),
            "AccountName": linked(STRING, "Account", "accounts", "Name"), "Contact": own(GUID, "Contact"),
            "ContactFullName": linked(STRING, "Contact", "contacts", "FullName"),
            **fields_of({"Subject": STRING, "Notes": STRING, "Date": DATETIME, "Document": GUID}),
            "Division": division_code, "Created": own(DATETIME, "Created"), "Modified": own(DATETIME, "Modified"),
            **audit,
        }  # fmt: skip
        task_fields: dict[str, Field] = {
            "ID": own(GUID, "ID"), "Account": own(GUID, "Account"),
            "AccountName": linked(STRING, "Account", "accounts", "Name"), "Contact": own(GUID, "Contact"),
            "ContactFullName": linked(STRING, "Contact", "contacts", "FullName"),
            **fields_of({
                "Description": STRING, "Notes": STRING, "ActionDate": DATETIME, "TaskType": INT,
                "TaskTypeDescription": STRING, "Document": GUID,
            }),
            "User": const(GUID, user.id), "UserFullName": const(STRING, user.full_name),
            "Division": division_code, "Created": own(DATETIME, "Created"), "Modified": own(DATETIME, "Modified"),
            **audit,
        }  # fmt: skip
        document_fields: dict[str, Field] = {
            **fields_of({
                "ID": GUID, "Account": GUID, "Subject": STRING, "Type": INT, "TypeDescription": STRING,
                "SalesInvoiceNumber": INT, "DocumentDate": DATETIME,
            }),
            "Division": division_code,
        }  # fmt: skip
        attachment_fields: dict[str, Field] = {
            **fields_of({"ID": GUID, "Document": GUID, "FileName": STRING, "FileSize": DECIMAL, "Url": STRING}),
            "Division": division_code,
        }  # fmt: skip
        division_fields = {name: own(_kind_of(value), name) for name, value in self._first.info.items()}
        mandatory_accounts = (
            "AddressLine1", "AddressLine2", "AddressLine3", "Blocked", "ChamberOfCommerce", "City", "Code", "Country",
            "Created", "Email", "ID", "InvoiceAccount", "IsSales", "IsSupplier", "MainContact", "Name", "Phone",
            "Postcode", "Status", "Type", "VATNumber",
        )  # fmt: skip
        only_timestamp = frozenset({"Timestamp"})
        sync_refusal = "Only filtering on Timestamp is supported for sync endpoints; field '{field}' is not."
        sync = {
            "key": "int64", "key_field": "Timestamp", "page_size": BULK_PAGE, "select_required": True,
            "filterable": only_timestamp, "filter_refusal": sync_refusal,
        }  # fmt: skip
        bulk = {"page_size": BULK_PAGE, "select_required": True}
        accounts_by_id = lambda division, key: division.accounts.get(key)  # noqa: E731
        contacts_by_id = lambda division, key: division.contacts.get(key)  # noqa: E731
        views = [
            View(
                "read/financial/ReceivablesList", "Exact.Web.Api.Models.Financial.ReceivablesList", receivables_list,
                lambda division, after: division.open_by_hid.after(after), key="int64", key_field="HID",
                filterable=frozenset({"AccountId", "DueDate", "InvoiceDate", "InvoiceNumber", "Amount"}),
            ),
            View(
                "cashflow/Receivables", "Exact.Web.Api.Models.Cashflow.Receivable", term_fields,
                lambda division, after: division.receivables_by_id.after(after),
                mandatory=("ID", "Account", "InvoiceNumber", "EntryNumber", "Status", "IsFullyPaid", "DueDate"),
                lookup=lambda division, key: division.terms.get(key),
            ),
            View(
                "bulk/Cashflow/Receivables", "Exact.Web.Api.Models.Bulk.Cashflow.Receivable", term_fields,
                lambda division, after: division.receivables_by_id.after(after), **bulk,  # type: ignore[arg-type]
            ),
            View(
                "sync/Cashflow/PaymentTerms", "Exact.Web.Api.Models.Sync.Cashflow.PaymentTerm", sync_terms,
                lambda division, after: division.terms_by_stamp.after(after), **sync,  # type: ignore[arg-type]
            ),
            View(
                "sync/Deleted", "Exact.Web.Api.Models.Sync.Deleted", deleted_fields,
                lambda division, after: division.deleted_by_stamp.after(after), **sync,  # type: ignore[arg-type]
            ),
            View(
                "sync/CRM/Accounts", "Exact.Web.Api.Models.Sync.CRM.Account",
                {**account_fields, "Timestamp": own(INT, "Timestamp")},
                lambda division, after: division.accounts_by_stamp.after(after), **sync,  # type: ignore[arg-type]
            ),
            View(
                "sync/CRM/Contacts", "Exact.Web.Api.Models.Sync.CRM.Contact",
                {**contact_fields, "Timestamp": own(INT, "Timestamp")},
                lambda division, after: division.contacts_by_stamp.after(after), **sync,  # type: ignore[arg-type]
            ),
            View(
                "bulk/CRM/Accounts", "Exact.Web.Api.Models.Bulk.CRM.Account", account_fields,
                lambda division, after: division.accounts_by_id.after(after), **bulk,  # type: ignore[arg-type]
            ),
            View(
                "bulk/CRM/Contacts", "Exact.Web.Api.Models.Bulk.CRM.Contact", contact_fields,
                lambda division, after: division.contacts_by_id.after(after), **bulk,  # type: ignore[arg-type]
            ),
            View(
                "crm/Accounts", "Exact.Web.Api.Models.Account", account_fields,
                lambda division, after: division.accounts_by_id.after(after), mandatory=mandatory_accounts,
                lookup=accounts_by_id,
            ),
            View(
                "crm/Contacts", "Exact.Web.Api.Models.Contact", contact_fields,
                lambda division, after: division.contacts_by_id.after(after), mandatory=("ID", "Account"),
                lookup=contacts_by_id,
            ),
            View(
                "activities/CommunicationNotes", "Exact.Web.Api.Models.Activities.CommunicationNote", note_fields,
                lambda division, after: division.notes_by_id.after(after),
                lookup=lambda division, key: division.notes.get(key),
            ),
            View(
                "activities/Tasks", "Exact.Web.Api.Models.Activities.Task", task_fields,
                lambda division, after: division.tasks_by_id.after(after),
                lookup=lambda division, key: division.tasks.get(key),
            ),
            View(
                "system/Divisions", "Exact.Web.Api.Models.System.Division", division_fields, self._scan_divisions,
                key="int", key_field="Code",
            ),
            View(
                "system/AllDivisions", "Exact.Web.Api.Models.System.AllDivision", division_fields,
                self._scan_divisions, key="int", key_field="Code",
            ),
            View("current/Me", "Exact.Web.Api.Models.System.Me", _ME_FIELDS, self._scan_me),
            View(
                "documents/Documents", "Exact.Web.Api.Models.Documents.Document", document_fields,
                lambda division, after: self._scan_documents(division, after, attachment=False),
            ),
            View(
                "documents/DocumentAttachments", "Exact.Web.Api.Models.Documents.DocumentAttachment",
                attachment_fields, lambda division, after: self._scan_documents(division, after, attachment=True),
            ),
        ]  # fmt: skip
        return {view.resource: view for view in views}

    def _scan_documents(
        self, division: Division, after: Any, *, attachment: bool
    ) -> Iterator[tuple[Any, dict[str, Any]]]:
        """Every invoice Exact made has a document (Type 10, "Verkoopfactuur") with its PDF as attachment. Here
        the document and its attachment share the receivable's ID (one of each per invoice)."""
        for key, row in division.receivables_by_id.after(after):
            number = row.get("InvoiceNumber")
            if number is None:
                continue
            if attachment:
                url = f"http://{self._host}:{self.port}/docs/SysAttachment.aspx?ID={key}&_Division_={division.code}"
                size = Decimal(len(self._invoice_pdf(row)))
                yield (
                    key,
                    {"ID": key, "Document": key, "FileName": f"Factuur {number}.pdf", "FileSize": size, "Url": url},
                )
            else:
                yield key, {
                    "ID": key, "Account": row.get("Account"), "Subject": f"Factuur {number}", "Type": 10,
                    "TypeDescription": "Verkoopfactuur", "SalesInvoiceNumber": number,
                    "DocumentDate": row.get("InvoiceDate"),
                }  # fmt: skip

    def _invoice_pdf(self, row: Mapping[str, Any]) -> bytes:
        return sample_pdf([f"Factuur {row.get('InvoiceNumber')}", f"Totaal EUR {row.get('AmountDC')}"])

    def _attachment_file(self, request: Request) -> Response:
        """The attachment's file, for a caller with a valid token (as Exact's SysAttachment.aspx)."""
        division = self._divisions.get(int(request.query.get("_Division_") or 0))
        row = division.terms.get(request.query.get("ID", "")) if division is not None else None
        if row is None:
            raise _fail(404, "Not found")
        return Response(200, self._invoice_pdf(row), "application/pdf")

    def _scan_divisions(self, division: Division, after: Any) -> Iterator[tuple[Any, dict[str, Any]]]:
        for code in sorted(self._divisions):
            if after is None or code > after:
                yield code, self._divisions[code].info

    def _scan_me(self, division: Division, after: Any) -> Iterator[tuple[Any, dict[str, Any]]]:
        if after is None:
            yield self._user.id, self._me_row()

    def _me_row(self) -> dict[str, Any]:
        first, user = self._first, self._user
        local = self.now().astimezone(AMSTERDAM)
        offset = local.utcoffset() or timedelta()
        return {
            "CurrentDivision": first.code, "DivisionCustomer": first.info.get("Customer"),
            "DivisionCustomerCode": first.info.get("CustomerCode"),
            "DivisionCustomerName": first.info.get("CustomerName"), "DivisionCustomerVatNumber": None,
            "DivisionCustomerSiretNumber": "", "DossierDivision": None, "AccountingDivision": first.code,
            "IsEmployeeSelfServiceUser": False, "IsMyFirmLiteUser": False, "IsStarterUser": False,
            "IsMyFirmPortalUser": False, "IsClientUser": True, "FullName": user.full_name,
            "PictureUrl": None, "ThumbnailPicture": None, "ThumbnailPictureFormat": None, "UserID": user.id,
            "UserName": user.email, "LanguageCode": "nl-NL", "Legislation": "1", "Email": user.email,
            "Title": None, "Initials": None, "FirstName": user.first_name, "MiddleName": None,
            "LastName": user.last_name, "Gender": "O", "Nationality": None, "Language": "NL", "Phone": None,
            "PhoneExtension": None, "Mobile": None,
            "ServerTime": local.replace(tzinfo=None).isoformat(timespec="seconds"),
            "ServerUtcOffset": int(offset.total_seconds()), "EmployeeID": "00000000-0000-0000-0000-000000000000",
            "CustomerCode": first.info.get("CustomerCode"), "PackageCode": "EOLAPPCENTER",
            "IsOEIMigrationMandatory": False,
        }  # fmt: skip

    def _me(self, request: Request) -> Response:
        return self._collection(request, self._views["current/Me"], self._first, "current")

    # -- writes -------------------------------------------------------------------------------------

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(request.body) if request.body.strip() else {}
        except ValueError:
            raise _fail(400, "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise _fail(400, "The request body must be a JSON object.")
        return body

    @staticmethod
    def _guid_input(body: Mapping[str, Any], name: str) -> str | None:
        value = body.get(name)
        if value in (None, ""):
            return None
        if not is_guid(value):
            raise _fail(400, f"Error converting value \"{value}\" to type 'System.Guid'. Path '{name}'.")
        return str(value).lower()

    @staticmethod
    def _text_input(body: Mapping[str, Any], name: str) -> str | None:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise _fail(400, f"Error converting value to type 'System.String'. Path '{name}'.")
        return value

    def _moment_input(self, body: Mapping[str, Any], name: str) -> datetime | None:
        value = body.get(name)
        if value in (None, ""):
            return None
        moment = parse_exact_datetime(value)
        if moment is None:
            raise _fail(400, f"Error converting value \"{value}\" to type 'System.DateTime'. Path '{name}'.")
        return moment

    def _put_account(self, request: Request) -> Response:
        division = self._division(request)
        key = _parse_skiptoken(self._views["crm/Accounts"], request.params["key"])
        account = division.accounts.get(key)
        if account is None:
            raise _fail(404, "Not found")
        body = self._body(request)
        changes: dict[str, Any] = {}
        for name in ("Remarks", "Email"):
            if name in body:
                changes[name] = self._text_input(body, name)
        if "Language" in body:
            changes["Language"] = pad_language(self._text_input(body, "Language"))
        if "Blocked" in body:
            if not isinstance(body["Blocked"], bool):
                raise _fail(
                    400, f"Error converting value \"{body['Blocked']}\" to type 'System.Boolean'. Path 'Blocked'."
                )
            changes["Blocked"] = body["Blocked"]
        if "MainContact" in body:
            contact_id = self._guid_input(body, "MainContact")
            changes["MainContact"] = contact_id if contact_id in division.contacts else None
        if changes:
            self._touch_account(division, account, **changes)
            if "MainContact" in changes:
                self._sync_main_contact(division, account)
        return Response.empty(204)

    def _linked_ids(self, division: Division, body: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """Account and Contact of a posted activity; unknown GUIDs are silently dropped, like Exact does."""
        account = self._guid_input(body, "Account")
        contact = self._guid_input(body, "Contact")
        return (
            account if account in division.accounts else None,
            contact if contact in division.contacts else None,
        )

    def _post_note(self, request: Request) -> Response:
        division = self._division(request)
        body = self._body(request)
        if body.get("Account") in (None, ""):
            raise _fail(400, "Mandatory: Account")
        subject = self._text_input(body, "Subject")
        if subject is None or not subject.strip():
            raise _fail(400, "Mandatory: Subject")
        account, contact = self._linked_ids(division, body)
        now = self.now()
        note = {
            "ID": new_guid(), "Account": account, "Contact": contact, "Subject": subject,
            "Notes": self._text_input(body, "Notes"), "Date": self._moment_input(body, "Date") or now,
            "Document": None, "Created": now, "Modified": now,
        }  # fmt: skip
        division.index_note(note)
        view = self._views["activities/CommunicationNotes"]
        row = self._render(
            view, division, note["ID"], note, list(view.fields), self._origin(request), str(division.code)
        )
        return Response.json({"d": row}, 201)

    def _post_task(self, request: Request) -> Response:
        division = self._division(request)
        body = self._body(request)
        description = self._text_input(body, "Description")
        if description is None or not description.strip():
            raise _fail(400, "Mandatory: Description")
        task_type = body.get("TaskType", 0)
        if isinstance(task_type, bool) or not isinstance(task_type, int):
            raise _fail(400, f"Error converting value \"{task_type}\" to type 'System.Int32'. Path 'TaskType'.")
        account, contact = self._linked_ids(division, body)
        now = self.now()
        task = {
            "ID": new_guid(), "Account": account, "Contact": contact, "Description": description,
            "Notes": self._text_input(body, "Notes"), "ActionDate": self._moment_input(body, "ActionDate") or now,
            "TaskType": task_type, "TaskTypeDescription": TASK_TYPES.get(task_type), "Document": None,
            "Created": now, "Modified": now,
        }  # fmt: skip
        division.index_task(task)
        view = self._views["activities/Tasks"]
        row = self._render(
            view, division, task["ID"], task, list(view.fields), self._origin(request), str(division.code)
        )
        return Response.json({"d": row}, 201)

    # -- sync timestamp -----------------------------------------------------------------------------

    def _sync_timestamp(self, request: Request) -> Response:
        division = self._division(request)
        query = {name.lower(): value for name, value in request.query.items()}
        modified_text = (query.get("modified") or "").strip()
        match = re.fullmatch(r"datetime'([^']*)'", modified_text)
        moment = parse_exact_datetime(match.group(1) if match else modified_text) if modified_text else None
        if moment is None:
            raise _fail(400, "Mandatory parameter 'modified' is missing or not a datetime'yyyy-MM-ddTHH:mm:ss'.")
        local = local_naive(moment)
        endpoint = (query.get("endpoint") or "").strip().strip("'")
        sources: dict[str, tuple[list[dict[str, Any]], str]] = {
            "paymentterms": (list(division.terms.values()), "Modified"),
            "accounts": (list(division.accounts.values()), "Modified"),
            "contacts": (list(division.contacts.values()), "Modified"),
            "deleted": (list(division.deleted.values()), "DeletedDate"),
        }
        source = sources.get(endpoint.rsplit("/", 1)[-1].lower())
        if source is None:
            raise _fail(400, f"Invalid endPoint '{endpoint}': use PaymentTerms, Accounts, Contacts or Deleted.")
        rows, stamp_field = source
        stamps = [
            row["Timestamp"]
            for row in rows
            if isinstance(row.get(stamp_field), datetime) and local_naive(row[stamp_field]) <= local
        ]
        origin = self._origin(request)
        row = {
            "__metadata": {
                "uri": f"{origin}/api/v1/{division.code}/read/sync/Sync/SyncTimestamp",
                "type": "Exact.Web.Api.Models.Sync.SyncTimestamp",
            },
            "API": endpoint,
            "Modified": _naive_exact_date(local),
            "TimeStampAsBigInt": max(stamps, default=1),
        }
        return Response.json({"d": {"results": [row]}})

    # -- OAuth ----------------------------------------------------------------------------------------

    def _authorize(self, request: Request) -> Response:
        query = request.query
        if query.get("client_id", "").strip("{} ").lower() != self.client_id:
            return Response.text("The client_id is not known.", 400)
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri != self.redirect_uri:
            return Response.text("The redirect_uri does not match the redirect URI registered for this app.", 400)
        if query.get("response_type") != "code":
            return Response.text("response_type must be 'code'.", 400)
        code = "stampNL001." + secrets.token_urlsafe(64)
        self._tokens.codes[code] = _Code(self._epoch(), redirect_uri)
        params = {"code": code, **({"state": query["state"]} if "state" in query else {})}
        separator = "&" if "?" in redirect_uri else "?"
        return Response(302, b"", None, {"Location": f"{redirect_uri}{separator}{urlencode(params)}"})

    def _client_credentials(self, request: Request, form: Mapping[str, str]) -> tuple[str, str]:
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic" and not client_id:
            with contextlib.suppress(ValueError):
                client_id, _, client_secret = base64.b64decode(encoded).decode().partition(":")
        return client_id.strip("{} ").lower(), client_secret

    def _token(self, request: Request) -> Response:
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        grant = form.get("grant_type")
        if grant not in ("authorization_code", "refresh_token"):
            return _oauth_error(400, "invalid_request" if not grant else "unsupported_grant_type")
        client_id, client_secret = self._client_credentials(request, form)
        if client_id != self.client_id or client_secret != self.client_secret:
            return _oauth_error(400, "invalid_client")
        now = self._epoch()
        state = self._tokens
        if grant == "authorization_code":
            code = state.codes.pop(form.get("code", ""), None)
            if (
                code is None
                or now - code.issued > CODE_LIFETIME_SECONDS
                or form.get("redirect_uri") != code.redirect_uri
            ):
                return _oauth_error(400, "invalid_request")
            return Response.json(self._consent())
        token = form.get("refresh_token", "")
        if token and token == state.refresh_token:
            issued = state.access_issued_at
            if issued is not None and now - issued < self.min_refresh_seconds:
                return _oauth_error(
                    400,
                    "access_denied",
                    "Rate limit exceeded: access_token not expired",
                    Reason="TooEarlyToRefreshTokens",
                )
            state.old_refresh_tokens.add(token)
            state.refresh_token = _new_refresh_token()
            state.refreshes += 1
            return Response.json(self._token_body(self._issue_access()))
        if token in state.old_refresh_tokens:
            return _oauth_error(401, "unauthorized_client", "Old refresh token used.")
        return _oauth_error(400, "invalid_request")

    # -- control endpoints --------------------------------------------------------------------------

    def _clock_endpoint(self, request: Request) -> Response:
        body = request.json()
        seconds = body.get("advance_seconds") if isinstance(body, dict) else None
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            return exact_error(400, 'expected {"advance_seconds": N} with N >= 0')
        moment = self.advance(seconds)
        return Response.json({"now": moment.isoformat(), "today": self.today.isoformat()})

    def _payment_endpoint(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            return exact_error(400, 'expected {"invoice_number": 123, "amount": "12.34"}')
        number, division, amount = body.get("invoice_number"), body.get("division"), body.get("amount")
        if isinstance(number, bool) or not isinstance(number, int):
            return exact_error(400, "invoice_number must be an integer")
        if isinstance(amount, bool) or not isinstance(amount, str | int | float):
            return exact_error(400, 'amount must be a number or a string like "12.34"')
        if division is not None and (isinstance(division, bool) or not isinstance(division, int)):
            return exact_error(400, "division must be an integer")
        try:
            self.add_payment(number, amount, division=division)
        except ValueError as exc:
            return exact_error(400, str(exc))
        except KeyError as exc:
            return exact_error(404, str(exc.args[0]) if exc.args else "not found")
        return Response.json([_plain(term) for term in self.open_terms(number, division=division)])


def _plain(row: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-safe copy for control answers: amounts as strings (exact), dates and moments as ISO text."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        if isinstance(value, Decimal):
            out[name] = str(value)
        elif isinstance(value, date):
            out[name] = value.isoformat()
        else:
            out[name] = value
    return out


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, date):
        return DATETIME
    if isinstance(value, Decimal):
        return DECIMAL
    return GUID if is_guid(value) else STRING


_ME_FIELDS: dict[str, Field] = {
    name: own(kind, name)
    for name, kind in {
        "CurrentDivision": INT, "DivisionCustomer": GUID, "DivisionCustomerCode": STRING,
        "DivisionCustomerName": STRING, "DivisionCustomerVatNumber": STRING, "DivisionCustomerSiretNumber": STRING,
        "DossierDivision": INT, "AccountingDivision": INT, "IsEmployeeSelfServiceUser": BOOL,
        "IsMyFirmLiteUser": BOOL, "IsStarterUser": BOOL, "IsMyFirmPortalUser": BOOL, "IsClientUser": BOOL,
        "FullName": STRING, "PictureUrl": STRING, "ThumbnailPicture": STRING, "ThumbnailPictureFormat": STRING,
        "UserID": GUID, "UserName": STRING, "LanguageCode": STRING, "Legislation": STRING, "Email": STRING,
        "Title": STRING, "Initials": STRING, "FirstName": STRING, "MiddleName": STRING, "LastName": STRING,
        "Gender": STRING, "Nationality": STRING, "Language": STRING, "Phone": STRING, "PhoneExtension": STRING,
        "Mobile": STRING, "ServerTime": STRING, "ServerUtcOffset": INT, "EmployeeID": GUID, "CustomerCode": STRING,
        "PackageCode": STRING, "IsOEIMigrationMandatory": BOOL,
    }.items()
}  # fmt: skip


# --- CLI -------------------------------------------------------------------------------------------------


def command(
    port: simulation.PortOption = 0,
    seed_file: Annotated[Path | None, simulation.seed_file_option('{"app": {...}, "divisions": [...]}')] = None,
    generate: simulation.GenerateOption = None,
    contacts: simulation.ContactsOption = None,
    faults: simulation.FaultsOption = None,
    fault_seed: simulation.FaultSeedOption = 0,
    rate_limit_minutely: Annotated[int, typer.Option(help="API calls per minute per division.")] = 60,
    rate_limit_daily: Annotated[int, typer.Option(help="API calls per UTC day per division.")] = 5000,
    access_token_seconds: Annotated[int, typer.Option(help="Access-token lifetime.")] = 600,
    min_refresh_seconds: Annotated[int, typer.Option(help="Refusing refreshes until the token is this old.")] = 570,
    timeout_seconds: simulation.FaultTimeoutOption = 5.0,
) -> None:
    """A stateful Exact Online API on 127.0.0.1; prints the URL, the app's credentials and a refresh token
    that can be used at once, then a summary."""
    options: dict[str, Any] = {
        "faults": Faults(faults, fault_seed, timeout_seconds),
        "rate_limit_minutely": rate_limit_minutely,
        "rate_limit_daily": rate_limit_daily,
        "access_token_seconds": access_token_seconds,
        "min_refresh_seconds": min_refresh_seconds,
    }

    def lines(simulator: ExactOnlineSimulator) -> list[str]:
        tokens = simulator.issue_tokens(refreshable_now=True)
        return [
            f"client_id: {simulator.client_id}",
            f"client_secret: {simulator.client_secret}",
            f"division: {simulator.division}",
            f"refresh_token: {tokens['refresh_token']}",
            *simulator.summary_lines(),
        ]

    simulation.serve_from_cli(
        port=port,
        seed_file=seed_file,
        generate=generate,
        contacts=contacts,
        from_seed=lambda seed: ExactOnlineSimulator(seed, **options),
        generated=lambda terms, people: ExactOnlineSimulator.generate(terms=terms, accounts=people, **options),
        invoices_per_customer=4,
        fewest_customers=3,
        lines=lines,
    )
