"""A person's approvals: of an administration under its policy, and of actions a policy reserves for a person.

An administration sends nothing until someone approved the policy it runs under, exactly as configured; a
changed policy waits for a new approval. An action the policy reserves (by default the handover) waits in
the outbox as `awaiting_approval` until someone approves it (it goes out) or rejects it (it never does).
Every decision is in the audit log with the person's name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, func, select

from connector.store.models import Action, AdministrationApproval, AuditEntry
from connector.store.outbox import AWAITING_APPROVAL as AWAITING
from connector.store.outbox import OutboxStore
from connector.store.repository import Store
from connector.workflow.policy import Policy

LEGACY = "*"  # the standing approval of an administration that was live before approvals existed


def awaiting_approval_reason(administration: str, policy: str) -> str:
    return (
        f"awaiting approval: nothing is sent until a person approves policy {policy!r} for it "
        f"(`connector plan --admin {administration}` shows what would go out; "
        f"`connector approve --admin {administration}`)"
    )


@dataclass(frozen=True)
class Approval:
    policy: str
    fingerprint: str
    approved_by: str
    approved_at: datetime
    note: str | None = None

    def covers(self, policy: str, fingerprint: str) -> bool:
        return self.fingerprint == LEGACY or (self.fingerprint == fingerprint and self.policy == policy)

    def to_json(self) -> dict[str, str | None]:
        return {
            "policy": self.policy,
            "fingerprint": self.fingerprint,
            "approved_by": self.approved_by,
            "approved_at": self.approved_at.isoformat(),
            "note": self.note,
        }


class ApprovalStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.clock = store.clock

    # --- administrations ------------------------------------------------------------------------------

    def latest(self, administration_id: int) -> Approval | None:
        with self.store.session() as session:
            row = session.exec(
                select(AdministrationApproval)
                .where(AdministrationApproval.administration_id == administration_id)
                .order_by(col(AdministrationApproval.approved_at).desc(), col(AdministrationApproval.id).desc())
            ).first()
        return _approval(row) if row is not None else None

    def latest_per_administration(self) -> dict[int, Approval]:
        """The latest approval of every administration, in one query."""
        newest = (
            select(AdministrationApproval.administration_id, func.max(AdministrationApproval.id).label("id"))
            .group_by(col(AdministrationApproval.administration_id))
            .subquery()
        )
        query = select(AdministrationApproval).join(newest, col(AdministrationApproval.id) == newest.c.id)
        with self.store.session() as session:
            return {row.administration_id: _approval(row) for row in session.exec(query)}

    def approved(self, administration_id: int, policy: str, fingerprint: str) -> bool:
        """Whether the administration may send under this policy. A standing approval from before approvals
        existed becomes an approval of this policy, once, recorded as such."""
        latest = self.latest(administration_id)
        if latest is None or not latest.covers(policy, fingerprint):
            return False
        if latest.fingerprint == LEGACY:
            self.approve(administration_id, policy, fingerprint, by=latest.approved_by, note="live before approvals")
        return True

    def approve_administration(
        self, administration: Any, policies: Mapping[str, Policy], *, by: str, note: str | None
    ) -> Approval:
        """Approve a configured administration under the policy it is configured with."""
        administration_id = self.store.ensure_administration(
            administration.name, administration.platform, administration.ledger_reference
        )
        policy = policies[administration.policy]
        return self.approve(administration_id, administration.policy, policy.fingerprint(), by=by, note=note)

    def approve(self, administration_id: int, policy: str, fingerprint: str, *, by: str, note: str | None) -> Approval:
        now = self.clock.now()
        row = AdministrationApproval(
            administration_id=administration_id,
            policy=policy,
            fingerprint=fingerprint,
            approved_by=by,
            approved_at=now,
            note=note,
        )
        with self.store.session() as session, session.begin():
            session.add(row)
            session.add(
                AuditEntry(
                    administration_id=administration_id,
                    at=now,
                    event="administration_approved",
                    detail={"policy": policy, "fingerprint": fingerprint, "by": by, "note": note},
                )
            )
            session.flush()
            approval = _approval(row)
        return approval

    # --- actions --------------------------------------------------------------------------------------

    def awaiting(self, administration_ids: Sequence[int], stage: str | None = None) -> list[Action]:
        query = select(Action).where(
            col(Action.administration_id).in_(list(administration_ids)), Action.status == AWAITING
        )
        if stage is not None:
            query = query.where(Action.stage == stage)
        with self.store.session() as session:
            return list(session.exec(query.order_by(col(Action.id))))

    def awaiting_counts(self) -> dict[int, dict[str, int]]:
        """Per administration, per stage: how many actions wait for a person."""
        query = (
            select(Action.administration_id, Action.stage, func.count())
            .where(Action.status == AWAITING)
            .group_by(col(Action.administration_id), col(Action.stage))
        )
        found: dict[int, dict[str, int]] = {}
        with self.store.session() as session:
            for administration_id, stage, count in session.exec(query):
                found.setdefault(administration_id, {})[stage] = count
        return found

    def decide(self, action: Action, *, approve: bool, by: str, note: str | None) -> bool:
        """Approve (it goes out on the next dispatch, inside the send window) or reject (it never goes out) an
        action that waits for a person; False if it no longer waits."""
        detail = {"by": by, "note": note}
        outbox = OutboxStore(self.store)
        if approve:
            return outbox.transition(
                action, "pending", expect=AWAITING, event="approved", detail=detail, next_attempt_at=self.clock.now()
            )
        return outbox.transition(action, "rejected", expect=AWAITING, event="rejected", detail=detail)


def _approval(row: AdministrationApproval) -> Approval:
    return Approval(row.policy, row.fingerprint, row.approved_by, row.approved_at, row.note)
