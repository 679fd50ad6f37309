"""The contract every ledger plugin must keep, as checks run through its simulator (`SimulatedLedger`).

`tests/connector/ledger/test_contract.py` runs each check against every registered ledger; a new ledger proves
itself by registering (and a test-only plugin by calling `run_contract`).
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from pypdf import PdfReader

from connector.clock import ManualClock
from connector.domain import InvoiceStatus
from connector.ledger import records, registry
from connector.ledger.http import HttpOptions, RetryPolicy
from connector.ledger.port import Capability, LedgerAdapter, NotSupported, Platform, SimulatedLedger
from connector.store import Store
from connector.store.repository import InvoiceView
from connector.store.tokens import TokenVault
from connector.sync import SyncReport, sync_administration

FAST_RETRIES = HttpOptions(retry=RetryPolicy(attempts=8, initial_wait=0.01, max_wait=0.05), private_limiters=True)
UNLIMITED = {"requests": 100_000, "per_seconds": 1.0}
VAULT_KEY = "9dS3Kq7d3wq5ZbZl2m8kQ7a3rUo9c4bVb2xW1y0zN6E="  # a test-only Fernet key


@dataclass
class Harness:
    """One administration on a ledger's simulator, mirrored into a store."""

    platform: Platform[Any]
    simulated: SimulatedLedger
    store: Store
    clock: ManualClock
    vault: TokenVault

    def adapter(self) -> LedgerAdapter:
        return self.platform.create(self.settings(), self.clock, FAST_RETRIES, self.vault)

    def settings(self) -> Any:
        return self.simulated.settings("acme", rate_limit=UNLIMITED)

    def sync(self, adapter: LedgerAdapter | None = None) -> SyncReport:
        """A pass with a fresh adapter, or with `adapter` (as the daemon keeps one for its syncs and actions)."""
        if adapter is None:
            with self.adapter() as fresh:
                return self.sync(fresh)
        report = sync_administration(self.store, adapter, name="acme", ledger_reference="", clock=self.clock)
        assert report.ok, report.error
        return report

    def mirrored(self) -> dict[str, InvoiceView]:
        return {view.ledger_id: view for view in self.store.invoices("acme", "all")}

    def open_in_mirror(self) -> set[str]:
        return {ledger_id for ledger_id, view in self.mirrored().items() if view.state == "open"}


@contextmanager
def harness(platform: Platform[Any], store: Store, clock: ManualClock) -> Iterator[Harness]:
    assert platform.simulated is not None, f"{platform.name} has no SimulatedLedger"
    simulated_class: type[SimulatedLedger] = registry.load(platform.simulated)
    today = clock.now().date()
    with simulated_class.start(invoices=40, contacts=12, seed=3, today=today, clock=clock) as simulated:
        found = Harness(platform, simulated, store, clock, TokenVault(store, VAULT_KEY))
        grant = simulated.grant()
        settings = found.settings()
        if grant is not None:
            assert settings.token_connection is not None, "a ledger that grants tokens names its token chain"
            found.vault.save_grant(settings.token_connection, platform.name, "contract", grant)
        yield found


# --- the checks ---------------------------------------------------------------------------------------


def mirrors_the_open_invoices_and_their_customers(h: Harness) -> None:
    report = h.sync()
    assert h.open_in_mirror() == set(h.simulated.open_ids())
    assert report.invoices_upserted == len(h.simulated.open_ids())
    administration_id = h.store.administration_id("acme")
    assert administration_id is not None
    for view in h.mirrored().values():
        assert h.store.contact(administration_id, view.contact_id) is not None, view.contact_id
        assert view.open_amount > 0 and view.due_date is not None


def picks_up_payments_incrementally(h: Harness) -> None:
    h.sync()
    paid, part, *_ = sorted(h.simulated.open_ids())
    before = h.mirrored()[part].open_amount
    h.simulated.pay(paid)
    h.simulated.pay(part, Decimal("10.00"))
    report = h.sync()
    mirrored = h.mirrored()
    assert mirrored[paid].state != "open"
    assert mirrored[part].state == "open" and mirrored[part].open_amount == before - Decimal("10.00")
    assert report.invoices_upserted + report.invoices_closed >= 2
    quiet = h.sync()  # nothing changed: nothing stored again
    assert (quiet.invoices_upserted, quiet.invoices_closed, quiet.quarantined) == (0, 0, 0)


def rechecks_invoices_by_id(h: Harness) -> None:
    """The re-check right before an action, by the adapter that synced (as in the daemon)."""
    with h.adapter() as adapter:
        h.sync(adapter)
        paid, still_open, *_ = sorted(h.simulated.open_ids())
        h.simulated.pay(paid)
        batch = adapter.invoices_by_id([paid, still_open])
    found = {invoice.ledger_id: invoice.status for invoice in batch.records}
    found |= {bad.ledger_id: bad.status for bad in batch.bad}  # unreadable now, but known to be settled
    assert found[still_open] == InvoiceStatus.OPEN
    assert paid in batch.deleted or found[paid] not in (InvoiceStatus.OPEN, None), found


def finds_its_note_again_after_a_crash(h: Harness) -> None:
    """The write-back after a crash asks the ledger whether the note is there before writing it again."""
    h.sync()
    ledger_id = sorted(h.simulated.open_ids())[0]
    marker = f"[ref {uuid.uuid4().hex[:12]}]"
    with h.adapter() as adapter:
        invoice = adapter.invoices_by_id([ledger_id]).records[0]
        assert adapter.find_note(invoice, marker) is None
        written = adapter.add_note(invoice, f"Herinnering verstuurd {marker}")
    with h.adapter() as restarted:  # a new process
        assert restarted.find_note(invoice, marker) == written
    mine = [(i, text) for i, text in h.simulated.notes() if marker in text]
    assert mine == [(ledger_id, mine[0][1])], mine


def honours_its_capabilities(h: Harness) -> None:
    h.sync()
    ledger_id = sorted(h.simulated.open_ids())[0]
    declared = h.platform.capabilities
    with h.adapter() as adapter:
        invoice = adapter.invoices_by_id([ledger_id]).records[0]
        calls: dict[Capability, Callable[[], object]] = {
            Capability.PAUSE_LEDGER_REMINDERS: lambda: adapter.pause_ledger_reminders(invoice),
            Capability.SEND_LEDGER_REMINDER: lambda: adapter.send_ledger_reminder([invoice]),
            Capability.MARK_DUBIOUS: lambda: adapter.mark_dubious(invoice, h.clock.now().date()),
            Capability.MARK_UNCOLLECTIBLE: lambda: adapter.mark_uncollectible(invoice, h.clock.now().date()),
            Capability.SENDER_DETAILS: adapter.sender_details,
        }
        for capability, call in calls.items():
            if capability not in declared:
                with pytest.raises(NotSupported):
                    call()
        if Capability.SENDER_DETAILS in declared:
            assert adapter.sender_details().name
        if Capability.PAUSE_LEDGER_REMINDERS in declared:
            adapter.pause_ledger_reminders(invoice)
            assert h.simulated.reminders_paused(ledger_id)
        if Capability.DELETE_NOTES in declared:
            marker = f"[ref {uuid.uuid4().hex[:12]}]"
            first = adapter.add_note(invoice, f"Herinnering {marker}")
            second = adapter.add_note(invoice, f"Herinnering {marker}")
            assert sorted(adapter.find_notes(invoice, marker)) == sorted([first, second])
            adapter.delete_note(invoice, second)
            adapter.delete_note(invoice, second)  # gone already: no error
            assert adapter.find_notes(invoice, marker) == [first]
        else:
            with pytest.raises(NotSupported):
                adapter.delete_note(invoice, "1")
        if Capability.CALL_TASKS in declared:
            marker = f"[ref {uuid.uuid4().hex[:12]}]"
            adapter.add_note(invoice, f"Bel de klant {marker}", todo=True)
            assert [i for i, text in h.simulated.notes() if marker in text] == [ledger_id]
        if Capability.INVOICE_PDF in declared:
            pdf = adapter.invoice_pdf(invoice, 2_000_000)
            assert pdf is not None and pdf.startswith(b"%PDF-")
            assert (invoice.number or "") in "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
            assert adapter.invoice_pdf(invoice, 100) is None  # larger than allowed: not read on
        else:
            with pytest.raises(NotSupported):
                adapter.invoice_pdf(invoice, 2_000_000)
    assert re.fullmatch(r"[a-z][a-z0-9_]*", h.platform.name)


def cleans_or_quarantines_text_it_cannot_show(h: Harness) -> None:
    """Invisible characters in a name are removed before they reach a letter; a name no real customer has (300,000
    characters) is quarantined with the reason, and everything else is mirrored."""
    first, *rest = sorted(h.simulated.open_ids())
    h.simulated.rename_customer(first, "Bakkerij\u202e De\x00 Vries\n B.V.")
    h.sync()
    administration_id = h.store.administration_id("acme")
    assert administration_id is not None
    mirrored = h.mirrored()
    cleaned_id = mirrored[first].contact_id
    other = next(i for i in rest if mirrored[i].contact_id != cleaned_id)
    contact = h.store.contact(administration_id, cleaned_id)
    assert contact is not None and contact.name == "Bakkerij De Vries B.V.", contact

    h.simulated.rename_customer(other, "X" * 300_000)
    with h.adapter() as adapter:  # re-read the way the re-check does, whatever the ledger's change feed
        batch = adapter.contacts_by_id([mirrored[other].contact_id])
    vetted = records.vet(batch)
    assert not vetted.records and [bad.entity for bad in vetted.bad] == ["contact"], vetted
    assert "name: longer than 255 characters (300,000)" in vetted.bad[0].reason, vetted.bad[0].reason


CHECKS: list[Callable[[Harness], None]] = [
    mirrors_the_open_invoices_and_their_customers,
    picks_up_payments_incrementally,
    rechecks_invoices_by_id,
    finds_its_note_again_after_a_crash,
    honours_its_capabilities,
    cleans_or_quarantines_text_it_cannot_show,
]


def run_contract(platform: Platform[Any], store: Store, clock: ManualClock) -> None:
    """Every check, each on a fresh simulator (for a plugin a test registers)."""
    for check in CHECKS:
        with harness(platform, store, clock) as h:
            check(h)
