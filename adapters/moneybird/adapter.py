"""The Moneybird adapter: mirrors through the synchronization endpoints, writes back notes and status.

Mirroring costs 1 call for the ids+versions of every open invoice, plus 1 call per 100 invoices that are
new, changed or have left the open set (those are fetched to learn why: paid, uncollectible, deleted).
Contacts come embedded in the invoices; a second ids+versions call finds the ones that changed since.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date
from typing import Any, TypeVar

from adapters.moneybird.client import DEFAULT_BASE_URL, PUBLISHED_LIMIT, moneybird_client
from adapters.moneybird.mapping import (
    OPEN_STATES,
    contact_from_moneybird,
    invoice_from_moneybird,
    sender_from_identity,
)
from adapters.moneybird.settings import MoneybirdAdministration
from connector.clock import Clock, business_date
from connector.ledger.http import ApiClient, HttpOptions, RateLimit, RateLimiter, download
from connector.ledger.port import (
    BadRecord,
    Capability,
    ChangeBatch,
    Contact,
    Invoice,
    LedgerAdapter,
    NotFound,
    RecordT,
    RequestRejected,
    SenderDetails,
    SyncState,
    TransientError,
    chunks,
    mapped,
)

FETCH_LIMIT = 100  # "Returns a maximum of 100 invoices, even if more ids are provided."
HISTORY_YEARS = 10  # how far back the explicit `period` of the open-invoice filter reaches


class MoneybirdAdapter(LedgerAdapter):
    platform = "moneybird"
    capabilities = frozenset(
        {
            Capability.CALL_TASKS,
            Capability.PAUSE_LEDGER_REMINDERS,
            Capability.SEND_LEDGER_REMINDER,
            Capability.MARK_DUBIOUS,
            Capability.MARK_UNCOLLECTIBLE,
            Capability.SENDER_DETAILS,
            Capability.DELETE_NOTES,
            Capability.INVOICE_PDF,
        }
    )

    def __init__(self, client: ApiClient, administration_id: str, clock: Clock) -> None:
        self.client = client
        self.administration_id = administration_id
        self.clock = clock

    @classmethod
    def from_config(
        cls, config: MoneybirdAdministration, clock: Clock, options: HttpOptions, tokens: object = None
    ) -> MoneybirdAdapter:
        """`tokens` is unused: Moneybird takes a bearer token from the configuration."""
        override = config.rate_limit
        limit = None
        if override is not None:
            # Against Moneybird itself a budget may be smaller than the published limit, never larger (it
            # cannot be raised); a simulator or proxy elsewhere is the operator's call.
            limit = RateLimit(override.requests, override.per_seconds)
            official = (config.base_url or DEFAULT_BASE_URL).startswith(DEFAULT_BASE_URL)
            too_fast = limit.requests / limit.per_seconds > PUBLISHED_LIMIT.requests / PUBLISHED_LIMIT.per_seconds
            if official and too_fast:
                limit = PUBLISHED_LIMIT
        client = moneybird_client(
            administration=config.name,
            token=config.token.get_secret_value(),
            base_url=config.base_url,
            options=options,
            timeout=config.timeout_seconds,
            rate_limit=limit,
        )
        return cls(client, config.administration_id, clock)

    # --- mirroring ------------------------------------------------------------------------------------

    def open_invoice_filter(self) -> str:
        """Every open state, and always an explicit period: without one Moneybird applies `this_year`."""
        today = business_date(self.clock)
        start = date(today.year - HISTORY_YEARS, 1, 1)
        end = date(today.year + 1, 12, 31)
        return f"state:{'|'.join(OPEN_STATES)},period:{start:%Y%m%d}..{end:%Y%m%d}"

    def invoice_changes(self, state: SyncState) -> Iterator[ChangeBatch[Invoice]]:
        listed = self._versions("sales_invoices", {"filter": self.open_invoice_filter()})
        changed = sorted(i for i, version in listed.items() if state.is_news(i, version))
        # Only what the mirror holds as open needs explaining; a quarantined record that left is no one's debt.
        left_open_set = sorted(i for i in state.known_versions if i not in listed)
        for chunk in chunks(changed + left_open_set, FETCH_LIMIT):
            yield self.invoices_by_id(chunk)

    def invoices_by_id(self, ledger_ids: Sequence[str]) -> ChangeBatch[Invoice]:
        def add(batch: ChangeBatch[Invoice], payload: dict[str, Any]) -> None:
            _collect(batch.records, batch.bad, invoice_from_moneybird, payload)
            embedded = payload.get("contact")
            if isinstance(embedded, dict):
                _collect(batch.contacts, batch.bad, contact_from_moneybird, embedded)

        return self._fetch_batch("sales_invoices", ledger_ids, add)

    def contact_changes(self, state: SyncState) -> Iterator[ChangeBatch[Contact]]:
        if not state.known_versions and not state.wanted_ids:
            return
        listed = self._versions("contacts", None)
        stale = {
            i
            for i, version in state.known_versions.items()
            if i in listed and listed[i] != version and state.quarantined_versions.get(i, _ABSENT) != listed[i]
        }
        for chunk in chunks(sorted(stale | set(state.wanted_ids)), FETCH_LIMIT):
            yield self.contacts_by_id(chunk)

    def contacts_by_id(self, ledger_ids: Sequence[str]) -> ChangeBatch[Contact]:
        def add(batch: ChangeBatch[Contact], payload: dict[str, Any]) -> None:
            _collect(batch.records, batch.bad, contact_from_moneybird, payload)

        return self._fetch_batch("contacts", ledger_ids, add)

    def _fetch_batch(
        self, resource: str, ledger_ids: Sequence[str], add: Callable[[ChangeBatch[RecordT], dict[str, Any]], None]
    ) -> ChangeBatch[RecordT]:
        """Fetch by id (100 a call); what the ledger no longer returns is reported as deleted."""
        batch: ChangeBatch[RecordT] = ChangeBatch()
        for chunk in chunks(list(ledger_ids), FETCH_LIMIT):
            found = self._fetch(resource, chunk)
            for ledger_id in chunk:
                payload = found.get(ledger_id) or self._confirm_gone(resource, ledger_id)
                if payload is None:
                    batch.deleted.append(ledger_id)
                else:
                    add(batch, payload)
        return batch

    def _confirm_gone(self, resource: str, ledger_id: str) -> dict[str, Any] | None:
        """Absent from a fetch is not proof: ask for the record itself, and only a 404 means deleted.
        Costs one call per deletion, which is rare."""
        try:
            body = self.client.get_json(self._path(f"{resource}/{ledger_id}.json"), endpoint=f"{resource}.get")
        except NotFound:
            return None
        return body if isinstance(body, dict) else None

    def _versions(self, resource: str, params: Mapping[str, str] | None) -> dict[str, str]:
        body = self.client.get_json(
            self._path(f"{resource}/synchronization.json"),
            endpoint=f"{resource}.synchronization.list",
            params=params,
        )
        if not isinstance(body, list):
            raise TransientError(f"{resource} synchronization list: expected a JSON array")
        return {str(item["id"]): str(item.get("version")) for item in body if isinstance(item, dict) and "id" in item}

    def _fetch(self, resource: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        body = self.client.post_json(
            self._path(f"{resource}/synchronization.json"),
            endpoint=f"{resource}.synchronization.fetch",
            body={"ids": list(ids)},  # strings: 18-digit ids lose precision as JSON numbers
            idempotent=True,  # a read, despite the POST
        )
        if not isinstance(body, list):
            raise TransientError(f"{resource} synchronization fetch: expected a JSON array")
        return {str(item["id"]): item for item in body if isinstance(item, dict) and "id" in item}

    # --- write-back -----------------------------------------------------------------------------------

    def add_note(self, invoice: Invoice, text: str, *, todo: bool = False) -> str:
        body = self.client.post_json(
            self._invoice_path(invoice, "notes.json"),
            endpoint="sales_invoices.notes.create",
            body={"note": {"note": text, "todo": todo}},
        )
        return str(body["id"]) if isinstance(body, dict) and "id" in body else ""

    def find_note(self, invoice: Invoice, marker: str) -> str | None:
        found = self.find_notes(invoice, marker)
        return found[0] if found else None

    def find_notes(self, invoice: Invoice, marker: str) -> list[str]:
        found = self._fetch("sales_invoices", [invoice.ledger_id]).get(invoice.ledger_id) or {}
        return [
            str(note.get("id", ""))
            for note in found.get("notes") or []
            if isinstance(note, dict) and marker in str(note.get("note", ""))
        ]

    def delete_note(self, invoice: Invoice, note_id: str) -> None:
        with contextlib.suppress(NotFound):  # removed already, by the other process that found the same pair
            self.client.request(
                "DELETE", self._invoice_path(invoice, f"notes/{note_id}.json"), endpoint="sales_invoices.notes.delete"
            )

    def invoice_pdf(self, invoice: Invoice, max_bytes: int) -> bytes | None:
        """One call: Moneybird answers with a redirect to the PDF on its storage, valid for 30 seconds (fetched
        without our token, and not on the API's rate limit)."""
        response = self.client.request(
            "GET", self._invoice_path(invoice, "download_pdf.json"), endpoint="sales_invoices.download_pdf"
        )
        location = response.headers.get("location")
        if response.status_code not in (301, 302, 303, 307, 308) or not location:
            return None
        return download(location, max_bytes=max_bytes, timeout=self.client.timeout)

    def pause_ledger_reminders(self, invoice: Invoice) -> None:
        self._toggle_pause(invoice, "pause", already="already paused")

    def resume_ledger_reminders(self, invoice: Invoice) -> None:
        self._toggle_pause(invoice, "resume", already="isn't paused")

    def _toggle_pause(self, invoice: Invoice, action: str, *, already: str) -> None:
        try:
            self.client.post_json(
                self._invoice_path(invoice, f"{action}.json"),
                endpoint=f"sales_invoices.{action}",
                body={},
                idempotent=True,  # repeating it only meets "already ..." below
            )
        except RequestRejected as exc:
            if already not in str(exc):
                raise

    def send_ledger_reminder(self, invoices: Sequence[Invoice]) -> None:
        """Moneybird groups reminders by contact, workflow, document style and identity."""
        groups: dict[tuple[str, ...], list[str]] = {}
        for invoice in invoices:
            key = tuple(
                str(invoice.raw.get(field) or "") for field in ("workflow_id", "document_style_id", "identity_id")
            )
            groups.setdefault((invoice.contact_id, *key), []).append(invoice.ledger_id)
        reminders = [
            {
                "contact_id": contact_id,
                "workflow_id": workflow_id,
                "document_style_id": style_id,
                "identity_id": identity_id,
                "sales_invoice_ids": ids,
            }
            for (contact_id, workflow_id, style_id, identity_id), ids in groups.items()
        ]
        self.client.post_json(
            self._path("sales_invoices/send_reminders.json"),
            endpoint="sales_invoices.send_reminders",
            body={"sales_invoice_reminders": reminders},
        )

    def mark_dubious(self, invoice: Invoice, on: date) -> None:
        self.client.request(
            "PATCH",
            self._invoice_path(invoice, "mark_as_dubious.json"),
            endpoint="sales_invoices.mark_as_dubious",
            json={"dubious_date": on.isoformat()},
            idempotent=True,
        )

    def mark_uncollectible(self, invoice: Invoice, on: date) -> None:
        self.client.request(
            "PATCH",
            self._invoice_path(invoice, "mark_as_uncollectible.json"),
            endpoint="sales_invoices.mark_as_uncollectible",
            json={"uncollectible_date": on.isoformat()},
            idempotent=False,  # it books the loss: after a timeout, re-read the invoice instead of repeating
        )

    # --- plumbing -------------------------------------------------------------------------------------

    def sender_details(self) -> SenderDetails:
        """The default identity: the sender on the administration's invoices (needs the `settings` scope)."""
        body = self.client.get_json(self._path("identities/default.json"), endpoint="identities.default")
        if not isinstance(body, dict):
            raise TransientError("identities/default: expected a JSON object")
        return sender_from_identity(body)

    def api_calls(self) -> Mapping[str, int]:
        return self.client.api_calls()

    def rate_limiter(self) -> RateLimiter:
        return self.client.limiter

    def throttled_responses(self) -> int:
        return self.client.throttled_responses()

    def close(self) -> None:
        self.client.close()

    def _path(self, resource: str) -> str:
        return f"{self.administration_id}/{resource}"

    def _invoice_path(self, invoice: Invoice, action: str) -> str:
        if not invoice.ledger_id.isdigit():
            raise NotFound(f"not a Moneybird id: {invoice.ledger_id!r}")
        return self._path(f"sales_invoices/{invoice.ledger_id}/{action}")


_ABSENT = object()
T = TypeVar("T")


def _collect(
    into: list[T], bad: list[BadRecord], mapper: Callable[[dict[str, Any]], T], payload: dict[str, Any]
) -> None:
    """Map one payload into `into`, or quarantine it with its reason."""
    entity = "contact" if mapper is contact_from_moneybird else "invoice"
    try:
        into.append(mapped(lambda: mapper(payload), entity, str(payload.get("id", "?")), payload))
    except BadRecord as problem:
        bad.append(problem)
