"""The evidence store on SQLite and PostgreSQL: bytes kept as recorded, reports once each, problems once per
message, and retention that removes a customer's proof only when all of it is past the period."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlmodel import select

from connector.clock import ManualClock
from connector.dispatch.deliveries import purge_evidence
from connector.store import Store
from connector.store.evidence import EvidenceStore, FilePart
from connector.store.models import Action, AuditEntry


def action(store: Store, key: str, contact: str = "c1") -> Action:
    administration_id = store.ensure_administration("acme", "moneybird")
    row = Action(
        administration_id=administration_id,
        key=key,
        stage="ingebrekestelling",
        stage_index=3,
        action="email",
        legal_letter=True,
        contact_ledger_id=contact,
        planned_on=store.clock.now().date(),
        status="done",
        attempts=1,
        created_at=store.clock.now(),
        updated_at=store.clock.now(),
        executed_at=store.clock.now(),
    )
    with store.session() as session, session.begin():
        session.add(row)
        session.flush()
        session.refresh(row)
        session.expunge(row)
    return row


def test_the_bytes_come_back_as_recorded_with_their_hash(store: Store) -> None:
    evidence = EvidenceStore(store)
    sent = action(store, "a" * 32)
    eml = b"From: x\r\n\r\n" + bytes(range(256))  # any byte, as on the wire
    evidence_id = evidence.prepare(
        sent, channel="email", recipient="jan@example.nl", files=[FilePart("message.eml", "message/rfc822", eml)]
    )
    evidence.handed(evidence_id, "accepted", reply="250 2.0.0 Ok: queued as 4XyZ", external_id="4XyZ")
    [proof] = evidence.proofs(action_ids=[sent.id or 0])
    assert proof.evidence.status == "accepted" and proof.evidence.server_reply == "250 2.0.0 Ok: queued as 4XyZ"
    assert proof.files[0].content == eml and proof.files[0].sha256 == FilePart("m", "x", eml).sha256
    assert evidence.sent_with_key("a" * 32, "JAN@example.nl") is not None


def test_a_try_given_back_is_recorded_again_over_its_unsent_proof_and_a_new_try_gets_its_own(store: Store) -> None:
    evidence = EvidenceStore(store)
    sent = action(store, "b" * 32)
    first = evidence.prepare(sent, channel="email", recipient="x", files=[FilePart("message.eml", "m", b"one")])
    again = evidence.prepare(sent, channel="email", recipient="x", files=[FilePart("message.eml", "m", b"two")])
    assert again == first
    evidence.handed(first, "refused", reply="451 try later")
    sent.attempts = 2
    second = evidence.prepare(sent, channel="email", recipient="x", files=[FilePart("message.eml", "m", b"three")])
    proofs = evidence.proofs(action_ids=[sent.id or 0])
    assert [(p.evidence.attempt, p.evidence.status, p.files[0].content) for p in proofs] == [
        (1, "refused", b"two"),
        (2, "prepared", b"three"),
    ]
    assert second != first


def test_a_report_is_recorded_once_per_source_and_a_problem_once_per_message(store: Store) -> None:
    evidence = EvidenceStore(store)
    sent = action(store, "c" * 32)
    evidence_id = evidence.prepare(sent, channel="email", recipient="jan@example.nl", files=[])
    evidence.handed(evidence_id, "accepted")
    assert evidence.event(evidence_id, "bounced", source="imap:box:1:7", raw=b"dsn", status="bounced")
    assert not evidence.event(evidence_id, "bounced", source="imap:box:1:7", raw=b"dsn")
    row = evidence.get(evidence_id)
    assert row is not None
    assert evidence.add_problem(sent, row, address="jan@example.nl", reason="5.1.1", detail={})
    assert not evidence.add_problem(sent, row, address="jan@example.nl", reason="5.1.1", detail={})
    with store.session() as session:
        assert session.get(Action, sent.id).status == "undelivered"  # type: ignore[union-attr]
    assert list(evidence.blocked_contacts(sent.administration_id)) == ["c1"]
    assert evidence.resolve_problems(sent.administration_id, "c1", by="Petra", note="fixed") == 1
    assert evidence.blocked_contacts(sent.administration_id) == {}


def test_retention_purges_a_customers_proof_only_once_all_of_it_is_old_and_says_so(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    evidence = EvidenceStore(store)
    case = tmp_path / "case.json"
    case.write_text("{}")
    old = action(store, "d" * 32, contact="old")
    evidence.prepare(old, channel="handover", recipient="agency", files=[], detail={"files_on_disk": [str(case)]})
    chained = action(store, "e" * 32, contact="chained")
    evidence.prepare(chained, channel="email", recipient="x", files=[FilePart("message.eml", "m", b"x")])
    clock.advance(timedelta(days=400))
    later = action(store, "f" * 32, contact="chained")  # a later letter to the same customer keeps the chain
    evidence.prepare(later, channel="email", recipient="x", files=[])
    clock.advance(timedelta(days=200))

    purged = purge_evidence(store, clock, retention_days=365)
    assert [(p.contact_ledger_id, p.messages) for p in purged] == [("old", 1)]
    assert not case.exists()
    assert [p.evidence.contact_ledger_id for p in evidence.proofs()] == ["chained", "chained"]
    with store.session() as session:
        [entry] = session.exec(select(AuditEntry).where(AuditEntry.event == "evidence_purged")).all()
    assert entry.contact_ledger_id == "old" and entry.detail["messages"] == 1
    assert purge_evidence(store, clock, retention_days=365) == []


def test_a_mailbox_cursor_keeps_the_folders_validity_and_the_last_uid_read(store: Store) -> None:
    evidence = EvidenceStore(store)
    assert evidence.mailbox_cursor("b@h:993/INBOX") is None
    evidence.move_mailbox_cursor("b@h:993/INBOX", 17, 4)
    evidence.move_mailbox_cursor("b@h:993/INBOX", 17, 9)
    assert evidence.mailbox_cursor("b@h:993/INBOX") == (17, 9)
