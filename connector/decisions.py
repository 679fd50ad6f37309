"""What a person decides, in one place for the `connector` commands and the cockpit. Each decision names who
made it in the audit log; each checks the state it expects, so a second click or a stale page changes nothing."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

from connector.config import Settings
from connector.store import Store
from connector.store.approvals import LEGACY, Approval, ApprovalStore
from connector.store.evidence import EvidenceStore
from connector.store.models import Action
from connector.store.outbox import OutboxStore
from connector.store.workflow import WorkflowStore


@dataclass(frozen=True)
class GoLive:
    approval: Approval
    new: bool  # False: it was already approved under this very policy
    due_today: Counter[str]  # stage -> actions the first dispatch will send (before the send window)


def approve_administration(
    store: Store, settings: Settings, name: str, today: date, *, by: str, note: str | None = None
) -> GoLive:
    """Approve an administration under the policy it runs under now, exactly as configured."""
    administration = settings.administration(name)
    policy = settings.policy_for(administration)
    fingerprint = policy.fingerprint()
    administration_id = store.ensure_administration(
        administration.name, administration.platform, administration.ledger_reference
    )
    approvals = ApprovalStore(store)
    latest = approvals.latest(administration_id)
    due = WorkflowStore(store).due_actions(administration_id, administration, settings.policies, today, settings.rates)
    stages = Counter(action.stage for action in due)
    if latest is not None and latest.fingerprint != LEGACY and latest.covers(administration.policy, fingerprint):
        return GoLive(latest, False, stages)
    return GoLive(
        approvals.approve(administration_id, administration.policy, fingerprint, by=by, note=note), True, stages
    )


def decide_actions(store: Store, actions: list[Action], *, approve: bool, by: str, note: str | None) -> list[Action]:
    """Approve or reject actions that wait for a person; those no longer waiting are left as they are."""
    approvals = ApprovalStore(store)
    return [action for action in actions if approvals.decide(action, approve=approve, by=by, note=note)]


def retry_failed(store: Store, actions: list[Action], *, by: str) -> list[Action]:
    """Failed actions tried again on the next dispatch."""
    box = OutboxStore(store)
    now = store.clock.now()
    return [
        action
        for action in actions
        if box.transition(
            action, "pending", expect="failed", event="retry_requested", next_attempt_at=now, detail={"by": by}
        )
    ]


def resolve_review(store: Store, action: Action, *, sent: bool, by: str, note: str | None) -> bool:
    """Settle an action interrupted between sending and recording: it went out (write back and go on), or it did
    not (send it on the next dispatch)."""
    box = OutboxStore(store)
    decided = {"by": by, "note": note}
    if sent:
        return box.transition(action, "sent", expect="review", event="resolved_as_sent", detail=decided)
    return box.transition(
        action,
        "pending",
        expect="review",
        event="resolved_as_not_sent",
        next_attempt_at=store.clock.now(),
        detail=decided,
    )


def postpone(store: Store, action: Action, until: datetime, *, by: str, note: str | None) -> bool:
    """Hold a planned action back until `until` (it goes then, inside the send window, if still due)."""
    return OutboxStore(store).transition(
        action,
        action.status,
        expect=action.status,
        event="postponed",
        next_attempt_at=until,
        detail={"by": by, "note": note, "until": until.isoformat()},
    )


class Refused(ValueError):
    """A decision that cannot be taken as asked, with why in words for the person (and as a code for a page)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def resolve_undelivered(
    store: Store, administration_id: int, contact: str, *, by: str, note: str | None, same_address: bool = False
) -> int:
    """A customer's message did not arrive and the address is fixed: their track goes on, and the message goes
    again to the new address. Refused while the ledger still has the address that bounced, unless the person
    says it was right after all (a passing fault)."""
    evidence = EvidenceStore(store)
    problems = [p for p in evidence.problems(administration_id) if p.contact_ledger_id == contact]
    if not problems:
        raise Refused(f"nothing undelivered for customer {contact!r}", "nothing_undelivered")
    current = store.contact(administration_id, contact)
    now_at = (current.email if current else None) or ""
    current_addresses = {part.strip().lower() for part in re.split(r"[,;\s]+", now_at) if part.strip()}
    unchanged = [p for p in problems if p.channel == "email" and p.address.strip().lower() in current_addresses]
    if unchanged and not same_address:
        raise Refused(
            f"the ledger still has {now_at!r} for this customer: fix it there first (the next sync brings it)",
            "address_unchanged",
        )
    return evidence.resolve_problems(administration_id, contact, by=by, note=note)
