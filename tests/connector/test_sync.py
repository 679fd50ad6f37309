"""The mirror engine against the Moneybird simulator (a real HTTP server), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import httpx
import pytest

from adapters.moneybird.adapter import MoneybirdAdapter
from adapters.moneybird.simulator import MoneybirdSimulator
from connector.clock import ManualClock
from connector.ledger.http import RateLimit, RateLimiter, rate_key
from connector.ledger.port import ChangeBatch, Invoice, SyncState
from connector.store import Store
from connector.sync import SyncReport, sync_administration
from tests.conftest import SIM_TODAY, calls_by_endpoint, moneybird_adapter

LIST = "GET sales_invoices/synchronization.json"
FETCH = "POST sales_invoices/synchronization.json"
CONTACT_LIST = "GET contacts/synchronization.json"
CONTACT_FETCH = "POST contacts/synchronization.json"


@pytest.fixture
def simulator() -> Iterator[MoneybirdSimulator]:
    with MoneybirdSimulator.generate(invoices=1000, contacts=200, seed=3, today=SIM_TODAY) as sim:
        yield sim


def run(store: Store, adapter: MoneybirdAdapter, clock: ManualClock) -> SyncReport:
    with adapter:
        return sync_administration(store, adapter, name="acme", ledger_reference="", clock=clock)


def sync(
    store: Store, simulator: MoneybirdSimulator, clock: ManualClock, **extra: Any
) -> tuple[SyncReport, dict[str, int]]:
    simulator.clear_requests()
    report = run(store, moneybird_adapter(simulator, clock, **extra), clock)
    return report, calls_by_endpoint(simulator.requests())


def mirror(store: Store) -> dict[str, tuple[str, Decimal, str]]:
    return {v.ledger_id: (v.state, v.open_amount, v.contact_id) for v in store.invoices("acme", "all")}


def test_first_sync_mirrors_every_open_invoice_and_customer(
    store: Store, simulator: MoneybirdSimulator, clock: ManualClock
) -> None:
    report, calls = sync(store, simulator, clock)
    assert report.outcome == "success", report.error
    assert calls == {LIST: 1, FETCH: 10, CONTACT_LIST: 1}
    assert report.api_calls == 12
    admin = simulator.administration_ids[0]
    views = store.invoices("acme")
    assert len(views) == 1000 == report.invoices_upserted
    assert report.contacts_upserted == 200
    sample = views[0]
    ledger = simulator.get_invoice(admin, sample.ledger_id)
    assert sample.open_amount == Decimal(ledger["total_unpaid"])
    assert sample.number == ledger["invoice_id"]
    assert sample.contact_name  # every invoice's customer is mirrored
    assert all(v.contact_name for v in views)


def test_nothing_changed_costs_only_the_list_calls(
    store: Store, simulator: MoneybirdSimulator, clock: ManualClock
) -> None:
    sync(store, simulator, clock)
    report, calls = sync(store, simulator, clock)
    assert calls == {LIST: 1, CONTACT_LIST: 1}
    assert report.invoices_upserted == 0 and report.outcome == "success"


def test_paid_invoices_are_fetched_once_and_closed_as_paid(
    store: Store, simulator: MoneybirdSimulator, clock: ManualClock
) -> None:
    sync(store, simulator, clock)
    admin = simulator.administration_ids[0]
    paid = simulator.invoice_ids(admin)[:40]
    for ledger_id in paid:
        simulator.add_payment(admin, ledger_id, simulator.get_invoice(admin, ledger_id)["total_unpaid"])
    partly = simulator.invoice_ids(admin)[500]
    simulator.add_payment(admin, partly, "10.00")

    report, calls = sync(store, simulator, clock)
    assert calls == {LIST: 1, FETCH: 1, CONTACT_LIST: 1}
    assert report.invoices_closed == 40
    state = mirror(store)
    assert {state[i][0] for i in paid} == {"paid"}
    assert all(state[i][1] == 0 for i in paid)
    before = Decimal(simulator.get_invoice(admin, partly)["total_unpaid"])
    assert state[partly][0] == "open" and state[partly][1] == before


def test_deleted_and_uncollectible_invoices_are_learned_not_assumed(
    store: Store, simulator: MoneybirdSimulator, clock: ManualClock
) -> None:
    sync(store, simulator, clock)
    admin = simulator.administration_ids[0]
    gone, written_off = simulator.invoice_ids(admin)[:2]
    response = httpx.delete(
        f"{simulator.base_url}/{admin}/sales_invoices/{gone}.json", headers={"Authorization": "Bearer a-person"}
    )
    assert response.status_code == 204
    simulator.update_invoice(admin, written_off, state="uncollectible")
    report, calls = sync(store, simulator, clock)
    assert calls[FETCH] == 1
    assert calls[f"GET {gone}.json"] == 1  # absent from the fetch is not proof: a 404 is
    state = mirror(store)
    assert state[gone][0] == "deleted" and state[written_off][0] == "uncollectible"
    assert report.invoices_closed == 2


def test_changed_contact_is_fetched(store: Store, simulator: MoneybirdSimulator, clock: ManualClock) -> None:
    sync(store, simulator, clock)
    admin = simulator.administration_ids[0]
    invoice = simulator.get_invoice(admin, simulator.invoice_ids(admin)[0])
    simulator.update_contact(admin, invoice["contact_id"], company_name="Nieuwe Naam B.V.", email="nieuw@example.nl")
    _, calls = sync(store, simulator, clock)
    assert calls == {LIST: 1, CONTACT_LIST: 1, CONTACT_FETCH: 1}
    assert {v.contact_name for v in store.invoices("acme") if v.contact_id == invoice["contact_id"]} == {
        "Nieuwe Naam B.V."
    }


def test_old_open_invoices_are_not_hidden_by_the_default_period(store: Store, clock: ManualClock) -> None:
    seed = {
        "administrations": [
            {
                "id": "123456789012345678",
                "name": "Oud en nieuw",
                "contacts": [{"id": "1", "company_name": "Oude Klant B.V."}],
                "sales_invoices": [
                    {
                        "id": "11",
                        "contact_id": "1",
                        "invoice_date": "2019-03-01",
                        "due_date": "2019-03-31",
                        "total_price_incl_tax": "500.0",
                        "total_unpaid": "500.0",
                        "state": "late",
                    },
                    {
                        "id": "12",
                        "contact_id": "1",
                        "invoice_date": "2026-10-01",
                        "due_date": "2026-10-31",
                        "total_price_incl_tax": "80.0",
                        "total_unpaid": "80.0",
                        "state": "late",
                    },
                ],
            }
        ]
    }
    with MoneybirdSimulator(seed=seed, today=SIM_TODAY) as simulator:
        report, _ = sync(store, simulator, clock)
    assert report.outcome == "success"
    assert set(mirror(store)) == {"11", "12"}


def test_bad_records_are_quarantined_and_the_rest_is_mirrored(store: Store, clock: ManualClock) -> None:
    good = [
        {
            "id": str(100 + i),
            "contact_id": "1",
            "invoice_date": "2026-10-01",
            "due_date": "2026-10-31",
            "total_price_incl_tax": "121.0",
            "total_unpaid": "121.0",
            "state": "late",
        }
        for i in range(5)
    ]
    seed = {
        "administrations": [
            {
                "id": "123456789012345678",
                "name": "Met fouten",
                "contacts": [{"id": "1", "company_name": "Klant B.V."}],
                "sales_invoices": [
                    *good,
                    {
                        "id": "201",
                        "contact_id": "1",
                        "invoice_date": "2026-10-01",
                        "due_date": None,
                        "total_price_incl_tax": "121.0",
                        "total_unpaid": "121.0",
                        "state": "late",
                    },
                    {
                        "id": "202",
                        "contact_id": "1",
                        "invoice_date": "2026-10-01",
                        "due_date": "2026-10-31",
                        "total_price_incl_tax": "abc",
                        "total_unpaid": "121.0",
                        "state": "late",
                    },
                ],
            }
        ]
    }
    with MoneybirdSimulator(seed=seed, today=SIM_TODAY) as simulator:
        report, _ = sync(store, simulator, clock)
        assert report.outcome == "success" and report.quarantined == 2
        assert set(mirror(store)) == {g["id"] for g in good}
        admin_id = store.administration_id("acme")
        assert admin_id is not None
        reasons = {q.ledger_id: q.reason for q in store.quarantined(admin_id)}
        assert reasons == {"201": "due_date: missing", "202": "total_price_incl_tax: not a decimal amount ('abc')"}

        # Not fetched again while unchanged...
        _, calls = sync(store, simulator, clock)
        assert FETCH not in calls
        # ...but once someone fixes it in the ledger, it is mirrored and leaves quarantine.
        simulator.update_invoice(simulator.administration_ids[0], "201", due_date="2026-11-15")
        sync(store, simulator, clock)
        assert "201" in mirror(store)
        assert [q.ledger_id for q in store.quarantined(admin_id)] == ["202"]


def test_converges_under_injected_faults_without_ever_hitting_the_rate_limit(
    store: Store, simulator: MoneybirdSimulator, clock: ManualClock
) -> None:
    admin = simulator.administration_ids[0]
    simulator.set_faults("5xx:0.1,timeout:0.1", seed=5)
    for ledger_id in simulator.invoice_ids(admin)[:30]:
        simulator.add_payment(admin, ledger_id, "1.00")
    simulator.clear_requests()
    reports = []
    for _ in range(3):  # a pass may give up on a stubborn call; the next one picks up where it stopped
        report = run(store, moneybird_adapter(simulator, clock, timeout_seconds=0.3), clock)
        reports.append(report)
        if report.ok:
            break
    log = simulator.requests()
    simulator.set_faults(None)
    assert reports[-1].ok, [r.error for r in reports]
    assert any(r["status"] >= 500 for r in log), "faults were injected"
    assert not any(r["status"] == 429 for r in log)
    expected = {i: Decimal(simulator.get_invoice(admin, i)["total_unpaid"]) for i in simulator.invoice_ids(admin)}
    assert {i: v[1] for i, v in mirror(store).items()} == expected


def test_stays_under_the_rate_limit(store: Store, clock: ManualClock) -> None:
    """A sync that needs more calls than one window allows waits instead of drawing 429s. It keeps a margin
    under the ledger's limit, as the product does (10% by default): the ledger counts its window from when a
    request arrives, the connector from when it was sent, and on a loaded machine the two drift apart."""
    with MoneybirdSimulator.generate(
        invoices=1500, contacts=100, seed=1, today=SIM_TODAY, rate_limit=8, rate_window_seconds=1.0
    ) as simulator:
        report, calls = sync(store, simulator, clock, rate_limit={"requests": 7, "per_seconds": 1.0})
        statuses = {r["status"] for r in simulator.requests()}
    assert report.ok, report.error
    assert calls[FETCH] == 15
    assert 429 not in statuses


def test_a_crash_mid_sync_loses_nothing_and_repeats_nothing(
    store: Store, simulator: MoneybirdSimulator, clock: ManualClock
) -> None:
    class Crashing(MoneybirdAdapter):
        def invoice_changes(self, state: SyncState) -> Iterator[ChangeBatch[Invoice]]:
            for number, batch in enumerate(super().invoice_changes(state)):
                if number == 4:
                    raise KeyboardInterrupt  # the process dies between two batches
                yield batch

    plain = moneybird_adapter(simulator, clock)
    crashing = Crashing(plain.client, plain.administration_id, clock)
    with pytest.raises(KeyboardInterrupt):
        run(store, crashing, clock)
    assert len(store.invoices("acme")) == 400  # four batches of 100 made it
    admin_id = store.administration_id("acme")
    assert admin_id is not None
    interrupted = store.sync_runs(admin_id)[0]
    assert interrupted.outcome == "interrupted" and interrupted.api_calls == 6  # the 5th batch was fetched

    report, calls = sync(store, simulator, clock)
    assert calls[FETCH] == 6  # only the six batches the store did not have yet
    assert report.invoices_upserted == 600
    assert len(store.invoices("acme")) == 1000


def test_a_refused_token_is_an_auth_failure(store: Store, clock: ManualClock) -> None:
    with MoneybirdSimulator.generate(
        invoices=10, contacts=2, today=SIM_TODAY, valid_tokens={"the-right-one"}
    ) as simulator:
        report, calls = sync(store, simulator, clock, token="a-wrong-one")
    assert report.outcome == "auth_failed"
    assert "401" in (report.error or "")
    assert calls == {LIST: 1}  # not retried in a loop
    admin_id = store.administration_id("acme")
    assert admin_id is not None
    assert store.sync_runs(admin_id)[0].outcome == "auth_failed"


@pytest.mark.slow
def test_ten_thousand_invoices_at_the_fewest_calls(tmp_path: Any, clock: ManualClock) -> None:
    """The acceptance figures at full size: first sync 1 list + 100 fetches (+ at most 1 + 20 for contacts);
    after 100 payments through the payments endpoint, 1 list + 1 fetch, and those 100 closed as paid."""
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}", clock)
    with MoneybirdSimulator.generate(invoices=10_000, contacts=2_000, seed=42, today=SIM_TODAY) as simulator:
        report, calls = sync(store, simulator, clock)
        assert report.ok, report.error
        assert calls[LIST] == 1 and calls[FETCH] == 100
        assert calls.get(CONTACT_LIST, 0) <= 1 and calls.get(CONTACT_FETCH, 0) <= 20
        assert len(store.invoices("acme")) == 10_000 and report.contacts_upserted == 2_000

        admin = simulator.administration_ids[0]
        paid = simulator.invoice_ids(admin)[::100]
        with httpx.Client(base_url=simulator.base_url, headers={"Authorization": "Bearer bookkeeper"}) as http:
            for ledger_id in paid:
                price = simulator.get_invoice(admin, ledger_id)["total_unpaid"]
                body = {"payment": {"payment_date": "2026-11-24", "price": price}}
                http.post(f"/{admin}/sales_invoices/{ledger_id}/payments.json", json=body).raise_for_status()

        report, calls = sync(store, simulator, clock)
    assert len(paid) == 100
    assert calls[LIST] == 1 and calls[FETCH] == 1
    assert report.invoices_closed == 100
    closed = {v.ledger_id: v.state for v in store.invoices("acme", "closed")}
    assert closed == dict.fromkeys(paid, "paid")
    store.close()


def test_a_record_the_store_refuses_is_quarantined_and_the_batch_goes_on(
    store: Store, simulator: MoneybirdSimulator, clock: ManualClock
) -> None:
    class OneUnstorable(MoneybirdAdapter):
        def invoice_changes(self, state: SyncState) -> Iterator[ChangeBatch[Invoice]]:
            for batch in super().invoice_changes(state):
                first = batch.records[0]
                batch.records[0] = replace(first, raw={**first.raw, "oops": {1, 2}})  # JSON cannot hold a set
                yield batch

    plain = moneybird_adapter(simulator, clock)
    report = run(store, OneUnstorable(plain.client, plain.administration_id, clock), clock)
    assert report.ok, report.error
    assert report.quarantined == 10 and len(store.invoices("acme")) == 990
    admin_id = store.administration_id("acme")
    assert admin_id is not None
    reasons = {q.reason for q in store.quarantined(admin_id)}
    assert len(reasons) == 1 and next(iter(reasons)).startswith("the store refused it:")


def test_a_broken_invoice_that_was_paid_leaves_the_open_set(
    store: Store, simulator: MoneybirdSimulator, clock: ManualClock
) -> None:
    sync(store, simulator, clock)
    admin = simulator.administration_ids[0]
    broken = simulator.invoice_ids(admin)[7]
    simulator.add_payment(admin, broken, simulator.get_invoice(admin, broken)["total_unpaid"])
    simulator.update_invoice(admin, broken, due_date=None)
    report, calls = sync(store, simulator, clock)
    assert calls[FETCH] == 1 and report.quarantined == 1 and report.invoices_closed == 1
    assert mirror(store)[broken][0] == "paid"
    _, calls = sync(store, simulator, clock)
    assert FETCH not in calls  # not fetched over and over


def test_a_new_process_counts_what_earlier_ones_spent_on_a_shared_token(
    store: Store, simulator: MoneybirdSimulator, clock: ManualClock
) -> None:
    sync(store, simulator, clock)  # 12 calls by 'acme' with the token
    fresh = RateLimiter(RateLimit(100, 300), key=rate_key("moneybird", "test-token"))
    other = moneybird_adapter(simulator, clock, name="other-admin-same-token")
    other.client.limiter = fresh
    run(store, other, clock)
    assert len(fresh._calls) == 12 + 2  # what 'acme' spent, then its own two list calls
