"""One customer as the cockpit shows them: their invoices, what was sent and done for them, and what people
decided. A handful of queries per customer, however long their history."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import col, func, or_, select

from connector.domain import InvoiceStatus
from connector.store.models import (
    Action,
    ActionInvoice,
    AuditEntry,
    Contact,
    ContactOverride,
    Evidence,
    Hold,
    Invoice,
)
from connector.store.repository import Store


@dataclass
class CustomerRow:
    """A line of the customers list."""

    ledger_id: str
    name: str
    email: str | None
    open_invoices: int = 0
    open_amount: Decimal = Decimal(0)
    overdue_amount: Decimal = Decimal(0)
    oldest_due: date | None = None
    excluded: bool = False
    paused: int = 0  # invoices on hold today


@dataclass
class CustomerFile:
    contact: Contact
    override: ContactOverride | None
    invoices: list[Invoice]
    actions: list[Action]
    covers: dict[int, list[str]] = field(default_factory=dict)  # action id -> invoice ledger ids
    holds: list[Hold] = field(default_factory=list)
    decisions: list[AuditEntry] = field(default_factory=list)  # what people did: entries with a `by`
    messages: list[Evidence] = field(default_factory=list)  # each time a message was handed over (no bytes)


class CustomerStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    def customers(self, administration_id: int, today: date, query: str = "") -> list[CustomerRow]:
        """Every customer with an open invoice, or matching `query` (name, e-mail or ledger id)."""
        found: dict[str, CustomerRow] = {}
        with self.store.session() as session:
            contacts = select(Contact).where(Contact.administration_id == administration_id)
            if query:
                like = f"%{query.lower()}%"
                contacts = contacts.where(
                    or_(
                        func.lower(Contact.name).like(like),
                        func.lower(func.coalesce(Contact.email, "")).like(like),
                        col(Contact.ledger_id) == query,
                    )
                )
            named = {row.ledger_id: row for row in session.exec(contacts)}
            totals = session.exec(
                select(
                    Invoice.contact_ledger_id,
                    func.count(),
                    func.min(Invoice.due_date),
                )
                .where(Invoice.administration_id == administration_id, Invoice.status == InvoiceStatus.OPEN)
                .group_by(col(Invoice.contact_ledger_id))
            ).all()
            amounts = session.execute(
                sa.select(col(Invoice.contact_ledger_id), col(Invoice.open_amount), col(Invoice.due_date)).where(
                    col(Invoice.administration_id) == administration_id, col(Invoice.status) == InvoiceStatus.OPEN
                )
            ).all()
            excluded = set(
                session.exec(
                    select(ContactOverride.contact_ledger_id).where(
                        ContactOverride.administration_id == administration_id, col(ContactOverride.excluded)
                    )
                )
            )
            held: dict[str, int] = {
                contact_id: count
                for contact_id, count in session.execute(
                    sa.select(col(Invoice.contact_ledger_id), func.count(sa.distinct(col(Hold.invoice_ledger_id))))
                    .join(
                        Invoice,
                        sa.and_(
                            col(Invoice.administration_id) == Hold.administration_id,
                            col(Invoice.ledger_id) == Hold.invoice_ledger_id,
                        ),
                    )
                    .where(
                        col(Hold.administration_id) == administration_id,
                        col(Hold.released_at).is_(None),
                        sa.or_(col(Hold.until).is_(None), col(Hold.until) >= today),
                    )
                    .group_by(col(Invoice.contact_ledger_id))
                )
            }
        for contact_id, count, oldest in totals:
            contact = named.get(contact_id)
            if contact is None and query:
                continue
            found[contact_id] = CustomerRow(
                contact_id, contact.name if contact else contact_id, contact.email if contact else None, count
            )
            found[contact_id].oldest_due = oldest
        for contact_id, amount, due in amounts:
            row = found.get(contact_id)
            if row is not None:
                row.open_amount += amount
                if due < today:
                    row.overdue_amount += amount
        if query:
            for contact_id, contact in named.items():
                found.setdefault(contact_id, CustomerRow(contact_id, contact.name, contact.email))
        for contact_id, row in found.items():
            row.excluded = contact_id in excluded
            row.paused = int(held.get(contact_id, 0))
        return sorted(found.values(), key=lambda row: (-row.overdue_amount, row.name.lower()))

    def file(self, administration_id: int, contact_id: str) -> CustomerFile | None:
        with self.store.session() as session:
            contact = session.exec(
                select(Contact).where(Contact.administration_id == administration_id, Contact.ledger_id == contact_id)
            ).first()
            if contact is None:
                return None
            override = session.get(ContactOverride, (administration_id, contact_id))
            invoices = list(
                session.exec(
                    select(Invoice)
                    .where(Invoice.administration_id == administration_id, Invoice.contact_ledger_id == contact_id)
                    .order_by(col(Invoice.due_date))
                )
            )
            ids = [invoice.ledger_id for invoice in invoices]
            actions = list(
                session.exec(
                    select(Action)
                    .where(Action.administration_id == administration_id, Action.contact_ledger_id == contact_id)
                    .order_by(col(Action.id))
                )
            )
            covers: dict[int, list[str]] = defaultdict(list)
            for link in session.exec(
                select(ActionInvoice).where(col(ActionInvoice.action_id).in_([a.id for a in actions]))
            ):
                covers[link.action_id].append(link.invoice_ledger_id)
            holds = list(
                session.exec(
                    select(Hold)
                    .where(Hold.administration_id == administration_id, col(Hold.invoice_ledger_id).in_(ids))
                    .order_by(col(Hold.created_at))
                )
            )
            entries = session.exec(
                select(AuditEntry)
                .where(
                    AuditEntry.administration_id == administration_id,
                    or_(col(AuditEntry.contact_ledger_id) == contact_id, col(AuditEntry.invoice_ledger_id).in_(ids)),
                )
                .order_by(col(AuditEntry.at), col(AuditEntry.id))
            )
            decisions = [entry for entry in entries if entry.detail.get("by")]
            messages = list(
                session.exec(
                    select(Evidence)
                    .where(Evidence.administration_id == administration_id, Evidence.contact_ledger_id == contact_id)
                    .order_by(col(Evidence.prepared_at))
                )
            )
        return CustomerFile(contact, override, invoices, actions, dict(covers), holds, _once(decisions), messages)


def _once(entries: list[AuditEntry]) -> list[AuditEntry]:
    """A decision about an action is logged per invoice it covers; a person made it once."""
    seen: set[tuple[object, ...]] = set()
    kept = []
    for entry in entries:
        key = (entry.event, entry.action_id, entry.at, entry.detail.get("by")) if entry.action_id else (entry.id,)
        if key not in seen:
            seen.add(key)
            kept.append(entry)
    return kept
