"""Approvals in the store: of an administration under its policy, of single actions; and the upgrade that keeps
an administration that was already live going."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import select

from connector.clock import ManualClock
from connector.store import Store
from connector.store.approvals import LEGACY, ApprovalStore
from connector.store.db import create_engine
from connector.store.migrate import upgrade
from connector.store.models import AuditEntry
from connector.store.outbox import OutboxStore
from connector.workflow.legal import DebtorKind
from connector.workflow.planner import PlannedAction
from connector.workflow.policy import default_policy

FINGERPRINT = default_policy().fingerprint()


def planned(
    stage: str = "handover", approval: tuple[str, ...] = ("stage handover needs a person's approval",)
) -> PlannedAction:
    return PlannedAction(
        administration="acme",
        stage=stage,
        stage_index=5,
        action="handover",
        template=stage,
        legal_letter=False,
        contact_id="c1",
        debtor_kind=DebtorKind.CONSUMER,
        invoices=("1", "2"),
        currency="EUR",
        principal=Decimal("100.00"),
        collection_costs=Decimal("40.00"),
        interest=Decimal("0.00"),
        deadline=None,
        language="nl",
        reason="test",
        planned_on=date(2026, 11, 24),
        approval=approval,
    )


def test_an_administration_is_approved_under_one_policy_at_a_time(store: Store, clock: ManualClock) -> None:
    approvals = ApprovalStore(store)
    administration_id = store.ensure_administration("acme", "moneybird")
    assert approvals.latest(administration_id) is None
    assert not approvals.approved(administration_id, "default", FINGERPRINT)
    approvals.approve(administration_id, "default", FINGERPRINT, by="Anna", note="plan read")
    assert approvals.approved(administration_id, "default", FINGERPRINT)
    assert not approvals.approved(administration_id, "default", "another-fingerprint")
    assert not approvals.approved(administration_id, "gentle", FINGERPRINT)  # another policy's name
    assert approvals.latest_per_administration()[administration_id].approved_by == "Anna"


def test_an_action_waits_for_a_person_then_goes_or_never_does(store: Store, clock: ManualClock) -> None:
    administration_id = store.ensure_administration("acme", "moneybird")
    outbox = OutboxStore(store)
    outbox.enqueue(administration_id, [planned(), planned("other", ())], clock.now())
    by_stage = {a.stage: a for a in outbox.actions(administration_id)}
    waiting, plain = by_stage["handover"], by_stage["other"]
    assert (waiting.status, plain.status) == ("awaiting_approval", "pending")
    assert [a.id for a in outbox.due(administration_id, clock.now())] == [plain.id]
    approvals = ApprovalStore(store)
    assert [a.id for a in approvals.awaiting([administration_id], "handover")] == [waiting.id]
    assert approvals.awaiting_counts() == {administration_id: {"handover": 1}}
    assert approvals.decide(waiting, approve=True, by="Anna", note="called them: no answer")
    assert not approvals.decide(waiting, approve=False, by="Bob", note=None)  # no longer waiting
    assert [a.id for a in outbox.due(administration_id, clock.now())] == sorted([plain.id, waiting.id])
    with store.session() as session:
        decisions = session.exec(select(AuditEntry).where(AuditEntry.event == "approved")).all()
    assert sorted(e.invoice_ledger_id or "" for e in decisions) == ["1", "2"]
    assert {e.detail["by"] for e in decisions} == {"Anna"}


def test_a_rejected_action_never_goes_out_nor_comes_back(store: Store, clock: ManualClock) -> None:
    administration_id = store.ensure_administration("acme", "moneybird")
    outbox = OutboxStore(store)
    outbox.enqueue(administration_id, [planned()], clock.now())
    (action,) = outbox.actions(administration_id)
    assert ApprovalStore(store).decide(action, approve=False, by="Anna", note="paying in instalments")
    assert outbox.enqueue(administration_id, [planned()], clock.now()) == []  # the same action, planned again
    assert [a.status for a in outbox.actions(administration_id)] == ["rejected"]
    assert outbox.due(administration_id, clock.now()) == []


def test_an_administration_live_before_approvals_keeps_going(tmp_path: Path) -> None:
    """The upgrade gives it a standing approval; the first dispatch turns it into one of the policy in force."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    upgrade(engine, "0005")
    live = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    with engine.begin() as connection:
        for name in ("live", "new"):
            connection.execute(
                sa.text(
                    "INSERT INTO administrations (name, platform, ledger_reference, created_at)"
                    " VALUES (:n, 'moneybird', '', :at)"
                ),
                {"n": name, "at": live},
            )
        connection.execute(
            sa.text(
                "INSERT INTO actions (administration_id, key, stage, stage_index, action, legal_letter,"
                " contact_ledger_id, planned_on, planned, status, attempts, created_at, updated_at, outcome)"
                " VALUES (1, 'k', 'reminder', 1, 'email', 0, 'c1', '2026-01-05', '{}', 'done', 1, :at, :at, '{}')"
            ),
            {"at": live},
        )
    engine.dispose()
    clock = ManualClock(datetime(2026, 12, 4, 9, 0, tzinfo=UTC))
    store = Store.open(url, clock)
    try:
        approvals = ApprovalStore(store)
        standing = approvals.latest(1)
        assert standing is not None and standing.fingerprint == LEGACY and standing.approved_at == live
        assert approvals.latest(2) is None  # never acted: it waits for a person like any new one
        assert approvals.approved(1, "default", FINGERPRINT)
        adopted = approvals.latest(1)
        assert adopted is not None and adopted.fingerprint == FINGERPRINT and adopted.note == "live before approvals"
        assert not approvals.approved(1, "default", "changed-policy")  # from here on, a change waits again
    finally:
        store.close()
