"""The workflow commands as a user runs them: plan, pause, resume, exclude, history."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from adapters.moneybird.simulator import MoneybirdSimulator
from connector.clock import ManualClock
from connector.config import load_settings
from connector.dispatch.mailsink import MailSink
from connector.store import Store
from connector.store.models import AuditEntry
from connector.store.outbox import OutboxStore
from connector.store.workflow import WorkflowStore
from tests.conftest import SIM_TODAY
from tests.support.cli import run_connector as connector
from tests.support.network import free_port

SEED = {
    "administrations": [
        {
            "id": "313373133731337313",
            "name": "Plan B.V.",
            "contacts": [
                {"id": "1", "firstname": "Eva", "lastname": "Bakker", "email": "eva@example.nl"},
                {
                    "id": "2",
                    "company_name": "Jansen Installatietechniek B.V.",
                    "chamber_of_commerce": "12345678",
                    "send_invoices_to_email": "boekhouding@jansen.example",
                },
            ],
            "sales_invoices": [
                {
                    "id": "901",
                    "invoice_id": "2025-0901",
                    "contact_id": "1",
                    "invoice_date": "2025-02-01",
                    "due_date": "2025-03-03",
                    "total_price_incl_tax": "121.0",
                    "total_unpaid": "121.0",
                    "language": "nl",
                },
                {
                    "id": "902",
                    "invoice_id": "2025-0902",
                    "contact_id": "1",
                    "invoice_date": "2025-02-01",
                    "due_date": "2025-03-03",
                    "total_price_incl_tax": "60.5",
                    "total_unpaid": "60.5",
                    "language": "nl",
                },
                {
                    "id": "903",
                    "invoice_id": "2025-0903",
                    "contact_id": "2",
                    "invoice_date": "2025-02-01",
                    "due_date": "2025-03-03",
                    "total_price_incl_tax": "2420.0",
                    "total_unpaid": "2420.0",
                    "language": "en",
                },
            ],
        }
    ]
}


@pytest.fixture
def synced(tmp_path: Path) -> Iterator[Path]:
    with synced_with(tmp_path, SEED) as folder:
        yield folder


@contextmanager
def synced_with(tmp_path: Path, seed: dict[str, Any]) -> Iterator[Path]:
    with MoneybirdSimulator(seed=seed, today=SIM_TODAY) as simulator:
        (tmp_path / "config.toml").write_text(
            f"""
[connector]
database_url = "sqlite:///connector.db"

[[administrations]]
name = "plan"
platform = "moneybird"
base_url = "{simulator.base_url}"
administration_id = "313373133731337313"
token = "${{PLAN_TOKEN}}"
"""
        )
        (tmp_path / ".env").write_text("PLAN_TOKEN=plan-test-token\n")
        assert connector("sync", cwd=tmp_path).returncode == 0
        yield tmp_path


def plan(folder: Path, on: str) -> list[dict[str, object]]:
    result = connector("plan", "--date", on, "--json", cwd=folder)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_plan_groups_per_contact_and_changes_nothing(synced: Path) -> None:
    actions = plan(synced, "2025-03-06")
    assert [(a["contact_id"], a["stage"], a["invoices"], a["principal"]) for a in actions] == [
        ("1", "reminder", ["901", "902"], "181.50"),
        ("2", "reminder", ["903"], "2420.00"),
    ]
    assert actions[1]["language"] == "en" and actions[0]["collection_costs"] == "0.00"
    assert plan(synced, "2025-03-06") == actions  # planning twice changes nothing


def test_the_first_message_is_a_reminder_however_late_the_invoice_is_first_seen(synced: Path) -> None:
    actions = {a["contact_id"]: a for a in plan(synced, "2025-06-30")}  # 119 days overdue when first planned
    assert {a["stage"] for a in actions.values()} == {"reminder"}
    assert {a["collection_costs"] for a in actions.values()} == {"0.00"}


def test_the_legal_letter_is_planned_with_its_term_and_costs(synced: Path) -> None:
    # An office whose previous tool sent the reminders: invoices first seen late take the latest stage.
    with (synced / "config.toml").open("a") as config:
        config.write('\n[policies.default]\ncatch_up = "latest"\n')
    actions = {a["contact_id"]: a for a in plan(synced, "2025-03-26")}
    letter = actions["1"]
    assert letter["stage"] == "ingebrekestelling" and letter["action"] == "email"
    assert letter["collection_costs"] == "40.00" and letter["debtor_kind"] == "consumer"
    assert letter["deadline"] == "2025-04-10"  # e-mail received 27 March; 14 days from the 28th
    assert actions["2"]["debtor_kind"] == "business" and actions["2"]["collection_costs"] == "363.00"


def test_pause_resume_and_history(synced: Path) -> None:
    result = connector("pause", "2025-0901", "--reason", "dispute", "--note", "says it was never delivered", cwd=synced)
    assert result.returncode == 0, result.stderr
    assert [a["invoices"] for a in plan(synced, "2025-03-06") if a["contact_id"] == "1"] == [["902"]]
    assert connector("resume", "901", cwd=synced).returncode == 0
    assert [a["invoices"] for a in plan(synced, "2025-03-06") if a["contact_id"] == "1"] == [["901", "902"]]
    history = json.loads(connector("history", "2025-0901", "--json", cwd=synced).stdout)
    assert [h["event"] for h in history] == ["paused", "resumed"]
    assert connector("history", "901", cwd=synced).stdout.splitlines()[-2:] == [
        "2 event(s) for invoice 2025-0901 of Eva Bakker",
        "Treated as consumer: no KvK or VAT number, business flag or legal form in the ledger (unknown counts as "
        "consumer)",
    ]
    assert connector("exclude", "1", "--kind", "business", "--by", "Anna", cwd=synced).returncode == 0
    assert connector("history", "901", cwd=synced).stdout.splitlines()[-1] == (
        "Treated as business: set by a person (`connector exclude CONTACT --kind`)"
    )
    # A customer's claims said to be periodic (the cap on costs applies), kept with who said so.
    assert connector("exclude", "1", "--recurring", "maybe", cwd=synced).returncode == 2
    said = connector("exclude", "1", "--recurring", "yes", "--by", "Anna", cwd=synced)
    assert said.returncode == 0 and said.stdout.strip() == "updated contact 1 in plan", said.stdout + said.stderr
    assert history[0]["detail"] == {
        "reason": "dispute",
        "until": None,
        "note": "says it was never delivered",
        "by": history[0]["detail"]["by"],  # the login of whoever runs the tests
    }
    assert history[0]["detail"]["by"]


def test_an_arrangement_until_a_date(synced: Path) -> None:
    assert connector("pause", "903", "--reason", "arrangement", "--until", "2025-04-01", cwd=synced).returncode == 0
    assert all(a["contact_id"] != "2" for a in plan(synced, "2025-04-01"))
    assert any(a["contact_id"] == "2" for a in plan(synced, "2025-04-02"))


def test_holds_lists_what_stops_reminders_with_who_and_why(tmp_path: Path) -> None:
    seed = copy.deepcopy(SEED)
    seed["administrations"][0]["sales_invoices"][1]["paused"] = True  # 2025-0902, paused by a person in Moneybird
    with synced_with(tmp_path, seed) as folder:
        assert connector("holds", cwd=folder).stdout.splitlines() == [
            "plan  paused in the ledger 2025-0902 of Eva Bakker",
            "1 exclusion(s), pause(s) and hold(s)",
        ]
        anna = ("--by", "Anna de Vries")
        assert connector("pause", "2025-0901", "--reason", "dispute", "--note", "never delivered", *anna, cwd=folder)
        assert connector("pause", "903", "--reason", "arrangement", "--until", "2025-04-01", *anna, cwd=folder)
        assert connector("exclude", "2", "--note", "in surseance", "--by", "Bert", cwd=folder).returncode == 0
        stops = json.loads(connector("holds", "--json", cwd=folder).stdout)
        assert [(s["kind"], s["invoice_number"], s["contact_name"], s["by"], s["note"]) for s in stops] == [
            ("paused_in_ledger", "2025-0902", "Eva Bakker", None, None),
            ("dispute", "2025-0901", "Eva Bakker", "Anna de Vries", "never delivered"),
            ("excluded", None, "Jansen Installatietechniek B.V.", "Bert", None),
        ]  # the arrangement ran out on 1 April 2025: listed only with --ended
        shown = connector("holds", "--ended", cwd=folder).stdout.splitlines()
        assert shown[-1] == "4 exclusion(s), pause(s) and hold(s)"
        assert any(
            line.startswith("plan  arrangement          2025-0903 of Jansen Installatietechniek B.V.")
            and "until 2025-04-01" in line
            and "by Anna de Vries [ran out]" in line
            for line in shown
        ), shown
        assert connector("resume", "2025-0901", "--by", "Bert", cwd=folder).returncode == 0
        ended = {s["kind"]: s for s in json.loads(connector("holds", "--ended", "--json", cwd=folder).stdout)}
        assert ended["dispute"]["ended"].startswith("lifted on ") and ended["dispute"]["ended"].endswith(" by Bert")
        history = json.loads(connector("history", "2025-0901", "--json", cwd=folder).stdout)
        assert [(h["event"], h["detail"]["by"]) for h in history] == [("paused", "Anna de Vries"), ("resumed", "Bert")]


def test_a_person_says_where_an_invoice_begins(synced: Path) -> None:
    """Jansen's invoice was chased by hand before go-live: it begins at the legal letter, as Anna decides."""
    assert {a["contact_id"]: a["stage"] for a in plan(synced, "2025-03-26")}["2"] == "reminder"
    result = connector("start-at", "2025-0903", "--stage", "ingebrekestelling", "--by", "Anna", cwd=synced)
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout == "2025-0903 of Jansen Installatietechniek B.V. begins at ingebrekestelling (decided by Anna)\n"
    )
    assert "no reminder from us before it" in result.stderr
    letter = {a["contact_id"]: a for a in plan(synced, "2025-03-26")}["2"]
    assert letter["stage"] == "ingebrekestelling" and "a person set for 2025-0903" in letter["reason"]
    history = json.loads(connector("history", "903", "--json", cwd=synced).stdout)
    assert [(h["event"], h["detail"]) for h in history] == [
        ("start_stage_set", {"stage": "ingebrekestelling", "by": "Anna"})
    ]
    wrong = connector("start-at", "903", "--stage", "brief", "--by", "Anna", cwd=synced)
    assert wrong.returncode == 2 and "policy 'default' has no stage 'brief' (its stages: call, reminder" in wrong.stderr
    undone = connector("start-at", "903", "--undo", "--by", "Anna", cwd=synced)
    assert undone.returncode == 0 and "begins where policy 'default' says again" in undone.stdout
    assert {a["contact_id"]: a["stage"] for a in plan(synced, "2025-03-26")}["2"] == "reminder"


def test_exclude_and_override_the_debtor_kind(synced: Path) -> None:
    assert connector("exclude", "2", cwd=synced).returncode == 0
    assert [a["contact_id"] for a in plan(synced, "2025-03-06")] == ["1"]
    assert connector("exclude", "2", "--undo", "--kind", "consumer", cwd=synced).returncode == 0
    letter = {a["contact_id"]: a for a in plan(synced, "2025-03-26")}["2"]
    assert letter["debtor_kind"] == "consumer"


def test_bad_input_is_a_clear_error(synced: Path) -> None:
    result = connector("pause", "901", "--reason", "because", cwd=synced)
    assert result.returncode == 2 and "--reason: expected one of dispute, arrangement, hold" in result.stderr
    result = connector("pause", "nope", "--reason", "hold", cwd=synced)
    assert result.returncode == 2 and "no mirrored invoice with number or id 'nope'" in result.stderr
    result = connector("plan", "--date", "24-11-2026", cwd=synced)
    assert result.returncode == 2 and "not a date" in result.stderr
    result = connector("dispatch", "--date", "2999-01-01", cwd=synced)
    assert result.returncode == 2 and "cannot act ahead of time" in result.stderr


def test_dispatch_sends_and_writes_back(tmp_path: Path, smtp_sink: tuple[MailSink, int]) -> None:
    sink, port = smtp_sink
    with MoneybirdSimulator(seed=SEED, today=SIM_TODAY) as simulator:
        (tmp_path / "config.toml").write_text(
            f"""
[connector]
database_url = "sqlite:///connector.db"

[email]
host = "127.0.0.1"
port = {port}
security = "none"
from_address = "debiteuren@plan.example"

[[administrations]]
name = "plan"
platform = "moneybird"
base_url = "{simulator.base_url}"
administration_id = "313373133731337313"
token = "${{PLAN_TOKEN}}"
company = {{ name = "Plan B.V.", kvk = "12345678", address = "Planstraat 1, 1234 AB Plaats", statutory_seat = "X" }}
"""
        )
        (tmp_path / ".env").write_text("PLAN_TOKEN=plan-test-token\n")
        assert connector("sync", cwd=tmp_path).returncode == 0
        # Nothing goes out before a person has looked at the plan and approved the administration.
        waiting = connector("dispatch", "--date", "2025-03-06", "--ignore-window", cwd=tmp_path)
        assert (
            waiting.returncode == 0 and "awaiting approval: nothing is sent until a person approves" in waiting.stdout
        )
        assert sink.messages == [] and simulator.get_invoice("313373133731337313", "901")["notes"] == []
        shown = connector("plan", "--date", "2025-03-06", cwd=tmp_path).stdout
        assert "plan: awaiting approval" in shown and "2 action(s) due on 2025-03-06" in shown
        approved = connector("approve", "--admin", "plan", "--by", "Anna de Vries", cwd=tmp_path)
        assert approved.returncode == 0, approved.stderr
        assert "plan: approved by Anna de Vries on " in approved.stdout and "under policy 'default'" in approved.stdout
        # The SMTP server down: said so, exit 1, and both e-mails wait with their tries intact.
        config = (tmp_path / "config.toml").read_text()
        (tmp_path / "config.toml").write_text(config.replace(f"port = {port}", f"port = {free_port()}"))
        down = connector("dispatch", "--date", "2025-03-06", "--ignore-window", cwd=tmp_path)
        assert down.returncode == 1 and "  e-mail is down: SMTP server not reachable: " in down.stdout
        assert "2 action(s) wait for their channel to come back (their tries are kept" in down.stdout
        waiting_actions = json.loads(connector("outbox", "--json", cwd=tmp_path).stdout)
        assert [(a["status"], a["attempts"]) for a in waiting_actions] == [("pending", 0), ("pending", 0)]
        (tmp_path / "config.toml").write_text(config)
        result = connector("dispatch", "--date", "2025-03-06", "--ignore-window", "--json", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        (report,) = json.loads(result.stdout)
        assert report["executed"] == 2 and report["notes_written"] == 3 and report["awaiting_approval"] is None
        notes = [
            n["note"] for i in ("901", "902", "903") for n in simulator.get_invoice("313373133731337313", i)["notes"]
        ]
        again = json.loads(
            connector("dispatch", "--date", "2025-03-06", "--ignore-window", "--json", cwd=tmp_path).stdout
        )
    assert again[0]["executed"] == 0  # nothing twice
    subjects = sorted(m["Subject"] for m in sink.messages)
    assert subjects == ["Herinnering: 2 facturen van Plan B.V.", "Reminder: invoice 2025-0903 from Plan B.V."]
    assert len(notes) == 3 and all("[ref " in n for n in notes)
    history = json.loads(connector("history", "901", "--json", cwd=tmp_path).stdout)
    assert [h["event"] for h in history] == ["planned", "ledger_reminders_paused", "email_sent", "note_written"]


def test_an_administration_is_approved_once_per_policy_by_name(synced: Path) -> None:
    assert "plan: awaiting approval" in connector("plan", "--date", "2025-03-06", cwd=synced).stdout
    listed = json.loads(connector("plan", "--date", "2025-03-06", "--json", cwd=synced).stdout)
    assert {a["administration_approved"] for a in listed} == {False}
    first = connector("approve", "--admin", "plan", "--by", "Anna de Vries", "--note", "plan checked", cwd=synced)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("plan: approved by Anna de Vries on ") and "under policy 'default'" in first.stdout
    again = connector("approve", "--admin", "plan", "--by", "Bob", cwd=synced)
    assert again.returncode == 0 and "already approved by Anna de Vries" in again.stdout
    assert "awaiting approval" not in connector("plan", "--date", "2025-03-06", cwd=synced).stdout
    # A changed policy is another policy: it waits for a person again.
    with (synced / "config.toml").open("a") as config:
        config.write('\n[policies.default]\ncatch_up = "latest"\n')
    assert "plan: awaiting approval" in connector("plan", "--date", "2025-03-06", cwd=synced).stdout
    assert connector("approve", "--admin", "plan", "--by", "Bob", cwd=synced).returncode == 0
    history = json.loads(connector("history", "901", "--json", cwd=synced).stdout)
    assert history == []  # the administration's approvals are not an invoice's history...
    store = Store.open(f"sqlite:///{synced / 'connector.db'}", ManualClock(datetime(2026, 12, 4, 9, tzinfo=UTC)))
    try:
        with store.session() as session:
            entries = session.exec(select(AuditEntry).where(AuditEntry.event == "administration_approved")).all()
    finally:
        store.close()
    # ...they are in the audit log, with who and why
    assert [(e.detail["by"], e.detail["note"]) for e in entries] == [("Anna de Vries", "plan checked"), ("Bob", None)]


def test_asking_approval_without_saying_what_is_a_clear_error(synced: Path) -> None:
    result = connector("approve", "--by", "Anna", cwd=synced)
    assert result.returncode == 2 and "say what to approve" in result.stderr
    result = connector("approve", "abcdef123456", "--all", "--by", "Anna", cwd=synced)
    assert result.returncode == 2 and "not both" in result.stderr
    result = connector("reject", "--by", "Anna", cwd=synced)
    assert result.returncode == 2 and "say what to reject" in result.stderr
    result = connector("approve", "abcdef123456", "--by", "Anna", cwd=synced)
    assert result.returncode == 2 and "no action with key" in result.stderr


def test_nothing_goes_out_for_an_administration_that_cannot_name_its_sender(synced: Path) -> None:
    assert connector("approve", "--admin", "plan", "--by", "Anna", cwd=synced).returncode == 0
    result = connector("dispatch", "--date", "2025-03-06", "--ignore-window", "--json", cwd=synced)
    (report,) = json.loads(result.stdout)
    assert report["sender_missing"].startswith("sender details missing (company): nothing is sent")
    assert report["planned"] == report["executed"] == 0
    assert json.loads(connector("outbox", "--json", cwd=synced).stdout) == []
    shown = connector("dispatch", "--date", "2025-03-06", "--ignore-window", cwd=synced).stdout
    assert "nothing is sent until they are configured (`connector check-config`)" in shown


def test_operators_work_by_names(synced: Path) -> None:
    shown = connector("plan", "--date", "2025-03-06", cwd=synced).stdout
    assert "Eva Bakker" in shown and "2025-0901, 2025-0902" in shown
    listed = {a["contact_id"]: a for a in plan(synced, "2025-03-06")}
    assert listed["1"]["contact_name"] == "Eva Bakker" and listed["1"]["invoice_numbers"] == ["2025-0901", "2025-0902"]
    unknown = connector("exclude", "404", cwd=synced)
    assert unknown.returncode == 2 and "no mirrored customer with id '404' in plan" in unknown.stderr
    assert connector("exclude", "2", cwd=synced).returncode == 0

    clock = ManualClock(datetime(2025, 3, 6, 10, tzinfo=UTC))
    store = Store.open(f"sqlite:///{synced / 'connector.db'}", clock)
    try:
        administration_id = store.administration_id("plan")
        assert administration_id is not None
        settings = load_settings(synced / "config.toml", environ={"PLAN_TOKEN": "plan-test-token"})
        (administration,) = settings.administrations
        due = WorkflowStore(store).due_actions(administration_id, administration, settings.policies, date(2025, 3, 6))
        box = OutboxStore(store)
        box.enqueue(administration_id, due, clock.now())
        for action in box.actions(administration_id):
            box.transition(action, "executing", expect="pending")
            box.transition(action, "failed", expect="executing", error="smtp down")
    finally:
        store.close()
    outbox = connector("outbox", "--status", "failed", cwd=synced).stdout
    assert "Eva Bakker" in outbox and "2025-0901, 2025-0902" in outbox and "smtp down" in outbox
    assert connector("retry", cwd=synced).returncode == 2
    retried = connector("retry", "--all-failed", cwd=synced)
    assert retried.returncode == 0 and retried.stdout.splitlines()[-1] == "1 action(s) to try again"
    assert json.loads(connector("outbox", "--status", "failed", "--json", cwd=synced).stdout) == []
