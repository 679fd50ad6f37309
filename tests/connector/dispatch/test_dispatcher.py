"""The dispatcher end to end: a ledger simulator (real HTTP) and a real SMTP server on loopback.

The 45-day run is the same test on every ledger (each ledger's `SimulatedLedger` hides only how a simulator is asked
about invoices, payments and the notes written back); the other tests use Moneybird's features.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from babel.dates import format_date
from sqlmodel import select
from structlog.testing import capture_logs
from typer.testing import CliRunner

from adapters.eboekhouden.simulated import SimulatedEboekhouden
from adapters.eboekhouden.simulator import EboekhoudenSimulator
from adapters.exact_online.simulated import SimulatedExactOnline
from adapters.exact_online.simulator import ExactOnlineSimulator
from adapters.moneybird.simulated import SimulatedMoneybird
from adapters.moneybird.simulator import MoneybirdSimulator
from connector.cli import CommandContext, app
from connector.clock import AMSTERDAM, ManualClock
from connector.config import ConnectorSection, EmailSection, Settings
from connector.dispatch.dispatcher import Dispatcher
from connector.dispatch.mailsink import MailSink
from connector.dispatch.messages import InvoiceLine, MessageContext, MessageRenderer
from connector.health.metrics import Metrics
from connector.health.status import gather, readiness, status_document
from connector.ledger.port import AuthError, Capability, Invoice, LedgerAdapter, RateLimited, SimulatedLedger
from connector.store import Store
from connector.store.approvals import ApprovalStore
from connector.store.models import Action, AuditEntry
from connector.store.overview import OverviewStore
from connector.sync import sync_administration
from connector.workflow.legal import after_grace, letter_term
from connector.workflow.policy import Policy, default_policy
from tests.conftest import (
    SIM_TODAY,
    eboekhouden_adapter,
    eboekhouden_config,
    exact_adapter,
    exact_config,
    moneybird_adapter,
    moneybird_config,
)
from tests.support.approvals import TESTER, approve
from tests.support.clocks import TickingClock
from tests.support.network import free_port
from tests.support.sender import COMPANY

UNLIMITED = {"requests": 100_000, "per_seconds": 1.0}
# Invoices first seen late take the latest stage at once: for tests about the later stages themselves.
LATEST = {"default": default_policy().model_copy(update={"catch_up": "latest"})}


def at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=AMSTERDAM).astimezone(UTC)


class World:
    """One administration: simulator, store, adapter, dispatcher, SMTP sink, and a clock to move."""

    def __init__(
        self,
        simulator: MoneybirdSimulator | ExactOnlineSimulator | EboekhoudenSimulator,
        store: Store,
        clock: ManualClock,
        sink: MailSink,
        port: int,
        tmp: Path,
    ):
        self.store, self.clock, self.sink = store, clock, sink
        company = COMPANY
        self.adapter: LedgerAdapter
        self.ledger: SimulatedLedger
        if isinstance(simulator, ExactOnlineSimulator):
            self.exact = simulator
            self.config: Any = exact_config(simulator, rate_limit=UNLIMITED, company=company)
            self.adapter = exact_adapter(simulator, store, clock, rate_limit=UNLIMITED)
            self.ledger = SimulatedExactOnline(simulator)
        elif isinstance(simulator, EboekhoudenSimulator):
            self.config = eboekhouden_config(simulator, rate_limit=UNLIMITED, company=company)
            self.adapter = eboekhouden_adapter(simulator, clock, rate_limit=UNLIMITED)
            self.ledger = SimulatedEboekhouden(simulator)
        else:
            self.simulator = simulator
            self.admin = simulator.administration_ids[0]
            self.config = moneybird_config(simulator, rate_limit=UNLIMITED, company=company)
            self.adapter = moneybird_adapter(simulator, clock, rate_limit=UNLIMITED)
            self.ledger = SimulatedMoneybird(simulator)
        self.dispatcher = Dispatcher(
            store=store,
            adapter=self.adapter,
            administration=self.config,
            policies={"default": default_policy()},
            clock=clock,
            email=EmailSection(
                host="127.0.0.1", port=port, security="none", from_address="debiteuren@bakkerij.example"
            ),
            handover_dir=tmp / "handover",
        )
        approve(store, [self.config])

    def use_policies(self, policies: dict[str, Policy]) -> None:
        """Another policy is another approval: a person approves the administration under it."""
        self.dispatcher.policies = policies
        approve(self.store, [self.config], policies)

    def approve_waiting(self) -> list[Action]:
        """A person approves every action that waits for one."""
        approvals = ApprovalStore(self.store)
        waiting = approvals.awaiting([self.dispatcher.administration_id])
        return [a for a in waiting if approvals.decide(a, approve=True, by=TESTER, note=None)]

    def day(self, day: date) -> Any:
        self.clock.set(at(day))
        return self.day_at(day)

    def day_at(self, day: date) -> Any:
        sync_administration(self.store, self.adapter, name="acme", ledger_reference="", clock=self.clock)
        return self.dispatcher.run(day)

    def actions(self) -> list[Action]:
        with self.store.session() as session:
            return list(session.exec(select(Action)))

    def audit(self, event: str) -> list[AuditEntry]:
        with self.store.session() as session:
            return list(session.exec(select(AuditEntry).where(AuditEntry.event == event)))


@pytest.fixture
def world(
    request: pytest.FixtureRequest, store: Store, clock: ManualClock, smtp_sink: tuple[MailSink, int], tmp_path: Path
) -> Iterator[World]:
    """An administration of 200 invoices over 60 customers; `@pytest.mark.world(invoices=…, contacts=…)` makes
    it smaller for a test that follows a few invoices through many days."""
    size = {"invoices": 200, "contacts": 60}
    marker = request.node.get_closest_marker("world")
    if marker:
        size.update(marker.kwargs)
    with MoneybirdSimulator.generate(**size, seed=5, today=SIM_TODAY, rate_limit=100_000) as sim:
        admin = sim.administration_ids[0]
        for ledger_id in sim.invoice_ids(admin)[::4]:
            sim.update_invoice(admin, ledger_id, language="en")
        yield World(sim, store, clock, smtp_sink[0], smtp_sink[1], tmp_path)


@pytest.fixture(params=["moneybird", "exact_online", "eboekhouden"])
def any_world(
    request: pytest.FixtureRequest, store: Store, clock: ManualClock, smtp_sink: tuple[MailSink, int], tmp_path: Path
) -> Iterator[World]:
    """The same administration-sized world on each ledger that has an adapter."""
    if request.param == "moneybird":
        yield request.getfixturevalue("world")
        return
    if request.param == "eboekhouden":
        with EboekhoudenSimulator.generate(items=220, relations=60, seed=5, today=SIM_TODAY, clock=clock) as ebh:
            for index, relation_id in enumerate(ebh.relation_ids()):
                relation = ebh.relation(relation_id)
                if not any(relation.get(k) for k in ("emailAddressReminder", "emailAddressInvoice", "emailAddress")):
                    ebh.update_relation(relation_id, emailAddress=f"debiteur{index}@example.nl")
                if index % 4 == 0:
                    ebh.update_relation(relation_id, country="Germany")  # letters in English
            world = World(ebh, store, clock, smtp_sink[0], smtp_sink[1], tmp_path)
            yield world
            world.adapter.close()
        return
    with ExactOnlineSimulator.generate(
        terms=220,
        accounts=60,
        seed=5,
        today=SIM_TODAY,
        clock=clock,  # the ledger's time is the test's: tokens expire as the days pass
        rate_limit_minutely=100_000,
        rate_limit_daily=1_000_000,
    ) as sim:
        for index, account_id in enumerate(sim.account_ids()):
            if not sim.account(account_id).get("Email"):  # as in the Moneybird world, everyone can be mailed
                sim.update_account(account_id, Email=f"debiteur{index}@example.nl")
            if index % 4 == 0:
                sim.update_account(account_id, Language="EN        ")  # Exact pads it
        world = World(sim, store, clock, smtp_sink[0], smtp_sink[1], tmp_path)
        yield world
        world.adapter.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("any_world", "database_url"),
    [
        ("moneybird", "sqlite"),
        pytest.param("moneybird", "postgresql", marks=pytest.mark.postgres),
        ("exact_online", "sqlite"),
        ("eboekhouden", "sqlite"),
    ],
    indirect=True,
)
def test_forty_five_days_emails_notes_and_audit_agree(any_world: World) -> None:
    """Runs unchanged on every ledger: the same reminders, and notes written back as that ledger keeps them. The
    store does what it does whichever ledger fills it, so PostgreSQL plays one ledger's 45 days, not all three."""
    world = any_world
    dice = random.Random(8)
    paid_on: dict[str, date] = {}
    for offset in range(45):
        today = SIM_TODAY + timedelta(days=offset)
        if offset in (9, 20, 31):  # customers pay along the way...
            world.clock.set(at(today, hour=7))  # ...some between the morning's planning and the sending
            world.day_at(today)
            planned = [
                i for a in world.actions() if a.status == "pending" for i in world.dispatcher.outbox.invoice_ids(a)
            ]
            open_ids = [i for i in world.ledger.open_ids() if i not in paid_on]
            for ledger_id in dice.sample(planned, min(5, len(planned))) + dice.sample(open_ids, 10):
                if ledger_id not in paid_on and world.ledger.is_open(ledger_id):
                    world.ledger.pay(ledger_id)
                    paid_on[ledger_id] = today
        world.day(today)

    actions = world.actions()
    done = [a for a in actions if a.status == "done"]
    assert {a.status for a in actions} <= {"done", "dropped", "pending", "awaiting_approval"}, {
        a.status for a in actions
    }
    # A person decides: the handover, and a legal stage on a due date the ledger never stated (e-Boekhouden's
    # invoices without a payment term, dated by the configured default).
    waiting = [a for a in actions if a.status == "awaiting_approval"]
    assert all(
        a.action == "handover"
        or all("is assumed (the ledger names no payment term" in why for why in a.planned["approval"])
        for a in waiting
    ), [a.planned["approval"] for a in waiting]
    emails = {message["Message-ID"]: message for message in world.sink.messages}
    email_actions = {f"<{a.key}@bakkerij.example>": a for a in done if a.action == "email"}
    assert emails.keys() == email_actions.keys()  # every e-mail is a done action and the other way round
    assert len(emails) == len(world.sink.messages)  # and none arrived twice

    # notes in the ledger: exactly one per invoice per executed action, carrying the action's reference
    notes: dict[str, list[str]] = defaultdict(list)
    for ledger_id, text in world.ledger.notes():
        match = re.search(r"\[ref ([0-9a-f]{12})\]", text)
        if match:
            notes[match.group(1)].append(ledger_id)
    written = world.audit("note_written")
    for action in done:
        covered = sorted(world.dispatcher.outbox.invoice_ids(action))
        # (a task's own note, on its first invoice, carries the reference too and stands for that invoice's note)
        assert sorted(notes.get(action.key[:12], [])) == covered, action.stage
        assert sorted(e.invoice_ledger_id or "" for e in written if e.action_id == action.id) == covered

    # nothing reached a customer after the ledger showed the payment
    for action in done:
        sent_on = action.executed_at.astimezone(AMSTERDAM).date() if action.executed_at else None
        for ledger_id in world.dispatcher.outbox.invoice_ids(action):
            if ledger_id in paid_on:
                assert sent_on is not None and sent_on < paid_on[ledger_id], (action.stage, ledger_id)
    dropped = [a for a in actions if a.status == "dropped"]
    assert dropped and all("paid" in (a.error or "") for a in dropped)  # paid between planning and sending

    # stages never repeat for an invoice, and a handover only after the legal letter's term
    seen: dict[tuple[str, str], int] = defaultdict(int)
    letters: dict[str, date] = {}
    for action in sorted(done, key=lambda a: a.executed_at or datetime.min.replace(tzinfo=UTC)):
        sent_on = action.executed_at.astimezone(AMSTERDAM).date()  # type: ignore[union-attr]
        for ledger_id in world.dispatcher.outbox.invoice_ids(action):
            seen[(ledger_id, action.stage)] += 1
            if action.legal_letter:
                letters[ledger_id] = sent_on
            if action.action == "handover":
                assert ledger_id in letters and sent_on >= after_grace(
                    letter_term(letters[ledger_id], "email").last_day, 3
                )
    assert max(seen.values()) == 1
    stages = {a.stage for a in done}
    assert {"call", "reminder", "aanmaning", "ingebrekestelling"} <= stages
    languages = {
        str(m.get("Content-Language") or ("en" if "Dear" in m.get_body(("plain",)).get_content() else "nl"))
        for m in world.sink.messages
    }
    assert languages == {"nl", "en"}


@pytest.mark.world(invoices=60, contacts=20)
def test_an_aanmaning_names_the_day_the_reminder_really_went_out(world: World) -> None:
    for offset in range(22):
        world.day(SIM_TODAY + timedelta(days=offset))
    demands = [a for a in world.actions() if a.stage == "aanmaning" and a.status == "done"]
    assert demands, "the run reached the aanmaning"
    for action in demands:
        earlier = [sent for sent, _ in world.dispatcher.outbox.earlier_messages(action, ["email"])]
        assert [a.stage for a in earlier] == ["reminder"]  # first seen late: the reminder came first
        assert earlier[0].executed_at is not None
        sent_on = earlier[0].executed_at.astimezone(AMSTERDAM).date()
        message = next(m for m in world.sink.messages if m["Message-ID"] == f"<{action.key}@bakkerij.example>")
        body = message.get_body(("plain",)).get_content()
        dutch = f"Ondanks onze herinnering van {sent_on.day} {format_date(sent_on, 'MMMM y', locale='nl')}"
        english = f"Despite our reminder of {sent_on.day} {format_date(sent_on, 'MMMM y', locale='en')}"
        assert dutch in body or english in body, body[:300]


def test_a_payment_between_planning_and_sending_drops_the_action(world: World) -> None:
    today = SIM_TODAY + timedelta(days=1)  # a Wednesday
    world.clock.set(at(today, hour=7))  # before the send window: planned, not sent
    sync_administration(world.store, world.adapter, name="acme", ledger_reference="", clock=world.clock)
    world.dispatcher.run(today)
    pending = [a for a in world.actions() if a.status == "pending"]
    assert pending and not world.sink.messages
    victim = next(a for a in pending if a.action == "email")
    for ledger_id in world.dispatcher.outbox.invoice_ids(victim):
        invoice = world.simulator.get_invoice(world.admin, ledger_id)
        world.simulator.add_payment(world.admin, ledger_id, invoice["total_unpaid"])
    world.clock.set(at(today, hour=10))
    report = world.dispatcher.run(today)
    assert report.dropped >= 1
    dropped = {a.key: a for a in world.actions()}[victim.key]
    assert dropped.status == "dropped" and "paid" in (dropped.error or "")
    assert f"<{victim.key}@bakkerij.example>" not in {m["Message-ID"] for m in world.sink.messages}


def test_the_send_window_is_asked_before_each_message_not_once_a_run(world: World) -> None:
    """A run that starts at 16:55 with a backlog sends until 17:00 and leaves the rest for the next morning."""
    today = SIM_TODAY + timedelta(days=1)  # a Wednesday
    world.clock.set(at(today, hour=7))
    sync_administration(world.store, world.adapter, name="acme", ledger_reference="", clock=world.clock)
    assert world.dispatcher.run(today).executed == 0  # before the window: all of it waits
    backlog = len([a for a in world.actions() if a.status == "pending"])
    start = datetime.combine(today, time(16, 55), tzinfo=AMSTERDAM)
    busy = dataclasses.replace(world.dispatcher, clock=TickingClock(start, timedelta(seconds=3)))
    report = busy.run(today)
    dates = [parsedate_to_datetime(m["Date"]).astimezone(AMSTERDAM) for m in world.sink.messages]
    assert dates and all(d.date() == today and time(9) <= d.time() < time(17) for d in dates)
    assert 0 < report.executed < backlog
    waiting = [a for a in world.actions() if a.status == "pending"]
    assert report.waiting == len(waiting) > 0
    tomorrow_nine = datetime.combine(today + timedelta(days=1), time(9), tzinfo=AMSTERDAM)
    assert report.window_opens_at == tomorrow_nine
    assert {a.attempts for a in waiting} == {0}  # held back by the clock is not a failed try
    world.clock.set(at(today + timedelta(days=1), hour=10))
    world.dispatcher.run(today + timedelta(days=1))
    ids = [m["Message-ID"] for m in world.sink.messages]
    assert len(ids) == len(set(ids))
    assert {f"<{a.key}@bakkerij.example>" for a in waiting if a.action == "email"} <= set(ids)


def test_an_smtp_server_that_is_down_fails_no_action_and_is_named_until_it_is_back(world: World) -> None:
    """The SMTP server down for a day: every e-mail waits with its tries intact (one try a run tells whether it
    is back), the channel is failing after `channel_failing_after` tries in a row, logged once and named on
    /readyz, /status and /metrics; when it is back everything goes out once and the reason is gone."""
    settings = Settings(connector=ConnectorSection(), administrations=(world.config,))
    up = world.dispatcher.email
    assert up is not None
    world.dispatcher.email = up.model_copy(update={"port": free_port()})  # nothing listens there
    today = SIM_TODAY + timedelta(days=1)
    world.clock.set(at(today, hour=10))
    sync_administration(world.store, world.adapter, name="acme", ledger_reference="", clock=world.clock)
    with capture_logs() as logs:
        reports = []
        for minute in range(0, 12 * 15, 15):  # three hours of runs, as the daemon would make them
            world.clock.set(at(today, hour=10) + timedelta(minutes=minute))
            reports.append(world.dispatcher.run(today))
        emails = [a for a in world.actions() if a.action == "email"]
        assert len(emails) > 3 and not world.sink.messages
        assert all(a.status == "pending" and a.attempts == 0 for a in emails), "an outage costs no action a try"
        assert all("SMTP server not reachable" in r.channels_down["email"] for r in reports)
        assert reports[0].held_for_channel == len(emails)
        assert not any(r.failed for r in reports)
        failing = [entry for entry in logs if entry["event"] == "channel.failing"]
        assert len(failing) == 1 and failing[0]["channel"] == "email" and failing[0]["failures"] == 3

        figures = gather(OverviewStore(world.store), settings)
        ready, document = readiness(figures, world.clock.now(), None)
        reason = document["administrations"]["acme"]["reason"]
        assert not ready and "; e-mail failing since 2026-11-25T09:00:00+00:00 (12 tries in a row): SMTP" in reason
        page = status_document(figures, OverviewStore(world.store), settings, world.clock, {})["administrations"][0]
        assert page["attention"][0]["kind"] == "channel_failing"
        email, task = page["channels"]  # the call tasks went into the ledger meanwhile
        assert task["channel"] == "task" and task["failing"] is False and task["last_success_at"]
        assert email == (
            {
                "channel": "email",
                "failing": True,
                "failures_in_a_row": 12,
                "failing_since": "2026-11-25T09:00:00+00:00",
                "last_error": reports[-1].channels_down["email"],
                "last_failure_at": "2026-11-25T11:45:00+00:00",
                "last_success_at": None,
            }
        )
        scrape = Metrics(lambda: figures, world.clock.now).render().decode()
        assert 'connector_channel_failing{administration="acme",channel="email"} 1.0' in scrape
        assert 'connector_channel_failures_in_a_row{administration="acme",channel="email"} 12.0' in scrape

        world.dispatcher.email = up  # the server is back
        world.clock.set(at(today, hour=14))
        report = world.dispatcher.run(today)
        assert report.executed >= len(emails) and not report.channels_down
        ids = [m["Message-ID"] for m in world.sink.messages]
        assert sorted(ids) == sorted({f"<{a.key}@bakkerij.example>" for a in emails})
        assert [e for e in logs if e["event"] == "channel.failing"] == failing  # not again: it was logged once
    figures = gather(OverviewStore(world.store), settings)
    assert [(c.channel, c.failures) for c in figures[0].channels] == [("email", 0), ("task", 0)]
    ready, document = readiness(figures, world.clock.now(), None)
    assert "failing" not in document["administrations"]["acme"].get("reason", "")


def test_a_run_tells_how_far_it_is_after_each_action(world: World) -> None:
    """What a terminal shows during a long dispatch: each action handled of those due, and the counts so far."""
    seen: list[tuple[int, int, int]] = []
    world.dispatcher.progress = lambda report, done, due: seen.append((done, due, report.executed))
    report = world.day(SIM_TODAY + timedelta(days=1))
    due = seen[0][1]
    assert due > 3 and [(done, total) for done, total, _ in seen] == [(i, due) for i in range(due)]
    assert [executed for _, _, executed in seen] == sorted(executed for _, _, executed in seen)
    assert seen[-1][2] <= report.executed


def test_an_action_interrupted_while_sending_is_flagged_not_resent(world: World) -> None:
    today = SIM_TODAY + timedelta(days=1)
    world.clock.set(at(today, hour=7))
    sync_administration(world.store, world.adapter, name="acme", ledger_reference="", clock=world.clock)
    world.dispatcher.run(today)
    action = next(a for a in world.actions() if a.action == "email")
    assert world.dispatcher.outbox.transition(action, "executing", expect="pending")
    assert world.dispatcher.outbox.transition(action, "sending", expect="executing")  # ...and then the process died
    world.clock.set(at(today, hour=10))
    report = world.dispatcher.run(today)
    assert report.review == 1
    flagged = {a.key: a for a in world.actions()}[action.key]
    assert flagged.status == "review"
    assert f"<{action.key}@bakkerij.example>" not in {m["Message-ID"] for m in world.sink.messages}
    assert world.audit("needs_review")


def test_a_second_run_the_same_day_sends_nothing_new(world: World) -> None:
    today = SIM_TODAY + timedelta(days=1)
    world.day(today)
    sent = len(world.sink.messages)
    notes = len(world.audit("note_written"))
    assert sent > 0
    world.day(today)
    assert len(world.sink.messages) == sent and len(world.audit("note_written")) == notes


class _Killed(BaseException):
    """The process dies (nothing catches it on the way out)."""


@pytest.mark.world(invoices=60, contacts=20)
def test_a_note_costs_one_call_and_the_ledger_is_asked_only_after_a_crash(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first attempt at a note writes it (one call); only a write-back that may have written before asks the
    ledger for the note first, and finds it, so the ledger holds it once."""
    adapter = world.adapter
    looked_up: list[str] = []
    written: list[str] = []
    find_note, add_note = adapter.find_note, adapter.add_note

    def counted_find(invoice: Invoice, marker: str) -> str | None:
        looked_up.append(invoice.ledger_id)
        return find_note(invoice, marker)

    def killed_after_the_third_note(invoice: Invoice, text: str, *, todo: bool = False) -> str:
        note_id = add_note(invoice, text, todo=todo)
        written.append(invoice.ledger_id)
        if len(written) == 3:
            raise _Killed  # after the ledger took it, before the store knows
        return note_id

    monkeypatch.setattr(adapter, "find_note", counted_find)
    monkeypatch.setattr(adapter, "add_note", killed_after_the_third_note)
    today = SIM_TODAY + timedelta(days=1)
    with pytest.raises(_Killed):
        world.day(today)
    assert looked_up == []  # two notes written at one call each, and the third taken by the ledger
    monkeypatch.setattr(adapter, "add_note", add_note)
    world.day(today)  # the restart finishes the write-back
    assert looked_up == [written[2]]  # only the note that may have been written is looked for, and found
    notes = Counter(
        (ledger_id, ref)
        for ledger_id, text in world.ledger.notes()
        for ref in re.findall(r"\[ref ([0-9a-f]{12})\]", text)
    )
    assert notes and max(notes.values()) == 1  # one note per invoice per action
    done = [a for a in world.actions() if a.status == "done"]
    assert sum(len(world.dispatcher.outbox.invoice_ids(a)) for a in done) == len(notes)


@pytest.mark.world(invoices=60, contacts=20)
@pytest.mark.parametrize("deletes_notes", [True, False])
@pytest.mark.parametrize("who_checks", ["the new owner", "the process that woke up"])
def test_a_note_written_by_two_processes_is_held_once(
    world: World, monkeypatch: pytest.MonkeyPatch, who_checks: str, deletes_notes: bool
) -> None:
    """A replica frozen while it wrote a note wakes up after another took the action over, and both wrote it.
    Whichever checks (the new owner, writing on a later attempt; the woken one, finding its lease gone) keeps the
    note with the lowest id and removes the other; a ledger that cannot delete notes gets the pair reported."""
    adapter = world.adapter
    if not deletes_notes:
        monkeypatch.setattr(type(adapter), "capabilities", adapter.capabilities - {Capability.DELETE_NOTES})
    add_note = adapter.add_note
    twice: list[str] = []

    def written_twice(invoice: Invoice, text: str, *, todo: bool = False) -> str:
        if not twice and not todo:  # the first note: the other process writes it too, right after this one
            twice.append(invoice.ledger_id)
            note_id = add_note(invoice, text, todo=todo)
            add_note(invoice, text, todo=todo)
            if who_checks == "the process that woke up":
                monkeypatch.setattr(world.dispatcher.outbox, "lease_holds", lambda: False)
            return note_id
        return add_note(invoice, text, todo=todo)

    monkeypatch.setattr(adapter, "add_note", written_twice)
    if who_checks == "the new owner":  # an earlier attempt is on record: this is the takeover's write
        original = world.dispatcher._note_once

        def later_attempt(action: Action, outcome: dict[str, Any], invoice: Invoice, marker: str, text: str) -> str:
            outcome.setdefault("notes_attempted", []).append(invoice.ledger_id)
            monkeypatch.setattr(world.dispatcher, "_note_once", original)
            return original(action, outcome, invoice, marker, text)

        monkeypatch.setattr(world.dispatcher, "_note_once", later_attempt)
    world.day(SIM_TODAY + timedelta(days=1))

    (ledger_id,) = twice
    texts = [text for i, text in world.ledger.notes() if i == ledger_id]
    assert len(texts) == (1 if deletes_notes else 2), texts
    event = "duplicate_note_removed" if deletes_notes else "duplicate_note"
    (entry,) = world.audit(event)
    assert entry.invoice_ledger_id == ledger_id and len(entry.detail["extra"]) == 1
    assert int(entry.detail["kept"]) < int(entry.detail["extra"][0])  # every checker keeps the same one


@pytest.mark.parametrize("refusal", [RateLimited("rate limited until 10:05"), AuthError("token expired")])
def test_a_note_the_ledger_cannot_take_now_is_written_later_not_lost(
    world: World, monkeypatch: pytest.MonkeyPatch, refusal: Exception
) -> None:
    today = SIM_TODAY + timedelta(days=1)
    real_add_note = world.adapter.add_note

    def not_now(*args: Any, **kwargs: Any) -> str:
        raise refusal

    monkeypatch.setattr(world.adapter, "add_note", not_now)
    world.day(today)
    sent = [a for a in world.actions() if a.status == "sent"]
    assert sent and not world.audit("note_written")  # the e-mails went; their notes wait, none marked refused
    assert not [a for a in world.actions() if a.status == "done" and a.action == "email"]

    monkeypatch.setattr(world.adapter, "add_note", real_add_note)
    world.day_at(today)
    assert {a.status for a in world.actions() if a.id in {s.id for s in sent}} == {"done"}
    written = world.ledger.notes()
    for action in sent:
        marker = f"[ref {action.key[:12]}]"
        assert sorted(i for i, text in written if marker in text) == sorted(world.dispatcher.outbox.invoice_ids(action))


@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize("stage", [s.template_name for s in default_policy().stages])
@pytest.mark.parametrize("kind", ["consumer", "business"])
def test_every_stage_renders_in_both_languages(stage: str, language: str, kind: str) -> None:
    context = MessageContext(
        language=language,
        stage=stage,
        legal_letter=stage == "ingebrekestelling",
        debtor_kind=kind,
        company_name="Bakkerij De Vries",
        contact_name="Eva <b>Bakker</b>",
        currency="EUR",
        invoices=[
            InvoiceLine("2026-0001", date(2026, 10, 1), date(2026, 10, 31), Decimal("1234.5"), Decimal("1234.5"))
        ],
        principal=Decimal("1234.50"),
        collection_costs=Decimal("185.18"),
        interest=None,
        sent_on=date(2026, 11, 24),
        deadline=date(2026, 12, 9),
        recipient="eva@example.nl",
    )
    message = MessageRenderer().render(stage, context)
    amount = "€\xa01.234,50" if language == "nl" else "€1,234.50"  # a non-breaking space, as Dutch typesetting wants
    assert amount in message.text and amount in message.html
    assert "<b>Bakker</b>" not in message.html
    if kind == "consumer":
        assert "&lt;b&gt;Bakker&lt;/b&gt;" in message.html  # a name from the ledger is escaped
    else:  # a company is addressed as one
        salutation = "Geachte heer, mevrouw," if language == "nl" else "Dear Sir or Madam,"
        assert message.text.startswith(salutation) and salutation in message.html
    assert message.subject and "\n" not in message.subject and message.note
    if stage == "ingebrekestelling" and kind == "consumer":
        wording = (
            "binnen veertien dagen vanaf de dag nadat deze brief bij u is bezorgd" if language == "nl" else "day after"
        )
        assert wording in message.text and "185" in message.text


@pytest.mark.world(invoices=60, contacts=20)
def test_the_ledgers_own_reminders_are_paused_once_by_default(world: World) -> None:
    assert world.config.pause_ledger_reminders  # the default: one reminder stream per customer
    first = SIM_TODAY + timedelta(days=1)
    world.day(first)
    done = [a for a in world.actions() if a.status == "done"]
    chased = {i for a in done for i in world.dispatcher.outbox.invoice_ids(a)}
    assert chased and all(world.simulator.get_invoice(world.admin, i)["paused"] for i in chased)
    assert {e.invoice_ledger_id for e in world.audit("ledger_reminders_paused")} == chased
    # paused by us is no hold: the workflow goes on (and pauses nothing twice)
    later = [world.day(SIM_TODAY + timedelta(days=d)) for d in range(2, 30)]
    assert sum(r.executed for r in later) > 0
    assert len(world.audit("ledger_reminders_paused")) == len(
        {e.invoice_ledger_id for e in world.audit("ledger_reminders_paused")}
    )


def test_with_pausing_switched_off_the_ledgers_own_reminders_are_left_alone(world: World) -> None:
    world.dispatcher.administration = world.config.model_copy(update={"pause_ledger_reminders": False})
    world.day(SIM_TODAY + timedelta(days=1))
    chased = {i for a in world.actions() if a.status == "done" for i in world.dispatcher.outbox.invoice_ids(a)}
    assert chased and not any(world.simulator.get_invoice(world.admin, i)["paused"] for i in chased)
    assert world.audit("ledger_reminders_paused") == []


@pytest.mark.world(invoices=60, contacts=20)
@pytest.mark.parametrize("ours_paused", [True, False])
def test_a_persons_pause_in_the_ledger_stops_the_reminders(world: World, ours_paused: bool) -> None:
    """With the connector pausing the ledger's reminders (the default), a person pauses an invoice it does not
    chase yet; without, one it already chases. Either way, nothing more goes out for it."""
    world.dispatcher.administration = world.config.model_copy(update={"pause_ledger_reminders": ours_paused})
    first = SIM_TODAY + timedelta(days=1)
    world.day(first)
    chased = sorted({i for a in world.actions() if a.status == "done" for i in world.dispatcher.outbox.invoice_ids(a)})
    open_ids = world.ledger.open_ids()
    held = next(i for i in open_ids if i not in chased) if ours_paused else chased[0]
    with __import__("httpx").Client(
        base_url=world.simulator.base_url, headers={"Authorization": "Bearer person"}
    ) as http:
        http.post(f"/{world.admin}/sales_invoices/{held}/pause.json", json={}).raise_for_status()
    for d in range(2, 40):
        world.day(SIM_TODAY + timedelta(days=d))
    later = [a for a in world.actions() if held in world.dispatcher.outbox.invoice_ids(a) and a.status == "done"]
    assert len(later) == (0 if ours_paused else 1)  # only what went out before the person paused it


class _Intake(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Intake.received.append((self.headers["Idempotency-Key"], body))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.slow
@pytest.mark.world(invoices=60, contacts=20)
def test_handover_writes_case_files_posts_them_and_marks_the_ledger(world: World, tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Intake)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Intake.received = []
    world.dispatcher.handover_url = f"http://127.0.0.1:{server.server_port}/cases"
    world.use_policies(LATEST)
    approved: list[Action] = []
    try:
        for offset in range(35):
            world.day(SIM_TODAY + timedelta(days=offset))
            waiting = [a for a in world.actions() if a.status == "awaiting_approval"]
            assert all(a.action == "handover" for a in waiting)  # the default: a person decides on handovers
            assert not [r for r in _Intake.received if r[0] in {a.key for a in waiting}]
            approved += world.approve_waiting()
    finally:
        server.shutdown()
    handovers = [a for a in world.actions() if a.action == "handover" and a.status == "done"]
    assert handovers, "the run reached handovers"
    assert {a.key for a in handovers} <= {a.key for a in approved}
    for action in handovers:
        (decision,) = [e for e in world.audit("approved") if e.action_id == action.id][:1]
        assert decision.detail["by"] == TESTER
    assert sorted(key for key, _ in _Intake.received) == sorted(a.key for a in handovers)
    for action in handovers:
        case_file = Path(action.outcome["case_file"])
        case = json.loads(case_file.read_text())
        assert case_file.with_suffix(".csv").exists()
        assert case["reference"] == action.key and case["collection_costs"] == action.planned["collection_costs"]
        assert {e["event"] for e in case["history"]} >= {"planned", "email_sent"}
        for ledger_id in world.dispatcher.outbox.invoice_ids(action):
            ledger = world.simulator.get_invoice(world.admin, ledger_id)
            assert ledger["marked_dubious_on"] and ledger["paused"]
    # Paused once, when the connector began to chase them: the handover asks nothing the ledger must refuse.
    refused = [r for r in world.simulator.requests() if r["path"].endswith("/pause.json") and r["status"] >= 400]
    assert refused == []


@pytest.mark.slow
def test_the_letter_states_the_term_of_the_day_it_really_goes_out(world: World) -> None:
    """Planned on a Saturday, sent on Monday: a term computed from the planning day would be short, which voids
    the letter (HR 2016:2704), so it is computed again when the letter goes out."""
    saturday = date(2026, 11, 28)
    old = next(i for i in world.simulator.invoice_ids(world.admin))
    world.simulator.update_invoice(world.admin, old, due_date="2026-10-01")  # well into default: letter stage
    world.use_policies(LATEST)
    world.clock.set(at(saturday))
    sync_administration(world.store, world.adapter, name="acme", ledger_reference="", clock=world.clock)
    world.dispatcher.run(saturday)  # a Saturday: planned, not sent
    monday = date(2026, 11, 30)
    world.clock.set(at(monday))
    world.dispatcher.run(monday)
    letters = [a for a in world.actions() if a.legal_letter and a.status == "done"]
    assert letters
    for letter in letters:
        assert letter.outcome["sent_on"] == "2026-11-30"
        assert letter.outcome["deadline"] == letter_term(monday, "email").last_day.isoformat()
        message = next(m for m in world.sink.messages if m["Message-ID"] == f"<{letter.key}@bakkerij.example>")
        body = message.get_body(("plain",)).get_content()
        stated = letter_term(monday, "email").last_day
        assert f"{stated.day} december 2026" in body or f"{stated.day} December 2026" in body


def test_one_broken_action_does_not_stop_the_others(world: World, tmp_path: Path) -> None:
    """A stage whose template is missing fails (visibly, after its tries); everything else still goes out."""
    renderer = MessageRenderer(tmp_path / "templates")
    broken = tmp_path / "templates" / "nl"
    broken.mkdir(parents=True)
    (broken / "reminder.txt").write_text(
        "{% extends 'nl/base.txt' %}{% block body %}{{ c.no_such_field.x }}{% endblock %}"
    )
    world.dispatcher.renderer = renderer
    world.dispatcher.max_attempts = 2
    today = SIM_TODAY + timedelta(days=1)
    world.clock.set(at(today, hour=9))
    sync_administration(world.store, world.adapter, name="acme", ledger_reference="", clock=world.clock)
    for hour in (10, 11, 12):
        world.clock.set(at(today, hour=hour))
        world.dispatcher.run(today)
        for action in world.actions():  # let retries come due at once
            if action.status == "pending":
                world.dispatcher.outbox.transition(
                    action, "pending", expect="pending", next_attempt_at=world.clock.now()
                )
    assert world.sink.messages, "the other stages went out"
    dutch_reminders = [a for a in world.actions() if a.stage == "reminder" and a.planned["language"] == "nl"]
    assert dutch_reminders and all(a.status == "failed" and a.attempts == 2 for a in dutch_reminders)


def test_a_customer_excluded_after_planning_gets_nothing(world: World) -> None:
    today = SIM_TODAY + timedelta(days=1)
    world.clock.set(at(today, hour=7))
    sync_administration(world.store, world.adapter, name="acme", ledger_reference="", clock=world.clock)
    world.dispatcher.run(today)
    victim = next(a for a in world.actions() if a.action == "email")
    world.dispatcher.workflow.override_contact(
        world.dispatcher.administration_id, victim.contact_ledger_id, excluded=True, by=TESTER
    )
    world.clock.set(at(today, hour=10))
    world.dispatcher.run(today)
    dropped = {a.key: a for a in world.actions()}[victim.key]
    assert dropped.status == "dropped" and "excluded" in (dropped.error or "")


def test_the_consumer_letter_asks_for_the_principal_only() -> None:
    context = MessageContext(
        language="nl",
        stage="ingebrekestelling",
        legal_letter=True,
        debtor_kind="consumer",
        company_name="Bakkerij De Vries",
        contact_name="Eva Bakker",
        currency="EUR",
        invoices=[
            InvoiceLine("2026-0001", date(2026, 10, 1), date(2026, 10, 31), Decimal("1234.50"), Decimal("1234.50"))
        ],
        principal=Decimal("1234.50"),
        collection_costs=Decimal("185.18"),
        interest=Decimal("3.10"),
        sent_on=date(2026, 11, 24),
        deadline=date(2026, 12, 9),
        vat_percent=Decimal("21"),
    )
    message = MessageRenderer().render("ingebrekestelling", context)
    assert context.total_due == Decimal("1234.50")
    assert "Te betalen binnen de termijn: €\xa01.234,50" in message.text
    assert (
        "Betaalt u €\xa01.234,50 uiterlijk op 9 december 2026, dan bent u geen incassokosten verschuldigd; anders "
        "komen daar €\xa0185,18 incassokosten (inclusief 21% btw, die het incassobureau ons voor de incasso in "
        "rekening brengt en die wij niet kunnen verrekenen) bij." in message.text
    )
    # Interest runs from the day after the due date, paid within the term or not, and its amount is stated.
    assert (
        "Daarnaast blijft u de wettelijke rente verschuldigd vanaf de dag na de vervaldatum (tot 24 november 2026: "
        "€\xa03,10)." in message.text
    )
    assert "Totaal" not in message.text and "Totaal" in message.html  # the table shows the principal as the total
    assert "1.422,78" not in message.text + message.html  # never principal + costs + interest as due now


def test_a_person_resolves_a_flagged_action_and_retries_a_failed_one(world: World, tmp_path: Path) -> None:
    today = SIM_TODAY + timedelta(days=1)
    world.clock.set(at(today, hour=7))
    sync_administration(world.store, world.adapter, name="acme", ledger_reference="", clock=world.clock)
    world.dispatcher.run(today)
    first, second = [a for a in world.actions() if a.action == "email"][:2]
    box = world.dispatcher.outbox
    for action in (first, second):
        box.transition(action, "executing", expect="pending")
        box.transition(action, "sending", expect="executing")
    world.clock.set(at(today, hour=10))
    world.dispatcher.run(today)  # both flagged for review
    config = tmp_path / "config.toml"
    config.write_text(f'[connector]\ndatabase_url = "{world.store.engine.url.render_as_string(hide_password=False)}"\n')
    on_our_clock = CommandContext(clock=world.clock)  # the person acts at 10:00 of the world's day, not today

    def connector(*args: str) -> Any:
        return CliRunner().invoke(app, [*args, "--config", str(config)], obj=on_our_clock)

    resolved = connector("resolve", first.key[:12], "--not-sent")
    assert resolved.exit_code == 0, resolved.output
    assert connector("resolve", second.key[:12], "--sent").exit_code == 0
    wrong = connector("retry", first.key[:12])
    assert wrong.exit_code == 2 and "not failed" in wrong.output
    world.clock.set(at(today, hour=11))
    world.dispatcher.run(today)
    by_key = {a.key: a for a in world.actions()}
    assert by_key[first.key].status == "done" and by_key[second.key].status == "done"
    sent_ids = [m["Message-ID"] for m in world.sink.messages]
    assert sent_ids.count(f"<{first.key}@bakkerij.example>") == 1  # sent once, after the person's word
    assert f"<{second.key}@bakkerij.example>" not in sent_ids  # it had gone out: only its notes were written
