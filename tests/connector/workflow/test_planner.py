"""The planner: stage transitions, grouping, holds, no burst after downtime, legal steps never skipped."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from connector.workflow.legal import DebtorKind, after_grace, letter_term
from connector.workflow.planner import ContactFacts, Hold, InvoiceFacts, PlannedAction, Planner, Progress
from connector.workflow.policy import ApprovalRules, Policy, Stage, default_policy

DUE = date(2025, 3, 3)  # a Monday
POLICIES = {"default": default_policy()}
# As an office moving from another tool configures it: invoices first seen late take the latest stage.
LATEST = {"default": default_policy().model_copy(update={"catch_up": "latest"})}
CONSUMER = ContactFacts("c1", DebtorKind.CONSUMER)
BUSINESS = ContactFacts("b1", DebtorKind.BUSINESS)


def invoice(
    ledger_id: str = "1", contact: str = "c1", due: date = DUE, amount: str = "121.00", **kw: object
) -> InvoiceFacts:
    return InvoiceFacts(ledger_id, f"2025-{ledger_id}", contact, due, "EUR", Decimal(amount), **kw)  # type: ignore[arg-type]


def plan(
    day: date,
    invoices: list[InvoiceFacts],
    progress: dict[str, Progress] | None = None,
    contacts: dict[str, ContactFacts] | None = None,
    policies: dict[str, Policy] | None = None,
) -> list[PlannedAction]:
    planner = Planner("acme", policies or POLICIES, allow_unverified_rates=True)
    return planner.plan(day, invoices, progress or {}, contacts or {"c1": CONSUMER, "b1": BUSINESS})


def after(days: int) -> date:
    return DUE + timedelta(days=days)


def charged_from(letter_on: date) -> date:
    """The first day costs are charged and a final notice may go: after the e-mailed letter's term and the
    default policy's grace of three business days."""
    return after_grace(letter_term(letter_on, "email").last_day, default_policy().grace_days)


def test_nothing_before_the_first_stage() -> None:
    assert plan(DUE, [invoice()]) == []


def play(days: range) -> tuple[list[tuple[int, str]], int]:
    """Plan one invoice every day and send all of it: (day, stage) of each message, and the day (after the due
    date) from which the legal letter's term has run out."""
    progress: dict[str, Progress] = {}
    seen = []
    letter_on: date | None = None
    for day in days:
        today = after(day)
        for action in plan(today, [invoice()], progress):
            seen.append((day, action.stage))
            letter_on = today if action.legal_letter else letter_on
            progress["1"] = Progress(stage=action.stage, stage_on=today, letter_on=letter_on)
    assert letter_on is not None
    return seen, (charged_from(letter_on) - DUE).days


def test_the_default_sequence_one_stage_at_a_time() -> None:
    seen, costs_from = play(range(0, 60))
    assert seen == [
        (1, "call"),
        (3, "reminder"),
        (16, "aanmaning"),
        (23, "ingebrekestelling"),
        (max(30, costs_from), "final_notice"),
        (max(37, costs_from + 7), "handover"),
    ]


def test_one_message_per_contact_and_stage() -> None:
    actions = plan(
        after(3),
        [invoice("1"), invoice("2", due=after(-1)), invoice("3", contact="b1")],
        {"1": Progress("call", after(1)), "2": Progress("call", after(1))},
    )
    by_contact = {a.contact_id: a for a in actions}
    assert by_contact["c1"].invoices == ("2", "1")  # oldest due date first
    assert by_contact["c1"].principal == Decimal("242.00")
    assert by_contact["c1"].stage == "reminder"
    assert by_contact["b1"].stage == "reminder" and by_contact["b1"].invoices == ("3",)


def test_paid_held_and_ledger_paused_invoices_get_nothing() -> None:
    day = after(5)
    assert plan(day, [invoice(amount="0.00")]) == []
    assert plan(day, [invoice()], {"1": Progress(hold=Hold("dispute"))}) == []
    assert plan(day, [invoice()], {"1": Progress(hold=Hold("arrangement", until=after(10)))}) == []
    assert plan(day, [invoice(ledger_paused=True)]) == []
    # a pause the connector itself set (to silence the ledger's own reminders) is no hold
    assert [
        a.stage for a in plan(day, [invoice(ledger_paused=True)], {"1": Progress(ledger_paused_by_connector=True)})
    ] == ["reminder"]


def test_a_resumed_invoice_continues_where_it_stopped() -> None:
    held = Progress(stage="reminder", stage_on=after(3), hold=Hold("arrangement", until=after(20)))
    assert plan(after(20), [invoice()], {"1": held}) == []
    (action,) = plan(after(21), [invoice()], {"1": held})
    assert action.stage == "aanmaning"


def test_an_invoice_first_seen_late_starts_at_the_first_message_to_the_customer() -> None:
    (action,) = plan(after(90), [invoice()])
    assert action.stage == "reminder" and not action.legal_letter
    assert action.collection_costs == Decimal("0.00")
    assert "not sent, being past their moment: call" in action.reason


def test_a_person_may_start_one_invoice_at_a_later_stage_even_the_legal_letter() -> None:
    """Its earlier reminders went out by hand: a person says where it begins (`connector start-at`); under
    either catch-up, and the stages after it follow in turn; not before it is due, never again once begun."""
    started = {"1": Progress(start_stage="ingebrekestelling")}
    assert plan(after(22), [invoice()], started) == []  # the letter's day has not come yet
    for policies in (POLICIES, LATEST):
        (action,) = plan(after(90), [invoice()], started, policies=policies)
        assert action.stage == "ingebrekestelling" and action.legal_letter
        assert "begins at the stage a person set for 2025-1 (`connector start-at`)" in action.reason
        assert "not sent, being past their moment" not in action.reason
    (action,) = plan(after(30), [invoice()], {"1": Progress(start_stage="aanmaning")})
    assert action.stage == "aanmaning"
    # Once it has begun, the start no longer counts: the next stage follows the one that went out.
    begun = Progress(stage="aanmaning", stage_on=after(30), start_stage="aanmaning")
    (action,) = plan(after(37), [invoice()], {"1": begun})
    assert action.stage == "ingebrekestelling"


def test_restarted_it_goes_through_every_stage_spaced_from_what_went_out() -> None:
    seen, costs_from = play(range(90, 150))  # first seen 90 days overdue
    assert seen == [
        (90, "reminder"),
        (103, "aanmaning"),  # 13 days after the reminder, as from day 3 to day 16
        (110, "ingebrekestelling"),
        (max(117, costs_from), "final_notice"),
        (max(124, costs_from + 7), "handover"),
    ]


def test_no_burst_after_downtime_the_next_stage_only() -> None:
    (action,) = plan(after(40), [invoice()], {"1": Progress("reminder", after(3))})
    assert action.stage == "aanmaning"  # not the letter the calendar would have reached by now


def test_the_latest_catch_up_takes_the_latest_applicable_stage() -> None:
    (action,) = plan(after(20), [invoice()], policies=LATEST)
    assert action.stage == "aanmaning"
    assert "call, reminder" in action.reason


def test_the_legal_letter_is_never_skipped() -> None:
    (action,) = plan(after(90), [invoice()], policies=LATEST)
    assert action.stage == "ingebrekestelling" and action.legal_letter
    assert action.deadline == letter_term(after(90), "email").last_day
    assert action.collection_costs == Decimal("40.00")


def test_nothing_past_the_letter_until_its_term_has_run_out() -> None:
    sent = after(23)
    costs_from = charged_from(sent)
    progress = {"1": Progress("ingebrekestelling", sent, letter_on=sent)}
    assert plan(costs_from - timedelta(days=1), [invoice()], progress) == []
    (action,) = plan(costs_from + timedelta(days=30), [invoice()], progress)
    assert action.stage == "final_notice"  # the next one, now that the term has passed
    assert action.collection_costs == Decimal("40.00")
    (latest,) = plan(costs_from + timedelta(days=30), [invoice()], progress, policies=LATEST)
    assert latest.stage == "handover"


def test_the_start_stage_is_checked_against_the_legal_rules() -> None:
    stages = default_policy().stages
    assert Policy(stages=stages, start_stage="aanmaning").start_index(lambda _: True) == 2
    for start, problem in (
        ("nope", "no stage named 'nope'"),
        ("call", "does not reach the customer"),
        ("ingebrekestelling", "never the first message"),
    ):
        with pytest.raises(ValidationError, match=problem):
            Policy(stages=stages, start_stage=start)
    with pytest.raises(ValidationError, match="needs a reminder before it"):
        Policy(stages=(Stage(name="call", days=1, action="task"), *stages[3:]))


def test_spacing_is_kept_from_when_a_stage_really_went_out() -> None:
    late = {"1": Progress("reminder", stage_on=after(10))}  # the reminder went out a week late
    assert plan(after(16), [invoice()], late) == []
    assert [a.stage for a in plan(after(23), [invoice()], late)] == ["aanmaning"]


def test_excluded_contacts_and_other_policies() -> None:
    assert plan(after(5), [invoice()], contacts={"c1": replace(CONSUMER, excluded=True)}) == []
    gentle = Policy(stages=(Stage(name="nudge", days=10, action="email"),))
    actions = plan(
        after(12),
        [invoice()],
        contacts={"c1": replace(CONSUMER, policy="gentle")},
        policies={"default": default_policy(), "gentle": gentle},
    )
    assert [(a.stage, a.policy) for a in actions] == [("nudge", "gentle")]


def test_minimum_amount_and_audience() -> None:
    policy = Policy(
        stages=(
            Stage(name="call", days=1, action="task", min_open_amount=Decimal("500")),
            Stage(name="b2b_only", days=2, action="email", audience="business"),
        )
    )
    policies = {"default": policy}
    assert plan(after(1), [invoice()], policies=policies) == []
    assert [a.stage for a in plan(after(2), [invoice(contact="b1")], policies=policies)] == ["b2b_only"]


def test_plan_json_has_the_contract_fields() -> None:
    (action,) = plan(after(30), [invoice()], {"1": Progress("aanmaning", after(16))})
    data = action.to_json()
    for key in (
        "administration",
        "stage",
        "action",
        "contact_id",
        "invoices",
        "principal",
        "collection_costs",
        "interest",
        "deadline",
        "language",
        "reason",
    ):
        assert key in data
    assert data["principal"] == "121.00" and data["collection_costs"] == "40.00"
    assert isinstance(data["interest"], str) and Decimal(data["interest"]) > 0


def test_the_idempotency_key_is_the_same_for_the_same_action() -> None:
    a = plan(after(3), [invoice("1"), invoice("2")], {"1": Progress("call", after(1)), "2": Progress("call", after(1))})
    b = plan(after(4), [invoice("2"), invoice("1")], {"1": Progress("call", after(1)), "2": Progress("call", after(1))})
    assert a[0].key == b[0].key and len(a[0].key) == 32


@pytest.mark.parametrize(
    "stages",
    [
        (Stage(name="a", days=5, action="email"), Stage(name="b", days=3, action="email")),
        (Stage(name="a", days=5, action="handover"),),
        (Stage(name="a", days=0, action="email", legal_letter=True),),
        (Stage(name="a", days=1, action="email"), Stage(name="a", days=2, action="email")),
    ],
)
def test_policies_that_cannot_be_right_are_refused(stages: tuple[Stage, ...]) -> None:
    with pytest.raises(ValidationError):
        Policy(stages=stages)


# --- the invariants, over random histories -----------------------------------------------------------

events = st.lists(
    st.tuples(st.integers(0, 59), st.sampled_from(["pay", "hold", "release", "down"]), st.integers(0, 5)),
    max_size=12,
)


@settings(max_examples=150)
@given(
    dues=st.lists(st.integers(-250, 20), min_size=1, max_size=6),  # first seen up to 255 days overdue
    kinds=st.lists(st.sampled_from([DebtorKind.CONSUMER, DebtorKind.BUSINESS]), min_size=2, max_size=2),
    history=events,
)
def test_invariants_over_sixty_days(
    dues: list[int], kinds: list[DebtorKind], history: list[tuple[int, str, int]]
) -> None:
    """Running the plan every day and executing all of it: stages only move forward and never repeat, nothing
    reaches a paid or held invoice, nobody is handed over before a legal letter whose term has passed, a
    customer gets at most one message a day and never the legal letter as their first, and an invoice's
    messages leave none out except where it joined a customer's message at a higher stage."""
    policy = default_policy()
    contacts = {"c0": ContactFacts("c0", kinds[0]), "c1": ContactFacts("c1", kinds[1])}
    invoices = {str(i): invoice(str(i), contact=f"c{i % 2}", due=after(d)) for i, d in enumerate(dues)}
    progress: dict[str, Progress] = {}
    executed: dict[str, list[tuple[int, date]]] = {i: [] for i in invoices}
    received: dict[str, list[tuple[date, int]]] = {"c0": [], "c1": []}  # per customer: (day, stage) of messages
    down: set[int] = set()
    start = after(-5)
    for day in range(60):
        today = start + timedelta(days=day)
        for when, what, target in history:
            ledger_id = str(target % len(invoices))
            if when != day:
                continue
            if what == "pay":
                invoices[ledger_id] = replace(invoices[ledger_id], open_amount=Decimal("0.00"))
            elif what == "hold":
                progress[ledger_id] = replace(progress.get(ledger_id, Progress()), hold=Hold("dispute"))
            elif what == "release":
                progress[ledger_id] = replace(progress.get(ledger_id, Progress()), hold=None)
            elif what == "down":
                down.update(range(day, day + 5 + target))  # the connector does not run for a while
        if day in down:
            continue
        # Twice a day, as the daemon plans on every cycle: the second plan must add no second message.
        for _ in range(2):
            for action in plan(today, list(invoices.values()), progress, contacts):
                if policy.stages[action.stage_index].customer_facing:
                    received[action.contact_id].append((today, action.stage_index))
                    contacts[action.contact_id] = replace(contacts[action.contact_id], last_message_on=today)
                for ledger_id in action.invoices:
                    facts, state = invoices[ledger_id], progress.get(ledger_id, Progress())
                    assert facts.open_amount > 0, "an action reached a paid invoice"
                    assert state.hold is None or not state.hold.active(today), "an action reached a held invoice"
                    done = [index for index, _ in executed[ledger_id]]
                    assert not done or action.stage_index > done[-1], "a stage repeated or went back"
                    if action.action == "handover" or (
                        policy.letter_index is not None and action.stage_index > policy.letter_index
                    ):
                        assert state.letter_on is not None, "past the legal letter without one"
                        assert today >= charged_from(state.letter_on), "within the term or its grace"
                    executed[ledger_id].append((action.stage_index, today))
                    progress[ledger_id] = replace(
                        state,
                        stage=action.stage,
                        stage_on=today,
                        letter_on=today if action.legal_letter else state.letter_on,
                    )
    for contact_id, messages in received.items():
        days = [on for on, _ in messages]
        assert len(days) == len(set(days)), f"{contact_id}: two messages on one day"
        if messages:
            assert not policy.stages[messages[0][1]].legal_letter, f"{contact_id}: the legal letter came first"
    # An invoice leaves a message out only by joining, that day, a message that another invoice of the customer
    # reached in its own turn.
    customer_facing = [i for i, stage in enumerate(policy.stages) if stage.customer_facing]
    lifted: dict[date, set[str]] = {}
    covered: dict[date, set[str]] = {}
    for ledger_id, done in executed.items():
        previous = customer_facing[0] - 1  # restart: an invoice's first message is the first one to the customer
        for index, on in done:
            if index not in customer_facing:
                continue
            covered.setdefault(on, set()).add(ledger_id)
            if any(previous < i < index for i in customer_facing):
                lifted.setdefault(on, set()).add(ledger_id)
            previous = index
    for on, joined in lifted.items():
        assert covered[on] - joined, f"{sorted(joined)} left a message out on {on} without joining another's"


def test_btw_on_collection_costs_only_when_configured() -> None:
    planner = Planner("acme", LATEST, allow_unverified_rates=True, vat_percent=Decimal("21"))
    (action,) = planner.plan(after(90), [invoice()], {}, {"c1": CONSUMER})
    assert action.collection_costs == Decimal("48.40")  # the EUR 40 minimum plus 21%
    (plain,) = plan(after(90), [invoice()], policies=LATEST)
    assert plain.collection_costs == Decimal("40.00")


def test_a_consumer_is_held_behind_a_letter_addressed_to_consumers_only() -> None:
    policy = Policy(
        stages=(
            Stage(name="reminder", days=2, action="email"),
            Stage(name="letter", days=5, action="email", legal_letter=True, audience="consumer"),
            Stage(name="handover", days=10, action="handover"),
        ),
        catch_up="latest",
    )
    assert [a.stage for a in plan(after(60), [invoice()], policies={"default": policy})] == ["letter"]
    assert [a.stage for a in plan(after(60), [invoice(contact="b1")], policies={"default": policy})] == ["handover"]
    with pytest.raises(ValidationError, match="must reach consumers"):
        Policy(stages=(Stage(name="letter", days=5, action="email", legal_letter=True, audience="business"),))


def test_the_next_stage_waits_until_the_one_before_has_gone_out() -> None:
    waiting = {"1": Progress("reminder", after(3), in_flight=True)}  # planned on day 3, still in the outbox
    assert plan(after(40), [invoice()], waiting) == []
    (action,) = plan(after(40), [invoice()], {"1": Progress("reminder", after(27))})  # out on day 27
    assert action.stage == "aanmaning"  # 13 days later, as from day 3 to day 16
    assert plan(after(40), [invoice()], {"1": Progress("reminder", after(28))}) == []


# --- one message a customer a day --------------------------------------------------------------------


def test_stages_due_on_one_day_go_out_as_one_message_at_the_highest() -> None:
    (action,) = plan(after(30), [invoice("1"), invoice("2", due=after(20))], {"1": Progress("aanmaning", after(16))})
    assert action.stage == "ingebrekestelling" and action.invoices == ("1", "2")
    assert action.principal == Decimal("242.00")
    assert "2025-2 joined from an earlier stage" in action.reason


def test_an_invoice_joins_a_stage_past_the_legal_letter_only_after_its_own_term() -> None:
    letter = Progress("ingebrekestelling", after(23), letter_on=after(23))
    (action,) = plan(after(60), [invoice("1"), invoice("2", due=after(50))], {"1": letter})
    assert (action.stage, action.invoices) == ("final_notice", ("1",))  # invoice 2 waits for another day
    (next_day,) = plan(
        after(61),
        [invoice("1"), invoice("2", due=after(50))],
        {"1": replace(letter, stage="final_notice", stage_on=after(60))},
    )
    assert (next_day.stage, next_day.invoices) == ("reminder", ("2",))


def test_nothing_more_reaches_a_customer_on_a_day_a_message_went_out_or_while_one_waits() -> None:
    invoices = [invoice("1"), invoice("2", due=after(4))]  # invoice 2: its call is due on day 5
    progress = {"1": Progress("call", after(1))}
    assert [a.stage for a in plan(after(5), invoices, progress)] == ["call", "reminder"]
    for quiet in (replace(CONSUMER, last_message_on=after(5)), replace(CONSUMER, message_in_flight=True)):
        assert [a.stage for a in plan(after(5), invoices, progress, {"c1": quiet})] == ["call"]  # a task for us
    yesterday = replace(CONSUMER, last_message_on=after(4))
    assert [a.stage for a in plan(after(5), invoices, progress, {"c1": yesterday})] == ["call", "reminder"]


def test_two_currencies_are_two_messages_on_two_days() -> None:
    dollars = replace(invoice("2"), currency="USD")
    actions = plan(
        after(3), [invoice("1"), dollars], {"1": Progress("call", after(1)), "2": Progress("call", after(1))}
    )
    assert [(a.stage, a.currency) for a in actions] == [("reminder", "EUR")]  # the same amount: the first found


# --- approval ----------------------------------------------------------------------------------------


def test_the_handover_waits_for_a_person_by_default() -> None:
    sent = after(23)
    progress = {"1": Progress("final_notice", after(40), letter_on=sent)}
    (action,) = plan(after(60), [invoice()], progress)
    assert action.stage == "handover" and action.needs_approval
    assert action.approval == ("stage handover needs a person's approval",)
    assert action.to_json()["approval"] == ["stage handover needs a person's approval"]
    (reminder,) = plan(after(3), [invoice()], {"1": Progress("call", after(1))})
    assert not reminder.needs_approval


def test_a_policy_can_ask_approval_for_the_letter_large_amounts_and_long_overdue_invoices() -> None:
    strict = default_policy().model_copy(
        update={
            "approval": ApprovalRules(
                stages=("ingebrekestelling",), amount_above=Decimal("1000"), overdue_at_first_sight_days=60
            )
        }
    )
    policies = {"default": strict}
    (letter,) = plan(after(23), [invoice()], {"1": Progress("aanmaning", after(16))}, policies=policies)
    assert letter.approval == ("stage ingebrekestelling needs a person's approval",)
    (large,) = plan(after(3), [invoice(amount="1000.01")], {"1": Progress("call", after(1))}, policies=policies)
    assert large.approval == ("1000.01 is above the approval threshold 1000.00",)
    old = invoice(first_seen_on=after(61))
    (first,) = plan(after(61), [old], policies=policies)
    assert first.approval == ("first action on 2025-1, more than 60 days overdue when first seen",)
    (then,) = plan(after(80), [old], {"1": Progress("reminder", after(61))}, policies=policies)
    assert then.approval == ()  # only the first action: a person looked at it then
    assert plan(after(60), [invoice(first_seen_on=after(60))], policies=policies)[0].approval == ()


def test_approval_rules_name_stages_that_exist() -> None:
    with pytest.raises(ValidationError, match=r"approval\.stages: no stage named 'nope'"):
        Policy(stages=default_policy().stages, approval=ApprovalRules(stages=("nope",)))
    assert default_policy().fingerprint() == default_policy().fingerprint()
    assert default_policy().fingerprint() != default_policy().model_copy(update={"catch_up": "latest"}).fingerprint()
