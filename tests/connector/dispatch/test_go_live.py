"""Going live on a ledger whose invoices are 5 to 200 days overdue, as every real one is.

Nothing goes out before a person approves; after that no customer's first message is the legal letter, no
customer gets two messages on one day, every message refers only to what that customer really received, and
none is dated outside the send window, on a weekend or on a Dutch public holiday — also when a run starts just
before the window closes with a backlog that takes time to send.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from babel.dates import format_date
from sqlmodel import select

from adapters.moneybird.simulator import MoneybirdSimulator
from connector.clock import AMSTERDAM, ManualClock
from connector.config import EmailSection
from connector.dispatch.dispatcher import Dispatcher
from connector.dispatch.mailsink import MailSink
from connector.store import Store
from connector.store.approvals import ApprovalStore
from connector.store.models import Action
from connector.store.outbox import OutboxStore
from connector.store.workflow import WorkflowStore
from connector.sync import sync_administration
from connector.workflow.policy import default_policy
from tests.conftest import moneybird_adapter, moneybird_config
from tests.support.clocks import TickingClock
from tests.support.sender import COMPANY

GO_LIVE = date(2026, 11, 24)  # a Tuesday; the run crosses Christmas and New Year
DAYS = 70
# The Dutch public holidays in the run (checked by hand, not by the product's own calendar).
HOLIDAYS = {date(2026, 12, 25), date(2026, 12, 26), date(2027, 1, 1)}
SENDER = COMPANY
ORDER = ["reminder", "aanmaning", "ingebrekestelling", "final_notice"]


@dataclass
class Sent:
    message: EmailMessage
    action: Action
    at: datetime
    invoices: list[str]

    @property
    def body(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        return str(part.get_content()).replace("\r\n", "\n")

    @property
    def english(self) -> bool:
        return self.body.startswith("Dear")


@pytest.fixture
def ledger() -> Iterator[MoneybirdSimulator]:
    with MoneybirdSimulator.generate(invoices=120, contacts=30, seed=21, today=GO_LIVE, rate_limit=100_000) as sim:
        administration = sim.administration_ids[0]
        dice = random.Random(4)
        for ledger_id in sim.invoice_ids(administration):
            # Most are overdue at go-live; some fall due while it runs, beside a customer's older ones.
            overdue = dice.randint(5, 200) if dice.random() < 0.75 else -dice.randint(0, 40)
            sim.update_invoice(
                administration,
                ledger_id,
                due_date=(GO_LIVE - timedelta(days=overdue)).isoformat(),
                language="en" if dice.random() < 0.25 else "nl",
            )
        yield sim


@pytest.mark.slow
def test_going_live_on_a_ledger_full_of_overdue_invoices(
    ledger: MoneybirdSimulator, store: Store, clock: ManualClock, smtp_sink: tuple[MailSink, int], tmp_path: Path
) -> None:
    sink, port = smtp_sink
    clock.set(datetime.combine(GO_LIVE, time(8), AMSTERDAM))
    config = moneybird_config(ledger, rate_limit={"requests": 100_000, "per_seconds": 1.0}, company=SENDER)
    adapter = moneybird_adapter(ledger, clock, rate_limit={"requests": 100_000, "per_seconds": 1.0})
    policies = {"default": default_policy()}
    email = EmailSection(host="127.0.0.1", port=port, security="none", from_address="debiteuren@bakkerij.example")
    dispatcher = Dispatcher(store, adapter, config, policies, clock, email=email, handover_dir=tmp_path / "handover")
    administration = dispatcher.administration_id

    # Day one: the mirror fills, the plan shows what would go out, and nothing does.
    sync_administration(store, adapter, name="acme", ledger_reference="", clock=clock)
    clock.set(datetime.combine(GO_LIVE, time(10), AMSTERDAM))
    waiting = dispatcher.run()
    assert waiting.awaiting_approval is not None and waiting.executed == 0 and waiting.planned == 0
    assert sink.messages == [] and OutboxStore(store).actions(administration) == []
    would = WorkflowStore(store).due_actions(administration, config, policies, GO_LIVE)
    assert would and {a.stage for a in would} <= {"reminder"}  # a first message: never the letter
    ApprovalStore(store).approve_administration(config, policies, by="Credit Controller", note="plan read")

    payer = random.Random(9)
    for offset in range(DAYS):
        today = GO_LIVE + timedelta(days=offset)
        clock.set(datetime.combine(today, time(9, 30), AMSTERDAM))
        sync_administration(store, adapter, name="acme", ledger_reference="", clock=clock)
        if offset % 3 != 1:  # every third day the connector is down until the afternoon: a backlog builds
            dispatcher.run()
        open_ids = ledger.invoice_ids(ledger.administration_ids[0], "late")  # paid after the morning's sync
        for ledger_id in payer.sample(open_ids, min(2, len(open_ids))):  # some customers pay along the way
            invoice = ledger.get_invoice(ledger.administration_ids[0], ledger_id)
            ledger.add_payment(ledger.administration_ids[0], ledger_id, invoice["total_unpaid"], today.isoformat())
        # A second run that starts just before the window closes, each action taking a minute or so of work
        # (a slow ledger, a rate limit): it stops at the close, whatever is left, and sends nothing to a
        # customer who already got a message today.
        late = datetime.combine(today, time(16, 52), AMSTERDAM)
        clock.set(late)  # the store records the same day
        replace(dispatcher, clock=TickingClock(late, timedelta(seconds=20))).run()

    actions = {a.key: a for a in OutboxStore(store).actions(administration)}
    box = OutboxStore(store)
    sent = sorted(
        (
            Sent(m, actions[m["Message-ID"][1:].split("@")[0]], parsedate_to_datetime(m["Date"]), [])
            for m in sink.messages
        ),
        key=lambda s: s.at,
    )
    for item in sent:
        item.invoices = box.invoice_ids(item.action)
    assert len(sent) > 60 and {s.action.stage for s in sent} >= {"reminder", "aanmaning", "ingebrekestelling"}
    late_sends = [s for s in sent if s.at.astimezone(AMSTERDAM).time() >= time(16, 52)]
    assert late_sends, "no afternoon run had a backlog to send"

    by_customer: dict[str, list[Sent]] = defaultdict(list)
    for item in sent:
        by_customer[item.action.contact_ledger_id].append(item)
        local = item.at.astimezone(AMSTERDAM)
        assert local.weekday() < 5 and local.date() not in HOLIDAYS, f"sent on {local:%A %d %B}"
        assert time(9) <= local.time() < time(17), f"sent at {local:%H:%M}"
        assert "12345678" in item.body and "Bakkersstraat 1, 3511 AB Utrecht" in item.body  # KvK and address

    for customer, messages in by_customer.items():
        days = [m.at.astimezone(AMSTERDAM).date() for m in messages]
        assert len(days) == len(set(days)), f"customer {customer}: two messages on one day"
        assert not messages[0].action.legal_letter, f"customer {customer}: the legal letter came first"
        for index, message in enumerate(messages):
            _says_only_what_went_out(message, messages[:index])

    # Handovers wait for a person: none went out by itself.
    handovers = [a for a in actions.values() if a.action == "handover"]
    assert handovers and {a.status for a in handovers} == {"awaiting_approval"}
    with store.session() as session:
        assert session.exec(select(Action).where(Action.status.in_(["failed", "review"]))).all() == []  # type: ignore[attr-defined]


def _says_only_what_went_out(message: Sent, before: list[Sent]) -> None:
    """Every earlier message the opening sentence names really went out, about these invoices, on that day."""
    opening = message.body.split("\n\n")[1]
    covered = set(message.invoices)
    reminders = [b for b in before if not b.action.legal_letter and covered & set(b.invoices)]
    letters = [b for b in before if b.action.legal_letter and covered & set(b.invoices)]
    locale = "en" if message.english else "nl"
    word = "reminder" if message.english else "herinnering"
    letter_word = "notice of default" if message.english else "ingebrekestelling"
    stage = message.action.stage
    if stage == "final_notice" and letters:
        day = letters[-1].at.astimezone(AMSTERDAM).date()
        assert letter_word in opening and format_date(day, "d MMMM y", locale=locale) in opening
        return
    assert letter_word not in opening.split(".")[0], f"{stage} names a letter that was not sent"
    if stage == "reminder" or not reminders:
        assert word not in opening.split(".")[0].lower(), f"{stage} names a reminder that was not sent: {opening}"
        return
    first_sentence = opening.split(". ")[0]
    reminded = {i for b in reminders for i in b.invoices} & covered
    if reminded < covered:  # about some of these invoices: it names them, and does not say "despite"
        assert ("we reminded you" if message.english else "herinnerden wij u") in first_sentence, first_sentence
    else:
        plural = (word + ("s" if message.english else "en")) in first_sentence
        assert plural == (len(reminders) > 1), first_sentence
    for earlier in reminders:
        day = earlier.at.astimezone(AMSTERDAM).date()
        assert format_date(day, "d MMMM", locale=locale) in first_sentence, (first_sentence, day)


def test_a_customer_who_had_a_message_today_gets_the_next_one_tomorrow(
    store: Store, clock: ManualClock, smtp_sink: tuple[MailSink, int], tmp_path: Path
) -> None:
    """An invoice corrected in the ledger in the afternoon (its due date moved back) is overdue at once: its
    reminder waits for the next day when the customer already had a message today."""
    sink, port = smtp_sink
    invoice = {"contact_id": "1", "invoice_date": "2026-10-01", "total_price_incl_tax": "121.0", "language": "nl"}
    seed = {
        "administrations": [
            {
                "id": "313373133731337313",
                "name": "Bakkerij De Vries",
                "contacts": [{"id": "1", "firstname": "Eva", "lastname": "Bakker", "email": "eva@example.nl"}],
                "sales_invoices": [
                    {
                        **invoice,
                        "id": "901",
                        "invoice_id": "2026-0901",
                        "due_date": "2026-11-10",
                        "total_unpaid": "121.0",
                    },
                    {
                        **invoice,
                        "id": "902",
                        "invoice_id": "2026-0902",
                        "due_date": "2026-12-31",
                        "total_unpaid": "121.0",
                    },
                ],
            }
        ]
    }
    with MoneybirdSimulator(seed=seed, today=GO_LIVE) as ledger:
        clock.set(datetime.combine(GO_LIVE, time(10), AMSTERDAM))
        unlimited = {"requests": 100_000, "per_seconds": 1.0}
        config = moneybird_config(ledger, rate_limit=unlimited, company=SENDER)
        adapter = moneybird_adapter(ledger, clock, rate_limit=unlimited)
        policies = {"default": default_policy()}
        email = EmailSection(host="127.0.0.1", port=port, security="none", from_address="debiteuren@bakkerij.example")
        dispatcher = Dispatcher(store, adapter, config, policies, clock, email=email, handover_dir=tmp_path)
        ApprovalStore(store).approve_administration(config, policies, by="Credit Controller", note=None)

        def sync_and_dispatch(at: datetime) -> None:
            clock.set(at)
            sync_administration(store, adapter, name="acme", ledger_reference="", clock=clock)
            dispatcher.run()

        sync_and_dispatch(datetime.combine(GO_LIVE, time(10), AMSTERDAM))
        assert [m["Subject"] for m in sink.messages] == ["Herinnering: factuur 2026-0901 van Bakkerij De Vries"]
        ledger.update_invoice(ledger.administration_ids[0], "902", due_date="2026-11-12")  # corrected: overdue now
        sync_and_dispatch(datetime.combine(GO_LIVE, time(15), AMSTERDAM))
        assert len(sink.messages) == 1  # one message a customer a day
        sync_and_dispatch(datetime.combine(GO_LIVE + timedelta(days=1), time(10), AMSTERDAM))
        assert [m["Subject"] for m in sink.messages][1:] == ["Herinnering: factuur 2026-0902 van Bakkerij De Vries"]
