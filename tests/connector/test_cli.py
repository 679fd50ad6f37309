"""The `connector` command as a user runs it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.moneybird.simulator import MoneybirdSimulator
from connector.cli import CommandContext, app
from connector.clock import AMSTERDAM, ManualClock
from tests.conftest import SIM_TODAY
from tests.support.processes import child_environ


def connector(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = child_environ(**(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "connector", *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=120
    )


FIVE_MISTAKES = """
[connector]
timezone = "Mars/Olympus_Mons"

[[administrations]]
name = "acme"
platform = "moneybird"
administration_id = "123456789012345678"
token = "plain-text-token"

[[administrations]]
name = "beta"
platform = "moneybrid"
token = "${BETA_TOKEN}"

[[administrations]]
name = "gamma"
platform = "moneybird"
administration_id = "not-a-number"
token = "${GAMMA_TOKEN}"
tokn = "typo"
"""


def test_check_config_reports_all_five_mistakes_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(FIVE_MISTAKES)
    result = connector(
        "check-config", "--config", "config.toml", cwd=tmp_path, env={"BETA_TOKEN": "b" * 20, "GAMMA_TOKEN": "g" * 20}
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == "5 problem(s) in the configuration."
    keys = [line.split(":", 1)[0] for line in lines[:-1]]
    assert keys == [
        "connector.timezone",
        "administrations[0].token",
        "administrations[1].platform",
        "administrations[2].administration_id",
        "administrations[2].tokn",
    ]
    assert "administrations[1].platform: unknown platform 'moneybrid'" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "plain-text-token" not in result.stderr


FIVE_POLICY_MISTAKES = """
[[administrations]]
name = "acme"
platform = "moneybird"
administration_id = "123456789012345678"
token = "${TOKEN}"
policy = "strict"

[policies.strict]
stages = [
    { name = "reminder", days = 3, action = "email" },
    { name = "call", days = 5, action = "task", legal_letter = true },
    { name = "reminder", days = 10, action = "email" },
    { name = "letter", days = 8, action = "email", legal_letter = true },
    { name = "sms", days = 20, action = "sms" },
]
"""


def test_check_config_reports_every_mistake_in_a_policy_not_just_the_first(tmp_path: Path) -> None:
    """A legal letter on a call task, a stage name used twice, days that go back, a second legal letter and an
    action that does not exist: all five, each with its key."""
    (tmp_path / "config.toml").write_text(FIVE_POLICY_MISTAKES)
    result = connector("check-config", "--config", "config.toml", cwd=tmp_path, env={"TOKEN": "t" * 20})
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == "5 problem(s) in the configuration.", result.stderr
    assert sorted(line.split(":", 1)[0] for line in lines[:-1]) == [
        "policies.strict.stages[1].legal_letter",
        "policies.strict.stages[2].name",
        "policies.strict.stages[3].days",
        "policies.strict.stages[3].legal_letter",
        "policies.strict.stages[4].action",
    ]
    assert "a task stage cannot be the legal letter" in result.stderr
    assert "a second legal letter (stages[1] is one)" in result.stderr
    assert "'reminder' is also the name of stages[0]" in result.stderr


def test_check_config_summarises_a_valid_config(tmp_path: Path) -> None:
    """As the README says: copy the example, give the one token the enabled administration needs."""
    example = Path(__file__).parents[2] / "config.example.toml"
    (tmp_path / "config.toml").write_text(example.read_text())
    (tmp_path / ".env").write_text("ACME_MONEYBIRD_TOKEN=abc123abc123\n")
    result = connector("check-config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "acme: moneybird administration 123456789012345678, enabled",
        "globex: exact_online division 1234567 (nl), disabled",
        "initech: eboekhouden api token, disabled",
    ]
    assert "OK, database sqlite:///data/connector.db" in result.stderr
    assert "warning" not in result.stderr  # Moneybird's own reminders are paused by default


def test_check_config_warns_where_customers_may_get_two_reminder_streams(tmp_path: Path) -> None:
    company = 'company = { name = "A", kvk = "12345678", address = "Weg 1, 1234 AB X" }'
    base = f'platform = "eboekhouden"\napi_token = "${{T}}"\n{company}\n'
    (tmp_path / "config.toml").write_text(
        f'[[administrations]]\nname = "own"\n{base}'
        f'[[administrations]]\nname = "off"\n{base}pause_ledger_reminders = false\n'
    )
    (tmp_path / ".env").write_text("T=token-0123456789\n")
    result = connector("check-config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: administrations[0].pause_ledger_reminders: eboekhouden cannot be told to pause its own reminders; "
        "switch them off in the ledger, or customers may get two reminder streams with different deadlines",
        "warning: administrations[1].pause_ledger_reminders = false: the ledger's own reminders go on beside this "
        "connector's, so customers may get two reminder streams with different deadlines",
    ]


def test_check_config_wants_the_sender_named_as_the_law_wants_it(tmp_path: Path) -> None:
    """Every business letter names its sender's KvK number and address (art. 27 Handelsregisterwet 2007), and a
    B.V. its statutory seat: check-config refuses an enabled administration without them, before anything goes out."""
    administration = """
[[administrations]]
name = "{name}"
platform = "moneybird"
administration_id = "123456789012345678"
token = "${{TOKEN}}"
{company}
"""
    (tmp_path / "config.toml").write_text(
        administration.format(name="bare", company="")
        + administration.format(name="half", company='company = { name = "Half B.V.", address = "Straat 1, 12 X" }')
        + administration.format(name="off", company="enabled = false")
        + administration.format(
            name="whole", company='company = { name = "Heel", kvk = "12345678", address = "Straat 2, 1234 AB Y" }'
        )
    )
    result = connector("check-config", cwd=tmp_path, env={"TOKEN": "t" * 20})
    assert result.returncode == 2, result.stderr
    problems = result.stderr.strip().splitlines()
    assert [line.split(":", 1)[0] for line in problems[:-1]] == [
        "administrations[0].company",
        "administrations[1].company.kvk",
        "administrations[1].company.statutory_seat",
    ]
    assert problems[-1] == "3 problem(s) in the configuration."


def test_check_config_wants_what_a_printed_letter_needs(tmp_path: Path) -> None:
    """A logo that cannot be read, and a stage sent by post with no post service configured."""
    (tmp_path / "config.toml").write_text(
        '[[administrations]]\nname = "shop"\nplatform = "moneybird"\nadministration_id = "123456789012345678"\n'
        'token = "${TOKEN}"\ncompany = { name = "Winkel", kvk = "12345678", address = "Straat 2, 1234 AB Y", '
        'logo = "logo.gif" }\n\n[policies.default]\nstages = [\n'
        '  { name = "reminder", days = 3, action = "email" },\n'
        '  { name = "ingebrekestelling", days = 20, action = "post", legal_letter = true },\n]\n'
    )
    (tmp_path / "logo.gif").write_bytes(b"GIF89a")
    result = connector("check-config", cwd=tmp_path, env={"TOKEN": "t" * 20})
    assert result.returncode == 2, result.stderr
    problems = result.stderr.strip().splitlines()
    assert problems[:-1] == [
        "administrations[0].company.logo: logo.gif: not a PNG, JPEG or SVG file",
        'policies.default.stages.ingebrekestelling.action: "post" needs a [post] section (a print service or a '
        "print batch folder)",
    ]


def test_run_with_a_bad_configuration_can_wait_instead_of_exiting(tmp_path: Path) -> None:
    """In a container whose restart policy restarts on any exit, `run` prints the problems once and waits for
    SIGTERM (then exits 2), instead of being restarted into the same error again and again."""
    (tmp_path / "config.toml").write_text(FIVE_MISTAKES)
    environ = child_environ(CONNECTOR_ON_CONFIG_ERROR="wait")
    process = subprocess.Popen(
        [sys.executable, "-m", "connector", "run"], cwd=tmp_path, env=environ, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stderr is not None
        lines = []
        while not (line := process.stderr.readline()).startswith("not starting:"):
            assert line, "the process ended without saying it waits"
            lines.append(line)
        assert lines[-1].endswith(" problem(s) in the configuration.\n") and len(lines) > 5
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=1)  # still there: no exit, so no restart
        process.terminate()
        assert process.wait(timeout=10) == 2
    finally:
        process.kill()
    assert connector("run", cwd=tmp_path).returncode == 2  # by default it exits at once


def test_missing_config_file_is_exit_2(tmp_path: Path) -> None:
    result = connector("sync", cwd=tmp_path)
    assert result.returncode == 2
    assert "config.toml: file not found" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def configured(tmp_path: Path) -> Iterator[tuple[Path, MoneybirdSimulator]]:
    seed = {
        "administrations": [
            {
                "id": "313373133731337313",
                "name": "CLI",
                "contacts": [
                    {"id": "1", "company_name": "Jansen Installatietechniek B.V."},
                    {"id": "2", "firstname": "Eva", "lastname": "Bakker"},
                ],
                "sales_invoices": [
                    {
                        "id": "901",
                        "invoice_id": "2026-0901",
                        "contact_id": "1",
                        "invoice_date": "2026-10-01",
                        "due_date": "2026-10-15",
                        "total_price_incl_tax": "1210.0",
                        "total_unpaid": "1210.0",
                        "state": "late",
                    },
                    {
                        "id": "902",
                        "invoice_id": "2026-0902",
                        "contact_id": "2",
                        "invoice_date": "2026-11-10",
                        "due_date": "2026-12-10",
                        "total_price_incl_tax": "60.5",
                        "total_unpaid": "60.5",
                        "state": "open",
                    },
                    {
                        "id": "903",
                        "invoice_id": "2026-0903",
                        "contact_id": "2",
                        "invoice_date": "2026-11-01",
                        "due_date": None,  # a bad record: left out, the simulator would fill in a default
                        "total_price_incl_tax": "10.0",
                        "total_unpaid": "10.0",
                        "state": "open",
                    },
                ],
            }
        ]
    }
    with MoneybirdSimulator(seed=seed, today=SIM_TODAY) as simulator:
        (tmp_path / "config.toml").write_text(
            f"""
[connector]
database_url = "sqlite:///data/connector.db"

[[administrations]]
name = "cli"
platform = "moneybird"
base_url = "{simulator.base_url}"
administration_id = "313373133731337313"
token = "${{CLI_TOKEN}}"
"""
        )
        (tmp_path / ".env").write_text("CLI_TOKEN=cli-test-token\n")
        yield tmp_path, simulator


def test_sync_then_list_as_json(configured: tuple[Path, MoneybirdSimulator]) -> None:
    folder, simulator = configured
    result = connector("sync", "--json", cwd=folder)
    assert result.returncode == 0, result.stderr
    (report,) = json.loads(result.stdout)
    assert report["administration"] == "cli" and report["outcome"] == "success"
    assert report["invoices_upserted"] == 2 and report["quarantined"] == 1
    assert "cli-test-token" not in result.stdout + result.stderr

    held = connector("quarantine", "--json", cwd=folder)
    assert held.returncode == 0, held.stderr
    assert [(r["entity"], r["ledger_id"], r["reason"]) for r in json.loads(held.stdout)] == [
        ("invoice", "903", "due_date: missing")
    ]

    listed = connector("invoices", "--json", cwd=folder)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["ledger_id"], r["number"], r["open_amount"], r["state"], r["due_date"]) for r in rows] == [
        ("901", "2026-0901", "1210.00", "open", "2026-10-15"),
        ("902", "2026-0902", "60.50", "open", "2026-12-10"),
    ]
    assert rows[0]["administration"] == "cli" and rows[0]["contact_id"] == "1" and rows[0]["currency"] == "EUR"
    assert rows[0]["total"] == "1210.00"

    simulator.add_payment("313373133731337313", "901", "1210.0")
    assert connector("sync", cwd=folder).returncode == 0
    closed = json.loads(connector("invoices", "--state", "closed", "--json", cwd=folder).stdout)
    assert [(r["ledger_id"], r["state"], r["open_amount"]) for r in closed] == [("901", "paid", "0.00")]

    table = connector("invoices", "--state", "all", cwd=folder)
    assert "Jansen Installatietechniek B.V." in table.stdout and "Eva Bakker" in table.stdout
    assert table.stdout.strip().endswith("2 invoice(s)")


def test_commands_take_the_clock_they_are_given(
    configured: tuple[Path, MoneybirdSimulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    """'Today' in a command is the injected clock's date, never the machine's."""
    folder, _ = configured
    monkeypatch.chdir(folder)
    monkeypatch.setenv("CLI_TOKEN", "cli-test-token")

    def on(day: date, *args: str) -> str:
        clock = ManualClock(datetime.combine(day, time(10), AMSTERDAM))
        result = CliRunner().invoke(app, list(args), obj=CommandContext(clock=clock))
        assert result.exit_code == 0, result.output
        return result.output

    on(SIM_TODAY, "sync")
    table = on(date(2026, 11, 24), "invoices")
    assert _overdue(table, "2026-0901") == "40d" and _overdue(table, "2026-0902") == ""
    later = on(date(2027, 1, 4), "invoices")
    assert _overdue(later, "2026-0901") == "81d" and _overdue(later, "2026-0902") == "25d"
    assert on(date(2026, 11, 24), "plan").strip().endswith("due on 2026-11-24")
    assert on(date(2031, 2, 28), "plan").strip().endswith("due on 2031-02-28")


def _overdue(table: str, number: str) -> str:
    """The overdue column of an invoice's row in `connector invoices`' table ("" when not overdue)."""
    (row,) = [row for row in table.splitlines() if f" {number} " in row]
    match = re.search(r" \d{4}-\d{2}-\d{2} +(\d+d)? +EUR ", row)
    assert match, row
    return match.group(1) or ""


def test_unknown_admin_is_a_clear_error(configured: tuple[Path, MoneybirdSimulator]) -> None:
    folder, _ = configured
    result = connector("sync", "--admin", "nope", cwd=folder)
    assert result.returncode == 2
    assert "no administration named 'nope' (known: cli)" in result.stderr


def test_simulator_command_prints_where_it_listens(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "connector",
            "simulate",
            "moneybird",
            "--port",
            "0",
            "--generate",
            "20",
            "--contacts",
            "5",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        assert first.startswith("listening on http://127.0.0.1:") and first.endswith("/api/v2")
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
