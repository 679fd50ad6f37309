"""The Exact Online adapter: mirrors open receivables through Exact's change feeds, writes back activities.

Mirroring, per administration (one division, pinned in the configuration):

- first load, and every `consistency_check_days`: a full read of `read/financial/ReceivablesList` (60
  rows a call), with the change feeds' starting points taken from `read/sync/Sync/SyncTimestamp` just
  before it, so nothing that changes during the read is missed;
- every other pass: `sync/Cashflow/PaymentTerms` since the last `Timestamp` (1,000 rows a call, receipts
  kept, payments to suppliers dropped) plus `sync/Deleted`. A changed term is merged into the invoice
  the mirror holds; where that is not possible (terms known only by their HID), the invoice's terms are
  read again from `cashflow/Receivables`. A pass with nothing new costs 2 calls for invoices and 3 for
  customers (`sync/CRM/Accounts`, `sync/CRM/Contacts`, `sync/Deleted`).
- re-checks before an action read `cashflow/Receivables` for the invoices involved (one call for up to
  25 invoices).

Write-back: Exact has no notes on invoices and no dunning API. A note becomes a CommunicationNote on the
customer's account whose subject names the invoice; a call task becomes a Task (type "call"). Optionally
the account's `Remarks` carries one line with the connector's latest step.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

from adapters.exact_online.client import COUNTRY_HOSTS, DailyBudget, ExactOAuth, exact_api_client
from adapters.exact_online.mapping import (
    DIVISION_FIELDS,
    Term,
    contact_from_account,
    invoice_from_terms,
    invoices_from_terms,
    is_receipt,
    sender_from_division,
    term_from_receivable,
    term_from_receivables_list,
)
from adapters.exact_online.settings import ExactOnlineAdministration
from connector.clock import AMSTERDAM, Clock, business_date
from connector.ledger.http import ApiClient, HttpOptions, RateLimit, RateLimiter
from connector.ledger.oauth import TokenKeeper
from connector.ledger.port import (
    ApiBudget,
    AuthError,
    BadRecord,
    Capability,
    ChangeBatch,
    Contact,
    Invoice,
    LedgerAdapter,
    LedgerError,
    NotFound,
    Reachable,
    RequestRejected,
    SenderDetails,
    SyncState,
    TransientError,
    chunks,
    mapped,
)
from connector.log import get_logger

BATCH_SIZE = 500  # invoices or customers stored per transaction
FILTER_CHUNK = 25  # ids per `or` filter: keeps URLs short
TERM_FIELDS = (
    "ID,Account,AccountContact,AmountDC,AmountFC,Currency,Description,DueDate,EntryNumber,InvoiceDate,"
    "InvoiceNumber,IsFullyPaid,Status,YourRef"
)
SYNC_TERM_FIELDS = f"{TERM_FIELDS},LineType,Timestamp"
ACCOUNT_FIELDS = (
    "ID,Code,Name,Email,Phone,Language,ChamberOfCommerce,VATNumber,Country,City,Postcode,AddressLine1,"
    "MainContact,IsSales,Status,Blocked"
)
PERSON_FIELDS = "ID,Account,FullName,Email,IsMainContact,Language"
DELETED_FIELDS = "EntityKey,EntityType,Timestamp"
PAYMENT_TERM, ACCOUNT, PERSON = 10, 2, 5  # sync/Deleted EntityType
CALL_TASK = 1  # activities/Tasks TaskType
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
REMARKS_TAG = "[connector]"

log = get_logger("exact_online")


@dataclass(frozen=True)
class InvoiceCursor:
    terms: int
    deleted: int
    checked: str  # business date of the last full read

    @classmethod
    def parse(cls, text: str | None) -> InvoiceCursor | None:
        if not text:
            return None
        data = json.loads(text)
        return cls(int(data["terms"]), int(data["deleted"]), str(data["checked"]))

    def dump(self) -> str:
        return json.dumps({"terms": self.terms, "deleted": self.deleted, "checked": self.checked})


@dataclass(frozen=True)
class ContactCursor:
    accounts: int
    people: int
    deleted: int

    @classmethod
    def parse(cls, text: str | None) -> ContactCursor | None:
        if not text:
            return None
        data = json.loads(text)
        return cls(int(data["accounts"]), int(data["people"]), int(data["deleted"]))

    def dump(self) -> str:
        return json.dumps({"accounts": self.accounts, "people": self.people, "deleted": self.deleted})


class ExactOnlineAdapter(LedgerAdapter):
    platform = "exact_online"
    capabilities = frozenset({Capability.CALL_TASKS, Capability.SENDER_DETAILS, Capability.INVOICE_PDF})

    def __init__(
        self,
        client: ApiClient,
        budget: DailyBudget,
        division: int,
        clock: Clock,
        *,
        write_remarks: bool = False,
        consistency_check_days: int = 7,
    ) -> None:
        self.client = client
        self.daily = budget
        self.division = division
        self.clock = clock
        self.write_remarks = write_remarks
        self.consistency_check = timedelta(days=consistency_check_days)
        self._written: dict[str, list[tuple[str, str, str]]] = {}  # account -> (subject, notes, id) we know of

    @classmethod
    def from_config(
        cls,
        config: ExactOnlineAdministration,
        clock: Clock,
        options: HttpOptions,
        tokens: TokenKeeper | None = None,
    ) -> ExactOnlineAdapter:
        if tokens is None:
            raise AuthError("no token store: set CONNECTOR_SECRET_KEY and run `connector auth exact_online`")
        oauth = oauth_for(config, options)
        client, budget = exact_api_client(
            administration=config.name,
            host=oauth.host,
            division=config.division,
            client_id=config.client_id,
            keeper=tokens,
            connection=config.token_connection,
            oauth=oauth,
            options=options,
            timeout=config.timeout_seconds,
            rate_limit=RateLimit(config.rate_limit.requests, config.rate_limit.per_seconds)
            if config.rate_limit
            else None,
        )
        return cls(
            client,
            budget,
            config.division,
            clock,
            write_remarks=config.write_remarks,
            consistency_check_days=config.consistency_check_days,
        )

    # --- invoices -------------------------------------------------------------------------------------

    def invoice_changes(self, state: SyncState) -> Iterator[ChangeBatch[Invoice]]:
        cursor = InvoiceCursor.parse(state.cursor)
        today = business_date(self.clock)
        if cursor is None or date.fromisoformat(cursor.checked) + self.consistency_check <= today:
            yield from self._full_read(state, cursor, today)
            return
        term_rows, terms_at = self._feed("Cashflow/PaymentTerms", SYNC_TERM_FIELDS, cursor.terms)
        deleted_rows, deleted_at = self._feed("Deleted", DELETED_FIELDS, cursor.deleted)
        changed = [term_from_receivable(row) for row in term_rows if is_receipt(row) and _has_invoice(row)]
        gone = {str(row.get("EntityKey", "")).lower() for row in deleted_rows if row.get("EntityType") == PAYMENT_TERM}
        batch = self._apply_term_changes(state, changed, gone)
        batch.cursor = replace(cursor, terms=terms_at, deleted=deleted_at).dump()
        yield batch

    def _apply_term_changes(self, state: SyncState, changed: list[Term], gone: set[str]) -> ChangeBatch[Invoice]:
        """Merge changed and deleted terms into the invoices the mirror holds; read again what cannot be merged."""
        by_invoice: dict[str, list[Term]] = {}
        for term in changed:
            by_invoice.setdefault(str(term.invoice_number), []).append(term)
        holders: dict[str, Mapping[str, Any]] = {}
        if gone:  # which open invoices held the deleted terms (payables' terms are in the feed too)
            holders = {
                number: raw
                for number, raw in state.stored_raw(None).items()
                if any(_term_key(row) in gone for row in raw.get("terms", []))
            }
        stored = dict(state.stored_raw([n for n in by_invoice if n in state.known_versions]))
        stored.update(holders)
        batch: ChangeBatch[Invoice] = ChangeBatch()
        reread: list[str] = []
        for number in sorted(set(by_invoice) | set(holders), key=int):
            previous = stored.get(number)
            known_terms = [_stored_term(row) for row in previous.get("terms", [])] if previous else []
            if any(term is None for term in known_terms):
                reread.append(number)  # held by HID only, or unreadable: ask the ledger
                continue
            merged = {t.key: t for t in known_terms if t is not None and t.key not in gone}
            merged.update({t.key: t for t in by_invoice.get(number, [])})
            if not merged:
                batch.deleted.append(number)
                continue
            try:
                invoice = invoice_from_terms(int(number), list(merged.values()))
            except BadRecord as problem:
                batch.bad.append(problem)
                continue
            if invoice.status.is_open or number in state.known_versions:
                batch.records.append(invoice)
        if reread:
            found = self.invoices_by_id(reread)
            batch.records += found.records
            batch.deleted += found.deleted
            batch.bad += found.bad
        return batch

    def _full_read(self, state: SyncState, cursor: InvoiceCursor | None, today: date) -> Iterator[ChangeBatch[Invoice]]:
        """Every open term from ReceivablesList; the feeds continue from just before the read began."""
        if cursor is None:
            terms_at, deleted_at = self._feed_start("PaymentTerms"), self._feed_start("Deleted")
        else:
            terms_at, deleted_at = cursor.terms, cursor.deleted
        terms: list[Term] = []
        bad: list[BadRecord] = []
        for row in self.pages("read/financial/ReceivablesList", {}):
            try:
                terms.append(term_from_receivables_list(row))
            except (KeyError, ValueError, TypeError) as exc:
                key = str(row.get("HID") or row.get("Id") or "?")
                bad.append(BadRecord("invoice", f"term {key}", f"cannot be mapped: {exc!r}", dict(row)))
        invoices, problems = invoices_from_terms(terms)
        bad += problems
        listed = {invoice.ledger_id for invoice in invoices} | {problem.ledger_id for problem in problems}
        changed = [invoice for invoice in invoices if state.is_news(invoice.ledger_id, invoice.version)]
        for start in range(0, len(changed), BATCH_SIZE):
            yield ChangeBatch(records=changed[start : start + BATCH_SIZE])
        # Not listed is settled, says Exact; ask why (paid or deleted) rather than assume.
        left = sorted((i for i in state.known_versions if i not in listed), key=_number_order)
        final: ChangeBatch[Invoice] = self.invoices_by_id(left) if left else ChangeBatch()
        final.bad += bad
        final.cursor = InvoiceCursor(terms_at, deleted_at, today.isoformat()).dump()
        yield final

    def invoices_by_id(self, ledger_ids: Sequence[str]) -> ChangeBatch[Invoice]:
        """The invoices' terms, open and settled, from cashflow/Receivables; no term at all means deleted."""
        batch: ChangeBatch[Invoice] = ChangeBatch()
        numbers = [i for i in ledger_ids if i.isdigit()]
        batch.deleted += [i for i in ledger_ids if not i.isdigit()]
        for chunk in chunks(numbers, FILTER_CHUNK):
            where = " or ".join(f"InvoiceNumber eq {number}" for number in chunk)
            terms: list[Term] = []
            for row in self.pages("cashflow/Receivables", {"$filter": where, "$select": TERM_FIELDS}):
                try:
                    terms.append(term_from_receivable(row))
                except (KeyError, ValueError, TypeError) as exc:
                    number = str(row.get("InvoiceNumber") or "?")
                    batch.bad.append(BadRecord("invoice", number, f"cannot be mapped: {exc!r}", dict(row)))
            invoices, bad = invoices_from_terms(terms)
            batch.records += invoices
            batch.bad += bad
            seen = {invoice.ledger_id for invoice in invoices} | {problem.ledger_id for problem in bad}
            batch.deleted += [number for number in chunk if number not in seen]
        return batch

    # --- customers ------------------------------------------------------------------------------------

    def contact_changes(self, state: SyncState) -> Iterator[ChangeBatch[Contact]]:
        cursor = ContactCursor.parse(state.cursor)
        if cursor is None:
            cursor = ContactCursor(1, 1, self._feed_start("Deleted"))
        accounts, accounts_at = self._feed("CRM/Accounts", f"{ACCOUNT_FIELDS},Timestamp", cursor.accounts)
        people, people_at = self._feed("CRM/Contacts", f"{PERSON_FIELDS},Timestamp", cursor.people)
        deleted, deleted_at = self._feed("Deleted", DELETED_FIELDS, cursor.deleted)
        gone_people = {str(row.get("EntityKey", "")).lower() for row in deleted if row.get("EntityType") == PERSON}
        wanted = set(state.wanted_ids)
        relevant = set(state.known_versions) | wanted
        new_accounts = {
            _id(row): row for row in accounts if _id(row) in relevant or row.get("IsSales") in (True, "true")
        }
        new_people: dict[str, list[Mapping[str, Any]]] = {}
        for row in people:
            new_people.setdefault(str(row.get("Account") or "").lower(), []).append(row)
        affected = set(new_accounts) | (set(new_people) & relevant)
        if gone_people:
            affected |= {
                account_id
                for account_id, raw in state.stored_raw(None).items()
                if any(_id(person) in gone_people for person in raw.get("people", []))
            }
        stored = state.stored_raw(sorted(affected - set(new_accounts)))
        missing = sorted(wanted - set(new_accounts) - set(stored))
        contacts: list[Contact] = []
        bad: list[BadRecord] = []
        for account_id in sorted(affected):
            previous = stored.get(account_id) or {}
            account = new_accounts.get(account_id) or previous.get("account")
            if not account:
                continue  # a contact person of an account nobody owes anything
            everyone = {_id(p): p for p in previous.get("people", []) if _id(p) not in gone_people}
            everyone.update({_id(p): p for p in new_people.get(account_id, [])})
            _collect_contact(contacts, bad, account, list(everyone.values()))
        if missing:
            fetched = self.contacts_by_id(missing)
            contacts += fetched.records
            bad += fetched.bad
        for start in range(0, max(len(contacts), 1), BATCH_SIZE):
            last = start + BATCH_SIZE >= len(contacts)
            yield ChangeBatch(
                records=contacts[start : start + BATCH_SIZE],
                bad=bad if last else [],
                cursor=ContactCursor(accounts_at, people_at, deleted_at).dump() if last else None,
            )

    def contacts_by_id(self, ledger_ids: Sequence[str]) -> ChangeBatch[Contact]:
        batch: ChangeBatch[Contact] = ChangeBatch()
        ids = [i.lower() for i in ledger_ids if _GUID.match(i)]
        batch.deleted += [i for i in ledger_ids if not _GUID.match(i)]
        for chunk in chunks(ids, FILTER_CHUNK):
            accounts = {
                _id(row): row
                for row in self.pages(
                    "crm/Accounts",
                    {"$filter": " or ".join(f"ID eq guid'{i}'" for i in chunk), "$select": ACCOUNT_FIELDS},
                )
            }
            people: dict[str, list[Mapping[str, Any]]] = {}
            if accounts:
                where = " or ".join(f"Account eq guid'{i}'" for i in accounts)
                for row in self.pages("crm/Contacts", {"$filter": where, "$select": PERSON_FIELDS}):
                    people.setdefault(str(row.get("Account") or "").lower(), []).append(row)
            for account_id in chunk:
                account = accounts.get(account_id)
                if account is None:
                    batch.deleted.append(account_id)
                else:
                    _collect_contact(batch.records, batch.bad, account, people.get(account_id, []))
        return batch

    # --- write-back -----------------------------------------------------------------------------------

    def add_note(self, invoice: Invoice, text: str, *, todo: bool = False) -> str:
        account = _account_guid(invoice)
        headline = _first_line(text)
        now = self.clock.now().astimezone(AMSTERDAM).replace(tzinfo=None, microsecond=0)
        if todo:
            endpoint, body = (
                "activities/Tasks",
                {
                    "Account": account,
                    "Description": f"{_subject_prefix(invoice)}: {headline}"[:200],
                    "Notes": text,
                    "ActionDate": now.date().isoformat() + "T00:00:00",
                    "TaskType": CALL_TASK,
                },
            )
        else:
            endpoint, body = (
                "activities/CommunicationNotes",
                {
                    "Account": account,
                    "Subject": f"{_subject_prefix(invoice)}: {headline}"[:200],
                    "Notes": text,
                    "Date": now.isoformat(),
                },
            )
        answer = self.client.post_json(self._path(endpoint), endpoint=f"{endpoint}.create", body=body)
        record = answer.get("d", answer) if isinstance(answer, dict) else {}
        if isinstance(record, dict) and str(record.get("Account") or "").lower() != account:
            # Exact drops a GUID it does not know without a word: the note is not on the customer.
            raise RequestRejected(f"{endpoint}: the ledger did not attach the note to account {account}", 400)
        note_id = str(record.get("ID", "")) if isinstance(record, dict) else ""
        if account in self._written:
            self._written[account].append((str(body.get("Subject") or body.get("Description")), text, note_id))
        if self.write_remarks:
            self._write_remarks(account, f"{self.clock.now().astimezone(AMSTERDAM):%Y-%m-%d} {headline}")
        return note_id

    def find_note(self, invoice: Invoice, marker: str) -> str | None:
        """Notes live on the account, one per invoice: the marker and the invoice named in the subject.

        The account's notes and tasks are read once per adapter (one cycle), then kept up to date by
        `add_note`: the dispatcher asks before every note, and an action covers several invoices.
        """
        account = _account_guid(invoice)
        if account not in self._written:
            found: list[tuple[str, str, str]] = []
            for endpoint, title in (("activities/CommunicationNotes", "Subject"), ("activities/Tasks", "Description")):
                query = {"$filter": f"Account eq guid'{account}'", "$select": f"ID,Notes,{title}"}
                found += [
                    (str(row.get(title) or ""), str(row.get("Notes") or ""), str(row.get("ID", "")))
                    for row in self.pages(endpoint, query)
                ]
            self._written[account] = found
        names = f"{_subject_prefix(invoice)}:"
        return next(
            (i for title, notes, i in self._written[account] if marker in notes and title.startswith(names)), None
        )

    def _write_remarks(self, account: str, line: str) -> None:
        """One line in the account's Remarks says what the connector did last; a person's text stays."""
        try:
            rows = list(self.pages("crm/Accounts", {"$filter": f"ID eq guid'{account}'", "$select": "ID,Remarks"}))
            remarks = str(rows[0].get("Remarks") or "") if rows else ""
            kept = [r for r in remarks.splitlines() if not r.startswith(REMARKS_TAG)]
            merged = "\n".join([*kept, f"{REMARKS_TAG} {line}"]).strip()
            self.client.request(
                "PUT",
                self._path(f"crm/Accounts(guid'{account}')"),
                endpoint="crm/Accounts.update",
                json={"Remarks": merged},
            )
        except LedgerError as exc:  # the note is written; the remark is a courtesy
            log.warning("exact_online.remarks_failed", account=account, error=str(exc))

    # --- reading --------------------------------------------------------------------------------------

    def _feed(self, resource: str, fields: str, since: int) -> tuple[list[Mapping[str, Any]], int]:
        """Rows of a sync endpoint changed after `since`, and the Timestamp to continue from."""
        rows = list(self.pages(f"sync/{resource}", {"$filter": f"Timestamp gt {since}L", "$select": fields}))
        latest = max((int(row.get("Timestamp") or 0) for row in rows), default=since)
        return rows, max(latest, since)

    def _feed_start(self, endpoint: str) -> int:
        """Where a change feed starts when the full read begins now: Exact's SyncTimestamp an hour back (clock
        skew; anything seen twice is merged again), or the feed's beginning if the ledger cannot tell."""
        moment = (self.clock.now() - timedelta(hours=1)).astimezone(AMSTERDAM).replace(tzinfo=None, microsecond=0)
        params = {"modified": f"datetime'{moment.isoformat()}'", "endPoint": f"'{endpoint}'"}
        try:
            rows = list(self.pages("read/sync/Sync/SyncTimestamp", params))
        except (NotFound, RequestRejected) as exc:
            log.warning("exact_online.sync_timestamp_unavailable", endpoint=endpoint, error=str(exc))
            return 1
        values = [int(row["TimeStampAsBigInt"]) for row in rows if row.get("TimeStampAsBigInt") is not None]
        return max(values, default=1)

    def sender_details(self) -> SenderDetails:
        """The division's own details (`system/Divisions`, one call): name, KvK, VAT number, address."""
        params = {"$filter": f"Code eq {self.division}", "$select": DIVISION_FIELDS}
        rows = list(self.pages("system/Divisions", params))
        if not rows:
            raise NotFound(f"division {self.division} is not among the divisions this user can reach")
        return sender_from_division(rows[0])

    def invoice_pdf(self, invoice: Invoice, max_bytes: int) -> bytes | None:
        """The invoice's document (a sales invoice, Type 10, found by its number) and its PDF attachment: two calls,
        and the download when the file is no larger than allowed. None for a receivable Exact made no invoice
        document for (an entry booked by hand, an imported one)."""
        number = invoice.number or ""
        if not number.isdigit():
            return None
        search = {"$filter": f"Type eq 10 and SalesInvoiceNumber eq {int(number)}", "$select": "ID"}
        documents = list(self.pages("documents/Documents", search))
        if not documents:
            return None
        found = {"$filter": f"Document eq guid'{documents[0]['ID']}'", "$select": "FileName,FileSize,Url"}
        pdfs = [
            row
            for row in self.pages("documents/DocumentAttachments", found)
            if str(row.get("FileName") or "").lower().endswith(".pdf") and row.get("Url")
        ]
        if not pdfs or float(pdfs[0].get("FileSize") or 0) > max_bytes:
            return None
        response = self.client.request("GET", str(pdfs[0]["Url"]), endpoint="documents.attachment.download")
        content = bytes(response.content)
        return content if content.startswith(b"%PDF-") and len(content) <= max_bytes else None

    def pages(
        self, resource: str, params: Mapping[str, str], *, division: int | str | None = None
    ) -> Iterator[Mapping[str, Any]]:
        """Rows of a collection, following `__next` verbatim (its skip token is the ledger's business).
        `division`: another path segment than the administration's own (`current/Me`, listing divisions)."""
        url: str | None = f"{division}/{resource}" if division is not None else self._path(resource)
        query: Mapping[str, str] | None = params
        label = resource.split("(")[0]
        while url is not None:
            body = self.client.get_json(url, endpoint=f"{label}.list", params=query)
            results, url = _unwrap(body, resource)
            yield from results
            query = None
            if url is not None:
                url = self._relative(url)

    def _relative(self, next_url: str) -> str:
        """`__next` is absolute; the client's base is `{host}/api/v1/`."""
        parts = urlsplit(next_url)
        path = parts.path.split("/api/v1/", 1)[-1]
        return f"{path}?{parts.query}" if parts.query else path

    def _path(self, resource: str) -> str:
        return f"{self.division}/{resource}"

    # --- plumbing -------------------------------------------------------------------------------------

    def api_calls(self) -> Mapping[str, int]:
        return self.client.api_calls()

    def rate_limiter(self) -> RateLimiter:
        return self.client.limiter

    def throttled_responses(self) -> int:
        return self.client.throttled_responses()

    def budget(self) -> ApiBudget | None:
        return self.daily.current()

    def close(self) -> None:
        self.client.close()


def oauth_for(config: ExactOnlineAdministration, options: HttpOptions | None = None) -> ExactOAuth:
    """The OAuth endpoints for an administration: the country's host, or `base_url` (a simulator, a proxy)."""
    return ExactOAuth(
        host=config.base_url or COUNTRY_HOSTS[config.country],
        client_id=config.client_id,
        client_secret=config.client_secret.get_secret_value(),
        redirect_uri=config.redirect_uri,
        transport=options.transport if options else None,
        timeout=config.timeout_seconds,
    )


def reachable_divisions(config: ExactOnlineAdministration, tokens: TokenKeeper, clock: Clock) -> list[Reachable]:
    """The divisions the consenting user can reach (`system/Divisions`). `current/Me` only tells which
    division to put in this one URL; the administration's own division is always the configured one."""
    adapter = ExactOnlineAdapter.from_config(config, clock, HttpOptions(), tokens)
    with adapter:
        me = list(adapter.pages("Me", {"$select": "CurrentDivision"}, division="current"))
        current = me[0].get("CurrentDivision") if me else None
        if current is None:
            raise AuthError("current/Me did not name a division to list from")
        params = {"$select": "Code,Description,CustomerName,Status,BlockingStatus"}
        return [
            Reachable(code=str(row.get("Code")), description=str(row.get("Description") or ""))
            for row in adapter.pages("system/Divisions", params, division=current)
        ]


def _unwrap(body: Any, resource: str) -> tuple[list[Mapping[str, Any]], str | None]:
    """OData envelopes: `{"d": {"results": [...], "__next": url}}`, `{"d": [...]}` or `{"d": {row}}`."""
    if not isinstance(body, dict) or "d" not in body:
        raise TransientError(f"{resource}: not an OData answer")
    data = body["d"]
    if isinstance(data, list):
        return [row for row in data if isinstance(row, dict)], None
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        next_url = data.get("__next")
        return [row for row in data["results"] if isinstance(row, dict)], str(next_url) if next_url else None
    if isinstance(data, dict):
        return [data], None
    raise TransientError(f"{resource}: not an OData answer")


def _id(row: Mapping[str, Any]) -> str:
    return str(row.get("ID") or "").lower()


def _has_invoice(row: Mapping[str, Any]) -> bool:
    number = row.get("InvoiceNumber")
    return number not in (None, "", 0, "0")


def _term_key(row: Mapping[str, Any]) -> str:
    return str(row.get("ID") or row.get("Id") or "").lower()


def _stored_term(row: Mapping[str, Any]) -> Term | None:
    """A term from the mirror's payload, if it carries the ID that the change feed uses."""
    try:
        if "Account" in row and row.get("ID"):
            return term_from_receivable(row)
        if "AccountId" in row and row.get("Id"):
            return term_from_receivables_list(row)
    except (KeyError, ValueError, TypeError):
        return None
    return None


def _collect_contact(
    into: list[Contact], bad: list[BadRecord], account: Mapping[str, Any], people: list[Mapping[str, Any]]
) -> None:
    try:
        into.append(
            mapped(lambda: contact_from_account(account, people), "contact", _id(account) or "?", dict(account))
        )
    except BadRecord as problem:
        bad.append(problem)


def _account_guid(invoice: Invoice) -> str:
    if not _GUID.match(invoice.contact_id):
        raise NotFound(f"not an Exact Online account id: {invoice.contact_id!r}")
    return invoice.contact_id.lower()


def _subject_prefix(invoice: Invoice) -> str:
    """How a note names its invoice in Exact, where notes belong to the account."""
    return f"Factuur {invoice.number or invoice.ledger_id}"


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")[:160]


def _number_order(ledger_id: str) -> tuple[int, str]:
    return (int(ledger_id), "") if ledger_id.isdigit() else (0, ledger_id)
