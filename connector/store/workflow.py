"""The store's side of the reminder workflow: what the planner needs, holds, overrides and the audit log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from connector import domain
from connector.clock import AMSTERDAM
from connector.domain import InvoiceStatus
from connector.store.models import (
    Action,
    ActionInvoice,
    AuditEntry,
    ContactOverride,
    DeliveryProblem,
    Hold,
    Invoice,
    InvoiceStart,
)
from connector.store.models import Contact as ContactRow
from connector.store.repository import Store
from connector.workflow import planner
from connector.workflow.legal import DebtorKind, RatePeriod, debtor_kind_and_why
from connector.workflow.policy import CUSTOMER_FACING, Policy

# Actions that count as the stage being reached: planned and not yet done count too (also those waiting for a
# person's approval), so a stage is never planned twice for an invoice; dropped, failed and rejected ones do not.
PROGRESSING = ("awaiting_approval", "pending", "executing", "sending", "sent", "done", "review")
HOLD_REASONS = ("dispute", "arrangement", "hold")


@dataclass(frozen=True)
class PlanningInputs:
    invoices: list[planner.InvoiceFacts]
    progress: dict[str, planner.Progress]
    contacts: dict[str, planner.ContactFacts]


def _letter(key: str, sent_on: date, plan: Mapping[str, Any], invoices: list[str]) -> planner.LetterFacts:
    """A legal letter as it went out, from its plan: what it covered and the costs it stated."""
    return planner.LetterFacts(
        key=key,
        sent_on=sent_on,
        invoices=tuple(invoices),
        # What its costs were on: its invoices less the customer's credit set off against them.
        principal=max(Decimal(0), planner.planned_amount(plan, "principal") - planner.planned_amount(plan, "credit")),
        costs=planner.planned_amount(plan, "collection_costs"),
        invoice_costs=planner.planned_amounts(plan, "invoice_costs"),
        capped=bool(plan.get("capped")),
    )


def went_out_on(action: str, executed_at: datetime | None, outcome: Mapping[str, Any] | None) -> date | None:
    """The business day a message went out: the day it was sent, or for a letter by post the day the post
    service reports it posted (a term and the spacing run from then); None while it is on its way."""
    if executed_at is None:
        return None
    if action == "post":
        posted = (outcome or {}).get("posted_on")
        return date.fromisoformat(posted) if posted else None
    return executed_at.astimezone(AMSTERDAM).date()


@dataclass(frozen=True)
class Stop:
    """Something that stops reminders: a customer excluded, an invoice paused here (dispute, arrangement, hold)
    or paused in the ledger by a person. `ended`: why it no longer holds (listed only when asked for)."""

    kind: str  # excluded | undeliverable | dispute | arrangement | hold | paused_in_ledger
    contact_id: str | None
    invoice_id: str | None = None
    until: date | None = None
    note: str | None = None
    since: datetime | None = None
    by: str | None = None
    ended: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "contact_id": self.contact_id,
            "invoice_id": self.invoice_id,
            "until": self.until.isoformat() if self.until else None,
            "note": self.note,
            "since": self.since.isoformat() if self.since else None,
            "by": self.by,
            "ended": self.ended,
        }


class WorkflowStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.clock = store.clock

    def due_actions(
        self,
        administration_id: int,
        administration: Any,
        policies: Mapping[str, Policy],
        today: date,
        rates: Sequence[RatePeriod] | None = None,
    ) -> list[planner.PlannedAction]:
        """What the workflow wants done for this administration on `today`, from what the store holds."""
        inputs = self.planning_inputs(administration_id)
        return planner.planner_for(administration, policies, rates).plan(
            today, inputs.invoices, inputs.progress, inputs.contacts
        )

    def next_for_contact(
        self,
        administration_id: int,
        administration: Any,
        policies: Mapping[str, Policy],
        contact_id: str,
        start: date,
        rates: Sequence[RatePeriod] | None = None,
        horizon_days: int = 90,
    ) -> list[planner.PlannedAction]:
        """What the workflow will do next for one customer: the first day from `start` on (within the horizon)
        that something is due for them, as planned on that day. Only the next step: the ones after it depend on
        what happens to this one."""
        inputs = self.planning_inputs(administration_id)
        invoices = [invoice for invoice in inputs.invoices if invoice.contact_id == contact_id]
        if not invoices:
            return []
        contacts = {key: facts for key, facts in inputs.contacts.items() if key == contact_id}
        plan = planner.planner_for(administration, policies, rates)
        for offset in range(horizon_days):
            found = plan.plan(start + timedelta(days=offset), invoices, inputs.progress, contacts)
            if found:
                return found
        return []

    def planning_inputs(self, administration_id: int) -> PlanningInputs:
        """Open invoices, what was done for each, the holds on them and what people decided per contact.
        Five queries, whatever the number of invoices."""
        with self.store.session() as session:
            languages: dict[str, str] = {
                ledger_id: language
                for ledger_id, language in session.execute(
                    sa.select(col(ContactRow.ledger_id), col(ContactRow.language)).where(
                        col(ContactRow.administration_id) == administration_id, col(ContactRow.language).is_not(None)
                    )
                ).all()
            }
            rows = session.execute(
                sa.select(
                    col(Invoice.ledger_id),
                    col(Invoice.number),
                    col(Invoice.contact_ledger_id),
                    col(Invoice.due_date),
                    col(Invoice.currency),
                    col(Invoice.open_amount),
                    col(Invoice.language),
                    col(Invoice.ledger_reminders_paused),
                    col(Invoice.first_seen_at),
                    col(Invoice.due_date_assumed),
                    col(Invoice.recurring),
                    col(Invoice.total),
                ).where(col(Invoice.administration_id) == administration_id, col(Invoice.status) == InvoiceStatus.OPEN)
            ).all()
            invoices = [
                planner.InvoiceFacts(
                    ledger_id=r[0],
                    number=r[1],
                    contact_id=r[2],
                    due_date=r[3],
                    currency=r[4],
                    open_amount=r[5],
                    language=r[6] or languages.get(r[2]) or "nl",
                    ledger_paused=bool(r[7]),
                    first_seen_on=r[8].astimezone(AMSTERDAM).date(),
                    due_date_assumed=bool(r[9]),
                    recurring=bool(r[10]),
                    total=r[11],
                )
                for r in rows
            ]
            reached = session.execute(
                sa.select(
                    col(ActionInvoice.invoice_ledger_id),
                    col(Action.stage),
                    col(Action.stage_index),
                    col(Action.legal_letter),
                    col(Action.planned_on),
                    col(Action.executed_at),
                    col(Action.outcome),
                    col(Action.contact_ledger_id),
                    col(Action.action),
                    col(Action.key),
                    col(Action.planned),
                )
                .join(Action, col(Action.id) == ActionInvoice.action_id)
                .where(col(ActionInvoice.administration_id) == administration_id, col(Action.status).in_(PROGRESSING))
                .order_by(col(Action.stage_index))
            ).all()
            holds = session.exec(
                select(Hold).where(Hold.administration_id == administration_id, col(Hold.released_at).is_(None))
            ).all()
            overrides = {
                o.contact_ledger_id: o
                for o in session.exec(
                    select(ContactOverride).where(ContactOverride.administration_id == administration_id)
                )
            }
            starts = session.exec(select(InvoiceStart).where(InvoiceStart.administration_id == administration_id)).all()
            business = dict(
                session.exec(
                    select(ContactRow.ledger_id, ContactRow.is_business).where(
                        ContactRow.administration_id == administration_id
                    )
                ).all()
            )
            undeliverable = set(
                session.exec(
                    select(DeliveryProblem.contact_ledger_id).where(
                        DeliveryProblem.administration_id == administration_id,
                        col(DeliveryProblem.resolved_at).is_(None),
                    )
                ).all()
            )

        paused_by_us = self.paused_by_connector(administration_id)
        progress: dict[str, planner.Progress] = {}
        last_message_on: dict[str, date] = {}
        in_flight: set[str] = set()
        letters: dict[str, dict[str, planner.LetterFacts]] = {}  # contact -> key -> letter
        letter_invoices: dict[str, list[str]] = {}
        for ledger_id, stage, _, legal_letter, planned_on, executed_at, outcome, contact_id, kind, key, plan in reached:
            posted_on = went_out_on(kind, executed_at, outcome)
            if posted_on is None:
                executed_at = None  # handed to the post service, not yet in the post: on its way
            on = posted_on or planned_on
            if legal_letter and executed_at is not None:
                letter_invoices.setdefault(key, []).append(ledger_id)
                letters.setdefault(contact_id, {})[key] = _letter(key, on, plan, letter_invoices[key])
            if kind in CUSTOMER_FACING:  # one message a customer a day, and none while one is on its way
                if executed_at is None:
                    in_flight.add(contact_id)
                elif on > last_message_on.get(contact_id, date.min):
                    last_message_on[contact_id] = on
            before = progress.get(ledger_id, planner.Progress())
            letter_on = (executed_at and on) if legal_letter else before.letter_on
            channel = (outcome or {}).get("letter_channel", before.letter_channel)
            progress[ledger_id] = planner.Progress(
                stage=stage,
                stage_on=on,
                letter_on=letter_on or before.letter_on,
                letter_channel=channel,
                in_flight=executed_at is None,
                letter_key=key if legal_letter and executed_at is not None else before.letter_key,
                written_on=max(on, before.written_on or on)
                if kind in CUSTOMER_FACING and executed_at is not None
                else before.written_on,
            )
        for hold in holds:
            before = progress.get(hold.invoice_ledger_id, planner.Progress())
            progress[hold.invoice_ledger_id] = replace(before, hold=planner.Hold(hold.reason, hold.until))
        for ledger_id in paused_by_us:
            progress[ledger_id] = replace(progress.get(ledger_id, planner.Progress()), ledger_paused_by_connector=True)
        for start in starts:
            before = progress.get(start.invoice_ledger_id, planner.Progress())
            progress[start.invoice_ledger_id] = replace(before, start_stage=start.stage)
        contacts: dict[str, planner.ContactFacts] = {}
        for contact_id in {i.contact_id for i in invoices} | set(overrides):
            override = overrides.get(contact_id)
            if override is not None and override.debtor_kind:
                kind = DebtorKind(override.debtor_kind)
            else:
                kind = DebtorKind.BUSINESS if business.get(contact_id) else DebtorKind.CONSUMER
            contacts[contact_id] = planner.ContactFacts(
                contact_id,
                kind=kind,
                # A message to them did not arrive: nothing more until a person fixed the address.
                excluded=bool(override and override.excluded) or contact_id in undeliverable,
                policy=override.policy if override else None,
                last_message_on=last_message_on.get(contact_id),
                message_in_flight=contact_id in in_flight,
                letters=tuple(letters.get(contact_id, {}).values()),
                recurring=override.recurring if override else None,
            )
        return PlanningInputs(invoices, progress, contacts)

    def paused_by_connector(self, administration_id: int) -> set[str]:
        """Invoices whose own ledger reminders this connector paused (so a pause there is ours, not a person's)."""
        with self.store.session() as session:
            found = session.exec(
                select(AuditEntry.invoice_ledger_id).where(
                    AuditEntry.administration_id == administration_id,
                    AuditEntry.event == "ledger_reminders_paused",
                )
            )
            return {ledger_id for ledger_id in found if ledger_id is not None}

    def undeliverable(self, administration_id: int, contact_ledger_id: str) -> str | None:
        """Why nothing may go to this customer until a person looked: a message to them did not arrive."""
        with self.store.session() as session:
            row = session.exec(
                select(DeliveryProblem).where(
                    DeliveryProblem.administration_id == administration_id,
                    DeliveryProblem.contact_ledger_id == contact_ledger_id,
                    col(DeliveryProblem.resolved_at).is_(None),
                )
            ).first()
        return f"{row.channel} to {row.address} did not arrive ({row.reason})" if row else None

    def is_excluded(self, administration_id: int, contact_ledger_id: str) -> bool:
        with self.store.session() as session:
            row = session.get(ContactOverride, (administration_id, contact_ledger_id))
            return bool(row and row.excluded)

    def active_holds(self, administration_id: int, invoice_ledger_ids: Sequence[str], today: date) -> dict[str, str]:
        """Invoice id -> hold reason, for the holds in force today."""
        with self.store.session() as session:
            holds = session.exec(
                select(Hold).where(
                    Hold.administration_id == administration_id,
                    col(Hold.invoice_ledger_id).in_(list(invoice_ledger_ids)),
                    col(Hold.released_at).is_(None),
                )
            ).all()
        return {h.invoice_ledger_id: h.reason for h in holds if h.until is None or today <= h.until}

    def stops(self, administration_id: int, today: date, *, ended: bool = False) -> list[Stop]:
        """Every exclusion, pause and hold in force (with `ended`, also the pauses lifted or run out), oldest
        first; and the open invoices a person paused in the ledger itself. Four queries."""
        ours = self.paused_by_connector(administration_id)
        found: list[Stop] = []
        with self.store.session() as session:
            excluded = session.exec(
                select(ContactOverride).where(
                    ContactOverride.administration_id == administration_id, col(ContactOverride.excluded).is_(True)
                )
            ).all()
            found += [
                Stop("excluded", row.contact_ledger_id, since=row.updated_at, by=row.updated_by) for row in excluded
            ]
            problems = session.exec(
                select(DeliveryProblem).where(
                    DeliveryProblem.administration_id == administration_id, col(DeliveryProblem.resolved_at).is_(None)
                )
            ).all()
            found += [
                Stop(
                    "undeliverable",
                    row.contact_ledger_id,
                    note=f"{row.channel} to {row.address}: {row.reason}",
                    since=row.created_at,
                )
                for row in problems
            ]
            holds = session.execute(
                sa.select(Hold, col(Invoice.contact_ledger_id))
                .outerjoin(
                    Invoice,
                    (col(Invoice.administration_id) == col(Hold.administration_id))
                    & (col(Invoice.ledger_id) == col(Hold.invoice_ledger_id)),
                )
                .where(col(Hold.administration_id) == administration_id)
            ).all()
            for hold, contact_id in holds:
                why_ended = (
                    f"lifted on {hold.released_at.astimezone(AMSTERDAM).date().isoformat()}"
                    + (f" by {hold.released_by}" if hold.released_by else "")
                    if hold.released_at is not None
                    else "ran out"
                    if hold.until is not None and hold.until < today
                    else None
                )
                if why_ended is None or ended:
                    found.append(
                        Stop(
                            hold.reason,
                            contact_id,
                            hold.invoice_ledger_id,
                            hold.until,
                            hold.note,
                            hold.created_at,
                            hold.created_by,
                            why_ended,
                        )
                    )
            paused = session.execute(
                sa.select(col(Invoice.ledger_id), col(Invoice.contact_ledger_id)).where(
                    col(Invoice.administration_id) == administration_id,
                    col(Invoice.status) == InvoiceStatus.OPEN,
                    col(Invoice.ledger_reminders_paused).is_(True),
                )
            ).all()
            found += [
                Stop("paused_in_ledger", contact, ledger_id) for ledger_id, contact in paused if ledger_id not in ours
            ]
        epoch = datetime.min.replace(tzinfo=AMSTERDAM)
        return sorted(found, key=lambda stop: (stop.since or epoch, stop.kind, stop.invoice_id or ""))

    # --- manual controls ------------------------------------------------------------------------------

    def hold(
        self,
        administration_id: int,
        invoice_ledger_id: str,
        reason: str,
        until: date | None,
        note: str | None,
        *,
        by: str,
    ) -> None:
        """A person pauses the reminders for an invoice (`by`: who, for the audit log)."""
        if reason not in HOLD_REASONS:
            raise ValueError(f"reason must be one of {', '.join(HOLD_REASONS)}")
        now = self.clock.now()
        with self.store.session() as session, session.begin():
            session.add(
                Hold(
                    administration_id=administration_id,
                    invoice_ledger_id=invoice_ledger_id,
                    reason=reason,
                    until=until,
                    note=note,
                    created_at=now,
                    created_by=by,
                )
            )
            session.add(
                self._entry(
                    administration_id,
                    "paused",
                    invoice=invoice_ledger_id,
                    detail={"reason": reason, "until": until.isoformat() if until else None, "note": note, "by": by},
                )
            )

    def start_at(
        self, administration_id: int, invoice_ledger_id: str, stage: str | None, *, by: str, note: str | None
    ) -> None:
        """A person decides where an invoice not yet reminded of begins (None: where the policy says)."""
        with self.store.session() as session, session.begin():
            row = session.get(InvoiceStart, (administration_id, invoice_ledger_id))
            if stage is None:
                if row is not None:
                    session.delete(row)
            elif row is None:
                session.add(
                    InvoiceStart(
                        administration_id=administration_id,
                        invoice_ledger_id=invoice_ledger_id,
                        stage=stage,
                        decided_by=by,
                        decided_at=self.clock.now(),
                        note=note,
                    )
                )
            else:
                row.stage, row.decided_by, row.decided_at, row.note = stage, by, self.clock.now(), note
                session.add(row)
            detail = {"stage": stage, "by": by, **({"note": note} if note else {})}
            session.add(self._entry(administration_id, "start_stage_set", invoice=invoice_ledger_id, detail=detail))

    def release(self, administration_id: int, invoice_ledger_id: str, *, by: str) -> int:
        now = self.clock.now()
        with self.store.session() as session, session.begin():
            active = session.exec(
                select(Hold).where(
                    Hold.administration_id == administration_id,
                    Hold.invoice_ledger_id == invoice_ledger_id,
                    col(Hold.released_at).is_(None),
                )
            ).all()
            for hold in active:
                hold.released_at = now
                hold.released_by = by
                session.add(hold)
            if active:
                session.add(self._entry(administration_id, "resumed", invoice=invoice_ledger_id, detail={"by": by}))
            return len(active)

    def override_contact(
        self, administration_id: int, contact_ledger_id: str, *, by: str, note: str | None = None, **changes: Any
    ) -> None:
        """Set any of `excluded`, `policy`, `debtor_kind` for a customer; None clears policy/debtor_kind. `by`
        (who decided) and `note` (why) go into the audit log."""
        now = self.clock.now()
        with self.store.session() as session, session.begin():
            row = session.get(ContactOverride, (administration_id, contact_ledger_id)) or ContactOverride(
                administration_id=administration_id, contact_ledger_id=contact_ledger_id, updated_at=now
            )
            for key, value in changes.items():
                setattr(row, key, value)
            row.updated_at = now
            row.updated_by = by
            session.add(row)
            session.add(
                self._entry(
                    administration_id,
                    "contact_override",
                    contact=contact_ledger_id,
                    detail={**changes, "by": by, **({"note": note} if note else {})},
                )
            )

    # --- audit log ------------------------------------------------------------------------------------

    def audit(self, administration_id: int | None, event: str, **kwargs: Any) -> None:
        """An entry in the audit log (`administration_id` None: one that concerns no one administration)."""
        with self.store.session() as session, session.begin():
            session.add(self._entry(administration_id, event, **kwargs))

    def _entry(
        self,
        administration_id: int | None,
        event: str,
        *,
        invoice: str | None = None,
        contact: str | None = None,
        action_id: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> AuditEntry:
        return AuditEntry(
            administration_id=administration_id,
            at=self.clock.now(),
            event=event,
            invoice_ledger_id=invoice,
            contact_ledger_id=contact,
            action_id=action_id,
            detail=detail or {},
        )

    def history(self, administration_id: int, invoice_ledger_id: str) -> Sequence[AuditEntry]:
        with self.store.session() as session:
            return session.exec(
                select(AuditEntry)
                .where(
                    AuditEntry.administration_id == administration_id, AuditEntry.invoice_ledger_id == invoice_ledger_id
                )
                .order_by(col(AuditEntry.at), col(AuditEntry.id))
            ).all()

    def names(self, administration_id: int) -> tuple[dict[str, str], dict[str, str]]:
        """What people call things: contact id -> the customer's name, invoice id -> its number. Two queries."""
        with self.store.session() as session:
            contacts = dict(
                session.exec(
                    select(ContactRow.ledger_id, ContactRow.name).where(
                        ContactRow.administration_id == administration_id
                    )
                ).all()
            )
            invoices = {
                ledger_id: number or ledger_id
                for ledger_id, number in session.exec(
                    select(Invoice.ledger_id, Invoice.number).where(Invoice.administration_id == administration_id)
                ).all()
            }
        return contacts, invoices

    def contact_of(self, administration_id: int, invoice_ledger_id: str) -> str | None:
        """The customer (contact id) a mirrored invoice belongs to."""
        with self.store.session() as session:
            return session.exec(
                select(Invoice.contact_ledger_id).where(
                    Invoice.administration_id == administration_id, Invoice.ledger_id == invoice_ledger_id
                )
            ).first()

    def debtor(self, administration_id: int, contact_ledger_id: str) -> tuple[DebtorKind, str]:
        """Consumer or business for this customer, and the rule that decided it in words."""
        with self.store.session() as session:
            row = session.exec(
                select(ContactRow).where(
                    ContactRow.administration_id == administration_id, ContactRow.ledger_id == contact_ledger_id
                )
            ).first()
            override = session.get(ContactOverride, (administration_id, contact_ledger_id))
        chosen = DebtorKind(override.debtor_kind) if override is not None and override.debtor_kind else None
        contact = None
        if row is not None:
            contact = domain.Contact(
                ledger_id=row.ledger_id,
                name=row.name,
                company_name=row.company_name,
                kvk_number=row.kvk_number,
                vat_number=row.vat_number,
                kind_in_ledger=row.kind_in_ledger,
            )
        return debtor_kind_and_why(contact, chosen)

    def find_invoice(self, reference: str, administration_id: int | None = None) -> list[tuple[int, str]]:
        """(administration id, ledger id) of invoices whose ledger id or number is `reference`."""
        query = select(Invoice.administration_id, Invoice.ledger_id).where(
            (Invoice.ledger_id == reference) | (Invoice.number == reference)
        )
        if administration_id is not None:
            query = query.where(Invoice.administration_id == administration_id)
        with self.store.session() as session:
            return [(a, i) for a, i in session.exec(query).all()]
