"""Exactly-once under crashes, as a property: random invoices, payments, holds and a crash at any step.

The ledger here is an in-memory implementation of the adapter contract (the end-to-end test runs the real
HTTP simulator and a real SMTP server); it lets a crash strike just before or just after any ledger call or
e-mail, the moments where exactly-once is hardest.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.moneybird.settings import MoneybirdAdministration
from connector.clock import AMSTERDAM, ManualClock
from connector.config import EmailSection
from connector.dispatch.channels import Delivery
from connector.dispatch.dispatcher import Dispatcher
from connector.domain import InvoiceStatus, Money
from connector.ledger.port import Capability, ChangeBatch, Contact, Invoice, LedgerAdapter, SyncState
from connector.store import Store
from connector.store.evidence import EvidenceStore
from connector.store.workflow import WorkflowStore
from connector.sync import sync_administration
from connector.workflow.legal import after_grace, letter_term
from connector.workflow.policy import default_policy
from tests.support.approvals import TESTER, approve
from tests.support.sender import COMPANY

START = date(2025, 3, 3)


class Crash(BaseException):
    """The process dies here (a BaseException, like SIGKILL's effect: nothing catches it on the way out)."""


@dataclass
class Ledger(LedgerAdapter):
    platform = "moneybird"
    capabilities = frozenset({Capability.CALL_TASKS, Capability.MARK_DUBIOUS, Capability.PAUSE_LEDGER_REMINDERS})

    invoices: dict[str, Invoice] = field(default_factory=dict)
    contacts: dict[str, Contact] = field(default_factory=dict)
    notes: list[tuple[str, str, bool]] = field(default_factory=list)  # (invoice, text, todo)
    crash_points: set[int] = field(default_factory=set)  # the n-th ledger call or e-mail of the whole run
    steps: Iterator[int] = field(default_factory=itertools.count)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def step(self, moment: str) -> None:
        if next(self.steps) in self.crash_points:
            raise Crash(moment)

    def invoice_changes(self, state: SyncState) -> Iterator[ChangeBatch[Invoice]]:
        yield ChangeBatch(records=list(self.invoices.values()), contacts=list(self.contacts.values()))

    def invoices_by_id(self, ledger_ids: Sequence[str]) -> ChangeBatch[Invoice]:
        self.step("before re-check")
        return ChangeBatch(records=[self.invoices[i] for i in ledger_ids])

    def contact_changes(self, state: SyncState) -> Iterator[ChangeBatch[Contact]]:
        return iter(())

    def contacts_by_id(self, ledger_ids: Sequence[str]) -> ChangeBatch[Contact]:
        return ChangeBatch(records=[self.contacts[i] for i in ledger_ids])

    def add_note(self, invoice: Invoice, text: str, *, todo: bool = False) -> str:
        self.step("before note")
        assert self.invoices[invoice.ledger_id].status.is_open or not todo
        self.notes.append((invoice.ledger_id, text, todo))
        self.step("after note, before it is recorded")
        return str(next(self.ids))

    def find_note(self, invoice: Invoice, marker: str) -> str | None:
        return next(
            (str(n) for n, (i, text, _) in enumerate(self.notes) if i == invoice.ledger_id and marker in text), None
        )

    def mark_dubious(self, invoice: Invoice, on: date) -> None:
        self.step("before mark")

    def pause_ledger_reminders(self, invoice: Invoice) -> None:
        self.step("before pause")


class Recording(Dispatcher):
    """The dispatcher as it is, with e-mail delivered into a list (and crashes around the sending)."""

    sent: list[tuple[str, str, tuple[str, ...], date]]

    def _send(self, action: Any, delivery: Delivery, prepared: Any) -> dict[str, Any]:
        ledger: Ledger = self.adapter  # type: ignore[assignment]
        ledger.step("before sending")
        for invoice in delivery.invoices:  # what reaches the customer: the ledger says it is unpaid right now
            assert ledger.invoices[invoice.ledger_id].status.is_open, "a reminder for a paid invoice"
        if action.action == "email":
            self.sent.append(
                (action.key, action.stage, tuple(i.ledger_id for i in delivery.invoices), delivery.sent_at.date())
            )
            # The bytes handed over are those recorded as evidence before (the e-mail channel built them).
            assert action.key.encode() in prepared.payload.content
            outcome: dict[str, Any] = {"channel": "email", "message_id": action.key, "server_reply": "250 Ok"}
        else:
            outcome = super()._send(action, delivery, prepared)
            self.sent.append(
                (action.key, action.stage, tuple(i.ledger_id for i in delivery.invoices), delivery.sent_at.date())
            )
        ledger.step("after sending, before it is recorded")
        return outcome


def invoice(ledger_id: str, contact: str, due: date, amount: Decimal) -> Invoice:
    return Invoice(
        ledger_id,
        f"2025-{ledger_id}",
        contact,
        due - timedelta(days=14),
        due,
        Money(amount, "EUR"),
        Money(amount, "EUR"),
        InvoiceStatus.OPEN,
        "open",
        version="1",
    )


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store.open(
        f"sqlite:///{tmp_path_factory.mktemp('crash') / 'store.db'}", ManualClock(datetime(2025, 3, 3, tzinfo=UTC))
    )
    yield store
    store.close()


counter = itertools.count()


@pytest.mark.slow
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    dues=st.lists(st.integers(-45, 5), min_size=1, max_size=5),
    business=st.lists(st.booleans(), min_size=2, max_size=2),
    payments=st.lists(st.tuples(st.integers(0, 44), st.integers(0, 4)), max_size=4),
    holds=st.lists(st.tuples(st.integers(0, 44), st.integers(0, 4), st.integers(1, 10)), max_size=2),
    crashes=st.sets(st.integers(0, 60), max_size=6),
)
def test_exactly_once_through_crashes(
    shared_store: Store,
    tmp_path: Path,
    dues: list[int],
    business: list[bool],
    payments: list[tuple[int, int]],
    holds: list[tuple[int, int, int]],
    crashes: set[int],
) -> None:
    name = f"example-{next(counter)}"
    clock = ManualClock(datetime.combine(START, time(10), tzinfo=AMSTERDAM))
    store = Store(shared_store.engine, clock)
    ledger = Ledger(crash_points=crashes)
    for c in range(2):
        company = f"Klant {c} B.V." if business[c] else None
        ledger.contacts[f"c{c}"] = Contact(
            f"c{c}", company or f"Klant {c}", company_name=company, email=f"k{c}@example.nl", version="1"
        )
    for n, offset in enumerate(dues):
        ledger.invoices[str(n)] = invoice(str(n), f"c{n % 2}", START + timedelta(days=offset), Decimal(100 + 37 * n))
    config = MoneybirdAdministration(
        name=name,
        platform="moneybird",
        administration_id="1",
        token="t" * 10,
        company=COMPANY,  # type: ignore[arg-type]
    )
    approve(store, [config])  # gone live, with the sender's details: or nothing would go out, and prove nothing
    sent: list[tuple[str, str, tuple[str, ...], date]] = []
    paid_on: dict[str, date] = {}
    workflow = WorkflowStore(store)

    def dispatcher() -> Recording:  # a fresh one after every crash, as after a restart
        fresh = Recording(
            store=store,
            adapter=ledger,
            administration=config,
            policies={"default": default_policy()},
            clock=clock,
            # Never reached (the e-mails go into `sent`), but the message is built and kept as evidence first.
            email=EmailSection(host="127.0.0.1", port=9, security="none", from_address="debiteuren@example.nl"),
            handover_dir=tmp_path / "handover",
        )
        fresh.sent = sent
        return fresh

    for day_number in range(45):
        today = START + timedelta(days=day_number)
        administration_id = store.ensure_administration(name, "moneybird")
        # 07:00: the mirror is synced and the day planned (before the send window, so nothing goes out yet)
        clock.set(datetime.combine(today, time(7), tzinfo=AMSTERDAM))
        sync_administration(store, ledger, name=name, ledger_reference="", clock=clock)
        dispatcher().run(today)
        # then customers pay and people put invoices on hold; the mirror does not know yet
        for when, target in payments:
            ledger_id = str(target % len(dues))
            if when == day_number and ledger_id not in paid_on:
                paid = ledger.invoices[ledger_id]
                ledger.invoices[ledger_id] = replace(
                    paid,
                    status=InvoiceStatus.PAID,
                    ledger_state="paid",
                    open_amount=Money(Decimal(0), "EUR"),
                    version=f"p{day_number}",
                )
                paid_on[ledger_id] = today
        for when, target, length in holds:
            if when == day_number:
                workflow.hold(
                    administration_id,
                    str(target % len(dues)),
                    "dispute",
                    today + timedelta(days=length),
                    None,
                    by=TESTER,
                )
        # 10:00: what is due goes out; only the re-check stands between a payment and a reminder
        clock.set(datetime.combine(today, time(10), tzinfo=AMSTERDAM))
        for _ in range(len(crashes) + 1):
            try:
                dispatcher().run(today)
                break
            except Crash:
                continue  # restarted the same day (the step count runs on, so the same point does not strike twice)

    # no action twice, no stage twice per invoice
    keys = [key for key, *_ in sent]
    assert len(keys) == len(set(keys)), "an action was delivered twice"
    if not payments and not holds and not crashes:
        assert sent, "nothing went out in 45 days: the test would prove nothing"
    # the proof: every e-mail that went out was recorded with its bytes before it left, as accepted (or, when the
    # process died while handing it over, as uncertain); none is accepted that did not go out
    emailed = {key for key, stage, *_ in sent if stage not in ("call", "handover")}
    ours = store.administration_id(name)
    proofs = [p.evidence for p in EvidenceStore(store).proofs() if p.evidence.administration_id == ours]
    recorded = {e.action_key for e in proofs if e.channel == "email" and e.status in ("accepted", "uncertain")}
    accepted = [e.action_key for e in proofs if e.status == "accepted"]
    assert emailed <= recorded, "an e-mail went out without its proof"
    assert len(accepted) == len(set(accepted)) and set(accepted) <= emailed
    per_stage = [(ledger_id, stage) for _, stage, ids, _ in sent for ledger_id in ids]
    assert len(per_stage) == len(set(per_stage)), "an invoice got the same stage twice"
    # at most one note per action and invoice
    marked = [(i, text[text.index("[ref") :]) for i, text, _ in ledger.notes if "[ref" in text]
    assert len(marked) == len(set(marked)), "a note was written twice"
    # no consumer handed over without a legal letter whose term has passed
    letters = {ledger_id: on for _, stage, ids, on in sent if stage == "ingebrekestelling" for ledger_id in ids}
    for _, stage, ids, on in sent:
        if stage == "handover":
            for ledger_id in ids:
                assert ledger_id in letters and on >= after_grace(letter_term(letters[ledger_id], "email").last_day, 3)
    # nothing on or after the day the ledger showed the payment (also asserted at the moment of sending)
    for _, _, ids, on in sent:
        assert all(on < paid_on[i] for i in ids if i in paid_on)
