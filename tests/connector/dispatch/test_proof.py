"""Proof and paper, end to end: a simulated Moneybird (real HTTP), a real SMTP server, a real IMAP server (Dovecot)
holding what came back, and the print batch on disk.

A consumer's legal letter goes out as e-mail with its PDF; the dossier export holds the exact bytes the SMTP server
received and its reply; a second consumer's letter bounces, which stops that customer's track for a person; a
final notice by post lands in the print batch with its manifest; the handover case file carries the legal
letter's proof.
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import date, timedelta
from decimal import Decimal
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from babel.dates import format_date
from babel.numbers import format_currency
from pypdf import PdfReader
from typer.testing import CliRunner

from connector.cli import CommandContext, app
from connector.clock import AMSTERDAM
from connector.dispatch.deliveries import DeliveryTracker
from connector.dispatch.post import FolderPost
from connector.store.evidence import EvidenceStore
from connector.store.models import Action
from connector.workflow.legal import letter_term
from connector.workflow.planner import planned_amount
from connector.workflow.policy import Policy, default_policy
from tests.conftest import SIM_TODAY
from tests.connector.dispatch.test_dispatcher import World, at
from tests.support.bounces import dsn, out_of_office
from tests.support.imap import dovecot
from tests.support.sender import SENDER_TOML


def by_post(stage: str) -> Policy:
    """The default sequence with one stage sent as a letter by post."""
    stages = tuple(s.model_copy(update={"action": "post"}) if s.name == stage else s for s in default_policy().stages)
    return default_policy().model_copy(update={"stages": stages})


def sent_messages(world: World) -> dict[str, tuple[EmailMessage, bytes]]:
    """What the SMTP server received, by action key: the parsed message and its exact bytes."""
    return {m["X-Connector-Action"]: (m, raw) for m, raw in zip(world.sink.messages, world.sink.raw, strict=True)}


def pdf_of(message: EmailMessage) -> bytes:
    parts = [p for p in message.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert len(parts) == 1, [p.get_content_type() for p in message.iter_attachments()]
    content = parts[0].get_content()
    assert isinstance(content, bytes)
    return content


def text_of(pdf: bytes) -> str:
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split())


def money(amount: Decimal, locale: str) -> str:
    return " ".join(format_currency(amount, "EUR", locale=locale).split())  # as text, without the hard space


def run_until(world: World, start: date, done: Any, days: int = 60) -> date:
    for offset in range(days):
        day = start + timedelta(days=offset)
        world.day(day)
        if done():
            return day
    raise AssertionError("did not happen in time")


def cli(world: World, tmp_path: Path) -> Any:
    url = world.store.engine.url.render_as_string(hide_password=False)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[connector]\ndatabase_url = "{url}"\n\n[post]\nfolder = "{tmp_path / "post"}"\n\n'
        f'[[administrations]]\nname = "acme"\nplatform = "moneybird"\nadministration_id = "{world.admin}"\n'
        f'token = "${{ACME_TOKEN}}"\nbase_url = "{world.simulator.base_url}"\n{SENDER_TOML}\n'
    )
    context = CommandContext(clock=world.clock, operator="Petra (credit control)")

    def connector(*args: str) -> Any:
        return CliRunner().invoke(app, [*args, "--config", str(config)], obj=context, env={"ACME_TOKEN": "t" * 20})

    return connector


@pytest.mark.slow
@pytest.mark.world(invoices=40, contacts=12)
def test_legal_letter_proof_bounce_print_batch_and_handover_dossier(world: World, tmp_path: Path) -> None:
    post = FolderPost(tmp_path / "post", lambda: world.clock.now().astimezone(AMSTERDAM).date())
    world.dispatcher.post = post
    world.use_policies({"default": by_post("final_notice")})
    connector = cli(world, tmp_path)

    def consumer_letters() -> list[Action]:
        done = [a for a in world.actions() if a.legal_letter and a.status == "done"]
        return [a for a in done if a.planned["debtor_kind"] == "consumer"]

    letter_day = run_until(world, SIM_TODAY, lambda: len({a.contact_ledger_id for a in consumer_letters()}) >= 2)
    first, second = (
        consumer_letters()[0],
        next(a for a in consumer_letters() if a.contact_ledger_id != consumer_letters()[0].contact_ledger_id),
    )

    # 1. The legal letter went out as e-mail with its PDF, which states the amounts, the deadline and the sender.
    received = sent_messages(world)
    message, raw = received[first.key]
    pdf = pdf_of(message)
    text = text_of(pdf)
    language = first.planned["language"]
    locale = "nl_NL" if language == "nl" else "en_GB"
    payable = planned_amount(first.planned, "principal") - planned_amount(first.planned, "credit")
    deadline = letter_term(letter_day, "email").last_day
    assert first.outcome["deadline"] == deadline.isoformat()
    assert money(payable, locale) in text
    assert money(planned_amount(first.planned, "collection_costs"), locale) in text
    assert format_date(deadline, "d MMMM y", locale=locale) in text
    assert "12345678" in text  # the sender's KvK
    assert first.key[:12] in text  # the reference the ledger's note carries

    # 2. The dossier holds exactly the bytes the SMTP server received, and the server's reply with its queue id.
    out = tmp_path / "dossier"
    exported = connector("evidence", first.key[:8], "--out", str(out), "--json")
    assert exported.exit_code == 0, exported.output
    manifest = json.loads(exported.output[exported.output.index("{") :])
    [entry] = manifest["messages"]
    queue_id = world.sink.queue_ids[world.sink.raw.index(raw)]
    assert entry["server_reply"] == f"250 2.0.0 Ok: queued as {queue_id}" and entry["queue_id"] == queue_id
    assert entry["status"] == "accepted" and entry["legal_letter"] is True
    folder = out / f"action-{first.key[:12]}"
    eml = next(folder.rglob("message.eml"))
    assert eml.read_bytes() == raw  # byte for byte what the server got
    stored_pdf = next(folder.rglob("*.pdf"))
    assert stored_pdf.read_bytes() == pdf
    files = {Path(f["path"]).name: f for f in entry["files"]}
    assert files["message.eml"]["sha256"] == hashlib.sha256(raw).hexdigest()
    assert all(f["verified"] for f in entry["files"])

    with dovecot() as imap:
        # 3. The second consumer's letter bounces; the first one's recipient is away (it arrived).
        _, second_raw = received[second.key]
        address = str(message_from_bytes(second_raw, policy=policy.default)["To"])
        imap.deliver(dsn(second_raw, address, at=at(letter_day, 11)))
        imap.deliver(out_of_office(raw, at=at(letter_day, 12)))
        imap.deliver(b"From: someone@example.nl\r\nSubject: newsletter\r\n\r\nnot about us\r\n")
        tracker = DeliveryTracker(world.store, world.clock, post=post)
        outcome = tracker.read_mailboxes([imap.mailbox])
        assert outcome.messages_read == 3 and outcome.reports == 2 and outcome.bounced == [second.key]
        assert tracker.read_mailboxes([imap.mailbox]).messages_read == 0  # read once
        assert all(b"\\Seen" not in flags for flags in imap.flags())  # the mailbox is left as it was

    by_key = {a.key: a for a in world.actions()}
    assert by_key[second.key].status == "undelivered"
    assert by_key[first.key].status == "done"
    proofs = EvidenceStore(world.store).proofs(action_ids=[first.id or 0])
    assert [e.kind for e in proofs[0].events] == ["auto_reply"] and proofs[0].evidence.status == "delivered"
    listed = connector("bounces", "--admin", "acme", "--json")
    assert listed.exit_code == 0, listed.output
    [problem] = json.loads(listed.output)
    assert problem["contact_id"] == second.contact_ledger_id and problem["address"] == address
    assert "5.1.1" in problem["reason"] and problem["stage"] == second.stage

    # 4. On to the final notice, by post for the first customer; nothing at all for the second.
    def first_posted() -> bool:
        return any(a.action == "post" and a.contact_ledger_id == first.contact_ledger_id for a in done_actions())

    def done_actions() -> list[Action]:
        return [a for a in world.actions() if a.status in ("sent", "done")]

    post_day = run_until(world, letter_day + timedelta(days=1), first_posted)
    [letter] = [a for a in done_actions() if a.action == "post" and a.contact_ledger_id == first.contact_ledger_id]
    batch = tmp_path / "post" / post_day.isoformat()
    manifest_json = json.loads((batch / "manifest.json").read_text())
    printed = manifest_json["letters"][letter.key]
    pdf_file = batch / printed["file"]
    assert hashlib.sha256(pdf_file.read_bytes()).hexdigest() == printed["sha256"]
    assert printed["address"][0] and any(char.isdigit() for char in printed["address"][-1])  # name ... postcode
    assert letter.key[:12] in (batch / "manifest.csv").read_text()
    assert letter.key[:12] in text_of(pdf_file.read_bytes())
    later = [a for a in world.actions() if a.contact_ledger_id == second.contact_ledger_id and a.id > second.id]
    assert later == []  # the bounced customer's track stopped at the legal letter

    # The batch goes in the post the next working day; a person says so, and the letter's term runs from then.
    reported = connector("post", "posted", "--batch", post_day.isoformat(), "--on", post_day.isoformat())
    batch_size = len(manifest_json["letters"])
    assert reported.exit_code == 0 and f"{batch_size} letter(s)" in reported.output, reported.output
    assert {a.key: a for a in world.actions()}[letter.key].outcome["posted_on"] == post_day.isoformat()

    # 5. The handover, approved by a person, carries the legal letter's proof.
    def handover_waiting() -> bool:
        return any(a.action == "handover" and a.contact_ledger_id == first.contact_ledger_id for a in world.actions())

    handover_day = run_until(world, post_day + timedelta(days=1), handover_waiting)
    assert world.approve_waiting()
    world.day_at(handover_day)
    [handover] = [
        a for a in world.actions() if a.action == "handover" and a.contact_ledger_id == first.contact_ledger_id
    ]
    assert handover.status == "done", handover.error
    case_path = Path(handover.outcome["case_file"])
    case = json.loads(case_path.read_text())
    assert case["debtor"]["kind"] == "consumer" and case["debtor"]["postal_address"]
    [proof] = case["legal_letters"]
    term = letter_term(letter_day, "email")
    assert proof["reference"] == first.key[:12] and proof["sent_on"] == letter_day.isoformat()
    assert proof["presumed_received_on"] == term.delivered.isoformat()
    assert proof["term_last_day"] == term.last_day.isoformat()
    assert proof["collection_costs_stated"] == first.planned["collection_costs"]
    assert proof["server_reply"] == entry["server_reply"]
    beside = {Path(name).suffix: case_path.parent / name for name in proof["documents"]}
    assert beside[".pdf"].read_bytes() == pdf and beside[".eml"].read_bytes() == raw
    documents = {d["name"]: d["sha256"] for d in case["documents"]}
    assert documents[beside[".pdf"].name] == hashlib.sha256(pdf).hexdigest()
    assert all(invoice["history"] for invoice in case["invoices"])

    # 6. A person fixes the bounced address in the ledger; the letter goes again, to the new address.
    refused = connector("bounces", "resolve", second.contact_ledger_id, "--admin", "acme")
    assert refused.exit_code == 2 and "still has" in refused.output
    world.simulator.update_contact(
        world.admin, second.contact_ledger_id, email="nieuw@example.nl", send_invoices_to_email="nieuw@example.nl"
    )
    world.day_at(handover_day)  # the sync brings the new address
    resolved = connector("bounces", "resolve", second.contact_ledger_id, "--admin", "acme", "--note", "called")
    assert resolved.exit_code == 0, resolved.output
    world.day(handover_day + timedelta(days=1))
    again = {a.key: a for a in world.actions()}[second.key]
    assert again.status == "done"
    resent = [m for m in world.sink.messages if m["X-Connector-Action"] == second.key]
    assert [str(m["To"]) for m in resent] == [address, "nieuw@example.nl"]
    attempts = EvidenceStore(world.store).proofs(action_ids=[second.id or 0])
    assert [p.evidence.status for p in attempts] == ["bounced", "accepted"]


@pytest.mark.world(invoices=30, contacts=10)
def test_each_invoices_own_pdf_goes_with_its_reminders_fetched_once(world: World) -> None:
    world.dispatcher.attach_invoice_pdfs = True
    box = world.dispatcher.outbox

    def downloads() -> int:
        return sum(1 for r in world.simulator.requests() if r["path"].endswith("/download_pdf.json"))

    def emailed() -> list[Action]:
        return [a for a in world.actions() if a.action == "email" and a.status == "done"]

    def invoice_pdfs(action: Action) -> dict[str, bytes]:
        [message] = [m for m in world.sink.messages if m["X-Connector-Action"] == action.key]
        parts = [p for p in message.iter_attachments() if str(p.get_filename()).startswith(("factuur-", "invoice-"))]
        return {str(p.get_filename()): p.get_content() for p in parts}

    run_until(world, SIM_TODAY, lambda: bool(emailed()))
    first = emailed()[0]
    covered = set(box.invoice_ids(first))
    pdfs = invoice_pdfs(first)
    assert len(pdfs) == len(covered)
    for name, content in pdfs.items():
        number = name.removeprefix("factuur-").removeprefix("invoice-").removesuffix(".pdf")
        assert content.startswith(b"%PDF-") and number in text_of(content)  # the ledger's own invoice
    [message] = [m for m in world.sink.messages if m["X-Connector-Action"] == first.key]
    body = message.get_body(("plain",))
    assert body is not None
    assert "in de bijlage" in body.get_content() or "attached" in body.get_content()

    # The next reminder about those invoices takes their PDFs from the store: one download per invoice, ever.
    def reminded_again() -> list[Action]:
        return [a for a in emailed() if a.key != first.key and covered & set(box.invoice_ids(a))]

    run_until(world, SIM_TODAY + timedelta(days=1), lambda: bool(reminded_again()))
    assert set(pdfs) <= set(invoice_pdfs(reminded_again()[0]))
    every_invoice = {i for a in emailed() for i in box.invoice_ids(a)}
    assert downloads() == len(every_invoice)


@pytest.mark.world(invoices=20, contacts=8)
def test_a_pdf_over_the_limit_is_left_out_and_the_message_does_not_claim_it(world: World) -> None:
    world.dispatcher.attach_invoice_pdfs = True
    world.dispatcher.invoice_pdf_max_bytes = 200
    run_until(world, SIM_TODAY, lambda: any(a.action == "email" and a.status == "done" for a in world.actions()))
    for message in world.sink.messages:
        assert not [p for p in message.iter_attachments() if p.get_filename() and "factuur-" in str(p.get_filename())]
        body = message.get_body(("plain",))
        assert body is not None and "bijlage" not in body.get_content() and "attached" not in body.get_content()


@pytest.mark.world(invoices=20, contacts=8)
def test_the_ledgers_own_reminder_is_recorded_as_sent_by_it_to_whom_and_when(world: World) -> None:
    """Moneybird writes and sends its own reminder: the proof is that we asked it to, when, and for whom."""
    stages = tuple(
        s.model_copy(update={"action": "ledger_reminder"}) if s.name == "reminder" else s
        for s in default_policy().stages
    )
    world.use_policies({"default": default_policy().model_copy(update={"stages": stages})})
    run_until(
        world, SIM_TODAY, lambda: any(a.action == "ledger_reminder" and a.status == "done" for a in world.actions())
    )
    done = [a for a in world.actions() if a.action == "ledger_reminder" and a.status == "done"]
    asked = [r for r in world.simulator.requests() if r["path"].endswith("/send_reminders.json") and r["status"] == 200]
    assert len(asked) == len(done)
    for action in done:
        [proof] = EvidenceStore(world.store).proofs(action_ids=[action.id or 0])
        assert proof.evidence.channel == "ledger_reminder" and proof.evidence.status == "accepted"
        assert proof.evidence.detail["sent_by"] == "moneybird" and "@" in proof.evidence.recipient
        assert proof.files == [] and proof.evidence.handed_at == action.executed_at
