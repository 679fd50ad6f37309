"""The Skeleton ledger's adapter: invoices and customers read by a change cursor, notes on invoices."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from connector.clock import Clock
from connector.domain import Contact, Invoice, InvoiceStatus, Money
from connector.ledger.http import ApiClient, HttpOptions, RateLimit, RateLimiter
from connector.ledger.oauth import TokenKeeper
from connector.ledger.port import (
    BadRecord,
    Capability,
    ChangeBatch,
    LedgerAdapter,
    NotFound,
    SyncState,
)
from tests.support.skeleton.settings import SkeletonAdministration

LIMIT = RateLimit(600, 60)
RecordT = TypeVar("RecordT", Invoice, Contact)


def invoice_from_json(data: Mapping[str, Any]) -> Invoice:
    try:
        total, open_amount = Decimal(str(data["total"])), Decimal(str(data["open"]))
        status = InvoiceStatus.OPEN if open_amount > 0 else InvoiceStatus.PAID
        return Invoice(
            ledger_id=str(data["id"]),
            number=str(data["number"]),
            contact_id=str(data["customer_id"]),
            invoice_date=None,
            due_date=date.fromisoformat(str(data["due_date"])),
            total=Money(total, "EUR"),
            open_amount=Money(open_amount, "EUR"),
            status=status,
            ledger_state="open" if status.is_open else "paid",
            version=str(data["version"]),
            raw=dict(data),
        )
    except (KeyError, ValueError, ArithmeticError) as exc:
        raise BadRecord("invoice", str(data.get("id", "?")), f"cannot be mapped: {exc!r}", dict(data)) from exc


def contact_from_json(data: Mapping[str, Any]) -> Contact:
    if not data.get("id") or not data.get("name"):
        raise BadRecord("contact", str(data.get("id", "?")), "no id or no name", dict(data))
    return Contact(
        ledger_id=str(data["id"]),
        name=str(data["name"]),
        email=data.get("email"),
        version=str(data.get("version")),
        raw=dict(data),
    )


class SkeletonAdapter(LedgerAdapter):
    platform = "skeleton"
    capabilities = frozenset({Capability.CALL_TASKS})

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    @classmethod
    def from_config(
        cls, config: SkeletonAdministration, clock: Clock, options: HttpOptions, tokens: TokenKeeper | None = None
    ) -> SkeletonAdapter:
        token = config.token.get_secret_value()
        assert config.base_url, "the Skeleton ledger has no public address: base_url is required"
        return cls(
            ApiClient(
                platform="skeleton",
                administration=config.name,
                base_url=config.base_url,
                headers={"Authorization": f"Bearer {token}"},
                rate_limiter=options.limiter_for("skeleton", token, LIMIT),
                retry=options.retry,
                transport=options.transport,
            )
        )

    def invoice_changes(self, state: SyncState) -> Iterator[ChangeBatch[Invoice]]:
        yield self._changed("invoices", state, invoice_from_json)

    def invoices_by_id(self, ledger_ids: Sequence[str]) -> ChangeBatch[Invoice]:
        return self._by_id("invoices", ledger_ids, invoice_from_json)

    def contact_changes(self, state: SyncState) -> Iterator[ChangeBatch[Contact]]:
        yield self._changed("customers", state, contact_from_json)

    def contacts_by_id(self, ledger_ids: Sequence[str]) -> ChangeBatch[Contact]:
        return self._by_id("customers", ledger_ids, contact_from_json)

    def _changed(self, path: str, state: SyncState, mapped: Callable[[Any], RecordT]) -> ChangeBatch[RecordT]:
        """Everything changed since the cursor, with the cursor to ask from next."""
        body = self.client.get_json(path, endpoint=f"{path}.list", params={"since": state.cursor or "0"})
        batch: ChangeBatch[RecordT] = ChangeBatch(cursor=str(body["cursor"]))
        for row in body[path]:
            try:
                batch.records.append(mapped(row))
            except BadRecord as bad:
                batch.bad.append(bad)
        return batch

    def _by_id(self, path: str, ledger_ids: Sequence[str], mapped: Callable[[Any], RecordT]) -> ChangeBatch[RecordT]:
        batch: ChangeBatch[RecordT] = ChangeBatch()
        for ledger_id in ledger_ids:
            try:
                batch.records.append(mapped(self.client.get_json(f"{path}/{ledger_id}", endpoint=path)))
            except NotFound:
                batch.deleted.append(ledger_id)
            except BadRecord as bad:
                batch.bad.append(bad)
        return batch

    def add_note(self, invoice: Invoice, text: str, *, todo: bool = False) -> str:
        body = self.client.post_json(
            f"invoices/{invoice.ledger_id}/notes", endpoint="notes.create", body={"text": text, "todo": todo}
        )
        return str(body["id"])

    def find_note(self, invoice: Invoice, marker: str) -> str | None:
        notes = self.client.get_json(f"invoices/{invoice.ledger_id}/notes", endpoint="notes.list")
        return next((str(note["id"]) for note in notes if marker in note["text"]), None)

    def api_calls(self) -> Mapping[str, int]:
        return self.client.api_calls()

    def rate_limiter(self) -> RateLimiter:
        return self.client.limiter

    def close(self) -> None:
        self.client.close()
