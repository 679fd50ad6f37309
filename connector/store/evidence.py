"""Proof of what was sent, kept in the store: each message's exact bytes before it leaves, the channel's answer,
what became of it afterwards, and the messages that did not arrive.

The bytes are recorded before the channel is asked (a crash while handing over leaves the proof of what may have
left, marked `prepared`), and the channel's answer right after. Nothing here is ever changed after the fact but
its status and what later reports add; purging removes a customer's proof only once all of it is older than the
retention period, so a chain of letters is kept whole.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from connector.store.models import (
    Action,
    AuditEntry,
    DeliveryEvent,
    DeliveryProblem,
    Evidence,
    EvidenceFile,
    InvoiceDocument,
    MailboxCursor,
)
from connector.store.repository import Store

# What counts as having left: the channel took it (or may have: cut off while handing over).
HANDED_OVER = ("accepted", "uncertain", "delivered", "posted", "bounced", "returned")


@dataclass(frozen=True)
class FilePart:
    """One part of a message as bytes: the .eml, a PDF, a case file."""

    name: str
    media_type: str
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass(frozen=True)
class Proof:
    """One message's evidence with its files and what happened to it, for an export."""

    evidence: Evidence
    files: list[EvidenceFile]
    events: list[DeliveryEvent] = field(default_factory=list)


@dataclass(frozen=True)
class Purged:
    administration_id: int
    contact_ledger_id: str
    messages: int
    files: int
    paths: list[str]  # files kept outside the store (case files) to remove with them


class EvidenceStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.clock = store.clock

    # --- recording --------------------------------------------------------------------------------------

    def prepare(
        self,
        action: Action,
        *,
        channel: str,
        recipient: str,
        files: Sequence[FilePart],
        detail: dict[str, Any] | None = None,
    ) -> int:
        """Record a message's bytes before it is handed over, for this try of the action. A try that was given
        back before anything left (the channel was down) is recorded again over its own unsent proof."""
        assert action.id is not None
        now = self.clock.now()
        with self.store.session() as session, session.begin():
            rows = list(session.exec(select(Evidence).where(Evidence.action_id == action.id)))
            reusable = next((r for r in rows if r.attempt == action.attempts and r.status == "prepared"), None)
            if reusable is not None:
                session.execute(sa.delete(EvidenceFile).where(col(EvidenceFile.evidence_id) == reusable.id))
                row = reusable
                row.prepared_at, row.recipient, row.channel, row.detail = now, recipient, channel, detail or {}
            else:
                attempt = max([action.attempts, *(r.attempt + 1 for r in rows)])
                row = Evidence(
                    administration_id=action.administration_id,
                    action_id=action.id,
                    action_key=action.key,
                    contact_ledger_id=action.contact_ledger_id,
                    attempt=attempt,
                    channel=channel,
                    recipient=recipient,
                    prepared_at=now,
                    detail=detail or {},
                )
            session.add(row)
            session.flush()
            assert row.id is not None
            for part in files:
                session.add(_file(row.id, part))
            return row.id

    def handed(
        self,
        evidence_id: int,
        status: str,
        *,
        reply: str | None = None,
        external_id: str | None = None,
        detail: dict[str, Any] | None = None,
        files: Iterable[FilePart] = (),
    ) -> None:
        """What the channel answered: accepted (with the server's reply), uncertain, or refused."""
        with self.store.session() as session, session.begin():
            row = session.get(Evidence, evidence_id)
            assert row is not None
            row.status = status
            row.handed_at = self.clock.now() if status != "refused" else None
            row.server_reply = reply
            row.external_id = external_id
            row.detail = {**row.detail, **(detail or {})}
            session.add(row)
            for part in files:
                session.add(_file(evidence_id, part))

    def uncertain(self, action_id: int) -> None:
        """The process died while handing the action's message over: what it recorded may have left."""
        with self.store.session() as session, session.begin():
            session.execute(
                sa.update(Evidence)
                .where(col(Evidence.action_id) == action_id, col(Evidence.status) == "prepared")
                .values(status="uncertain")
            )

    def event(
        self,
        evidence_id: int,
        kind: str,
        *,
        source: str,
        at: datetime | None = None,
        detail: dict[str, Any] | None = None,
        raw: bytes | None = None,
        status: str | None = None,
    ) -> bool:
        """Record a report about a message once per source (a DSN read twice counts once); `status` moves the
        message on (bounced, delivered, posted, returned). False when this report was recorded before."""
        now = self.clock.now()
        try:
            with self.store.session() as session, session.begin():
                session.add(
                    DeliveryEvent(
                        evidence_id=evidence_id,
                        kind=kind,
                        at=at or now,
                        recorded_at=now,
                        source=source[:255],
                        detail=detail or {},
                        raw=raw,
                    )
                )
                if status is not None:
                    session.execute(sa.update(Evidence).where(col(Evidence.id) == evidence_id).values(status=status))
        except IntegrityError:
            return False
        return True

    # --- finding ----------------------------------------------------------------------------------------

    def get(self, evidence_id: int) -> Evidence | None:
        with self.store.session() as session:
            return session.get(Evidence, evidence_id)

    def sent_with_key(self, action_key: str, recipient: str | None = None) -> Evidence | None:
        """The latest handed-over message of an action (to `recipient`, when given): what a report is about."""
        query = select(Evidence).where(
            col(Evidence.action_key) == action_key, col(Evidence.status).in_(list(HANDED_OVER))
        )
        with self.store.session() as session:
            rows = list(session.exec(query.order_by(col(Evidence.attempt).desc())))
        if recipient is not None:
            wanted = recipient.lower()
            rows = [r for r in rows if wanted in r.recipient.lower()] or rows
        return rows[0] if rows else None

    def with_external_id(self, channel: str, external_id: str) -> Evidence | None:
        query = select(Evidence).where(Evidence.channel == channel, Evidence.external_id == external_id)
        with self.store.session() as session:
            return session.exec(query).first()

    def events(self, evidence_id: int) -> list[DeliveryEvent]:
        """What came back about one message, oldest first (without its files)."""
        query = select(DeliveryEvent).where(DeliveryEvent.evidence_id == evidence_id)
        with self.store.session() as session:
            return list(session.exec(query.order_by(col(DeliveryEvent.at), col(DeliveryEvent.id))))

    def awaiting(self, channel: str, statuses: Sequence[str]) -> list[Evidence]:
        """Messages of a channel still in one of `statuses` (posted letters whose provider has not said yet)."""
        query = select(Evidence).where(Evidence.channel == channel, col(Evidence.status).in_(list(statuses)))
        with self.store.session() as session:
            return list(session.exec(query.order_by(col(Evidence.id))))

    def proofs(
        self,
        *,
        action_ids: Sequence[int] | None = None,
        administration_id: int | None = None,
        contact: str | None = None,
    ) -> list[Proof]:
        """Every recorded message of some actions, or of one customer, oldest first, with files and reports."""
        query = select(Evidence)
        if action_ids is not None:
            query = query.where(col(Evidence.action_id).in_(list(action_ids)))
        if administration_id is not None:
            query = query.where(Evidence.administration_id == administration_id)
        if contact is not None:
            query = query.where(Evidence.contact_ledger_id == contact)
        with self.store.session() as session:
            rows = list(session.exec(query.order_by(col(Evidence.prepared_at), col(Evidence.id))))
            ids = [row.id for row in rows]
            files = list(
                session.exec(
                    select(EvidenceFile).where(col(EvidenceFile.evidence_id).in_(ids)).order_by(col(EvidenceFile.id))
                )
            )
            events = list(
                session.exec(
                    select(DeliveryEvent)
                    .where(col(DeliveryEvent.evidence_id).in_(ids))
                    .order_by(col(DeliveryEvent.at), col(DeliveryEvent.id))
                )
            )
        return [
            Proof(row, [f for f in files if f.evidence_id == row.id], [e for e in events if e.evidence_id == row.id])
            for row in rows
        ]

    # --- messages that did not arrive -------------------------------------------------------------------

    def add_problem(
        self, action: Action, evidence: Evidence, *, address: str, reason: str, detail: dict[str, Any]
    ) -> bool:
        """A message that did not arrive: the customer's track stops until a person resolves it. Once per
        message; the action counts as not sent (`undelivered`), so a letter never claims it and a legal letter's
        term never starts. False when it was known already."""
        now = self.clock.now()
        try:
            return self._add_problem(action, evidence, address, reason, detail, now)
        except IntegrityError:  # another replica read the same report at the same moment
            return False

    def _add_problem(
        self, action: Action, evidence: Evidence, address: str, reason: str, detail: dict[str, Any], now: datetime
    ) -> bool:
        with self.store.session() as session, session.begin():
            known = session.exec(
                select(DeliveryProblem).where(
                    DeliveryProblem.action_id == action.id, DeliveryProblem.evidence_id == evidence.id
                )
            ).first()
            if known is not None:
                return False
            assert action.id is not None
            session.add(
                DeliveryProblem(
                    administration_id=action.administration_id,
                    contact_ledger_id=action.contact_ledger_id,
                    action_id=action.id,
                    evidence_id=evidence.id,
                    channel=evidence.channel,
                    address=address,
                    reason=reason,
                    created_at=now,
                )
            )
            session.execute(
                sa.update(Action)
                .where(col(Action.id) == action.id, col(Action.status).in_(["sent", "done", "review"]))
                .values(status="undelivered", updated_at=now, error=f"not delivered to {address}: {reason}"[:2000])
            )
            session.add(
                AuditEntry(
                    administration_id=action.administration_id,
                    at=now,
                    event="undelivered",
                    contact_ledger_id=action.contact_ledger_id,
                    action_id=action.id,
                    detail={"stage": action.stage, "address": address, "reason": reason, **detail},
                )
            )
        return True

    def problems(self, administration_id: int | None = None, *, open_only: bool = True) -> list[DeliveryProblem]:
        query = select(DeliveryProblem)
        if administration_id is not None:
            query = query.where(DeliveryProblem.administration_id == administration_id)
        if open_only:
            query = query.where(col(DeliveryProblem.resolved_at).is_(None))
        with self.store.session() as session:
            return list(session.exec(query.order_by(col(DeliveryProblem.id))))

    def blocked_contacts(self, administration_id: int) -> dict[str, str]:
        """Customers whose track waits for a person because a message did not reach them: contact -> why."""
        return {
            p.contact_ledger_id: f"{p.channel} to {p.address} did not arrive ({p.reason}): fix it in the ledger, "
            "then `connector bounces resolve`"
            for p in self.problems(administration_id)
        }

    def resolve_problems(self, administration_id: int, contact: str, *, by: str, note: str | None) -> int:
        """A person fixed the address: the customer's track goes on (the stage that did not arrive is planned
        again)."""
        now = self.clock.now()
        with self.store.session() as session, session.begin():
            rows = list(
                session.exec(
                    select(DeliveryProblem).where(
                        DeliveryProblem.administration_id == administration_id,
                        DeliveryProblem.contact_ledger_id == contact,
                        col(DeliveryProblem.resolved_at).is_(None),
                    )
                )
            )
            for row in rows:
                row.resolved_at, row.resolved_by, row.resolution = now, by, note
                session.add(row)
                # It never arrived: like an action dropped at the re-check, the next plan takes it from there
                # (the same message again, or one that covers what is due by then).
                session.execute(
                    sa.update(Action)
                    .where(col(Action.id) == row.action_id, col(Action.status) == "undelivered")
                    .values(status="dropped", updated_at=now, error=f"did not arrive; resolved by {by}")
                )
                session.add(
                    AuditEntry(
                        administration_id=administration_id,
                        at=now,
                        event="delivery_problem_resolved",
                        contact_ledger_id=contact,
                        action_id=row.action_id,
                        detail={"by": by, "note": note, "address": row.address},
                    )
                )
            return len(rows)

    # --- retention --------------------------------------------------------------------------------------

    def purge(self, older_than: datetime) -> list[Purged]:
        """Remove the proof of customers whose every message is older than `older_than` (the retention period),
        with an audit entry per customer. Returns what went, and the files outside the store to remove."""
        newest = (
            select(
                Evidence.administration_id,
                Evidence.contact_ledger_id,
                sa.func.max(Evidence.prepared_at).label("newest"),
            )
            .group_by(col(Evidence.administration_id), col(Evidence.contact_ledger_id))
            .subquery()
        )
        done: list[Purged] = []
        with self.store.session() as session:
            expired = list(session.execute(sa.select(newest).where(newest.c.newest < older_than)))
        for administration_id, contact, _ in expired:
            with self.store.session() as session, session.begin():
                rows = list(
                    session.exec(
                        select(Evidence).where(
                            Evidence.administration_id == administration_id, Evidence.contact_ledger_id == contact
                        )
                    )
                )
                ids = [row.id for row in rows]
                files = session.exec(
                    select(sa.func.count()).select_from(EvidenceFile).where(col(EvidenceFile.evidence_id).in_(ids))
                ).one()
                paths = [str(path) for row in rows for path in row.detail.get("files_on_disk", [])]
                session.execute(sa.delete(Evidence).where(col(Evidence.id).in_(ids)))
                session.add(
                    AuditEntry(
                        administration_id=administration_id,
                        at=self.clock.now(),
                        event="evidence_purged",
                        contact_ledger_id=contact,
                        detail={"messages": len(rows), "files": int(files), "before": older_than.isoformat()},
                    )
                )
            done.append(Purged(administration_id, contact, len(rows), int(files), paths))
        return done

    # --- the invoices' own PDFs ------------------------------------------------------------------------

    def invoice_pdf(self, administration_id: int, invoice_ledger_id: str, fingerprint: str) -> bytes | None:
        """The invoice's PDF fetched before, if the invoice still shows what it showed then."""
        with self.store.session() as session:
            row = session.get(InvoiceDocument, (administration_id, invoice_ledger_id))
            return row.content if row is not None and row.fingerprint == fingerprint else None

    def keep_invoice_pdf(self, administration_id: int, invoice_ledger_id: str, fingerprint: str, pdf: bytes) -> None:
        with self.store.session() as session, session.begin():
            row = session.get(InvoiceDocument, (administration_id, invoice_ledger_id)) or InvoiceDocument(
                administration_id=administration_id, invoice_ledger_id=invoice_ledger_id, sha256="", content=b""
            )
            row.fingerprint, row.content, row.fetched_at = fingerprint, pdf, self.clock.now()
            row.sha256 = hashlib.sha256(pdf).hexdigest()
            session.add(row)

    def forget_invoice_pdfs(self, older_than: datetime) -> int:
        """A cache: what was fetched long ago is fetched again if a reminder still wants it."""
        with self.store.session() as session, session.begin():
            result = session.execute(sa.delete(InvoiceDocument).where(col(InvoiceDocument.fetched_at) < older_than))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    # --- mailboxes --------------------------------------------------------------------------------------

    def mailbox_cursor(self, mailbox: str) -> tuple[int, int] | None:
        with self.store.session() as session:
            row = session.get(MailboxCursor, mailbox)
            return (row.uidvalidity, row.last_uid) if row else None

    def move_mailbox_cursor(self, mailbox: str, uidvalidity: int, last_uid: int) -> None:
        with self.store.session() as session, session.begin():
            row = session.get(MailboxCursor, mailbox) or MailboxCursor(mailbox=mailbox, uidvalidity=0, last_uid=0)
            row.uidvalidity, row.last_uid, row.updated_at = uidvalidity, last_uid, self.clock.now()
            session.add(row)


def _file(evidence_id: int, part: FilePart) -> EvidenceFile:
    return EvidenceFile(
        evidence_id=evidence_id,
        name=part.name[:200],
        media_type=part.media_type,
        sha256=part.sha256,
        size=len(part.content),
        content=part.content,
    )
