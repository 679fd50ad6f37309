"""Data for the Exact Online simulator: Exact's value encodings, the per-division state with its sorted
indexes, seed loading with defaults, and a deterministic generator of Dutch-looking divisions.

Entities are dicts keyed by Exact's own field names holding Python values (`Decimal` amounts, `date` for
date-only fields, aware UTC `datetime` for moments); the simulator encodes them the way Exact does only
when it answers (`/Date(ms)/` in Amsterdam wall-clock time, amounts as JSON numbers).

A seed is Exact-shaped JSON; everything is optional and defaults sensibly:

    {"app": {"client_id", "client_secret", "redirect_uri"}, "refresh_token": "...",
     "divisions": [{"Code": 1234567, "Description": "...",
                    "accounts": [rows as sync/CRM/Accounts], "contacts": [rows as sync/CRM/Contacts],
                    "terms": [rows as sync/Cashflow/PaymentTerms: ID, Account, InvoiceNumber, AmountDC,
                              DueDate, InvoiceDate, Description, YourRef, LineType, Status, AccountContact]}]}

Dates may be ISO text or `/Date(ms)/`, amounts numbers or strings. Terms without `HID` or `Timestamp` get
them in creation order; an unknown `Account` becomes a stub account.
"""

from __future__ import annotations

import random
import re
import uuid
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Generic, TypeVar

from connector.clock import AMSTERDAM
from connector.ledger.sample_data import CITIES, SERVICES, STREETS, parse_amount

__all__ = [
    "DEFAULT_REDIRECT_URI",
    "ENTITY_ACCOUNT",
    "ENTITY_CONTACT",
    "ENTITY_PAYMENT_TERM",
    "LINE_PAYABLE",
    "LINE_RECEIVABLE",
    "STATUS_MATCHED",
    "STATUS_OPEN",
    "App",
    "Division",
    "LoadedSeed",
    "SortedIndex",
    "StampCounter",
    "User",
    "exact_date",
    "generate_seed",
    "is_guid",
    "json_number",
    "load_seed",
    "local_naive",
    "new_guid",
    "pad_code",
    "pad_language",
    "parse_amount",
    "parse_exact_date",
    "parse_exact_datetime",
    "split_amount",
]

DEFAULT_REDIRECT_URI = "http://127.0.0.1:8765/callback"
LINE_RECEIVABLE = 20
LINE_PAYABLE = 22
STATUS_OPEN = 20
STATUS_MATCHED = 50
ENTITY_ACCOUNT = 2
ENTITY_CONTACT = 5
ENTITY_PAYMENT_TERM = 10
CENT = Decimal("0.01")
FIRST_TIMESTAMP = 1001  # above 1, so `Timestamp gt 1` (the documented start) returns everything

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_MS_DATE = re.compile(r"/Date\((-?\d+)(?:[+-]\d{4})?\)/")


# --- values ------------------------------------------------------------------------------------------


def new_guid(rng: random.Random | None = None) -> str:
    """A lowercase GUID; deterministic when a generator is given."""
    if rng is None:
        return str(uuid.uuid4())
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def is_guid(value: object) -> bool:
    return isinstance(value, str) and _GUID.fullmatch(value) is not None


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def exact_date(value: date | datetime | None) -> str | None:
    """`/Date(ms)/`: a moment as its Amsterdam wall-clock time encoded as if UTC; a date as its UTC midnight."""
    if value is None:
        return None
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        wall = aware.astimezone(AMSTERDAM).replace(tzinfo=UTC)
        return f"/Date({_ms(wall)})/"
    return f"/Date({_ms(datetime(value.year, value.month, value.day, tzinfo=UTC))})/"


def local_naive(value: date | datetime) -> datetime:
    """The Amsterdam wall-clock time of a moment (a date: its midnight), as a naive datetime."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(AMSTERDAM).replace(tzinfo=None)
    return datetime(value.year, value.month, value.day)  # noqa: DTZ001 - naive on purpose


def parse_exact_datetime(value: object) -> datetime | None:
    """A moment from `/Date(ms)/` (Amsterdam wall clock), ISO text (naive = Amsterdam) or a datetime/date."""
    if isinstance(value, datetime):
        return (value if value.tzinfo is not None else value.replace(tzinfo=AMSTERDAM)).astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), AMSTERDAM).astimezone(UTC)
    if not isinstance(value, str):
        return None
    text = value.strip()
    match = _MS_DATE.fullmatch(text)
    if match:
        wall = _EPOCH + timedelta(milliseconds=int(match.group(1)))
        return wall.replace(tzinfo=AMSTERDAM).astimezone(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=AMSTERDAM)).astimezone(UTC)


def parse_exact_date(value: object) -> date | None:
    """A date from `/Date(ms)/` (UTC midnight), `YYYY-MM-DD`, an ISO datetime (its date part) or a date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    match = _MS_DATE.fullmatch(text)
    if match:
        return (_EPOCH + timedelta(milliseconds=int(match.group(1)))).date()
    try:
        return datetime.fromisoformat(text).date() if "T" in text or " " in text else date.fromisoformat(text)
    except ValueError:
        return None


def json_number(value: Decimal) -> int | float:
    """Exact writes amounts as doubles: `300`, `1234.5`."""
    return int(value) if value == value.to_integral_value() else float(value)


def pad_code(code: object) -> str:
    """Account codes are 18 characters, right-aligned: `"                25"`."""
    return str(code).strip().rjust(18)


def pad_language(language: object) -> str | None:
    return None if language is None or str(language).strip() == "" else str(language).strip().ljust(10)


def split_amount(amount: Decimal, parts: int) -> list[Decimal]:
    """`amount` in `parts` cent-rounded shares; the last takes the rounding difference."""
    share = (amount / parts).quantize(CENT, rounding=ROUND_HALF_UP)
    return [*([share] * (parts - 1)), amount - share * (parts - 1)]


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    following = date(year + month // 12, month % 12 + 1, 1)
    return date(year, month, min(day.day, (following - timedelta(days=1)).day))


# --- sorted indexes ----------------------------------------------------------------------------------

K = TypeVar("K", int, str)


class SortedIndex(Generic[K]):
    """Entities by a sortable key, for keyset paging: `after(key)` starts with a bisect, so a page costs
    O(page), not O(rows). Keys are sorted lazily: bulk loads and random GUIDs append, the next read sorts."""

    def __init__(self) -> None:
        self._keys: list[K] = []
        self._items: dict[K, dict[str, Any]] = {}
        self._sorted = True

    def __len__(self) -> int:
        return len(self._items)

    def add(self, key: K, item: dict[str, Any]) -> None:
        if key in self._items:
            self._items[key] = item
            return
        if self._sorted and self._keys and key < self._keys[-1]:
            if len(self._keys) < 64:
                insort(self._keys, key)
            else:
                self._keys.append(key)
                self._sorted = False
        else:
            self._keys.append(key)
        self._items[key] = item

    def discard(self, key: K) -> None:
        if self._items.pop(key, None) is None:
            return
        self._sort()
        index = bisect_left(self._keys, key)
        if index < len(self._keys) and self._keys[index] == key:
            del self._keys[index]

    def after(self, key: K | None) -> Iterator[tuple[K, dict[str, Any]]]:
        """(key, entity) in key order, strictly after `key` (None: from the start)."""
        self._sort()
        keys = self._keys
        index = 0 if key is None else bisect_right(keys, key)
        while index < len(keys):
            found = keys[index]
            yield found, self._items[found]
            index += 1

    def _sort(self) -> None:
        if not self._sorted:
            self._keys.sort()
            self._sorted = True


class StampCounter:
    """Exact's rowversion: one increasing integer shared by every entity of every division."""

    def __init__(self, last: int = FIRST_TIMESTAMP - 1) -> None:
        self.last = last

    def next(self) -> int:
        self.last += 1
        return self.last

    def observe(self, value: int) -> None:
        self.last = max(self.last, value)


# --- state -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class App:
    client_id: str
    client_secret: str
    redirect_uri: str


@dataclass(frozen=True)
class User:
    id: str
    full_name: str
    first_name: str
    last_name: str
    email: str


@dataclass
class Division:
    """One administration: its entities keyed by ID, plus the orders the API pages them in."""

    code: int
    info: dict[str, Any]
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    terms: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    accounts_by_id: SortedIndex[str] = field(default_factory=SortedIndex)
    accounts_by_stamp: SortedIndex[int] = field(default_factory=SortedIndex)
    contacts_by_id: SortedIndex[str] = field(default_factory=SortedIndex)
    contacts_by_stamp: SortedIndex[int] = field(default_factory=SortedIndex)
    terms_by_stamp: SortedIndex[int] = field(default_factory=SortedIndex)
    receivables_by_id: SortedIndex[str] = field(default_factory=SortedIndex)
    open_by_hid: SortedIndex[int] = field(default_factory=SortedIndex)
    deleted_by_stamp: SortedIndex[int] = field(default_factory=SortedIndex)
    notes_by_id: SortedIndex[str] = field(default_factory=SortedIndex)
    tasks_by_id: SortedIndex[str] = field(default_factory=SortedIndex)
    last_hid: int = 0

    # accounts and contacts: `index_*` after any change of ID or Timestamp, `unindex_*` before it

    def index_account(self, account: dict[str, Any]) -> None:
        self.accounts[account["ID"]] = account
        self.accounts_by_id.add(account["ID"], account)
        if isinstance(account.get("Timestamp"), int):
            self.accounts_by_stamp.add(account["Timestamp"], account)

    def unindex_account(self, account: Mapping[str, Any]) -> None:
        self.accounts.pop(account["ID"], None)
        self.accounts_by_id.discard(account["ID"])
        if isinstance(account.get("Timestamp"), int):
            self.accounts_by_stamp.discard(account["Timestamp"])

    def index_contact(self, contact: dict[str, Any]) -> None:
        self.contacts[contact["ID"]] = contact
        self.contacts_by_id.add(contact["ID"], contact)
        if isinstance(contact.get("Timestamp"), int):
            self.contacts_by_stamp.add(contact["Timestamp"], contact)

    def unindex_contact(self, contact: Mapping[str, Any]) -> None:
        self.contacts.pop(contact["ID"], None)
        self.contacts_by_id.discard(contact["ID"])
        if isinstance(contact.get("Timestamp"), int):
            self.contacts_by_stamp.discard(contact["Timestamp"])

    def index_term(self, term: dict[str, Any]) -> None:
        """A term is in the sync order always, in Receivables if it is a receivable, in ReceivablesList
        while it is also open."""
        self.terms[term["ID"]] = term
        if isinstance(term.get("Timestamp"), int):
            self.terms_by_stamp.add(term["Timestamp"], term)
        if term.get("LineType") == LINE_RECEIVABLE:
            self.receivables_by_id.add(term["ID"], term)
            if is_open(term):
                self.open_by_hid.add(term["HID"], term)

    def unindex_term(self, term: Mapping[str, Any]) -> None:
        self.terms.pop(term["ID"], None)
        if isinstance(term.get("Timestamp"), int):
            self.terms_by_stamp.discard(term["Timestamp"])
        self.receivables_by_id.discard(term["ID"])
        self.open_by_hid.discard(term["HID"])

    def index_deleted(self, row: dict[str, Any]) -> None:
        self.deleted[row["ID"]] = row
        self.deleted_by_stamp.add(row["Timestamp"], row)

    def index_note(self, note: dict[str, Any]) -> None:
        self.notes[note["ID"]] = note
        self.notes_by_id.add(note["ID"], note)

    def index_task(self, task: dict[str, Any]) -> None:
        self.tasks[task["ID"]] = task
        self.tasks_by_id.add(task["ID"], task)

    def next_hid(self) -> int:
        self.last_hid += 1
        return self.last_hid

    def receivable_numbers(self) -> set[int]:
        return {
            term["InvoiceNumber"]
            for term in self.terms.values()
            if term.get("LineType") == LINE_RECEIVABLE and isinstance(term.get("InvoiceNumber"), int)
        }


def is_open(term: Mapping[str, Any]) -> bool:
    return term.get("Status") != STATUS_MATCHED and term.get("IsFullyPaid") is not True


@dataclass
class LoadedSeed:
    app: App
    user: User
    refresh_token: str | None
    divisions: list[Division]
    stamps: StampCounter


# --- seed loading ------------------------------------------------------------------------------------


def _objects(raw: Mapping[str, Any], key: str, owner: str) -> list[dict[str, Any]]:
    items = raw.get(key) or []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ValueError(f"seed {owner}: '{key}' must be a list of objects")
    return [dict(item) for item in items]


def _guid_of(value: object, rng: random.Random | None = None) -> str:
    return str(value).lower() if value not in (None, "") else new_guid(rng)


def _moment(value: object, default: datetime) -> datetime:
    return parse_exact_datetime(value) or default


def _int_or(value: object, default: int) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return default


def _division_info(raw: Mapping[str, Any], code: int, index: int, now: datetime, rng: random.Random) -> dict[str, Any]:
    description = str(raw.get("Description") or ("Simulatie B.V." if index == 0 else f"Simulatie {index + 1} B.V."))
    info: dict[str, Any] = {
        "AddressLine1": None, "AddressLine2": None, "AddressLine3": None, "BlockingStatus": 0,
        "BusinessTypeCode": None, "BusinessTypeDescription": None, "Code": code,
        "ChamberOfCommerceNumber": None, "ChamberOfCommerceEstablishment": None, "City": None,
        "CompanySizeCode": None, "CompanySizeDescription": None, "Country": "NL ",
        "Created": now - timedelta(days=800), "Creator": None, "CreatorFullName": "Exact Online",
        "Currency": "EUR", "Current": index == 0, "Customer": new_guid(rng),
        "CustomerCode": pad_code(1_265_594 + index), "CustomerName": description,
        "DatevAccountantNumber": None, "DatevClientNumber": None, "Description": description,
        "DivisionMoveDate": None, "DivisionHRLinkUnlinkDate": None, "Email": None, "Fax": None,
        "Hid": str(index + 1), "IsDossierDivision": False, "IsPracticeDivision": False, "IsHRDivision": False,
        "IsMainDivision": index == 0, "Legislation": "NL ", "Modified": now - timedelta(days=400),
        "Modifier": None, "ModifierFullName": None, "OBNumber": None, "Postcode": None, "Phone": None,
        "SbiCode": None, "SbiDescription": None, "SectorCode": None, "SectorDescription": None,
        "ShareCapital": None, "SiretNumber": "", "StartDate": (now - timedelta(days=800)).date(), "State": None,
        "Status": 1, "SubsectorCode": None, "SubsectorDescription": None, "TaxOfficeNumber": None,
        "TaxReferenceNumber": None, "TemplateCode": "NL_Base", "VATNumber": None, "Website": None,
        "ArchiveDate": None, "Class_01": None, "Class_02": None, "Class_03": None, "Class_04": None,
        "Class_05": None,
    }  # fmt: skip
    for key, value in raw.items():
        if key in info and key not in ("Code", "Current"):
            info[key] = value
    for key in ("Created", "Modified"):
        info[key] = _moment(info[key], now)
    info["StartDate"] = parse_exact_date(info["StartDate"])
    return info


def _complete_account(raw: dict[str, Any], number: int, now: datetime) -> dict[str, Any]:
    created = _moment(raw.get("Created"), now)
    account: dict[str, Any] = {
        "ID": None, "Code": number, "Name": f"Klant {number}", "Email": None, "Phone": None, "Language": "NL",
        "ChamberOfCommerce": None, "VATNumber": None, "Country": "NL ", "City": None, "Postcode": None,
        "AddressLine1": None, "AddressLine2": None, "AddressLine3": None, "MainContact": None,
        "InvoiceAccount": None, "IsSales": True, "IsSupplier": False, "Status": "C", "Blocked": False,
        "Remarks": None, "Type": "A", "Website": None,
    }  # fmt: skip
    account.update(raw)
    account["ID"] = _guid_of(account["ID"])
    account["Code"] = pad_code(account["Code"])
    account["Language"] = pad_language(account["Language"])
    for key in ("MainContact", "InvoiceAccount"):
        account[key] = _guid_of(account[key]) if account[key] not in (None, "") else None
    account["Created"] = created
    account["Modified"] = _moment(raw.get("Modified"), created)
    return account


def _complete_contact(raw: dict[str, Any], now: datetime) -> dict[str, Any]:
    created = _moment(raw.get("Created"), now)
    contact: dict[str, Any] = {
        "ID": None, "Account": None, "FirstName": None, "MiddleName": None, "LastName": None, "FullName": None,
        "Initials": None, "Title": None, "Email": None, "Phone": None, "Mobile": None, "IsMainContact": None,
        "IsMailingExcluded": False, "Language": None, "JobTitleDescription": None, "Notes": None,
    }  # fmt: skip
    contact.update(raw)
    contact["ID"] = _guid_of(contact["ID"])
    contact["Account"] = _guid_of(contact["Account"]) if contact["Account"] not in (None, "") else None
    if contact["FullName"] is None:
        parts = [contact.get(key) for key in ("FirstName", "MiddleName", "LastName")]
        contact["FullName"] = " ".join(str(part) for part in parts if part) or None
    contact["Language"] = pad_language(contact["Language"])
    contact["Created"] = created
    contact["Modified"] = _moment(raw.get("Modified"), created)
    return contact


def _complete_term(
    raw: dict[str, Any], today: date, now: datetime, entries: dict[tuple[int, int], str], numbers: list[int]
) -> dict[str, Any]:
    """A full term from a seed row; `numbers` holds the last invoice number handed out (one element)."""
    line_type = _int_or(raw.get("LineType"), LINE_RECEIVABLE)
    if "InvoiceNumber" in raw:
        number = _int_or(raw.get("InvoiceNumber"), 0)
    else:
        numbers[0] += 1
        number = numbers[0]
    invoice_date = parse_exact_date(raw.get("InvoiceDate")) or today
    due_date = parse_exact_date(raw.get("DueDate")) or invoice_date + timedelta(days=14)
    amount = parse_amount(raw.get("AmountDC"))
    paid = raw.get("IsFullyPaid")
    status = _int_or(raw.get("Status"), STATUS_MATCHED if paid is True else STATUS_OPEN)
    created_default = min(now, datetime.combine(invoice_date, time(9), AMSTERDAM).astimezone(UTC))
    created = _moment(raw.get("Created"), created_default)
    term: dict[str, Any] = dict(raw)
    term.update(
        {
            "ID": _guid_of(raw.get("ID")),
            "HID": _int_or(raw.get("HID"), 0),
            "Account": _guid_of(raw["Account"]) if raw.get("Account") not in (None, "") else None,
            "AccountContact": _guid_of(raw["AccountContact"]) if raw.get("AccountContact") else None,
            "AmountDC": amount if amount is not None else Decimal("100"),
            "Currency": raw.get("Currency") or "EUR",
            "Description": raw.get("Description", f"Factuur {number}" if line_type == LINE_RECEIVABLE else None),
            "DueDate": due_date,
            "EntryDate": parse_exact_date(raw.get("EntryDate")) or invoice_date,
            "EntryNumber": _int_or(raw.get("EntryNumber"), number),
            "InvoiceDate": invoice_date,
            "InvoiceNumber": number,
            "IsFullyPaid": paid if isinstance(paid, bool) else status == STATUS_MATCHED,
            "LastPaymentDate": parse_exact_date(raw.get("LastPaymentDate")),
            "LineType": line_type,
            "Status": status,
            "YourRef": raw.get("YourRef"),
            "TransactionEntryID": _guid_of(
                raw.get("TransactionEntryID") or entries.setdefault((line_type, number), new_guid())
            ),
            "Created": created,
            "Modified": _moment(raw.get("Modified"), created),
        }
    )
    fc = parse_amount(raw.get("AmountFC"))
    term["AmountFC"] = fc if fc is not None else term["AmountDC"]
    return term


def _stub_account(division: Division, account_id: str, now: datetime) -> None:
    number = len(division.accounts) + 1
    account = _complete_account({"ID": account_id, "Name": "Onbekende klant"}, number, now)
    division.accounts[account["ID"]] = account


def _load_division(
    raw: Mapping[str, Any], index: int, today: date, now: datetime, rng: random.Random
) -> tuple[Division, list[tuple[str, dict[str, Any]]]]:
    code = _int_or(raw.get("Code"), 1_000_001 + index)
    owner = f"division {code}"
    division = Division(code=code, info=_division_info(raw, code, index, now, rng))
    for number, item in enumerate(_objects(raw, "accounts", owner), start=1):
        account = _complete_account(item, number, now)
        division.accounts[account["ID"]] = account
    for item in _objects(raw, "contacts", owner):
        contact = _complete_contact(item, now)
        division.contacts[contact["ID"]] = contact
    for contact in division.contacts.values():  # IsMainContact and Account.MainContact agree
        owner_account = division.accounts.get(contact["Account"] or "")
        if owner_account is None:
            contact["IsMainContact"] = bool(contact["IsMainContact"])
            continue
        if contact["IsMainContact"] is True and owner_account["MainContact"] is None:
            owner_account["MainContact"] = contact["ID"]
        contact["IsMainContact"] = owner_account["MainContact"] == contact["ID"]
    entries: dict[tuple[int, int], str] = {}
    terms = []
    raw_terms = _objects(raw, "terms", owner)
    given = [_int_or(item.get("InvoiceNumber"), 0) for item in raw_terms]
    numbers = [max([today.year % 100 * 1_000_000 + 700_000, *given])]
    for item in raw_terms:
        if item.get("Account") in (None, "") and division.accounts:
            item["Account"] = next(iter(division.accounts))
        term = _complete_term(item, today, now, entries, numbers)
        if term["ID"] in division.terms:
            raise ValueError(f"seed {owner}: term ID {term['ID']} is used twice")
        if term["Account"] is None:
            term["Account"] = new_guid(rng)
        if term["Account"] not in division.accounts:
            _stub_account(division, term["Account"], now)
        division.terms[term["ID"]] = term  # indexed once the timestamps are known
        terms.append(term)
    given_hids = [term["HID"] for term in terms if term["HID"] > 0]
    if len(given_hids) != len(set(given_hids)):
        raise ValueError(f"seed {owner}: a term HID is used twice")
    for term in terms:  # HIDs in creation order, after any the seed gives
        division.last_hid = max(division.last_hid, term["HID"])
    for term in sorted(terms, key=lambda t: (t["Created"], t["InvoiceNumber"], t["DueDate"])):
        if term["HID"] <= 0:
            term["HID"] = division.next_hid()
    stamped: list[tuple[str, dict[str, Any]]] = [("account", a) for a in division.accounts.values()]
    stamped += [("contact", c) for c in division.contacts.values()]
    stamped += [("term", t) for t in terms]
    return division, stamped


def load_seed(seed: Mapping[str, Any] | None, *, now: datetime | None = None, today: date | None = None) -> LoadedSeed:
    """State from an Exact-shaped seed (see the module docstring); missing parts default.

    Timestamps the seed does not give are handed out in order of `Modified`, so a `SyncTimestamp` lookup
    by date agrees with the sync order.
    """
    seed = seed if seed is not None else {}
    if not isinstance(seed, Mapping):
        raise ValueError("a seed must be a JSON object")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    today = today or now.astimezone(AMSTERDAM).date()
    rng = random.Random(0)
    app_raw = seed.get("app") or {}
    if not isinstance(app_raw, Mapping):
        raise ValueError("seed 'app' must be an object")
    app = App(
        client_id=str(app_raw.get("client_id") or new_guid()).lower(),
        client_secret=str(app_raw.get("client_secret") or f"sim{new_guid().replace('-', '')[:12]}"),
        redirect_uri=str(app_raw.get("redirect_uri") or DEFAULT_REDIRECT_URI),
    )
    user_raw = seed.get("user") or {}
    user = User(
        id=_guid_of(user_raw.get("UserID") if isinstance(user_raw, Mapping) else None, rng),
        full_name="Sim Gebruiker",
        first_name="Sim",
        last_name="Gebruiker",
        email="api-gebruiker@example.nl",
    )
    raw_divisions = seed.get("divisions") or [{}]
    if not isinstance(raw_divisions, list) or not all(isinstance(item, Mapping) for item in raw_divisions):
        raise ValueError("seed 'divisions' must be a list of objects")
    divisions: list[Division] = []
    stamped: list[tuple[Division, str, dict[str, Any]]] = []
    for index, raw in enumerate(raw_divisions):
        division, entities = _load_division(raw, index, today, now, rng)
        if any(existing.code == division.code for existing in divisions):
            raise ValueError(f"seed division {division.code} appears twice")
        divisions.append(division)
        stamped += [(division, kind, entity) for kind, entity in entities]
    stamps = StampCounter()
    seen: set[int] = set()
    for _, _, entity in stamped:
        given = entity.get("Timestamp")
        if isinstance(given, int) and not isinstance(given, bool):
            if given in seen:
                raise ValueError(f"seed Timestamp {given} is used twice")
            seen.add(given)
            stamps.observe(given)
        else:
            entity["Timestamp"] = None
    for division, kind, entity in sorted(stamped, key=lambda item: item[2]["Modified"]):
        if entity["Timestamp"] is None:
            entity["Timestamp"] = stamps.next()
        {"account": division.index_account, "contact": division.index_contact, "term": division.index_term}[kind](
            entity
        )
    refresh = seed.get("refresh_token")
    return LoadedSeed(
        app=app,
        user=user,
        refresh_token=str(refresh) if refresh else None,
        divisions=divisions,
        stamps=stamps,
    )


# --- generator -----------------------------------------------------------------------------------------

_FIRST_NAMES = (
    "Jan", "Pieter", "Sanne", "Emma", "Daan", "Lotte", "Bram", "Fleur", "Thijs", "Anouk", "Ruben", "Iris",
    "Lars", "Noor", "Sem", "Julia", "Koen", "Eva", "Jesse", "Sophie", "Milan", "Tess", "Luuk", "Anna",
    "Stijn", "Lieke", "Wouter", "Femke", "Joris", "Marloes", "Gert", "Ineke", "Henk", "Wilma", "Kees", "Marieke",
)  # fmt: skip
_LAST_NAMES = (
    ("", "Jansen"), ("de", "Vries"), ("van", "Dijk"), ("", "Bakker"), ("", "Visser"), ("", "Smit"),
    ("", "Meijer"), ("de", "Boer"), ("", "Mulder"), ("de", "Groot"), ("", "Bos"), ("", "Vos"), ("", "Peters"),
    ("", "Hendriks"), ("van", "Leeuwen"), ("", "Dekker"), ("", "Brouwer"), ("de", "Wit"), ("", "Dijkstra"),
    ("de", "Graaf"), ("van der", "Meer"), ("van den", "Berg"), ("", "Kok"), ("", "Jacobs"), ("van", "Vliet"),
    ("", "Willems"), ("van der", "Linden"), ("", "Schouten"), ("", "Kuipers"), ("", "Verhoeven"),
    ("", "Postma"), ("", "Hoekstra"), ("", "Jonker"), ("", "Wijnands"), ("ter", "Horst"), ("", "Zwart"),
)  # fmt: skip
_TRADES = (
    "Installatietechniek", "Bouw", "Advies", "Transport", "Bakkerij", "Schilderwerken", "Hoveniers", "ICT",
    "Catering", "Fietsen", "Architecten", "Metaalbewerking", "Reclame", "Interieur", "Zorg", "Logistiek",
    "Loodgieters", "Drukkerij", "Accountants", "Tegelwerken",
)  # fmt: skip
_LEGAL_FORMS = ("B.V.", "B.V.", "B.V.", "Holding B.V.", "V.O.F.", "& Zn.", "N.V.")
_SUPPLIERS = (
    "Groothandel Technische Unie", "Kantoorartikelen Noord", "Energie Direct Zakelijk", "Leasemaatschappij Oost",
    "Telecom Zakelijk", "Verzekeringen Midden", "Schoonmaakbedrijf Schoon", "Softwarelicenties Benelux",
)  # fmt: skip
_MONTHS = (
    "januari", "februari", "maart", "april", "mei", "juni",
    "juli", "augustus", "september", "oktober", "november", "december",
)  # fmt: skip
_JOBS = ("Directeur", "Administratie", "Financieel medewerker", "Office manager", "Inkoper", None)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _at(day: date, rng: random.Random, first_hour: int = 8, last_hour: int = 17) -> datetime:
    clock = time(
        rng.randint(first_hour, last_hour - 1), rng.randrange(60), rng.randrange(60), rng.randrange(1000) * 1000
    )
    return datetime.combine(day, clock, AMSTERDAM).astimezone(UTC)


def _early(moment: datetime, today: date) -> datetime:
    """Generated moments stay before the business day starts, so nothing is stamped in the future."""
    return min(moment, datetime.combine(today, time(0, 30), AMSTERDAM).astimezone(UTC))


def _person(rng: random.Random) -> tuple[str, str, str]:
    first = rng.choice(_FIRST_NAMES)
    prefix, last = rng.choice(_LAST_NAMES)
    return first, prefix, last


def _phone(rng: random.Random) -> str:
    return f"0{rng.choice((20, 30, 10, 40, 50, 70, 6))}-{rng.randint(1_000_000, 9_999_999)}"


def _fake_accounts(
    rng: random.Random, customers: int, suppliers: int, today: date
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    accounts: list[dict[str, Any]] = []
    contacts: list[dict[str, Any]] = []
    for number in range(1, customers + suppliers + 1):
        supplier = number > customers
        consumer = not supplier and rng.random() < 0.1
        created = _at(today - timedelta(days=rng.randint(150, 900)), rng)
        city, zip_prefix = rng.choice(CITIES)
        first, prefix, last = _person(rng)
        full_last = f"{prefix} {last}".strip()
        if supplier:
            name = f"{_SUPPLIERS[(number - customers - 1) % len(_SUPPLIERS)]} {rng.choice(_LEGAL_FORMS)}"
        elif consumer:
            name = f"{first} {full_last}"
        else:
            family = f"{prefix} {last}".title() if prefix else last
            name = f"{family} {rng.choice(_TRADES)} {rng.choice(_LEGAL_FORMS)}"
        slug = _slug(name)
        language = "NL" if rng.random() < 0.85 else rng.choice(("EN", "DE", "FR"))
        country = "NL" if rng.random() < 0.9 else rng.choice(("BE", "DE"))
        account: dict[str, Any] = {
            "ID": new_guid(rng),
            "Code": str(number),
            "Name": name,
            "Email": None,
            "Phone": _phone(rng) if rng.random() < 0.8 else None,
            "Language": language if rng.random() < 0.95 else None,
            "ChamberOfCommerce": None if consumer else str(rng.randint(10_000_000, 99_999_999)),
            "VATNumber": None if consumer else f"{country}{rng.randint(0, 999_999_999):09d}B01",
            "Country": country + " " if rng.random() < 0.7 else country,
            "City": city,
            "Postcode": f"{zip_prefix}{rng.randint(10, 99)} {rng.choice('BCDEGHJKLNRTXZ')}{rng.choice('ABDEHJKLNRTX')}",
            "AddressLine1": f"{rng.choice(STREETS)} {rng.randint(1, 250)}",
            "IsSales": not supplier,
            "IsSupplier": supplier,
            "Status": "C" if not supplier else "A",
            "Blocked": rng.random() < 0.02,
            "Remarks": None,
            "Created": _iso(created),
        }
        email_roll = rng.random()
        account_email = f"administratie.{slug}.{number}@example.nl"
        person_email = f"{_slug(first)}.{_slug(full_last)}.{number}@example.{rng.choice(('nl', 'com'))}"
        if email_roll < 0.6:
            account["Email"] = account_email
            main_email: str | None = person_email if rng.random() < 0.5 else None
        elif email_roll < 0.9:
            main_email = person_email  # only the main contact has an address
        elif email_roll < 0.95:
            main_email = None  # nobody: the reminder cannot be e-mailed
        else:
            account["Email"] = account_email
            main_email = None
        people = 1 if consumer or supplier else rng.choice((1, 1, 2, 2, 3))
        for position in range(people):
            if position:
                first, prefix, last = _person(rng)
                full_last = f"{prefix} {last}".strip()
            contact_id = new_guid(rng)
            contact_created = created + timedelta(minutes=position + 1)
            contact = {
                "ID": contact_id,
                "Account": account["ID"],
                "FirstName": first,
                "MiddleName": prefix or None,
                "LastName": last,
                "FullName": f"{first} {full_last}",
                "Email": main_email
                if position == 0
                else (f"{_slug(first)}.{_slug(full_last)}.{number}@example.nl" if rng.random() < 0.5 else None),
                "Phone": _phone(rng) if rng.random() < 0.5 else None,
                "Language": account["Language"],
                "JobTitleDescription": None if consumer else rng.choice(_JOBS),
                "IsMainContact": position == 0,
                "Created": _iso(contact_created),
            }
            contacts.append(contact)
            if position == 0:
                account["MainContact"] = contact_id
        accounts.append(account)
    sales = [account for account in accounts if account["IsSales"]]
    for account in sales:  # a few branches are invoiced via their head office
        if len(sales) > 3 and rng.random() < 0.03:
            head = rng.choice(sales)
            if head is not account:
                account["InvoiceAccount"] = head["ID"]
    return accounts, contacts


def _due_dates(rng: random.Random, today: date, parts: int) -> tuple[date, list[date]]:
    """An invoice date and `parts` monthly due dates, the last between 120 days ago and 30 days ahead."""
    latest_first = add_months(today + timedelta(days=30), -(parts - 1))
    first_due = latest_first - timedelta(days=rng.randrange(150 - 30 * (parts - 1) if parts < 5 else 1))
    condition = 30 if first_due > today + timedelta(days=14) or rng.random() < 0.4 else 14
    invoice_date = min(today, first_due - timedelta(days=condition))
    return invoice_date, [add_months(first_due, step) for step in range(parts)]


def _invoice_terms(
    rng: random.Random,
    account: Mapping[str, Any],
    contact_ids: list[str],
    number: int,
    today: date,
    parts: int,
    *,
    state: str,
) -> list[dict[str, Any]]:
    """The terms of one sales invoice; `state` is open, partial (one paid part split off) or paid."""
    invoice_date, dues = _due_dates(rng, today, parts)
    cents = int(2_500 * (2_500_000 / 2_500) ** rng.random())  # log-uniform 25.00 .. 25,000.00
    amounts = split_amount(Decimal(cents) / 100, parts)
    created = _early(_at(invoice_date, rng), today)
    entry = new_guid(rng)
    your_ref = f"PO-{rng.randint(10_000, 99_999)}" if rng.random() < 0.4 else None
    contact = rng.choice(contact_ids) if contact_ids and rng.random() < 0.5 else None
    description = f"{rng.choice(SERVICES)} {_MONTHS[invoice_date.month - 1]} {invoice_date.year}"
    terms = []
    for due, amount in zip(dues, amounts, strict=True):
        term: dict[str, Any] = {
            "ID": new_guid(rng),
            "Account": account["ID"],
            "AccountContact": contact,
            "InvoiceNumber": number,
            "AmountDC": str(amount),
            "DueDate": due.isoformat(),
            "InvoiceDate": invoice_date.isoformat(),
            "Description": description,
            "YourRef": your_ref,
            "LineType": LINE_RECEIVABLE,
            "Status": STATUS_OPEN,
            "TransactionEntryID": entry,
            "Created": _iso(created),
        }
        terms.append(term)
    if state == "paid":
        for term in terms:
            paid_on = min(today, date.fromisoformat(term["DueDate"]) - timedelta(days=rng.randint(-10, 5)))
            paid_on = max(paid_on, invoice_date)
            term.update(
                Status=STATUS_MATCHED,
                LastPaymentDate=paid_on.isoformat(),
                Modified=_iso(_early(_at(paid_on, rng), today)),
            )
    elif state == "partial":
        first = terms[0]
        total = Decimal(first["AmountDC"])
        part = (total * Decimal(rng.choice((25, 40, 50))) / 100).quantize(CENT)
        paid_on = max(
            invoice_date, min(today, date.fromisoformat(first["DueDate"])) - timedelta(days=rng.randint(0, 7))
        )
        paid_stamp = _iso(_early(_at(paid_on, rng), today))
        remainder = {**first, "ID": new_guid(rng), "AmountDC": str(total - part), "Created": paid_stamp}
        first.update(
            AmountDC=str(part), Status=STATUS_MATCHED, LastPaymentDate=paid_on.isoformat(), Modified=paid_stamp
        )
        terms.append(remainder)
    return terms


def generate_seed(*, terms: int = 500, accounts: int = 150, seed: int = 0, today: date) -> dict[str, Any]:
    """An Exact-shaped seed for one division with exactly `terms` open receivable terms over `accounts`
    accounts (about 1 in 20 supplier-only). Also: ~15% of invoices in 2 or 3 terms, a few partially paid
    (split) and fully paid invoices, ~2% payables (LineType 22). Deterministic for (`seed`, `today`)."""
    if terms < 0 or accounts < 1:
        raise ValueError("need terms >= 0 and accounts >= 1")
    rng = random.Random(seed)
    suppliers = accounts // 20 if accounts >= 4 else 0
    customer_rows, contact_rows = _fake_accounts(rng, accounts - suppliers, suppliers, today)
    customers = [account for account in customer_rows if account["IsSales"]]
    supplier_rows = [account for account in customer_rows if account["IsSupplier"]]
    contacts_of: dict[str, list[str]] = {}
    for contact in contact_rows:
        contacts_of.setdefault(contact["Account"], []).append(contact["ID"])
    plans: list[tuple[int, str]] = []  # (number of terms, state) per invoice
    remaining = terms
    while remaining > 0:
        roll = rng.random()
        parts = 1 if roll < 0.85 else (2 if roll < 0.95 else 3)
        state = "partial" if rng.random() < 0.04 else "open"
        parts = min(parts, remaining)
        plans.append((parts, state))
        remaining -= parts
    plans += [(1 if rng.random() < 0.9 else 2, "paid") for _ in range(max(1, terms // 12) if terms else 0)]
    rng.shuffle(plans)
    owners = [customers[index % len(customers)] for index in range(len(plans))] if customers else []
    rng.shuffle(owners)
    first_number = today.year % 100 * 1_000_000 + 700_001
    invoices = [
        _invoice_terms(rng, owner, contacts_of.get(owner["ID"], []), 0, today, parts, state=state)
        for (parts, state), owner in zip(plans, owners, strict=False)
    ]
    invoices.sort(key=lambda rows: (rows[0]["InvoiceDate"], rows[0]["Created"]))
    term_rows: list[dict[str, Any]] = []
    for offset, rows in enumerate(invoices):
        for row in rows:
            row["InvoiceNumber"] = first_number + offset
        term_rows.extend(rows)
    payables = max(1, terms // 50) if supplier_rows and terms else 0
    for index in range(payables):
        supplier = rng.choice(supplier_rows)
        invoice_date, dues = _due_dates(rng, today, 1)
        cents = rng.randint(5_000, 500_000)
        paid = rng.random() < 0.3
        term_rows.append(
            {
                "ID": new_guid(rng),
                "Account": supplier["ID"],
                "InvoiceNumber": today.year % 100 * 1_000_000 + 600_001 + index,
                "AmountDC": str(Decimal(cents) / 100),
                "DueDate": dues[0].isoformat(),
                "InvoiceDate": invoice_date.isoformat(),
                "Description": f"Inkoopfactuur {supplier['Name']}",
                "YourRef": f"INK-{rng.randint(100_000, 999_999)}",
                "LineType": LINE_PAYABLE,
                "Status": STATUS_MATCHED if paid else STATUS_OPEN,
                "LastPaymentDate": dues[0].isoformat() if paid else None,
                "Created": _iso(_early(_at(invoice_date, rng), today)),
            }
        )
    client_id = new_guid(rng)
    return {
        "app": {
            "client_id": client_id,
            "client_secret": f"sim{rng.getrandbits(48):012x}",
            "redirect_uri": DEFAULT_REDIRECT_URI,
        },
        "divisions": [
            {
                "Code": 3_000_000 + rng.randrange(1_000_000),
                "Description": "Simulatie Groothandel B.V.",
                "accounts": customer_rows,
                "contacts": contact_rows,
                "terms": term_rows,
            }
        ],
    }
