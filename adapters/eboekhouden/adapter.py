"""The e-Boekhouden adapter: mirrors the open items and their relations, keeps a summary on the relation.

e-Boekhouden's REST API has no change feed, no due dates, no invoice notes and no dunning state, so:

- every pass reads the open items, `GET /v1/mutation/invoice/outstanding?credDeb=D`, 2,000 a call until a
  short page. An item whose row is unchanged costs nothing more: its payment term was derived once and is
  kept in the mirror (a booked invoice's term does not change).
- a new item's term comes from the invoice list, `GET /v1/invoice` (2,000 a call, only from the oldest new
  item's date on), matched by invoice number and relation; items no invoice record covers (booked
  directly) from their booking, `GET /v1/mutation/{id}`; when neither names a term, from the relation,
  else the configured default.
- an item that left the list is settled; one `GET /v1/mutation/{id}` tells paid (the booking is there)
  from deleted (404). The API does not say whether "settled" was a payment, a credit note or a write-off.
- relations: the list carries only id, type and code, so each is read by id once, and again after
  `relation_refresh_hours` (a slice each pass, so the refresh never comes as a burst).
- re-checks before an action: the outstanding list filtered by the invoice number (one call an invoice;
  the whole list when that is cheaper), and the customer's relation, so the address is the current one.

Write-back: the only writable place is the relation. The connector keeps a short summary there: a
delimited block at the end of its `note` (newest line first; the person's own text outside the block is
never touched), or the latest step in one `freeTextN` field. The full history stays in the store.
A call task is a line in that summary too: e-Boekhouden has no tasks.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from adapters.eboekhouden.client import eboekhouden_client, end_sessions
from adapters.eboekhouden.mapping import (
    OpenItem,
    Term,
    contact_from_relation,
    fetched_at,
    free_text_line,
    has_line,
    invoice_from_item,
    invoice_term,
    ledger_id,
    note_line,
    open_item,
    patch_body,
    settled_invoice,
    term_days,
    term_from_raw,
    with_summary_line,
)
from adapters.eboekhouden.settings import EboekhoudenAdministration
from connector.clock import Clock
from connector.ledger.http import ApiClient, HttpOptions, RateLimit, RateLimiter, download
from connector.ledger.port import (
    BadRecord,
    Capability,
    ChangeBatch,
    Contact,
    Invoice,
    InvoiceStatus,
    LedgerAdapter,
    NotFound,
    RequestRejected,
    SyncState,
    TransientError,
    chunks,
    mapped,
)
from connector.log import get_logger

__all__ = ["EboekhoudenAdapter", "end_sessions"]

PAGE = 2000  # the API's maximum `limit`
MAX_PAGES = 1000  # 2,000,000 rows: beyond that the ledger is not paging as documented
BATCH_SIZE = 500  # invoices or contacts stored per transaction
MIN_REFRESH_SLICE = 10  # relations read again per pass at least, when any are due
FRESH_SECONDS = 2.0  # a relation read this recently is good enough to write back to
_MARKER = re.compile(r"\[ref [0-9a-f]+\]")

log = get_logger("eboekhouden")


_UNREADABLE = object()  # a booking the ledger refused to show


class EboekhoudenAdapter(LedgerAdapter):
    platform = "eboekhouden"
    # Call tasks as a line in the relation's summary; the invoice's PDF from its shareable link.
    capabilities = frozenset({Capability.CALL_TASKS, Capability.INVOICE_PDF})

    def __init__(
        self,
        client: ApiClient,
        clock: Clock,
        *,
        session: Any = None,
        note_field: str = "note",
        default_term_days: int = 30,
        relation_refresh: timedelta = timedelta(hours=24),
        sync_interval: timedelta = timedelta(minutes=5),
    ) -> None:
        self.client = client
        self.clock = clock
        self.session = session
        self.note_field = note_field
        self.default_term_days = default_term_days
        self.relation_refresh = relation_refresh
        self.sync_interval = sync_interval
        self._known: dict[str, dict[str, Any]] = {}  # mirror payloads (with their terms) seen this cycle
        self._stored_raw: Any = None  # the mirror's payloads, for re-checks of items not seen this cycle
        self._listed = 0  # open items in the last full read
        self._relations: dict[str, Mapping[str, Any]] = {}  # relations read during this adapter's life
        self._unsent: set[str] = set()  # ... of which the mirror has not been given yet
        # Relations as last read or written, with when: a write within FRESH_SECONDS needs no read first.
        self._looked_up: dict[str, tuple[float, Mapping[str, Any], str | None]] = {}
        self._sessions_at_start = session.created if session is not None else 0
        self.page_size = PAGE

    @classmethod
    def from_config(
        cls, config: EboekhoudenAdministration, clock: Clock, options: HttpOptions, tokens: object = None
    ) -> EboekhoudenAdapter:
        """`tokens` is unused: the API token comes from the configuration."""
        override = config.rate_limit
        client, session = eboekhouden_client(
            administration=config.name,
            api_token=config.api_token.get_secret_value(),
            source=config.source,
            base_url=config.base_url,
            options=options,
            timeout=config.timeout_seconds,
            rate_limit=RateLimit(override.requests, override.per_seconds) if override else None,
        )
        return cls(
            client,
            clock,
            session=session,
            note_field=config.note_field,
            default_term_days=config.default_payment_term_days,
            relation_refresh=timedelta(hours=config.relation_refresh_hours),
            sync_interval=timedelta(seconds=config.sync_interval),
        )

    # --- open items -----------------------------------------------------------------------------------

    def invoice_changes(self, state: SyncState) -> Iterator[ChangeBatch[Invoice]]:
        self._stored_raw = state.stored_raw
        items, bad = self._open_items()
        self._listed = len(items) + len(bad)
        fresh = [row for row in bad if state.quarantined_versions.get(row.ledger_id, _ABSENT) != row.version]
        changed = sorted(
            (item for item in items.values() if state.is_news(item.mutation_id, item.version)),
            key=lambda item: _number_order(item.mutation_id),
        )
        listed = set(items) | {row.ledger_id for row in bad}
        left = sorted((i for i in state.known_versions if i not in listed), key=_number_order)
        stored = state.stored_raw([item.mutation_id for item in changed if item.mutation_id in state.known_versions])
        self._known.update({item_id: dict(raw) for item_id, raw in stored.items()})
        listed_terms = self._listed_terms(changed, stored)
        if fresh:
            yield ChangeBatch(bad=fresh)
        for chunk in chunks(changed, BATCH_SIZE):
            batch: ChangeBatch[Invoice] = ChangeBatch()
            for item in chunk:
                try:
                    term = listed_terms.get(item.mutation_id) or self._booking_term(item)
                except RequestRejected as exc:  # this one booking cannot be read: the rest goes on
                    reason = f"no payment term: its booking cannot be read ({exc})"
                    batch.bad.append(BadRecord("invoice", item.mutation_id, reason, dict(item.row), item.version))
                    continue
                invoice = invoice_from_item(item, term)
                self._known[item.mutation_id] = dict(invoice.raw)
                batch.records.append(invoice)
            batch.contacts = self._take_new_relations()
            yield batch
        if left:
            yield from self._settled(left, state.stored_raw(left), confirm=self._listed >= self.page_size)

    def _open_items(self, invoice_number: str | None = None) -> tuple[dict[str, OpenItem], list[BadRecord]]:
        """Every open sales item (or those with one invoice number), by mutation id, and the unreadable rows."""
        params = {"credDeb": "D"} if invoice_number is None else {"credDeb": "D", "invoiceNumber": invoice_number}
        items: dict[str, OpenItem] = {}
        bad: list[BadRecord] = []
        for row in self._pages("v1/mutation/invoice/outstanding", "mutation.invoice.outstanding", params):
            try:
                item = open_item(row)
            except BadRecord as problem:
                bad.append(problem)
                continue
            items.setdefault(item.mutation_id, item)
        return items, bad

    def _listed_terms(self, items: Sequence[OpenItem], stored: Mapping[str, Mapping[str, Any]]) -> dict[str, Term]:
        """The terms known without a call per item: derived before (kept in the mirror), or on the invoice
        list, read once from the oldest item's date on. Credit notes need none."""
        terms: dict[str, Term] = {}
        for item in items:
            found = term_from_raw(stored.get(item.mutation_id) or {})
            if found is not None:
                terms[item.mutation_id] = found
            elif item.outstanding <= 0:
                terms[item.mutation_id] = Term(0, "credit")
        missing = [item for item in items if item.mutation_id not in terms]
        if missing:
            try:
                by_number = self._invoice_terms(since=min(item.invoice_date for item in missing))
            except RequestRejected as exc:  # e.g. MODULE_002: no invoicing module; the bookings still tell
                log.warning("invoice_list.unavailable", error=str(exc))
                by_number = {}
            for item in missing:
                term = by_number.get((item.invoice_number or "", item.relation_id))
                if term is not None:
                    terms[item.mutation_id] = term
        return terms

    def _invoice_terms(self, since: date | None = None, number: str | None = None) -> dict[tuple[str, str], Term]:
        """(invoice number, relation id) -> term, from the invoice list dated `since` or later."""
        params: dict[str, str] = {}
        if number is not None:
            params["invoiceNumber"] = number
        elif since is not None:
            params["date[gte]"] = since.isoformat()
        found: dict[tuple[str, str], Term] = {}
        for record in self._pages("v1/invoice", "invoice.list", params):
            number_found, relation = record.get("invoiceNumber"), ledger_id(record.get("relationId"))
            term = invoice_term(record)
            if number_found and relation and term is not None:
                found.setdefault((str(number_found), relation), term)
        return found

    def _booking_term(self, item: OpenItem) -> Term:
        """The term on the booking, else the relation's, else the default (one call each, cached)."""
        try:
            booking = self._mutation(item.mutation_id)
        except NotFound:
            booking = {}
        days = term_days(booking.get("termOfPayment"))
        if days is not None:
            return Term(days, "mutation")
        relation = self._relation(item.relation_id)
        days = term_days(relation.get("termOfPayment")) if relation else None
        if days is not None:
            return Term(days, "relation")
        return Term(self.default_term_days, "default")

    def _settled(
        self, ids: Sequence[str], stored: Mapping[str, Mapping[str, Any]], *, confirm: bool
    ) -> Iterator[ChangeBatch[Invoice]]:
        """Items that left the list: paid when the booking is still there, deleted when it is not. When the
        list took several pages, a payment between two page reads shifts the offsets and can hide an open
        item, so each is first looked up by its number (one call): absent there too, it has left."""
        for chunk in chunks(ids, BATCH_SIZE):
            batch: ChangeBatch[Invoice] = ChangeBatch()
            for item_id in chunk:
                raw = stored.get(item_id)
                number = (raw or {}).get("outstanding", {}).get("invoiceNumber")
                if confirm and number:
                    items, bad = self._open_items(str(number))
                    if self._still_open(batch, item_id, items, bad, raw):
                        continue
                booking = self._booking(batch, item_id, raw)
                if booking is not _UNREADABLE:
                    self._close(batch, item_id, raw, deleted=booking is None)
            batch.contacts = self._take_new_relations()
            yield batch

    def _still_open(
        self,
        batch: ChangeBatch[Invoice],
        item_id: str,
        items: Mapping[str, OpenItem],
        bad: Sequence[BadRecord],
        raw: Mapping[str, Any] | None,
    ) -> bool:
        """Add the item to `batch` if the list still has it (or has it unreadable); False when it is gone."""
        refused = [row for row in bad if row.ledger_id == item_id]
        if refused:
            batch.bad.extend(refused)  # cannot judge it: quarantined, never settled on a guess
            return True
        item = items.get(item_id)
        if item is None:
            return False
        term = term_from_raw(raw or {}) or self._term_for_one(item)
        invoice = invoice_from_item(item, term)
        self._known[item_id] = dict(invoice.raw)
        batch.records.append(invoice)
        return True

    def _close(
        self, batch: ChangeBatch[Invoice], item_id: str, raw: Mapping[str, Any] | None, *, deleted: bool
    ) -> None:
        """The item left the open list: settled, or deleted when its booking is gone."""
        if deleted and not raw:
            batch.deleted.append(item_id)
            return
        try:
            batch.records.append(settled_invoice(raw or {}, deleted=deleted))
        except BadRecord as problem:
            problem.status = InvoiceStatus.DELETED if deleted else InvoiceStatus.PAID
            batch.bad.append(problem)

    def _booking(self, batch: ChangeBatch[Invoice], item_id: str, raw: Mapping[str, Any] | None) -> Any:
        """The item's booking (None when it is deleted); `batch.bad` gets it when it cannot be read."""
        try:
            return self._mutation(item_id)
        except NotFound:
            return None
        except RequestRejected as exc:  # this one booking cannot be read: the rest goes on
            batch.bad.append(BadRecord("invoice", item_id, f"left the open list; its booking: {exc}", dict(raw or {})))
            return _UNREADABLE

    def invoice_pdf(self, invoice: Invoice, max_bytes: int) -> bytes | None:
        """No API call: the invoice list gave each invoice a shareable link to its PDF (`urlPdfFile`), kept with
        its term. None for an item whose term came from elsewhere (the list did not hold it)."""
        url = invoice.raw.get("urlPdfFile")
        if not url:
            return None
        return download(str(url), max_bytes=max_bytes, timeout=self.client.timeout)

    def invoices_by_id(self, ledger_ids: Sequence[str]) -> ChangeBatch[Invoice]:
        """The re-check before an action, at one read of the open list: filtered by invoice number for one
        invoice, the whole list (a call per 2,000 open items) for a message about several. An item the read
        does not hold left the list, and its booking tells how: paid, deleted, or renumbered (then it is read
        again under its new number, the one case that costs a second read). An unreadable row is reported as
        bad, never settled on a guess."""
        batch: ChangeBatch[Invoice] = ChangeBatch()
        ids = list(dict.fromkeys(ledger_ids))
        raws = dict(self._known)
        unknown = [i for i in ids if i not in raws]
        if unknown and self._stored_raw is not None:
            raws.update(self._stored_raw(unknown))
        numbers = {i: str((raws.get(i) or {}).get("outstanding", {}).get("invoiceNumber") or "") for i in ids}
        one_number = numbers[ids[0]] if len(ids) == 1 else ""
        listed, unreadable = self._open_items(one_number or None)
        for item_id in ids:
            raw = raws.get(item_id)
            if item_id not in listed and not any(row.ledger_id == item_id for row in unreadable):
                booking = self._booking(batch, item_id, raw)
                if booking is _UNREADABLE:
                    continue
                renumbered = str((booking or {}).get("invoiceNumber") or "")
                if booking is not None and renumbered and renumbered != numbers[item_id]:
                    found, bad = self._open_items(renumbered)
                    listed.update(found)
                    unreadable += bad
                if not self._still_open(batch, item_id, listed, unreadable, raw):
                    self._close(batch, item_id, raw, deleted=booking is None)
                continue
            self._still_open(batch, item_id, listed, unreadable, raw)
        # The relation too, as it is now: a reminder must not go to the address it had this morning (there
        # is no change feed to tell). One call per customer per action.
        for relation_id in sorted({i.contact_id for i in batch.records if i.status is InvoiceStatus.OPEN}):
            try:
                self._read_relation(relation_id)
            except NotFound:
                continue  # the invoice's own state decides; a relation that went is the next pass's news
        batch.contacts = self._take_new_relations()
        return batch

    def _term_for_one(self, item: OpenItem) -> Term:
        if item.outstanding <= 0:
            return Term(0, "credit")
        if item.invoice_number:
            found = self._invoice_terms(number=item.invoice_number).get((item.invoice_number, item.relation_id))
            if found is not None:
                return found
        return self._booking_term(item)

    # --- relations ------------------------------------------------------------------------------------

    def contact_changes(self, state: SyncState) -> Iterator[ChangeBatch[Contact]]:
        """Wanted relations, and a slice of those read longest ago once they are due again."""
        now = self.clock.now()
        recently_refused = {
            i for i, version in state.quarantined_versions.items() if _younger(version, now, self.relation_refresh)
        }
        wanted = sorted(set(state.wanted_ids) - recently_refused, key=_number_order)
        due = sorted(
            (i for i, version in state.known_versions.items() if not _younger(version, now, self.relation_refresh)),
            key=lambda i: (fetched_at(state.known_versions[i]) or _EPOCH, _number_order(i)),
        )
        # Twice the steady rate, so a backlog (after the first load, or downtime) clears within a few passes.
        steady = len(state.known_versions) * self.sync_interval / self.relation_refresh
        slice_size = max(MIN_REFRESH_SLICE, math.ceil(2 * steady))
        for chunk in chunks([*wanted, *due[:slice_size]], BATCH_SIZE):
            yield self.contacts_by_id(chunk)

    def contacts_by_id(self, ledger_ids: Sequence[str]) -> ChangeBatch[Contact]:
        batch: ChangeBatch[Contact] = ChangeBatch()
        for relation_id in ledger_ids:
            try:
                relation = self._read_relation(relation_id)
            except NotFound:
                batch.deleted.append(relation_id)
                continue
            _collect_contact(batch, relation, self.clock.now())
            self._unsent.discard(relation_id)
        return batch

    def _relation(self, relation_id: str) -> Mapping[str, Any] | None:
        """A relation, read at most once in this adapter's life (for payment terms)."""
        if relation_id not in self._relations:
            try:
                self._read_relation(relation_id)
            except NotFound:
                return None
        return self._relations.get(relation_id)

    def _read_relation(self, relation_id: str) -> Mapping[str, Any]:
        if not relation_id.isdigit():
            raise NotFound(f"not an e-Boekhouden relation id: {relation_id!r}")
        body = self.client.get_json(f"v1/relation/{relation_id}", endpoint="relation.get")
        if not isinstance(body, dict):
            raise TransientError("relation.get: expected a JSON object")
        self._relations[relation_id] = body
        self._unsent.add(relation_id)
        self._looked_up[relation_id] = (time.monotonic(), dict(body), None)
        return body

    def _take_new_relations(self) -> list[Contact]:
        """Relations read for payment terms go to the mirror with the invoices, so they are not read again."""
        batch: ChangeBatch[Contact] = ChangeBatch()
        now = self.clock.now()
        for relation_id in sorted(self._unsent, key=_number_order):
            _collect_contact(batch, self._relations[relation_id], now)
        self._unsent.clear()
        return batch.records

    # --- write-back -----------------------------------------------------------------------------------

    def add_note(self, invoice: Invoice, text: str, *, todo: bool = False) -> str:
        """Put the note on the relation's summary (GET, merge, PATCH of the whole relation, as the API
        wants `name` and `type` every time). Writing the same note again changes nothing."""
        marker = _marker(text)
        relation = self._for_write(invoice.contact_id, marker=marker)
        label = _label(invoice)
        current = relation.get(self.note_field)
        current_text = current if isinstance(current, str) else ""
        block = self.note_field == "note"
        if has_line(current_text, label, marker, block=block):
            return self._note_id(invoice, marker)
        try:
            if block:
                updated = with_summary_line(current_text, note_line(label, text))
            else:
                updated = free_text_line(label, text, marker)
        except ValueError as exc:
            raise RequestRejected(f"relation {invoice.contact_id}: {exc}", 400) from exc
        body = patch_body(relation, {self.note_field: updated})
        self.client.request(
            "PATCH",
            f"v1/relation/{invoice.contact_id}",
            endpoint="relation.patch",
            json=body,
            # Not repeated after a timeout: the body is a snapshot of the whole relation, and a person may have
            # saved it since. An unknown outcome goes back to the dispatcher, whose next try asks find_note.
            idempotent=False,
        )
        self._looked_up[invoice.contact_id] = (time.monotonic(), {**relation, self.note_field: updated}, marker)
        return self._note_id(invoice, marker)

    def find_note(self, invoice: Invoice, marker: str) -> str | None:
        relation = self._for_write(invoice.contact_id, looking=True)
        found = relation.get(self.note_field)
        if has_line(found if isinstance(found, str) else "", _label(invoice), marker, block=self.note_field == "note"):
            return self._note_id(invoice, marker)
        return None

    def _for_write(self, relation_id: str, *, looking: bool = False, marker: str | None = None) -> Mapping[str, Any]:
        """The relation as it is now, so a person's edit is never overwritten with an older copy. Within
        FRESH_SECONDS a write needs no read first: the read made right before (by the re-check or find_note)
        serves the one write that follows, and what a write left serves the notes on the same message's other
        invoices (the same `marker`), never another message's."""
        if not looking:
            at, relation, written_for = self._looked_up.get(relation_id, (0.0, {}, None))
            if relation and time.monotonic() - at <= FRESH_SECONDS and written_for in (None, marker):
                if written_for is None:
                    del self._looked_up[relation_id]  # a read serves one write
                return relation
        return dict(self._read_relation(relation_id))

    def _note_id(self, invoice: Invoice, marker: str) -> str:
        return f"relation/{invoice.contact_id}/{self.note_field}#{marker.strip('[]').removeprefix('ref ')}"

    # --- plumbing -------------------------------------------------------------------------------------

    def _pages(self, path: str, endpoint: str, params: Mapping[str, str]) -> Iterator[Mapping[str, Any]]:
        """`{items, count}` pages of `page_size` until a short one (`count` is the page's size, not a total).
        An answer of another shape is an error, never an empty list: read as "nothing is open", it would
        settle every invoice the mirror holds."""
        offset = 0
        for _ in range(MAX_PAGES):
            query = {**params, "limit": str(self.page_size), "offset": str(offset)}
            body = self.client.get_json(path, endpoint=endpoint, params=query)
            rows = body.get("items", _ABSENT) if isinstance(body, dict) else _ABSENT
            if rows is None and isinstance(body, dict) and body.get("count") in (0, "0"):
                rows = []  # the spec allows `items: null` for an empty list
            if not isinstance(rows, list):
                raise TransientError(f"{endpoint}: expected a JSON object with an `items` list")
            if len(rows) > self.page_size:
                raise TransientError(f"{endpoint}: {len(rows)} rows on a page of {self.page_size}")
            yield from (row for row in rows if isinstance(row, dict))
            if len(rows) < self.page_size:
                return
            offset += self.page_size
        raise TransientError(f"{endpoint}: more than {MAX_PAGES} pages; the ledger may be ignoring `offset`")

    def _mutation(self, mutation_id: str) -> Mapping[str, Any]:
        if not mutation_id.isdigit():
            raise NotFound(f"not an e-Boekhouden mutation id: {mutation_id!r}")
        body = self.client.get_json(f"v1/mutation/{mutation_id}", endpoint="mutation.get")
        if not isinstance(body, dict):
            raise TransientError("mutation.get: expected a JSON object")
        return body

    def api_calls(self) -> Mapping[str, int]:
        calls = dict(self.client.api_calls())
        opened = (self.session.created - self._sessions_at_start) if self.session is not None else 0
        if opened:
            calls["session.create"] = opened
        return calls

    def rate_limiter(self) -> RateLimiter:
        return self.client.limiter

    def throttled_responses(self) -> int:
        return self.client.throttled_responses()

    def close(self) -> None:
        """The session stays open for the next cycle; `end_sessions` closes it when the process stops."""
        self.client.close()


_ABSENT = object()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _younger(version: str | None, now: datetime, age: timedelta) -> bool:
    read = fetched_at(version)
    return read is not None and now - read < age


def _collect_contact(batch: ChangeBatch[Contact], relation: Mapping[str, Any], now: datetime) -> None:
    try:
        contact = mapped(
            lambda: contact_from_relation(relation, now), "contact", str(relation.get("id", "?")), relation
        )
    except BadRecord as problem:
        problem.version = f"unreadable@{now:%Y-%m-%dT%H:%M:%SZ}"
        batch.bad.append(problem)
    else:
        batch.records.append(contact)


def _label(invoice: Invoice) -> str:
    return f"Factuur {invoice.number or invoice.ledger_id}"


def _marker(text: str) -> str:
    found = _MARKER.findall(text)
    return found[-1] if found else ""


def _number_order(ledger_id: str) -> tuple[int, str]:
    return (int(ledger_id), ledger_id) if ledger_id.isdigit() else (0, ledger_id)
