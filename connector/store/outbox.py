"""The outbox's persistence: enqueue planned actions by idempotency key, claim them, record each transition.

States: pending -> executing (claimed; re-checking the ledger) -> sending (handing it to the channel) -> sent (the
channel acted; notes being written back) -> done. Side exits: dropped (the re-check found the invoices paid, changed
or paused), failed (out of tries, or impossible), review (interrupted while sending: never resent without a person),
undelivered (it bounced or came back: it counts as never sent; once a person has fixed the address it is dropped,
and the next plan takes it from there). An action the policy reserves for a person starts as awaiting_approval and
becomes pending when approved, or rejected (it never goes out). A crash leaves `executing` (safe to retry) or
`sending` (flagged for review) or `sent` (the write-back resumes).

Under a lease (`fence`), every move that may lead to a side effect (claiming an action, handing it to the
channel) and every recovery of another run's action happens only while the lease still holds, in the same
statement; recording what a channel already did never waits for a lease.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from connector.store.leases import Fence, LeaseStore
from connector.store.models import Action, ActionInvoice, AuditEntry
from connector.store.repository import Store
from connector.workflow.planner import PlannedAction

OPEN_STATES = ("pending", "executing", "sending", "sent")
AWAITING_APPROVAL = "awaiting_approval"  # reserved for a person by the policy: `connector approve` or `reject`
FENCED_STATES = ("executing", "sending")  # entering these needs the lease


class OutboxStore:
    def __init__(self, store: Store, fence: Fence | None = None) -> None:
        self.store = store
        self.clock = store.clock
        self.fence = fence

    def lease_holds(self) -> bool:
        """Whether the lease this works under still holds (always, without one)."""
        return self.fence is None or LeaseStore(self.store, self.fence.clock).holds(self.fence)

    def enqueue(self, administration_id: int, actions: Sequence[PlannedAction], not_before: datetime) -> list[int]:
        """Store planned actions not stored before (by key); returns the new ids. One transaction."""
        if not actions:
            return []
        now = self.clock.now()
        with self.store.session() as session, session.begin():
            known = {
                row.key: row
                for row in session.exec(
                    select(Action).where(
                        Action.administration_id == administration_id,
                        col(Action.key).in_([a.key for a in actions]),
                    )
                )
            }
            created = []
            for planned in actions:
                existing = known.get(planned.key)
                status = AWAITING_APPROVAL if planned.needs_approval else "pending"
                if existing is not None and existing.status == "dropped":
                    # Dropped at the re-check, it never did anything (or it never arrived, and a person has fixed
                    # the address since): planned again, it may go. Its earlier proof stays with it.
                    existing.status, existing.planned, existing.next_attempt_at = (
                        status,
                        planned.to_json(),
                        not_before,
                    )
                    existing.attempts, existing.error, existing.updated_at = 0, None, now
                    session.add(existing)
                    for ledger_id in planned.invoices:
                        session.add(
                            self._entry(administration_id, "replanned", existing, ledger_id, {"reason": planned.reason})
                        )
                    continue
                if existing is not None:
                    continue
                row = Action(
                    administration_id=administration_id,
                    key=planned.key,
                    stage=planned.stage,
                    stage_index=planned.stage_index,
                    action=planned.action,
                    legal_letter=planned.legal_letter,
                    contact_ledger_id=planned.contact_id,
                    planned_on=planned.planned_on,
                    planned=planned.to_json(),
                    status=status,
                    next_attempt_at=not_before,
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
                session.flush()
                assert row.id is not None
                created.append(row.id)
                for ledger_id in planned.invoices:
                    session.add(
                        ActionInvoice(
                            action_id=row.id, invoice_ledger_id=ledger_id, administration_id=administration_id
                        )
                    )
                    detail = {
                        "reason": planned.reason,
                        **({"approval": list(planned.approval)} if planned.approval else {}),
                    }
                    session.add(self._entry(administration_id, "planned", row, ledger_id, detail))
            return created

    def due(self, administration_id: int, now: datetime) -> list[Action]:
        query = (
            select(Action)
            .where(
                Action.administration_id == administration_id,
                col(Action.status) == "pending",
                col(Action.next_attempt_at) <= now,
            )
            .order_by(col(Action.stage_index), col(Action.id))
        )
        with self.store.session() as session:
            return list(session.exec(query))

    def unfinished(self, administration_id: int, status: str) -> list[Action]:
        query = select(Action).where(Action.administration_id == administration_id, Action.status == status)
        with self.store.session() as session:
            return list(session.exec(query.order_by(col(Action.id))))

    def transition(
        self,
        action: Action,
        to: str,
        *,
        expect: str,
        event: str | None = None,
        error: str | None = None,
        outcome: dict[str, Any] | None = None,
        next_attempt_at: datetime | None = None,
        detail: dict[str, Any] | None = None,
        fenced: bool | None = None,
        attempt_spent: bool = True,
    ) -> bool:
        """Move an action from `expect` to `to` if it is still in `expect` (so two workers never both win);
        the audit entries per invoice go in the same transaction. `fenced` (default: when entering a state
        that leads to a side effect) also requires the lease. `attempt_spent=False` on the way back from
        `executing` or `sending` gives back the try that was begun (nothing left: the send window closed, or the
        channel itself was down)."""
        now = self.clock.now()
        values: dict[str, Any] = {"status": to, "updated_at": now}
        if to == "executing":
            values["attempts"] = Action.attempts + 1
        if expect in ("executing", "sending") and not attempt_spent:
            values["attempts"] = Action.attempts - 1
        if expect in ("failed", "review") and to == "pending":
            values["attempts"] = 0
        if error is not None:
            values["error"] = error
        if outcome is not None:
            values["outcome"] = outcome
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        if to == "sent":
            values["executed_at"] = now
        with self.store.session() as session, session.begin():
            update = sa.update(Action).where(col(Action.id) == action.id, col(Action.status) == expect)
            if self.fence is not None and (fenced if fenced is not None else to in FENCED_STATES):
                update = update.where(self.fence.clause())
            result = session.execute(update.values(**values))
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return False
            if event is not None:
                for ledger_id in self.invoice_ids(action, session=session):
                    session.add(self._entry(action.administration_id, event, action, ledger_id, detail or {}))
        action.status = to
        if to == "executing":
            action.attempts += 1
        if expect in ("executing", "sending") and not attempt_spent:
            action.attempts -= 1
        if outcome is not None:
            action.outcome = outcome
        return True

    def save_outcome(
        self,
        action: Action,
        outcome: dict[str, Any],
        event: str | None = None,
        invoice: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Record one step of the write-back (a note about to be written, a note written), with its audit
        entry when it has an `event`, at once."""
        with self.store.session() as session, session.begin():
            session.execute(
                sa.update(Action)
                .where(col(Action.id) == action.id)
                .values(outcome=outcome, updated_at=self.clock.now())
            )
            if event is not None:
                assert invoice is not None, "an audit entry of the write-back names its invoice"
                session.add(self._entry(action.administration_id, event, action, invoice, detail or {}))
        action.outcome = outcome

    def record_event(self, action: Action, event: str, detail: dict[str, Any]) -> None:
        """An audit entry on each of the action's invoices: something that happened to it after it went out."""
        with self.store.session() as session, session.begin():
            for ledger_id in self.invoice_ids(action, session=session):
                session.add(self._entry(action.administration_id, event, action, ledger_id, detail))

    def invoice_ids(self, action: Action, *, session: Any = None) -> list[str]:
        query = select(ActionInvoice.invoice_ledger_id).where(ActionInvoice.action_id == action.id)
        if session is not None:
            return list(session.exec(query.order_by(col(ActionInvoice.invoice_ledger_id))))
        with self.store.session() as own:
            return list(own.exec(query.order_by(col(ActionInvoice.invoice_ledger_id))))

    def earlier_messages(self, action: Action, actions: Sequence[str]) -> list[tuple[Action, list[str]]]:
        """What went out to this customer about any invoice of `action` before it, of the given kinds (e-mails,
        the ledger's reminders), oldest first, each with which of `action`'s invoices it was about: what a letter
        may truthfully refer to."""
        ids = self.invoice_ids(action)
        covered = select(ActionInvoice.action_id).where(
            col(ActionInvoice.invoice_ledger_id).in_(ids),
            ActionInvoice.administration_id == action.administration_id,
        )
        query = (
            select(Action)
            .where(
                Action.administration_id == action.administration_id,
                Action.contact_ledger_id == action.contact_ledger_id,
                col(Action.id) != action.id,
                col(Action.id).in_(covered),
                col(Action.action).in_(list(actions)),
                col(Action.status).in_(["sent", "done"]),
                col(Action.executed_at).is_not(None),
            )
            .order_by(col(Action.executed_at))
        )
        if action.executed_at is not None:  # asked afterwards: what had gone out before this one did
            query = query.where(col(Action.executed_at) < action.executed_at)
        with self.store.session() as session:
            sent = list(session.exec(query))
            return [(earlier, [i for i in self.invoice_ids(earlier, session=session) if i in ids]) for earlier in sent]

    def find(self, key_prefix: str) -> list[Action]:
        """Actions whose key starts with `key_prefix` (people quote the first characters, as in the notes)."""
        query = select(Action).where(col(Action.key).startswith(key_prefix))
        with self.store.session() as session:
            return list(session.exec(query))

    def latest_with_template(self, template: str, administration_id: int) -> Action | None:
        """The administration's most recent action whose message is made from `template`."""
        query = (
            select(Action)
            .where(Action.administration_id == administration_id, col(Action.action).in_(["email", "post"]))
            .order_by(col(Action.id).desc())
        )
        with self.store.session() as session:
            for action in session.exec(query.limit(500)):
                if str(action.planned.get("template") or action.stage) == template:
                    return action
        return None

    def by_keys(self, administration_id: int, keys: Sequence[str]) -> list[Action]:
        """An administration's actions with exactly these keys."""
        query = select(Action).where(Action.administration_id == administration_id, col(Action.key).in_(list(keys)))
        with self.store.session() as session:
            return list(session.exec(query.order_by(col(Action.id))))

    def by_ids(self, ids: Sequence[int]) -> dict[int, Action]:
        with self.store.session() as session:
            return {a.id: a for a in session.exec(select(Action).where(col(Action.id).in_(list(ids)))) if a.id}

    def actions(self, administration_id: int, statuses: Sequence[str] | None = None) -> list[Action]:
        query = select(Action).where(Action.administration_id == administration_id)
        if statuses:
            query = query.where(col(Action.status).in_(list(statuses)))
        with self.store.session() as session:
            return list(session.exec(query.order_by(col(Action.id))))

    def _entry(
        self, administration_id: int, event: str, action: Action, invoice: str, detail: dict[str, Any]
    ) -> AuditEntry:
        return AuditEntry(
            administration_id=administration_id,
            at=self.clock.now(),
            event=event,
            invoice_ledger_id=invoice,
            contact_ledger_id=action.contact_ledger_id,
            action_id=action.id,
            detail={"stage": action.stage, "action": action.action, **detail},
        )
