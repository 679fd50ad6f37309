"""The workflow commands as a user runs them: plan, pause, resume, exclude, history."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.moneybird.simulator import MoneybirdSimulator
from connector.dispatch.mailsink import MailSink
from tests.conftest import SIM_TODAY
from tests.connector.test_cli import connector

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
    with MoneybirdSimulator(seed=SEED, today=SIM_TODAY) as simulator:
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
    assert history[0]["detail"] == {"reason": "dispute", "until": None, "note": "says it was never delivered"}


def test_an_arrangement_until_a_date(synced: Path) -> None:
    assert connector("pause", "903", "--reason", "arrangement", "--until", "2025-04-01", cwd=synced).returncode == 0
    assert all(a["contact_id"] != "2" for a in plan(synced, "2025-04-01"))
    assert any(a["contact_id"] == "2" for a in plan(synced, "2025-04-02"))


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
company = {{ name = "Plan B.V.", iban = "NL91ABNA0417164300" }}
"""
        )
        (tmp_path / ".env").write_text("PLAN_TOKEN=plan-test-token\n")
        assert connector("sync", cwd=tmp_path).returncode == 0
        result = connector("dispatch", "--date", "2025-03-06", "--ignore-window", "--json", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        (report,) = json.loads(result.stdout)
        assert report["executed"] == 2 and report["notes_written"] == 3
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
    assert [h["event"] for h in history] == ["planned", "email_sent", "note_written"]
