"""The Exact Online adapter against the simulator: first load, change feeds, re-checks, write-back, tokens."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest

from adapters.exact_online.adapter import ExactOnlineAdapter
from adapters.exact_online.simulator import ExactOnlineSimulator
from connector.clock import ManualClock
from connector.ledger.http import ErrorBudget
from connector.ledger.port import Capability, InvoiceStatus, RequestRejected, SenderDetails
from connector.store import Store
from connector.sync import SyncReport, sync_administration
from tests.conftest import SIM_TODAY, exact_adapter

TERMS, ACCOUNTS = 300, 80


@pytest.fixture
def simulator() -> Iterator[ExactOnlineSimulator]:
    with ExactOnlineSimulator.generate(terms=TERMS, accounts=ACCOUNTS, seed=3, today=SIM_TODAY) as sim:
        yield sim


@pytest.fixture
def adapter(simulator: ExactOnlineSimulator, store: Store, clock: ManualClock) -> Iterator[ExactOnlineAdapter]:
    adapter = exact_adapter(simulator, store, clock)
    yield adapter
    adapter.close()


def sync(store: Store, adapter: ExactOnlineAdapter, clock: ManualClock) -> SyncReport:
    report = sync_administration(store, adapter, name="acme", ledger_reference="", clock=clock)
    assert report.ok, report.error
    return report


def api_calls(simulator: ExactOnlineSimulator) -> Counter[str]:
    """The simulator's log as endpoint -> calls, the division left out."""
    counts: Counter[str] = Counter()
    for entry in simulator.requests():
        path = entry["path"].split("/api/", 1)[-1]
        parts = path.split("/")
        counts[f"{entry['method']} {'/'.join(parts[2:]) if parts[0] == 'v1' else path}"] += 1
    return counts


def open_in_ledger(simulator: ExactOnlineSimulator) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for term in simulator.open_terms():
        if term.get("LineType", 20) == 20 and term.get("InvoiceNumber"):
            number = str(term["InvoiceNumber"])
            totals[number] = totals.get(number, Decimal(0)) + Decimal(str(term["AmountDC"]))
    return totals


def open_in_mirror(store: Store) -> dict[str, Decimal]:
    return {view.ledger_id: view.open_amount for view in store.invoices("acme", "open")}


def test_first_load_reads_the_receivables_list_and_every_customer(
    simulator: ExactOnlineSimulator, adapter: ExactOnlineAdapter, store: Store, clock: ManualClock
) -> None:
    report = sync(store, adapter, clock)
    assert open_in_mirror(store) == open_in_ledger(simulator)
    calls = api_calls(simulator)
    open_terms = sum(1 for t in simulator.open_terms() if t.get("LineType", 20) == 20)
    assert calls["GET read/financial/ReceivablesList"] == math.ceil(open_terms / 60)
    assert calls["GET read/sync/Sync/SyncTimestamp"] == 3  # terms, deleted (invoices), deleted (customers)
    assert calls["GET sync/CRM/Accounts"] == 1 and calls["GET sync/CRM/Contacts"] == 1
    assert report.api_calls == sum(calls.values())
    # Every invoice's customer is mirrored, with the reminder address resolved.
    customers = {view.contact_id for view in store.invoices("acme", "open")}
    administration_id = store.administration_id("acme")
    assert administration_id is not None
    assert customers <= set(store.contact_versions(administration_id))
    with_email = [store.contact(administration_id, c) for c in customers]
    assert sum(1 for c in with_email if c is not None and c.email) >= len(customers) * 0.8
    # The division is the configured one in every path, never Me.CurrentDivision.
    assert all(f"/api/v1/{simulator.division}/" in e["path"] for e in simulator.requests() if "/v1/" in e["path"])


def test_a_pass_with_nothing_new_costs_five_calls(
    simulator: ExactOnlineSimulator, adapter: ExactOnlineAdapter, store: Store, clock: ManualClock
) -> None:
    sync(store, adapter, clock)
    simulator.clear_requests()
    report = sync(store, adapter, clock)
    assert report.invoices_upserted == 0 and report.contacts_upserted == 0
    assert api_calls(simulator) == Counter(
        {
            "GET sync/Cashflow/PaymentTerms": 1,
            "GET sync/Deleted": 2,
            "GET sync/CRM/Accounts": 1,
            "GET sync/CRM/Contacts": 1,
        }
    )


def test_payments_new_invoices_and_deletions_arrive_through_the_feeds(
    simulator: ExactOnlineSimulator, adapter: ExactOnlineAdapter, store: Store, clock: ManualClock
) -> None:
    sync(store, adapter, clock)
    numbers = simulator.open_invoice_numbers()
    part, full, gone = numbers[0], numbers[1], numbers[2]
    before = open_in_mirror(store)
    simulator.add_payment(part, Decimal("10.00"))
    simulator.add_payment(full, before[str(full)])
    simulator.delete_invoice(gone)
    account = simulator.account_ids()[0]
    new = simulator.add_invoice(account, Decimal("121.00"), due_date=SIM_TODAY + timedelta(days=14), terms=2)
    simulator.clear_requests()

    report = sync(store, adapter, clock)

    after = open_in_mirror(store)
    assert after == open_in_ledger(simulator)
    assert after[str(part)] == before[str(part)] - Decimal("10.00")
    assert str(full) not in after and str(gone) not in after
    assert after[str(new)] == Decimal("121.00")
    states = {view.ledger_id: view.state for view in store.invoices("acme", "all")}
    assert states[str(full)] == InvoiceStatus.PAID and states[str(gone)] == InvoiceStatus.DELETED
    assert report.invoices_closed == 2
    # Merged from the feed: no targeted re-reads were needed.
    assert "GET cashflow/Receivables" not in api_calls(simulator)


def test_a_changed_reminder_address_reaches_the_mirror(
    simulator: ExactOnlineSimulator, adapter: ExactOnlineAdapter, store: Store, clock: ManualClock
) -> None:
    sync(store, adapter, clock)
    administration_id = store.administration_id("acme")
    assert administration_id is not None
    account_id = store.invoices("acme", "open")[0].contact_id
    account = simulator.account(account_id)
    main = account.get("MainContact")
    if main:
        simulator.update_contact(main, Email="nieuw.adres@example.nl")
    else:
        simulator.update_account(account_id, Email="nieuw.adres@example.nl")
    sync(store, adapter, clock)
    contact = store.contact(administration_id, account_id)
    assert contact is not None and contact.email == "nieuw.adres@example.nl"


def test_a_recheck_reads_up_to_25_invoices_in_one_call(
    simulator: ExactOnlineSimulator, adapter: ExactOnlineAdapter, store: Store, clock: ManualClock
) -> None:
    numbers = [str(n) for n in simulator.open_invoice_numbers()[:25]]
    owed = sum((Decimal(str(t["AmountDC"])) for t in simulator.open_terms(int(numbers[0]))), Decimal(0))
    simulator.add_payment(int(numbers[0]), owed)
    simulator.clear_requests()
    batch = adapter.invoices_by_id([*numbers, "999999"])
    assert api_calls(simulator) == Counter({"GET cashflow/Receivables": 2})  # 25 numbers, then the 26th
    found = {invoice.ledger_id: invoice for invoice in batch.records}
    assert found[numbers[0]].status is InvoiceStatus.PAID
    assert all(found[n].status is InvoiceStatus.OPEN for n in numbers[1:])
    assert batch.deleted == ["999999"]


def test_notes_become_communication_notes_and_call_tasks_become_tasks(
    simulator: ExactOnlineSimulator, adapter: ExactOnlineAdapter, store: Store, clock: ManualClock
) -> None:
    assert adapter.supports(Capability.CALL_TASKS)
    number = str(simulator.open_invoice_numbers()[0])
    invoice = adapter.invoices_by_id([number]).records[0]
    note_id = adapter.add_note(invoice, "Herinnering verstuurd\n[ref abc123def456]")
    task_id = adapter.add_note(invoice, "Bel de klant\n[ref 0123456789ab]", todo=True)
    notes = simulator.notes(invoice.contact_id)
    tasks = simulator.tasks(invoice.contact_id)
    assert [n["ID"] for n in notes] == [note_id] and notes[0]["Subject"].startswith(f"Factuur {number}:")
    assert [t["ID"] for t in tasks] == [task_id] and tasks[0]["TaskType"] == 1
    assert number in tasks[0]["Description"]
    assert adapter.find_note(invoice, "[ref abc123def456]") == note_id
    assert adapter.find_note(invoice, "[ref 0123456789ab]") == task_id
    assert adapter.find_note(invoice, "[ref ffffffffffff]") is None


def test_remarks_keep_one_connector_line_next_to_a_persons_text(
    simulator: ExactOnlineSimulator, store: Store, clock: ManualClock
) -> None:
    with exact_adapter(simulator, store, clock, write_remarks=True) as adapter:
        invoice = adapter.invoices_by_id([str(simulator.open_invoice_numbers()[0])]).records[0]
        simulator.update_account(invoice.contact_id, Remarks="Betaalt altijd laat; bellen werkt.")
        adapter.add_note(invoice, "Eerste herinnering verstuurd")
        adapter.add_note(invoice, "Aanmaning verstuurd")
    remarks = simulator.account(invoice.contact_id)["Remarks"].splitlines()
    assert remarks[0] == "Betaalt altijd laat; bellen werkt."
    assert [line for line in remarks if line.startswith("[connector]")] == [
        f"[connector] {clock.now():%Y-%m-%d} Aanmaning verstuurd"
    ]


def test_the_daily_budget_is_read_from_the_headers(
    simulator: ExactOnlineSimulator, adapter: ExactOnlineAdapter, store: Store, clock: ManualClock
) -> None:
    report = sync(store, adapter, clock)
    budget = adapter.budget()
    assert budget is not None and budget.limit == 5000
    assert budget.remaining == 5000 - report.api_calls


def test_an_expired_access_token_is_refreshed_once_and_the_sync_goes_on(
    simulator: ExactOnlineSimulator, adapter: ExactOnlineAdapter, store: Store, clock: ManualClock
) -> None:
    sync(store, adapter, clock)
    simulator.advance(601)
    clock.advance(timedelta(seconds=601))
    sync(store, adapter, clock)
    assert simulator.token_refreshes == 1


def test_a_chain_taken_over_elsewhere_is_an_auth_failure_asking_for_consent(
    simulator: ExactOnlineSimulator, adapter: ExactOnlineAdapter, store: Store, clock: ManualClock
) -> None:
    simulator.issue_tokens()  # the same user consented in another tool: our chain is dead
    simulator.advance(601)
    clock.advance(timedelta(seconds=601))
    report = sync_administration(store, adapter, name="acme", ledger_reference="", clock=clock)
    assert report.outcome == "auth_failed"
    assert report.error is not None and "connector auth exact" in report.error


def test_an_endpoint_that_keeps_refusing_is_held_back(
    simulator: ExactOnlineSimulator, adapter: ExactOnlineAdapter
) -> None:
    adapter.client.error_budget = ErrorBudget(max_errors=3, per_seconds=3600)
    for _ in range(3):
        with pytest.raises(RequestRejected):
            list(adapter.pages("cashflow/Receivables", {"$select": "ID"}))  # no $filter: 400
    simulator.clear_requests()
    with pytest.raises(RequestRejected, match="held back"):
        list(adapter.pages("cashflow/Receivables", {"$select": "ID"}))
    assert simulator.requests() == []


def test_payables_and_unmatched_payments_are_not_invoices(
    simulator: ExactOnlineSimulator, adapter: ExactOnlineAdapter, store: Store, clock: ManualClock
) -> None:
    sync(store, adapter, clock)
    rows, _ = adapter._feed("Cashflow/PaymentTerms", "ID,InvoiceNumber,LineType,Timestamp", 0)
    payables = {str(row["InvoiceNumber"]) for row in rows if row["LineType"] == 22}
    assert payables and not payables & set(open_in_mirror(store))


def test_the_divisions_own_details_are_read_in_one_call(
    simulator: ExactOnlineSimulator, adapter: ExactOnlineAdapter
) -> None:
    simulator.update_division(
        Description="Bakkerij de Vries B.V.",
        ChamberOfCommerceNumber="12345678",
        VATNumber="NL 0001 23456 B01",
        AddressLine1="Bakkersstraat 1",
        Postcode="3511 AB",
        City="Utrecht",
        Email="debiteuren@bakkerij.example",
    )
    before = sum(api_calls(simulator).values())
    found = adapter.sender_details()
    assert sum(api_calls(simulator).values()) == before + 1
    assert found == SenderDetails(
        source=f"Exact Online: division {simulator.division}",
        name="Bakkerij de Vries B.V.",
        kvk="12345678",
        vat_number="NL000123456B01",
        address="Bakkersstraat 1, 3511 AB Utrecht",
        email="debiteuren@bakkerij.example",
    )
