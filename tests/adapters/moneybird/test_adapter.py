"""The Moneybird adapter's write-back and error mapping, against the simulator over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date

import pytest

from adapters.moneybird.adapter import MoneybirdAdapter
from adapters.moneybird.simulator import MoneybirdSimulator
from connector.clock import ManualClock
from connector.ledger.http import HttpOptions, RetryPolicy
from connector.ledger.port import Capability, Invoice, NotFound, RequestRejected, TransientError
from connector.ledger.simulation import Faults
from tests.conftest import SIM_TODAY, moneybird_adapter


@pytest.fixture
def simulator() -> Iterator[MoneybirdSimulator]:
    with MoneybirdSimulator.generate(invoices=6, contacts=3, seed=9, today=SIM_TODAY) as sim:
        yield sim


@pytest.fixture
def adapter(simulator: MoneybirdSimulator, clock: ManualClock) -> Iterator[MoneybirdAdapter]:
    with moneybird_adapter(simulator, clock) as adapter:
        yield adapter


def first_invoices(adapter: MoneybirdAdapter, simulator: MoneybirdSimulator, count: int = 1) -> list[Invoice]:
    ids = simulator.invoice_ids(simulator.administration_ids[0])[:count]
    return adapter.invoices_by_id(ids).records


def test_declares_its_capabilities(adapter: MoneybirdAdapter) -> None:
    assert all(adapter.supports(capability) for capability in Capability)


def test_note_and_call_task_are_written_on_the_invoice(
    adapter: MoneybirdAdapter, simulator: MoneybirdSimulator
) -> None:
    (invoice,) = first_invoices(adapter, simulator)
    note_id = adapter.add_note(invoice, "Herinnering verstuurd op 24-11-2026")
    task_id = adapter.add_note(invoice, "Bel de klant over factuur 2026-00001", todo=True)
    notes = simulator.get_invoice(simulator.administration_ids[0], invoice.ledger_id)["notes"]
    assert [(n["id"], n["note"], n["todo"]) for n in notes] == [
        (note_id, "Herinnering verstuurd op 24-11-2026", False),
        (task_id, "Bel de klant over factuur 2026-00001", True),
    ]


def test_pause_and_resume_are_idempotent(adapter: MoneybirdAdapter, simulator: MoneybirdSimulator) -> None:
    (invoice,) = first_invoices(adapter, simulator)
    admin = simulator.administration_ids[0]
    adapter.pause_ledger_reminders(invoice)
    adapter.pause_ledger_reminders(invoice)  # "already paused" is what we wanted
    assert simulator.get_invoice(admin, invoice.ledger_id)["paused"] is True
    adapter.resume_ledger_reminders(invoice)
    adapter.resume_ledger_reminders(invoice)
    assert simulator.get_invoice(admin, invoice.ledger_id)["paused"] is False


def test_ledger_reminder_groups_by_contact(adapter: MoneybirdAdapter, simulator: MoneybirdSimulator) -> None:
    invoices = first_invoices(adapter, simulator, count=4)
    adapter.send_ledger_reminder(invoices)
    admin = simulator.administration_ids[0]
    for invoice in invoices:
        after = simulator.get_invoice(admin, invoice.ledger_id)
        assert after["reminder_count"] == 1 and after["state"] == "reminded"


def test_mark_dubious_then_uncollectible(adapter: MoneybirdAdapter, simulator: MoneybirdSimulator) -> None:
    (invoice,) = first_invoices(adapter, simulator)
    admin = simulator.administration_ids[0]
    adapter.mark_dubious(invoice, date(2026, 11, 24))
    assert simulator.get_invoice(admin, invoice.ledger_id)["marked_dubious_on"] == "2026-11-24"
    adapter.mark_uncollectible(invoice, date(2026, 11, 25))
    after = simulator.get_invoice(admin, invoice.ledger_id)
    assert after["state"] == "uncollectible" and after["marked_uncollectible_on"] == "2026-11-25"


def test_a_deleted_invoice_is_not_found(adapter: MoneybirdAdapter, simulator: MoneybirdSimulator) -> None:
    (invoice,) = first_invoices(adapter, simulator)
    gone = Invoice(
        **{**{f: getattr(invoice, f) for f in invoice.__dataclass_fields__}, "ledger_id": "999999999999999999"}
    )
    with pytest.raises(NotFound, match="record not found"):
        adapter.add_note(gone, "x")
    assert adapter.invoices_by_id(["999999999999999999"]).deleted == ["999999999999999999"]


def test_a_note_that_may_have_arrived_is_not_sent_twice(clock: ManualClock) -> None:
    """A timeout after sending: the ledger may well have stored the note, so the adapter must not repeat it
    but report the outcome as unknown (the dispatcher re-reads the invoice before trying again)."""
    options = HttpOptions(retry=RetryPolicy(attempts=5, initial_wait=0.01, max_wait=0.02), private_limiters=True)
    faults = Faults(timeout_seconds=0.6)
    with MoneybirdSimulator.generate(invoices=2, contacts=1, today=SIM_TODAY, faults=faults) as simulator:
        with moneybird_adapter(simulator, clock, options=options, timeout_seconds=0.2) as adapter:
            (invoice,) = first_invoices(adapter, simulator)
            simulator.set_faults("timeout:1.0", seed=1)
            with pytest.raises(TransientError) as caught:
                adapter.add_note(invoice, "Aanmaning verstuurd")
        time.sleep(0.8)  # the stalled request completes on the ledger's side
        simulator.set_faults(None)
        notes = simulator.get_invoice(simulator.administration_ids[0], invoice.ledger_id)["notes"]
        posted = [r for r in simulator.requests() if r["method"] == "POST" and r["path"].endswith("/notes.json")]
    assert caught.value.outcome_unknown
    assert len(posted) == 1
    assert [n["note"] for n in notes] == ["Aanmaning verstuurd"]


def test_a_token_that_cannot_be_sent_is_neither_retried_nor_counted(
    simulator: MoneybirdSimulator, clock: ManualClock
) -> None:
    """An illegal header value (a newline the config check would have stripped) fails at once, locally."""
    with moneybird_adapter(simulator, clock, token="tok-secret\nvalue") as adapter:
        with pytest.raises(RequestRejected, match="could not be sent") as caught:
            adapter.invoices_by_id(["1"])
        assert adapter.api_calls() == {}
    assert "tok-secret" not in str(caught.value)
    assert simulator.requests() == []
