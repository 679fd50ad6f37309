"""The e-Boekhouden adapter against its simulator (real HTTP on loopback) and a real store.

What is asserted is what a user relies on: the mirror equals the ledger's open items with due dates derived
in the documented order, a quiet pass costs only the list pages, each relation is read once, the session is
reused and renewed, a refused API token parks, and a person's own note text survives every write-back.
"""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlmodel import select

from adapters.eboekhouden.adapter import EboekhoudenAdapter
from adapters.eboekhouden.client import classify_error, end_sessions, session_for
from adapters.eboekhouden.mapping import BLOCK_START, summary_lines
from adapters.eboekhouden.simulator import EboekhoudenSimulator
from connector.clock import ManualClock
from connector.domain import Invoice, InvoiceStatus
from connector.ledger.port import AuthError
from connector.store import Store
from connector.store.models import Invoice as StoredInvoice
from connector.sync import SyncReport, sync_administration
from tests.conftest import SIM_TODAY, eboekhouden_adapter

UNLIMITED = {"requests": 100_000, "per_seconds": 1.0}


@pytest.fixture
def simulator(clock: ManualClock) -> Iterator[EboekhoudenSimulator]:
    with EboekhoudenSimulator.generate(items=120, relations=40, seed=3, today=SIM_TODAY, clock=clock) as sim:
        yield sim


@pytest.fixture
def adapter(simulator: EboekhoudenSimulator, clock: ManualClock) -> Iterator[EboekhoudenAdapter]:
    adapter = eboekhouden_adapter(simulator, clock, rate_limit=UNLIMITED)
    yield adapter
    adapter.close()


def sync(store: Store, adapter: EboekhoudenAdapter, clock: ManualClock) -> SyncReport:
    return sync_administration(store, adapter, name="acme", ledger_reference="", clock=clock)


def api_requests(simulator: EboekhoudenSimulator) -> list[dict[str, Any]]:
    return [r for r in simulator.requests() if r["path"].startswith("/v1/")]


def by_route(requests: list[dict[str, Any]]) -> Counter[str]:
    """`GET /v1/relation/1004` -> `GET relation/{id}`."""
    counted: Counter[str] = Counter()
    for request in requests:
        parts = ["{id}" if part.isdigit() else part for part in request["path"].split("/")[2:]]
        counted[f"{request['method']} {'/'.join(parts)}"] += 1
    return counted


def stored(store: Store) -> dict[str, StoredInvoice]:
    admin = store.ensure_administration("acme", "eboekhouden", "")
    with store.session() as session:
        found = session.exec(select(StoredInvoice).where(StoredInvoice.administration_id == admin))
        return {invoice.ledger_id: invoice for invoice in found}


def mirror(store: Store) -> dict[str, StoredInvoice]:
    return {i: invoice for i, invoice in stored(store).items() if invoice.status == InvoiceStatus.OPEN}


def expected_due(simulator: EboekhoudenSimulator, mutation_id: str, default: int = 30) -> date:
    """The documented order: the invoice record's term, the booking's, the relation's, else the default."""
    row = simulator.outstanding(mutation_id)
    assert row is not None
    invoice = simulator.invoice_for(mutation_id) or {}
    booking = simulator.mutation(mutation_id)
    relation = simulator.relation(row["relationId"])
    for days in (invoice.get("termOfPayment"), booking.get("termOfPayment"), relation.get("termOfPayment")):
        if isinstance(days, int) and days > 0:
            return date.fromisoformat(row["date"]) + timedelta(days=days)
    return date.fromisoformat(row["date"]) + timedelta(days=default)


# --- mirroring ------------------------------------------------------------------------------------------


def test_the_first_pass_mirrors_every_open_item_with_its_derived_due_date(
    simulator: EboekhoudenSimulator, adapter: EboekhoudenAdapter, store: Store, clock: ManualClock
) -> None:
    report = sync(store, adapter, clock)
    assert report.ok, report.error
    found = mirror(store)
    open_ids = simulator.outstanding_ids()
    assert sorted(found) == sorted(open_ids)
    for mutation_id in open_ids:
        row = simulator.outstanding(mutation_id)
        assert row is not None
        invoice = found[mutation_id]
        assert invoice.open_amount == Decimal(str(row["outstandingAmount"]))
        assert invoice.total == Decimal(str(row["totalAmount"]))
        assert invoice.contact_ledger_id == str(row["relationId"])
        assert invoice.due_date == expected_due(simulator, mutation_id), mutation_id

    routes = by_route(api_requests(simulator))
    # Per-item calls only for items that no invoice record covers (the test's data has a term on every record
    # whose booking has one); each relation is read at most once.
    uncovered = [m for m in open_ids if not (simulator.invoice_for(m) or {}).get("termOfPayment")]
    assert routes["GET mutation/{id}"] == len(uncovered) > 0
    relation_reads = Counter(r["path"] for r in api_requests(simulator) if r["path"].startswith("/v1/relation/"))
    assert relation_reads and max(relation_reads.values()) == 1
    assert len(relation_reads) == len({str(simulator.outstanding(m)["relationId"]) for m in open_ids})  # type: ignore[index]
    assert routes["GET mutation/invoice/outstanding"] == 1 and routes["GET invoice"] == 1
    assert routes["POST session"] == 1


def test_a_quiet_pass_reads_only_the_list(
    simulator: EboekhoudenSimulator, adapter: EboekhoudenAdapter, store: Store, clock: ManualClock
) -> None:
    assert sync(store, adapter, clock).ok
    simulator.clear_requests()
    clock.advance(timedelta(minutes=5))
    report = sync(store, eboekhouden_adapter(simulator, clock, rate_limit=UNLIMITED), clock)
    assert report.ok and report.invoices_upserted == 0
    assert by_route(api_requests(simulator)) == {"GET mutation/invoice/outstanding": 1}  # same session, no reads


def test_payments_new_invoices_and_deletions_cost_a_call_each_at_most(
    simulator: EboekhoudenSimulator, adapter: EboekhoudenAdapter, store: Store, clock: ManualClock
) -> None:
    assert sync(store, adapter, clock).ok
    open_ids = simulator.outstanding_ids()
    partly, fully, deleted = open_ids[0], open_ids[1], open_ids[2]
    simulator.add_payment(partly, Decimal("10.00"))
    simulator.add_payment(fully)
    simulator.delete_mutation(deleted)
    relation = simulator.outstanding(open_ids[3])["relationId"]  # type: ignore[index]
    with_record = simulator.add_invoice(relation, Decimal("250.00"), term_of_payment=21, on=SIM_TODAY)
    without_record = simulator.add_invoice(
        relation, Decimal("75.50"), term_of_payment=8, on=SIM_TODAY, with_invoice_record=False
    )
    simulator.clear_requests()

    report = sync(store, adapter, clock)
    assert report.ok, report.error
    invoices = stored(store)
    before = invoices[partly]
    assert before.status == InvoiceStatus.OPEN
    assert before.open_amount == Decimal(str(simulator.outstanding(partly)["outstandingAmount"]))  # type: ignore[index]
    assert invoices[fully].status == InvoiceStatus.PAID and invoices[fully].open_amount == 0
    assert invoices[deleted].status == InvoiceStatus.DELETED
    assert invoices[with_record].due_date == SIM_TODAY + timedelta(days=21)
    assert invoices[without_record].due_date == SIM_TODAY + timedelta(days=8)

    routes = by_route(api_requests(simulator))
    # one list page; the invoice list only from the new invoices' date on; one booking read for the new item
    # no list covers and one for each item that left (paid or deleted?)
    assert routes["GET mutation/invoice/outstanding"] == 1
    assert routes["GET invoice"] == 1
    assert routes["GET mutation/{id}"] == 3
    invoice_list = [r for r in api_requests(simulator) if r["path"] == "/v1/invoice"]
    assert invoice_list[0]["query"].get("date[gte]") == SIM_TODAY.isoformat()


def test_relations_are_read_again_after_the_refresh_interval_in_slices(
    simulator: EboekhoudenSimulator, store: Store, clock: ManualClock
) -> None:
    adapter = eboekhouden_adapter(simulator, clock, rate_limit=UNLIMITED, relation_refresh_hours=24)
    assert sync(store, adapter, clock).ok
    admin = store.ensure_administration("acme", "eboekhouden", "")
    some = sorted(store.contact_versions(admin))[0]
    simulator.update_relation(some, emailAddressReminder="nieuw@voorbeeld.nl")
    clock.advance(timedelta(hours=23))
    simulator.clear_requests()
    assert sync(store, adapter, clock).ok
    assert by_route(api_requests(simulator))["GET relation/{id}"] == 0  # not due yet
    assert store.contact(admin, some).email != "nieuw@voorbeeld.nl"  # type: ignore[union-attr]

    clock.advance(timedelta(hours=2))
    reads = 0
    for _ in range(10):  # a slice a pass: the whole set within a few passes, never as one burst
        simulator.clear_requests()
        assert sync(store, adapter, clock).ok
        this_pass = by_route(api_requests(simulator))["GET relation/{id}"]
        assert this_pass <= max(10, len(store.contact_versions(admin)))
        reads += this_pass
        clock.advance(timedelta(minutes=5))
    assert reads >= len(store.contact_versions(admin))
    assert store.contact(admin, some).email == "nieuw@voorbeeld.nl"  # type: ignore[union-attr]


def test_an_unreadable_row_is_quarantined_and_the_rest_mirrored(clock: ManualClock, store: Store) -> None:
    seed = {
        "relations": [{"id": 1, "type": "B", "name": "Acme", "emailAddress": "a@acme.nl", "termOfPayment": 14}],
        "mutations": [
            {"id": 10, "type": 2, "date": "2026-10-01", "relationId": 1, "invoiceNumber": "F1", "termOfPayment": 14,
             "inExVat": "IN", "rows": [{"amount": 100.0, "ledgerId": 8000}]},
            {"id": 11, "type": 2, "date": "0001-01-01", "relationId": 1, "invoiceNumber": "F2", "termOfPayment": 14,
             "inExVat": "IN", "rows": [{"amount": 50.0, "ledgerId": 8000}]},
        ],
        "invoices": [],
    }  # fmt: skip
    with EboekhoudenSimulator(seed, today=SIM_TODAY, clock=clock) as sim:
        report = sync(store, eboekhouden_adapter(sim, clock), clock)
        assert report.ok and report.quarantined == 1
        assert sorted(mirror(store)) == ["10"]
        simulator_calls = by_route(api_requests(sim))
        assert simulator_calls["GET mutation/{id}"] == 1  # F1 has no invoice record; F2 is not looked up
        sim.clear_requests()
        assert sync(store, eboekhouden_adapter(sim, clock), clock).quarantined == 0  # held, not re-reported


# --- the re-check before an action ----------------------------------------------------------------------


def test_the_recheck_reads_the_list_filtered_by_invoice_number(
    simulator: EboekhoudenSimulator, adapter: EboekhoudenAdapter, store: Store, clock: ManualClock
) -> None:
    assert sync(store, adapter, clock).ok
    first, second = simulator.outstanding_ids()[:2]
    simulator.add_payment(second)
    simulator.clear_requests()
    one = adapter.invoices_by_id([first]).records
    assert [i.status for i in one] == [InvoiceStatus.OPEN] and one[0].due_date == expected_due(simulator, first)
    requests = api_requests(simulator)
    listed = [r["query"].get("invoiceNumber") for r in requests if r["path"].endswith("/outstanding")]
    assert listed == [simulator.mutation(first)["invoiceNumber"]]
    # ...and the customer as they are now, so the reminder goes to today's address
    assert [r["path"] for r in requests if "/relation/" in r["path"]] == [f"/v1/relation/{one[0].contact_id}"]
    assert by_route(requests) == {"GET mutation/invoice/outstanding": 1, "GET relation/{id}": 1}

    # Two invoices of an administration whose list is one page: one unfiltered read is the cheaper way.
    simulator.clear_requests()
    by_id = {invoice.ledger_id: invoice for invoice in adapter.invoices_by_id([first, second]).records}
    assert by_id[first].status is InvoiceStatus.OPEN and by_id[second].status is InvoiceStatus.PAID
    routes = by_route(api_requests(simulator))
    # the list once; the booking of the paid one, to tell it from a deleted one; the open one's customer
    assert routes == {"GET mutation/invoice/outstanding": 1, "GET mutation/{id}": 1, "GET relation/{id}": 1}

    # A fresh adapter (another process) finds the terms in the mirror, not by asking again.
    other = eboekhouden_adapter(simulator, clock, rate_limit=UNLIMITED)
    list(other.invoice_changes(_state(store)))
    simulator.clear_requests()
    assert other.invoices_by_id([first]).records[0].due_date == one[0].due_date
    assert by_route(api_requests(simulator)) == {"GET mutation/invoice/outstanding": 1, "GET relation/{id}": 1}


def test_a_recheck_costs_one_read_of_the_list_per_message(
    simulator: EboekhoudenSimulator, adapter: EboekhoudenAdapter, store: Store, clock: ManualClock
) -> None:
    adapter.page_size = 10  # 120 open items: a list of twelve pages
    assert sync(store, adapter, clock).ok
    paid, first, second, third = simulator.outstanding_ids()[:4]
    number = {i: simulator.mutation(i)["invoiceNumber"] for i in (paid, first, second, third)}
    simulator.add_payment(paid)

    def list_reads() -> list[str | None]:
        return [r["query"].get("invoiceNumber") for r in api_requests(simulator) if r["path"].endswith("/outstanding")]

    # One invoice, paid since: the filtered read misses it, and its booking tells why (no read of the whole list).
    simulator.clear_requests()
    assert [i.status for i in adapter.invoices_by_id([paid]).records] == [InvoiceStatus.PAID]
    assert list_reads() == [number[paid]]
    assert by_route(api_requests(simulator))["GET mutation/{id}"] == 1

    # A message about three invoices: one pass over the list (all its pages), not a read per invoice besides.
    simulator.clear_requests()
    found = adapter.invoices_by_id([first, second, third]).records
    assert [i.status for i in found] == [InvoiceStatus.OPEN] * 3
    offsets = [r["query"]["offset"] for r in api_requests(simulator) if r["path"].endswith("/outstanding")]
    assert list_reads() == [None] * 12 and offsets == [str(n) for n in range(0, 120, 10)]

    # Renumbered in the ledger since the sync: read again under its new number, the one case of a second read.
    simulator.renumber(first, "2026-NIEUW")
    simulator.clear_requests()
    (renumbered,) = adapter.invoices_by_id([first]).records
    assert renumbered.status is InvoiceStatus.OPEN and renumbered.number == "2026-NIEUW"
    assert list_reads() == [number[first], "2026-NIEUW"]


def test_a_note_right_after_the_recheck_costs_one_call(
    simulator: EboekhoudenSimulator, adapter: EboekhoudenAdapter, store: Store, clock: ManualClock
) -> None:
    """The re-check has just read the relation: the note needs no second read, nor do the notes on the message's
    other invoices; another message's note reads the relation again (a person may have saved it since)."""
    assert sync(store, adapter, clock).ok
    by_relation: dict[str, list[str]] = {}
    for item_id in simulator.outstanding_ids():
        by_relation.setdefault(str(simulator.mutation(item_id)["relationId"]), []).append(item_id)
    first, second = next(ids for ids in by_relation.values() if len(ids) >= 2)[:2]
    invoices = adapter.invoices_by_id([first, second]).records
    simulator.clear_requests()
    for invoice in invoices:
        adapter.add_note(invoice, "Herinnering verstuurd [ref 0123456789ab]")
    assert by_route(api_requests(simulator)) == {"PATCH relation/{id}": 2}
    simulator.clear_requests()
    adapter.add_note(invoices[0], "Aanmaning verstuurd [ref ba9876543210]")
    assert by_route(api_requests(simulator)) == {"GET relation/{id}": 1, "PATCH relation/{id}": 1}


def test_the_recheck_brings_the_customers_current_address(
    simulator: EboekhoudenSimulator, adapter: EboekhoudenAdapter, store: Store, clock: ManualClock
) -> None:
    assert sync(store, adapter, clock).ok
    first = simulator.outstanding_ids()[0]
    relation_id = str(simulator.outstanding(first)["relationId"])  # type: ignore[index]
    simulator.update_relation(relation_id, emailAddressReminder="vandaag@voorbeeld.nl")
    fresh = adapter.invoices_by_id([first])
    assert [(c.ledger_id, c.email) for c in fresh.contacts] == [(relation_id, "vandaag@voorbeeld.nl")]
    admin = store.ensure_administration("acme", "eboekhouden", "")
    store.apply_invoice_batch(admin, fresh)  # what the dispatcher does before it renders the reminder
    assert store.contact(admin, relation_id).email == "vandaag@voorbeeld.nl"  # type: ignore[union-attr]


def _state(store: Store) -> Any:
    from connector.ledger.port import SyncState

    admin = store.ensure_administration("acme", "eboekhouden", "")
    return SyncState(
        known_versions=store.open_invoice_versions(admin),
        stored_raw=lambda ids: store.raw_payloads(admin, "invoice", ids),
    )


# --- the session ----------------------------------------------------------------------------------------


def test_one_session_serves_many_passes_and_is_renewed_once_on_a_401(
    simulator: EboekhoudenSimulator, adapter: EboekhoudenAdapter, store: Store, clock: ManualClock
) -> None:
    assert sync(store, adapter, clock).ok
    assert sync(store, adapter, clock).ok
    assert simulator.sessions_created == 1
    simulator.expire_sessions()  # e-Boekhouden may end a session before its time
    simulator.clear_requests()
    assert sync(store, adapter, clock).ok
    assert simulator.sessions_created == 2
    statuses = [(r["method"], r["path"], r["status"]) for r in api_requests(simulator)]
    assert statuses[:3] == [
        ("GET", "/v1/mutation/invoice/outstanding", 401),
        ("POST", "/v1/session", 200),
        ("GET", "/v1/mutation/invoice/outstanding", 200),
    ]
    assert adapter.api_calls()["session.create"] == 2

    clock.advance(timedelta(hours=2))  # past the session's lifetime on the ledger's clock
    assert sync(store, adapter, clock).ok
    assert end_sessions() >= 1
    assert simulator.active_sessions == 0


def test_the_session_token_is_sent_raw_and_the_api_token_never_leaves_in_a_header(
    simulator: EboekhoudenSimulator, adapter: EboekhoudenAdapter, store: Store, clock: ManualClock
) -> None:
    assert sync(store, adapter, clock).ok
    sent: list[httpx.Request] = []
    adapter.client._client.event_hooks["request"].append(sent.append)
    adapter.invoices_by_id([simulator.outstanding_ids()[0]])
    assert sent and all(not r.headers["Authorization"].startswith("Bearer") for r in sent)
    assert all(simulator.api_token not in r.headers["Authorization"] for r in sent)


@pytest.mark.parametrize("refusal", ["expire_api_token", "revoke_api_token"])
def test_a_refused_api_token_is_an_auth_failure_that_names_the_fix(
    simulator: EboekhoudenSimulator, store: Store, clock: ManualClock, refusal: str
) -> None:
    getattr(simulator, refusal)()
    simulator.expire_sessions()
    report = sync(store, eboekhouden_adapter(simulator, clock), clock)
    assert report.outcome == "auth_failed"
    assert "API token" in (report.error or "") and simulator.api_token not in (report.error or "")
    if refusal == "expire_api_token":
        assert "expired" in (report.error or "")


def test_a_blocked_administration_is_an_auth_error_not_a_retry() -> None:
    request = httpx.Request("GET", "https://api.e-boekhouden.nl/v1/invoice")
    blocked = httpx.Response(
        400, json={"type": "security", "title": "Overdue payment.", "status": 400, "code": "SECURITY_005"},
        request=request,
    )  # fmt: skip
    assert isinstance(classify_error("invoice.list: 400 SECURITY_005", blocked), AuthError)
    plain = httpx.Response(400, json={"type": "validation", "title": "x", "status": 400, "code": "PAGE_001"})
    assert classify_error("x", plain) is None


# --- write-back -----------------------------------------------------------------------------------------


def _open_invoice(adapter: EboekhoudenAdapter, store: Store, simulator: EboekhoudenSimulator) -> Invoice:
    """An open invoice (as the dispatcher gets it from the re-check) of a relation with a note of its own."""
    for ledger_id, row in sorted(mirror(store).items(), key=lambda pair: int(pair[0])):
        if (simulator.relation(row.contact_ledger_id).get("note") or "").strip():
            return adapter.invoices_by_id([ledger_id]).records[0]
    raise AssertionError("no relation with a note of its own in the generated data")


def test_a_note_lands_in_the_relations_block_and_a_persons_text_survives(
    simulator: EboekhoudenSimulator, adapter: EboekhoudenAdapter, store: Store, clock: ManualClock
) -> None:
    assert sync(store, adapter, clock).ok
    invoice = _open_invoice(adapter, store, simulator)
    relation_id = invoice.contact_id
    person = simulator.relation(relation_id)["note"]
    kind = simulator.relation(relation_id)["type"]
    marker = "[ref 0123456789ab]"
    assert adapter.find_note(invoice, marker) is None
    note_id = adapter.add_note(invoice, f"Herinnering verstuurd naar a@b.nl op 24 november 2026 {marker}")
    assert note_id and adapter.find_note(invoice, marker) == note_id
    after = simulator.relation(relation_id)
    assert after["note"].startswith(person) and after["type"] == kind  # a private relation stays private
    assert summary_lines(after["note"]) == [
        f"Factuur {invoice.number}: Herinnering verstuurd naar a@b.nl op 24 november 2026 {marker}"
    ]
    # The same note again (a retry after a timeout): nothing changes.
    history = len(simulator.note_history(relation_id))
    adapter.add_note(invoice, f"Herinnering verstuurd naar a@b.nl op 24 november 2026 {marker}")
    assert len(simulator.note_history(relation_id)) == history
    # A person edits the note between two write-backs: their edit stays.
    simulator.update_relation(relation_id, note="Eerst bellen!\n" + after["note"] + "\nBetaalt per kwartaal.")
    clock.advance(timedelta(seconds=5))
    adapter.add_note(invoice, f"Aanmaning verstuurd {'[ref 1111111111ab]'}")
    final = simulator.relation(relation_id)["note"]
    assert final.startswith("Eerst bellen!\n" + person) and final.endswith("\nBetaalt per kwartaal.")
    assert len(summary_lines(final)) == 2 and final.count(BLOCK_START) == 1


def test_a_free_text_field_holds_only_the_latest_step(
    simulator: EboekhoudenSimulator, store: Store, clock: ManualClock
) -> None:
    adapter = eboekhouden_adapter(simulator, clock, rate_limit=UNLIMITED, note_field="freeText3")
    assert sync(store, adapter, clock).ok
    invoice = _open_invoice(adapter, store, simulator)
    person = simulator.relation(invoice.contact_id)["note"]
    adapter.add_note(invoice, "Herinnering verstuurd naar iemand-met-een-lang-adres@voorbeeld.nl [ref 0123456789ab]")
    adapter.add_note(invoice, "Aanmaning verstuurd naar iemand-met-een-lang-adres@voorbeeld.nl [ref 1111111111ab]")
    relation = simulator.relation(invoice.contact_id)
    assert relation["note"] == person
    assert len(relation["freeText3"]) <= 100 and relation["freeText3"].endswith("[ref 1111111111ab]")
    assert adapter.find_note(invoice, "[ref 1111111111ab]") and not adapter.find_note(invoice, "[ref 0123456789ab]")


# --- what must never settle an open invoice -------------------------------------------------------------


def test_a_page_of_another_shape_fails_the_pass_instead_of_settling_everything(
    simulator: EboekhoudenSimulator, adapter: EboekhoudenAdapter, store: Store, clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    assert sync(store, adapter, clock).ok
    before = len(mirror(store))
    real_get = adapter.client.get_json

    def pascal_case_page(path: str, **kwargs: Any) -> Any:
        body = real_get(path, **kwargs)
        return {"Items": body["items"], "Count": body["count"]} if path.endswith("/outstanding") else body

    monkeypatch.setattr(adapter.client, "get_json", pascal_case_page)
    report = sync(store, adapter, clock)
    assert report.outcome == "failed" and "items" in (report.error or "")
    assert len(mirror(store)) == before  # nothing settled on a misread


def test_an_item_hidden_by_a_payment_between_two_pages_stays_open(
    simulator: EboekhoudenSimulator, adapter: EboekhoudenAdapter, store: Store, clock: ManualClock
) -> None:
    adapter.page_size = 10  # the list takes several pages, as 2,000-row pages do for large administrations
    assert sync(store, adapter, clock).ok
    open_ids = simulator.outstanding_ids()
    first, hidden = open_ids[0], open_ids[10]  # paying the first shifts the 11th onto the page already read
    pages_read = 0

    def pay_after_the_first_page(response: httpx.Response) -> None:
        nonlocal pages_read
        if response.request.url.path.endswith("/outstanding") and "invoiceNumber" not in response.request.url.params:
            pages_read += 1
            if pages_read == 1:
                simulator.add_payment(first)

    adapter.client._client.event_hooks["response"].append(pay_after_the_first_page)
    assert sync(store, adapter, clock).ok
    assert pages_read > 1
    # The hidden one was looked up by its number before anything was settled; the paid one was still on the
    # page read before the payment, so this pass keeps it open and the next one settles it.
    assert stored(store)[hidden].status == InvoiceStatus.OPEN
    assert stored(store)[first].status == InvoiceStatus.OPEN
    assert sync(store, adapter, clock).ok
    assert stored(store)[first].status == InvoiceStatus.PAID and stored(store)[hidden].status == InvoiceStatus.OPEN
    assert sorted(mirror(store)) == sorted(simulator.outstanding_ids())


def test_the_recheck_of_an_item_without_a_number_reads_the_whole_list(clock: ManualClock, store: Store) -> None:
    seed = {
        "relations": [{"id": 1, "type": "B", "name": "Acme", "emailAddress": "a@acme.nl", "termOfPayment": 14}],
        "mutations": [
            {"id": 10, "type": 2, "date": "2026-10-01", "relationId": 1, "termOfPayment": 14, "inExVat": "IN",
             "rows": [{"amount": 100.0, "ledgerId": 8000}]},
        ],
        "invoices": [],
    }  # fmt: skip
    with EboekhoudenSimulator(seed, today=SIM_TODAY, clock=clock) as sim:
        adapter = eboekhouden_adapter(sim, clock)
        assert sync(store, adapter, clock).ok
        fresh = adapter.invoices_by_id(["10"])
        assert [(i.ledger_id, i.status) for i in fresh.records] == [("10", InvoiceStatus.OPEN)]
        assert by_route(api_requests(sim))["GET mutation/invoice/outstanding"] == 2  # the pass, then the whole list
        sim.delete_mutation("10")
        assert [i.status for i in adapter.invoices_by_id(["10"]).records] == [InvoiceStatus.DELETED]


def test_five_thousand_items_over_a_thousand_relations_cost_the_calls_the_issue_allows(
    clock: ManualClock, store: Store
) -> None:
    """The acceptance case: list pages of 2,000, each relation read at most once, per-item reads only for the
    items no invoice record covers; then a pass with nothing changed reads only the list pages."""
    with EboekhoudenSimulator.generate(items=5000, relations=1000, seed=1, today=SIM_TODAY, clock=clock) as sim:
        adapter = eboekhouden_adapter(sim, clock, rate_limit=UNLIMITED)
        assert sync(store, adapter, clock).ok
        requests = api_requests(sim)
        routes = by_route(requests)
        open_ids = sim.outstanding_ids()
        uncovered = [m for m in open_ids if not (sim.invoice_for(m) or {}).get("termOfPayment")]
        relations = {str(sim.outstanding(m)["relationId"]) for m in open_ids}  # type: ignore[index]
        lists = [r for r in requests if r["path"] in ("/v1/mutation/invoice/outstanding", "/v1/invoice")]
        assert {r["query"]["limit"] for r in lists} == {"2000"}
        assert routes["GET mutation/invoice/outstanding"] == 3 and routes["GET invoice"] <= 3
        assert routes["GET mutation/{id}"] == len(uncovered)
        reads = Counter(r["path"] for r in requests if r["path"].startswith("/v1/relation/"))
        assert len(reads) == len(relations) and set(reads.values()) == {1}
        assert sorted(mirror(store)) == sorted(open_ids)
        sim.clear_requests()
        clock.advance(timedelta(minutes=5))
        assert sync(store, eboekhouden_adapter(sim, clock, rate_limit=UNLIMITED), clock).ok
        assert by_route(api_requests(sim)) == {"GET mutation/invoice/outstanding": 3}


def test_a_stop_is_not_held_up_by_a_ledger_that_does_not_answer_the_session_end() -> None:
    """Closing sessions at a stop runs several at a time and gives up after a few seconds (they expire)."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # accepts connections, never answers
    url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    sessions = [session_for(url, f"api-token-{index:02d}-silent", "connector") for index in range(20)]
    for session in sessions:
        session.accept(httpx.Response(200, json={"token": f"session-{id(session)}", "expiresIn": 3600}))
    started = time.monotonic()
    try:
        assert end_sessions(within_seconds=1.0) == 0
        # Not 3 rounds of 8 at the 2 s request timeout (6 s); the slack is for a loaded machine.
        assert time.monotonic() - started < 4.0
        assert all(session.current() is None for session in sessions)  # none is used again
    finally:
        silent.close()
