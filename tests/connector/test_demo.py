"""`connector demo`, as the README's first command runs it: its summary agrees with what the SMTP sink and the
simulated ledgers hold (counted here from the .eml files and the ledger's final state), on a busy machine too.
How long it takes is printed by the demo itself; a test does not time it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from email import message_from_bytes, policy
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from connector.workflow.calendar import BusinessCalendar
from tests.support.processes import child_environ


@pytest.mark.slow
def test_demo_plays_45_days_and_its_summary_matches_the_sink_and_the_ledger(tmp_path: Path) -> None:
    # A user's real store, named in the shell: the demo writes only to its own.
    real_store = tmp_path / "real" / "connector.db"
    result = subprocess.run(
        # The README's command, played faster than it would be for a person watching (--seconds): the machine
        # falls behind the demo's clock, the case its summary must stay right in.
        [sys.executable, "-m", "connector", "demo", "--dir", str(tmp_path / "demo"), "--seconds", "10"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env=child_environ(CONNECTOR_DATABASE_URL=f"sqlite:///{real_store}"),
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert not real_store.parent.exists(), "the demo wrote to the store named in CONNECTOR_DATABASE_URL"
    folder = tmp_path / "demo"
    summary = json.loads((folder / "summary.json").read_text())
    ledger = json.loads((folder / "ledger.json").read_text())

    emails = sorted((folder / "mail").glob("*.eml"))
    assert summary["emails_sent"] == len(emails) > 0
    messages = [message_from_bytes(path.read_bytes(), policy=policy.default) for path in emails]
    keys = [message["X-Connector-Action"] for message in messages]
    assert len(set(keys)) == len(keys), "an e-mail went out twice"
    calendar = BusinessCalendar()  # the demo's send window is the default one
    late = [m["Date"] for m in messages if not calendar.in_send_window(parsedate_to_datetime(m["Date"]))]
    assert not late, f"sent outside the send window: {late[:5]}"
    for message in messages:  # the sender as the law wants it named: KvK number and address
        body = message.get_body(("plain",)).get_content()
        assert re.search(r"\nKvK 9000000\d\b", body) and "Simulatieweg 1, 3511 AB Utrecht" in body, body[-300:]

    invoices = [invoice for administration in ledger.values() for invoice in administration]
    notes = [note for invoice in invoices for note in invoice["notes"] or []]
    refs = [note["note"].rsplit("[ref ", 1)[-1] + note["entity_id"] for note in notes if "[ref " in note["note"]]
    assert summary["notes_written"] == len(notes) == len(refs) > 0
    assert len(set(refs)) == len(refs), "a note was written twice"
    paid = [invoice for invoice in invoices if invoice["state"] == "paid"]
    assert summary["paid_during_run"] == len(paid) == sum(len(invoice["payments"] or []) for invoice in invoices) > 0
    assert summary["invoices_mirrored"] == len(invoices)
    assert len(summary["disputed"]) == 1
    assert set(summary["actions_by_stage"]) >= {"call", "reminder", "aanmaning", "ingebrekestelling"}
    assert summary["consistent"] is True

    out = result.stdout
    assert "Summary after 45 days" in out and "Status page:" in out and ".eml" in out
    assert re.search(r"Cockpit: +http://127\.0\.0\.1:\d+/  \(sign in as demo, password \S+\)", out)
    # It approves its own administrations, says so, and names the step a real ledger needs.
    assert "Approved:          bakkerij, installatie under policy 'default', by the demo on your behalf." in out
    assert "`connector approve --admin NAME`" in out
