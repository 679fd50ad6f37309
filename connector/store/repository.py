"""The store's operations. Each sync batch is written in one transaction together with its cursor."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from connector import domain
from connector.clock import Clock
from connector.ledger.port import BadRecord, ChangeBatch
from connector.store import migrate
from connector.store.db import create_engine
from connector.store.models import (
    Administration,
    ApiCalls,
    Contact,
    Invoice,
    QuarantinedRecord,
    SyncCursor,
    SyncRun,
)

StateFilter = Literal["open", "closed", "all"]


@dataclass(frozen=True)
class BatchResult:
    upserted: int = 0
    closed: int = 0
    contacts: int = 0
    quarantined: int = 0

    def __add__(self, other: BatchResult) -> BatchResult:
        return BatchResult(
            upserted=self.upserted + other.upserted,
            closed=self.closed + other.closed,
            contacts=self.contacts + other.contacts,
            quarantined=self.quarantined + other.quarantined,
        )


@dataclass(frozen=True)
class InvoiceView:
    """One mirrored invoice with its administration and customer, for listings and JSON output."""

    administration: str
    ledger_id: str
    number: str | None
    contact_id: str
    contact_name: str | None
    invoice_date: date | None
    due_date: date
    currency: str
    total: Decimal
    open_amount: Decimal
    state: str
    ledger_state: str
    first_seen_at: datetime
    last_seen_at: datetime
    closed_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "administration": self.administration,
            "ledger_id": self.ledger_id,
            "number": self.number,
            "contact_id": self.contact_id,
            "contact_name": self.contact_name,
            "invoice_date": self.invoice_date.isoformat() if self.invoice_date else None,
            "due_date": self.due_date.isoformat(),
            "currency": self.currency,
            "total": domain.format_amount(self.total),
            "open_amount": domain.format_amount(self.open_amount),
            "state": self.state,
            "ledger_state": self.ledger_state,
            "first_seen_at": self.first_seen_at.isoformat(),
            "last_seen_at": self.last_seen_at.isoformat(),
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
        }


class Store:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    @classmethod
    def open(cls, database_url: str, clock: Clock, *, upgrade: bool = True, connections: int | None = None) -> Store:
        """`connections`: how many threads may hold a connection at once (the pool grows to that, no wait)."""
        pool = {"pool_size": connections, "max_overflow": 4} if connections else {}
        engine = create_engine(database_url, **pool)
        if upgrade:
            migrate.upgrade(engine)
        return cls(engine, clock)

    def close(self) -> None:
        self.engine.dispose()

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # --- administrations ------------------------------------------------------------------------------

    def ensure_administration(self, name: str, platform: str, ledger_reference: str = "") -> int:
        with self.session() as session, session.begin():
            row = session.exec(select(Administration).where(Administration.name == name)).first()
            if row is None:
                row = Administration(
                    name=name,
                    platform=platform,
                    ledger_reference=ledger_reference,
                    created_at=self.clock.now(),
                )
            elif row.platform != platform or row.ledger_reference != ledger_reference:
                row.platform, row.ledger_reference = platform, ledger_reference
            session.add(row)
            session.flush()
            assert row.id is not None
            return row.id

    # --- what the mirror holds, for the adapters' SyncState --------------------------------------------

    def open_invoice_versions(self, administration_id: int) -> dict[str, str | None]:
        query = select(Invoice.ledger_id, Invoice.ledger_version).where(
            Invoice.administration_id == administration_id, Invoice.status == domain.InvoiceStatus.OPEN
        )
        with self.session() as session:
            return {ledger_id: version for ledger_id, version in session.exec(query)}

    def contact_versions(self, administration_id: int) -> dict[str, str | None]:
        query = select(Contact.ledger_id, Contact.ledger_version).where(Contact.administration_id == administration_id)
        with self.session() as session:
            return {ledger_id: version for ledger_id, version in session.exec(query)}

    def quarantined_versions(self, administration_id: int, entity: str) -> dict[str, str | None]:
        query = select(QuarantinedRecord.ledger_id, QuarantinedRecord.ledger_version).where(
            QuarantinedRecord.administration_id == administration_id,
            QuarantinedRecord.entity == entity,
            col(QuarantinedRecord.resolved_at).is_(None),
        )
        with self.session() as session:
            return {ledger_id: version for ledger_id, version in session.exec(query)}

    def missing_contact_ids(self, administration_id: int) -> set[str]:
        """Contacts that open invoices refer to but the mirror does not hold."""
        query = (
            select(Invoice.contact_ledger_id)
            .where(Invoice.administration_id == administration_id, Invoice.status == domain.InvoiceStatus.OPEN)
            .where(
                ~sa.exists().where(
                    col(Contact.administration_id) == col(Invoice.administration_id),
                    col(Contact.ledger_id) == col(Invoice.contact_ledger_id),
                )
            )
            .distinct()
        )
        with self.session() as session:
            return set(session.exec(query))

    def raw_payloads(
        self, administration_id: int, entity: str, ledger_ids: Collection[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        """The ledger's payloads the mirror holds, by ledger id: the given ids, or (None) every open invoice /
        every contact. For adapters whose ledger sends changes in parts (Exact's payment terms)."""
        table: type[Invoice] | type[Contact] = Invoice if entity == "invoice" else Contact
        query = select(table.ledger_id, table.raw).where(table.administration_id == administration_id)
        if ledger_ids is not None:
            if not ledger_ids:
                return {}
            query = query.where(col(table.ledger_id).in_(list(ledger_ids)))
        elif table is Invoice:
            query = query.where(Invoice.status == domain.InvoiceStatus.OPEN)
        with self.session() as session:
            return {ledger_id: dict(raw) for ledger_id, raw in session.exec(query)}

    def cursor(self, administration_id: int, entity: str) -> str | None:
        with self.session() as session:
            row = session.get(SyncCursor, (administration_id, entity))
            return row.cursor if row else None

    # --- applying what the ledger said ----------------------------------------------------------------

    def apply_invoice_batch(
        self, administration_id: int, batch: ChangeBatch[domain.Invoice], cursor_entity: str = "invoices"
    ) -> BatchResult:
        now = self.clock.now()
        with self.session() as session, session.begin():
            contacts = self._upsert_contacts(session, administration_id, batch.contacts, now)
            ids = [invoice.ledger_id for invoice in batch.records] + list(batch.deleted)
            existing = {
                row.ledger_id: row
                for row in session.exec(
                    select(Invoice).where(
                        Invoice.administration_id == administration_id, col(Invoice.ledger_id).in_(ids)
                    )
                )
            }
            closed = 0
            for invoice in batch.records:
                previous = existing.get(invoice.ledger_id)
                was_open = previous is not None and previous.status == domain.InvoiceStatus.OPEN
                row = _merge(
                    previous, Invoice, administration_id, invoice.ledger_id, _invoice_fields(invoice, now), now
                )
                if invoice.status.is_open:
                    row.closed_at = None
                elif row.closed_at is None:
                    row.closed_at = now
                    closed += was_open
                session.add(row)
            for ledger_id in batch.deleted:
                gone = existing.get(ledger_id)
                if gone is not None and gone.status != domain.InvoiceStatus.DELETED:
                    closed += gone.status == domain.InvoiceStatus.OPEN
                    gone.status = domain.InvoiceStatus.DELETED
                    gone.closed_at = gone.closed_at or now
                    gone.last_seen_at = now
                    session.add(gone)
            closed += self._close_from_bad_records(session, administration_id, batch.bad, now)
            quarantined = self._quarantine(session, administration_id, batch.bad, now)
            if quarantined or self._has_quarantine(session, administration_id):
                self._resolve_quarantine(session, administration_id, "invoice", ids, now)
            if batch.cursor is not None:
                self._set_cursor(session, administration_id, cursor_entity, batch.cursor, now)
        return BatchResult(upserted=len(batch.records), closed=closed, contacts=contacts, quarantined=quarantined)

    def apply_contact_batch(
        self, administration_id: int, batch: ChangeBatch[domain.Contact], cursor_entity: str = "contacts"
    ) -> BatchResult:
        now = self.clock.now()
        with self.session() as session, session.begin():
            contacts = self._upsert_contacts(session, administration_id, [*batch.contacts, *batch.records], now)
            quarantined = self._quarantine(session, administration_id, batch.bad, now)
            if batch.cursor is not None:
                self._set_cursor(session, administration_id, cursor_entity, batch.cursor, now)
        return BatchResult(contacts=contacts, quarantined=quarantined)

    def _upsert_contacts(
        self, session: Session, administration_id: int, contacts: Sequence[domain.Contact], now: datetime
    ) -> int:
        if not contacts:
            return 0
        latest = {contact.ledger_id: contact for contact in contacts}  # the last word wins within a batch
        existing = {
            row.ledger_id: row
            for row in session.exec(
                select(Contact).where(
                    Contact.administration_id == administration_id, col(Contact.ledger_id).in_(list(latest))
                )
            )
        }
        written = 0
        for contact in latest.values():
            row = existing.get(contact.ledger_id)
            if row is not None and contact.version is not None and row.ledger_version == contact.version:
                continue  # the same contact embedded in another invoice: nothing new
            written += 1
            session.add(_merge(row, Contact, administration_id, contact.ledger_id, _contact_fields(contact, now), now))
        if self._has_quarantine(session, administration_id):
            self._resolve_quarantine(session, administration_id, "contact", list(latest), now)
        return written

    def _quarantine(self, session: Session, administration_id: int, records: Iterable[BadRecord], now: datetime) -> int:
        count = 0
        for record in records:
            row = session.exec(
                select(QuarantinedRecord).where(
                    QuarantinedRecord.administration_id == administration_id,
                    QuarantinedRecord.entity == record.entity,
                    QuarantinedRecord.ledger_id == record.ledger_id,
                )
            ).first()
            if row is None:
                row = QuarantinedRecord(
                    administration_id=administration_id,
                    entity=record.entity,
                    ledger_id=record.ledger_id,
                    reason=record.reason,
                    first_seen_at=now,
                    last_seen_at=now,
                )
            row.reason = record.reason
            row.payload = record.payload
            row.ledger_version = record.version
            row.last_seen_at = now
            row.resolved_at = None
            session.add(row)
            count += 1
        return count

    @staticmethod
    def _close_from_bad_records(
        session: Session, administration_id: int, records: Sequence[BadRecord], now: datetime
    ) -> int:
        """A record too broken to mirror may still say it was paid: then its open row must close."""
        closing = {
            r.ledger_id: r.status for r in records if r.entity == "invoice" and r.status and not r.status.is_open
        }
        if not closing:
            return 0
        rows = session.exec(
            select(Invoice).where(
                Invoice.administration_id == administration_id,
                col(Invoice.ledger_id).in_(list(closing)),
                Invoice.status == domain.InvoiceStatus.OPEN,
            )
        )
        count = 0
        for row in rows:
            status = closing[row.ledger_id]
            assert status is not None
            row.status, row.closed_at, row.last_seen_at = status.value, now, now
            session.add(row)
            count += 1
        return count

    @staticmethod
    def _has_quarantine(session: Session, administration_id: int) -> bool:
        """One cheap look before resolving, since almost every batch has nothing in quarantine."""
        query = select(QuarantinedRecord.id).where(
            QuarantinedRecord.administration_id == administration_id, col(QuarantinedRecord.resolved_at).is_(None)
        )
        with session.no_autoflush:
            return session.exec(query.limit(1)).first() is not None

    @staticmethod
    def _resolve_quarantine(
        session: Session, administration_id: int, entity: str, ledger_ids: Sequence[str], now: datetime
    ) -> None:
        if not ledger_ids:
            return
        session.execute(
            sa.update(QuarantinedRecord)
            .where(
                col(QuarantinedRecord.administration_id) == administration_id,
                col(QuarantinedRecord.entity) == entity,
                col(QuarantinedRecord.ledger_id).in_(list(ledger_ids)),
                col(QuarantinedRecord.resolved_at).is_(None),
            )
            .values(resolved_at=now)
        )

    @staticmethod
    def _set_cursor(session: Session, administration_id: int, entity: str, cursor: str, now: datetime) -> None:
        row = session.get(SyncCursor, (administration_id, entity))
        if row is None:
            row = SyncCursor(administration_id=administration_id, entity=entity, cursor=cursor, updated_at=now)
        row.cursor, row.updated_at = cursor, now
        session.add(row)

    # --- sync runs ------------------------------------------------------------------------------------

    def start_sync_run(self, administration_id: int, rate_key: str | None = None) -> int:
        """Open a run; runs of this administration that never finished (a killed process) are closed as
        abandoned first."""
        now = self.clock.now()
        with self.session() as session, session.begin():
            stale = session.exec(
                select(SyncRun).where(
                    SyncRun.administration_id == administration_id, col(SyncRun.finished_at).is_(None)
                )
            )
            for run in stale:
                run.outcome = "abandoned"
                run.finished_at = run.progress_at or run.started_at
                session.add(run)
            run = SyncRun(administration_id=administration_id, started_at=now, progress_at=now, rate_key=rate_key)
            session.add(run)
            session.flush()
            assert run.id is not None
            return run.id

    def record_progress(self, run_id: int, api_calls: int) -> None:
        """What the run has spent so far, kept as it goes so that even a killed run is accounted for."""
        with self.session() as session, session.begin():
            session.execute(
                sa.update(SyncRun)
                .where(col(SyncRun.id) == run_id)
                .values(api_calls=api_calls, progress_at=self.clock.now())
            )

    def finish_sync_run(self, run_id: int, **fields: Any) -> SyncRun:
        with self.session() as session, session.begin():
            run = session.get(SyncRun, run_id)
            assert run is not None
            for key, value in fields.items():
                setattr(run, key, value)
            run.finished_at = run.progress_at = self.clock.now()
            session.add(run)
            return run

    def recent_api_calls(self, rate_key: str, within: timedelta) -> list[tuple[datetime, int]]:
        """(when, calls) on this rate budget within `within`, by any process: sync runs active then, and the
        calls made outside them (re-checks, notes)."""
        since = self.clock.now() - within
        runs = select(SyncRun.progress_at, SyncRun.api_calls).where(
            SyncRun.rate_key == rate_key, col(SyncRun.progress_at) >= since, SyncRun.api_calls > 0
        )
        others = select(ApiCalls.at, ApiCalls.calls).where(ApiCalls.rate_key == rate_key, col(ApiCalls.at) >= since)
        with self.session() as session:
            found = [(at, calls) for at, calls in session.exec(runs) if at is not None]
            return found + [(at, calls) for at, calls in session.exec(others)]

    def record_api_calls(self, rate_key: str, calls: int) -> None:
        """Calls just made on a rate budget outside a sync run."""
        with self.session() as session, session.begin():
            session.add(ApiCalls(rate_key=rate_key, at=self.clock.now(), calls=calls))

    def forget_api_calls(self, older_than: datetime) -> int:
        with self.session() as session, session.begin():
            result = session.execute(sa.delete(ApiCalls).where(col(ApiCalls.at) < older_than))
            return int(result.rowcount)  # type: ignore[attr-defined]

    def sync_runs(self, administration_id: int, limit: int = 20) -> list[SyncRun]:
        query = (
            select(SyncRun)
            .where(SyncRun.administration_id == administration_id)
            .order_by(col(SyncRun.started_at).desc(), col(SyncRun.id).desc())
            .limit(limit)
        )
        with self.session() as session:
            return list(session.exec(query))

    def quarantined(self, administration_id: int, *, include_resolved: bool = False) -> list[QuarantinedRecord]:
        query = select(QuarantinedRecord).where(QuarantinedRecord.administration_id == administration_id)
        if not include_resolved:
            query = query.where(col(QuarantinedRecord.resolved_at).is_(None))
        with self.session() as session:
            return list(session.exec(query.order_by(col(QuarantinedRecord.id))))

    # --- reading the mirror ---------------------------------------------------------------------------

    def invoices(self, administration: str | None = None, state: StateFilter = "open") -> list[InvoiceView]:
        query = (
            select(Invoice, Administration.name, Contact.name)
            .join(Administration, col(Administration.id) == Invoice.administration_id)
            .join(
                Contact,
                sa.and_(
                    col(Contact.administration_id) == Invoice.administration_id,
                    col(Contact.ledger_id) == Invoice.contact_ledger_id,
                ),
                isouter=True,
            )
        )
        if administration is not None:
            query = query.where(Administration.name == administration)
        if state == "open":
            query = query.where(Invoice.status == domain.InvoiceStatus.OPEN)
        elif state == "closed":
            query = query.where(Invoice.status != domain.InvoiceStatus.OPEN)
        query = query.order_by(col(Administration.name), col(Invoice.due_date), col(Invoice.ledger_id))
        with self.session() as session:
            return [
                InvoiceView(
                    administration=admin_name,
                    ledger_id=row.ledger_id,
                    number=row.number,
                    contact_id=row.contact_ledger_id,
                    contact_name=contact_name,
                    invoice_date=row.invoice_date,
                    due_date=row.due_date,
                    currency=row.currency,
                    total=row.total,
                    open_amount=row.open_amount,
                    state=row.status,
                    ledger_state=row.ledger_state,
                    first_seen_at=row.first_seen_at,
                    last_seen_at=row.last_seen_at,
                    closed_at=row.closed_at,
                )
                for row, admin_name, contact_name in session.exec(query)
            ]

    def mirrored_invoices(
        self, administration_id: int, ledger_ids: Collection[str] | None = None
    ) -> list[domain.Invoice]:
        """Invoices as the mirror last had them, as the ledger's port gives them (all of the administration's, or
        those named)."""
        query = select(Invoice).where(Invoice.administration_id == administration_id)
        if ledger_ids is not None:
            query = query.where(col(Invoice.ledger_id).in_(list(ledger_ids)))
        with self.session() as session:
            return [
                domain.Invoice(
                    ledger_id=row.ledger_id,
                    number=row.number,
                    contact_id=row.contact_ledger_id,
                    invoice_date=row.invoice_date,
                    due_date=row.due_date,
                    total=domain.Money(row.total, row.currency),
                    open_amount=domain.Money(row.open_amount, row.currency),
                    status=domain.InvoiceStatus(row.status),
                    ledger_state=row.ledger_state,
                    version=row.ledger_version,
                    ledger_reminders_paused=row.ledger_reminders_paused,
                    language=row.language,
                    payment_url=row.payment_url,
                    due_date_assumed=row.due_date_assumed,
                    recurring=row.recurring,
                )
                for row in session.exec(query)
            ]

    def contact(self, administration_id: int, ledger_id: str) -> Contact | None:
        query = select(Contact).where(Contact.administration_id == administration_id, Contact.ledger_id == ledger_id)
        with self.session() as session:
            return session.exec(query).first()

    def administration_id(self, name: str) -> int | None:
        with self.session() as session:
            row = session.exec(select(Administration).where(Administration.name == name)).first()
            return row.id if row else None


MirrorRow = TypeVar("MirrorRow", Invoice, Contact)


def _merge(
    row: MirrorRow | None,
    model: type[MirrorRow],
    administration_id: int,
    ledger_id: str,
    fields: dict[str, Any],
    now: datetime,
) -> MirrorRow:
    """Update a mirrored row in place, or create it (first seen now)."""
    if row is None:
        return model(administration_id=administration_id, ledger_id=ledger_id, first_seen_at=now, **fields)
    for key, value in fields.items():
        setattr(row, key, value)
    return row


def _invoice_fields(invoice: domain.Invoice, now: datetime) -> dict[str, Any]:
    return {
        "number": invoice.number,
        "contact_ledger_id": invoice.contact_id,
        "invoice_date": invoice.invoice_date,
        "due_date": invoice.due_date,
        "currency": invoice.total.currency,
        "total": invoice.total.amount,
        "open_amount": invoice.open_amount.amount,
        "status": invoice.status.value,
        "ledger_state": invoice.ledger_state,
        "ledger_version": invoice.version,
        "ledger_reminders_paused": invoice.ledger_reminders_paused,
        "due_date_assumed": invoice.due_date_assumed,
        "recurring": invoice.recurring,
        "language": invoice.language,
        "payment_url": invoice.payment_url,
        "raw": dict(invoice.raw),
        "last_seen_at": now,
    }


def _contact_fields(contact: domain.Contact, now: datetime) -> dict[str, Any]:
    return {
        "name": contact.name,
        "company_name": contact.company_name,
        "person_name": contact.person_name,
        "email": contact.email,
        "phone": contact.phone,
        "address": contact.address,
        "zipcode": contact.zipcode,
        "city": contact.city,
        "country": contact.country,
        "kvk_number": contact.kvk_number,
        "vat_number": contact.vat_number,
        "customer_number": contact.customer_number,
        "language": contact.language,
        "is_business": contact.is_business,
        "kind_in_ledger": contact.kind_in_ledger,
        "ledger_version": contact.version,
        "raw": dict(contact.raw),
        "last_seen_at": now,
    }
