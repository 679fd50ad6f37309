"""One legal track per debtor: the Dutch cost and letter rules applied per customer, not per invoice.

Table tests with amounts computed by hand, each named after the case it covers, and properties over random
debtors. `Track` plays the planner day by day and does what it plans, keeping what the store keeps: each
invoice's progress and each legal letter as it went out (what it covered, the costs it stated).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.workflow.legal import DebtorKind, after_grace, collection_costs, letter_term
from connector.workflow.planner import (
    ContactFacts,
    Hold,
    InvoiceFacts,
    LetterFacts,
    PlannedAction,
    Planner,
    Progress,
)
from connector.workflow.policy import default_policy

D = Decimal
START = date(2025, 3, 3)  # a Monday
POLICY = default_policy()
CONSUMER, BUSINESS = DebtorKind.CONSUMER, DebtorKind.BUSINESS


def day(n: int) -> date:
    return START + timedelta(days=n)


def charged_from(letter_on: date) -> date:
    """The first day after an e-mailed letter's term and the default grace of three business days."""
    return after_grace(letter_term(letter_on, "email").last_day, POLICY.grace_days)


@dataclass
class Track:
    """One customer's invoices, played through the default policy: every plan carried out the day it is made."""

    kind: DebtorKind
    recurring: bool | None = None  # a person's say that the customer's claims are periodic
    invoices: dict[str, InvoiceFacts] = field(default_factory=dict)
    progress: dict[str, Progress] = field(default_factory=dict)
    letters: list[LetterFacts] = field(default_factory=list)
    done: list[tuple[date, PlannedAction]] = field(default_factory=list)
    last_message_on: date | None = None
    # Per legal letter: it and the earlier letters whose claims were still open when it went out.
    together: list[list[LetterFacts]] = field(default_factory=list)

    def add(self, ledger_id: str, due: date, amount: str) -> None:
        self.invoices[ledger_id] = InvoiceFacts(ledger_id, f"N{ledger_id}", "c", due, "EUR", D(amount))

    def play(self, first: int, last: int) -> None:
        for n in range(first, last + 1):
            self.step(day(n))

    def step(self, today: date) -> list[PlannedAction]:
        contact = ContactFacts(
            "c", self.kind, last_message_on=self.last_message_on, letters=tuple(self.letters), recurring=self.recurring
        )
        planner = Planner("acme", {"default": POLICY}, allow_unverified_rates=True)
        actions = planner.plan(today, list(self.invoices.values()), self.progress, {"c": contact})
        for action in actions:
            self.done.append((today, action))
            if POLICY.stages[action.stage_index].customer_facing:
                self.last_message_on = today
            if action.legal_letter:
                letter = LetterFacts(
                    action.key,
                    today,
                    action.invoices,
                    max(D(0), action.principal - action.credit),
                    action.collection_costs,
                    dict(action.invoice_costs),
                    capped=action.capped,
                )
                still_open = [
                    earlier
                    for earlier in self.letters
                    if any(self.invoices[ledger_id].open_amount > 0 for ledger_id in earlier.invoices)
                ]
                self.together.append([*still_open, letter])
                self.letters.append(letter)
            for ledger_id in action.invoices:
                before = self.progress.get(ledger_id, Progress())
                self.progress[ledger_id] = replace(
                    before,
                    stage=action.stage,
                    stage_on=today,
                    letter_on=today if action.legal_letter else before.letter_on,
                    letter_key=action.key if action.legal_letter else before.letter_key,
                )
        return actions

    def pay(self, ledger_id: str) -> None:
        self.invoices[ledger_id] = replace(self.invoices[ledger_id], open_amount=D("0.00"))

    def stage(self, name: str) -> list[tuple[date, PlannedAction]]:
        return [(on, action) for on, action in self.done if action.stage == name]


# --- the cases of the legal review, amounts by hand ------------------------------------------------------


def test_a_consumer_with_invoices_due_on_different_days_gets_one_letter_on_the_summed_principal() -> None:
    """The demo sent three letters stating 1,014.80 + 40 + 40 = 1,094.80 where one letter on the summed
    principal of 24,229.45 allows 875 + 1% of 14,229.45 = 1,017.29 (art. 6:96 lid 5 BW with the BIK)."""
    track = Track(CONSUMER)
    track.add("a", day(0), "23980.00")  # alone: 875 + 1% of 13,980 = 1,014.80
    track.add("b", day(8), "121.00")
    track.add("c", day(16), "128.45")
    track.play(0, 90)
    ((sent_on, letter),) = track.stage("ingebrekestelling")
    assert sent_on == day(23) and letter.invoices == ("a", "b", "c")
    assert letter.principal == D("24229.45") and letter.collection_costs == D("1017.29")
    assert "Nb, Nc also overdue, in this one legal letter" in letter.reason
    # After the term and the grace, one final notice and one handover, for the costs the letter stated.
    ((final_on, final),) = track.stage("final_notice")
    assert final_on == charged_from(day(23)) and final.collection_costs == D("1017.29")
    ((_, handover),) = track.stage("handover")
    assert handover.invoices == ("a", "b", "c") and handover.collection_costs == D("1017.29")


def test_an_invoice_due_later_joins_the_next_letter_and_bears_only_what_the_staffel_adds() -> None:
    """100.00 got a letter stating 40.00; a second 100.00 falls due later. 200.00 together allow 40.00 (15% is
    30.00, under the minimum): the second letter states no further costs, and nothing claims more than 40."""
    track = Track(CONSUMER)
    track.add("a", day(0), "100.00")
    track.play(0, 24)
    track.add("b", day(25), "100.00")
    track.play(25, 120)
    first, second = (action for _, action in track.stage("ingebrekestelling"))
    assert (first.invoices, first.collection_costs) == (("a",), D("40.00"))
    assert (second.invoices, second.collection_costs) == (("b",), D("0.00"))
    assert second.costs_stated_before == D("40.00") and second.costs_stated_before_on == day(23)
    assert max(action.collection_costs for _, action in track.done) == D("40.00")


def test_a_later_letter_adds_what_the_staffel_on_everything_open_allows() -> None:
    """1,000.00 got a letter stating 150.00; a second 1,000.00 falls due later: 2,000.00 allow 300.00, so the
    second letter states 150.00, and what follows for both claims 300.00, never 150 + 150 on top of 300."""
    track = Track(CONSUMER)
    track.add("a", day(0), "1000.00")
    track.play(0, 24)
    track.add("b", day(25), "1000.00")
    track.play(25, 140)
    costs = [action.collection_costs for _, action in track.stage("ingebrekestelling")]
    assert costs == [D("150.00"), D("150.00")]
    assert {action.collection_costs for _, action in track.stage("handover")} <= {D("150.00"), D("300.00")}


def test_costs_claimed_later_never_exceed_what_the_letter_stated() -> None:
    """A letter for 121.00 stated 40.00; the invoice was then corrected to 2,000.00. The final notice once
    claimed 300.00: only what the letter stated can be claimed (a higher claim needs a new letter)."""
    track = Track(CONSUMER)
    track.add("a", day(0), "121.00")
    track.play(0, 24)
    track.invoices["a"] = replace(track.invoices["a"], open_amount=D("2000.00"))
    track.play(25, 90)
    ((_, final),) = track.stage("final_notice")
    assert final.principal == D("2000.00") and final.collection_costs == D("40.00")


def test_a_part_paid_within_the_term_bears_no_costs() -> None:
    """HR 2016:2704: the costs are computed on what is left unpaid at the end of the term. 1,000.00 stated
    150.00; 800.00 paid within the term leaves 200.00, which allows 40.00."""
    track = Track(CONSUMER)
    track.add("a", day(0), "1000.00")
    track.play(0, 30)
    track.invoices["a"] = replace(track.invoices["a"], open_amount=D("200.00"))
    track.play(31, 90)
    ((_, final),) = track.stage("final_notice")
    assert final.collection_costs == D("40.00")


def test_a_business_owes_at_least_forty_euros_per_invoice() -> None:
    """Art. 6:96 lid 4 BW and CJEU C-585/20: at least EUR 40 per invoice. One 40.00 for a bundle of three
    invoices of 60.50, 121.00 and 1,234.50 lost the creditor money: 40 + 40 + 185.18 = 265.18, stated per invoice."""
    track = Track(BUSINESS)
    for ledger_id, amount in (("a", "1234.50"), ("b", "60.50"), ("c", "121.00")):
        track.add(ledger_id, day(0), amount)
    track.play(0, 30)
    ((_, letter),) = track.stage("ingebrekestelling")
    assert dict(letter.invoice_costs) == {"a": D("185.18"), "b": D("40.00"), "c": D("40.00")}
    assert letter.collection_costs == D("265.18")
    assert letter.to_json()["invoice_costs"] == {"a": "185.18", "b": "40.00", "c": "40.00"}


def test_no_final_notice_before_the_grace_after_the_term_has_passed() -> None:
    """The term ended on a Thursday and final notices with costs went out the next day; a transfer made on the
    last day is credited a business day or two later (art. 6:114 lid 2 BW). Letter Wednesday 26 March 2025,
    received the 27th, term to Thursday 10 April; grace Friday 11, Monday 14, Tuesday 15: from Wednesday 16."""
    track = Track(CONSUMER)
    track.add("a", day(0), "121.00")
    track.play(0, 60)
    ((letter_on, _),) = track.stage("ingebrekestelling")
    assert letter_on == date(2025, 3, 26) and letter_term(letter_on, "email").last_day == date(2025, 4, 10)
    ((final_on, _),) = track.stage("final_notice")
    assert final_on == date(2025, 4, 16)


def test_the_grace_skips_weekends_and_holidays() -> None:
    assert after_grace(date(2025, 12, 19), 3) == date(2025, 12, 25)  # Friday; then Mon 22, Tue 23, Wed 24
    assert after_grace(date(2025, 12, 24), 3) == date(2026, 1, 1)  # Christmas, a weekend; then 29, 30, 31 December
    assert after_grace(date(2025, 4, 10), 0) == date(2025, 4, 11)


def test_a_held_invoice_stays_out_of_the_letter_and_gets_its_own_later() -> None:
    track = Track(CONSUMER)
    track.add("a", day(0), "500.00")
    track.add("b", day(0), "300.00")
    track.progress["b"] = Progress(hold=Hold("dispute", until=day(30)))
    track.play(0, 120)
    letters = [action for _, action in track.stage("ingebrekestelling")]
    assert [action.invoices for action in letters] == [("a",), ("b",)]
    # 500 alone: 75.00; then 800 together allow 120.00, so the second letter adds 45.00.
    assert [action.collection_costs for action in letters] == [D("75.00"), D("45.00")]


# --- properties over random debtors -----------------------------------------------------------------------

debtors = st.fixed_dictionaries(
    {
        "kind": st.sampled_from([CONSUMER, BUSINESS]),
        "invoices": st.lists(
            st.tuples(st.integers(-40, 60), st.decimals(D("0.01"), D("30000"), places=2)), min_size=1, max_size=5
        ),
        "events": st.lists(
            st.tuples(
                st.integers(0, 150),
                st.sampled_from(["pay", "part", "credit", "hold", "release"]),
                st.integers(0, 4),
            ),
            max_size=8,
        ),
    }
)


@settings(max_examples=120, deadline=None)
@given(debtor=debtors)
def test_the_legal_track_holds_for_any_debtor(debtor: dict[str, object]) -> None:
    """A consumer never gets two letters covering one invoice, never bears costs twice on one principal, and no
    letter states more than the staffel on what it covers; a business is charged at least EUR 40 per invoice
    when costs apply; nothing charges costs, and no final notice or handover goes, before the term and its
    grace have passed; nothing claims more after a letter than the letters stated."""
    kind: DebtorKind = debtor["kind"]  # type: ignore[assignment]
    track = Track(kind)
    for n, (due, amount) in enumerate(debtor["invoices"]):  # type: ignore[arg-type]
        track.add(str(n), day(due), str(amount))
    events: list[tuple[int, str, int]] = debtor["events"]  # type: ignore[assignment]
    for n in range(0, 151):
        today = day(n)
        for when, what, target in events:
            ledger_id = str(target % len(debtor["invoices"]))  # type: ignore[arg-type]
            if when != n:
                continue
            facts = track.invoices[ledger_id]
            if what == "pay":
                track.pay(ledger_id)
            elif what == "part":  # a part payment
                track.invoices[ledger_id] = replace(facts, open_amount=(facts.open_amount / 2).quantize(D("0.01")))
            elif what == "credit":  # a credit note for a third of it, not set off in the ledger
                track.add(f"credit-{n}-{target}", today, str(-(facts.open_amount / 3).quantize(D("0.01"))))
            elif what == "hold":
                track.progress[ledger_id] = replace(track.progress.get(ledger_id, Progress()), hold=Hold("dispute"))
            else:
                track.progress[ledger_id] = replace(track.progress.get(ledger_id, Progress()), hold=None)
        before = dict(track.progress)
        for action in track.step(today):
            for ledger_id in action.invoices:
                state = before.get(ledger_id, Progress())
                if action.legal_letter and kind is CONSUMER:
                    assert state.letter_on is None, f"a second letter covering {ledger_id}"
                if action.action == "handover" or action.stage_index > (POLICY.letter_index or 0):
                    assert state.letter_on is not None and today >= charged_from(state.letter_on), "within term+grace"
            if action.collection_costs and not action.legal_letter:
                covering = [letter for letter in track.letters if set(action.invoices) & set(letter.invoices)]
                assert action.collection_costs <= sum((letter.costs for letter in covering), D(0)), "above the letter"
            if action.legal_letter and kind is CONSUMER:
                net = max(D(0), action.principal - action.credit)
                assert action.collection_costs <= collection_costs(net), "above the staffel on what is owed"
            if action.credit:
                assert any("not yet applied" in why for why in action.approval), "a credit not set off, unasked"
            if kind is BUSINESS and action.collection_costs:
                costs = dict(action.invoice_costs)
                assert set(costs) <= set(action.invoices) and min(costs.values()) >= D("40.00"), "under 40 an invoice"
                if not action.credit:
                    assert set(costs) == set(action.invoices), "an invoice without its costs"
    if kind is CONSUMER:
        # Costs on one principal once: a letter and the earlier ones whose claims were still open state together
        # no more than the staffel on everything they covered (a claim settled in full is over; a new one later
        # is a new claim).
        for letters in track.together:
            covered = sum((letter.principal for letter in letters), D(0))
            stated = sum((letter.costs for letter in letters), D(0))
            assert stated <= collection_costs(covered), "costs stated twice on one principal"


def test_no_costs_on_a_residue_under_the_minimum() -> None:
    """EUR 40 in costs on a residue of EUR 0.01 (min_open_amount defaulted to 0): now the stages with costs need at
    least `min_amount_for_costs` open, EUR 25 by default; the reminders before them still go."""
    for amount, letter in (("0.01", False), ("24.99", False), ("25.00", True)):
        track = Track(CONSUMER)
        track.add("a", day(0), amount)
        track.play(0, 60)
        assert [action.stage for _, action in track.done][:3] == ["call", "reminder", "aanmaning"]
        assert bool(track.stage("ingebrekestelling")) is letter, amount
        assert not track.stage("final_notice") or letter


def test_a_legal_stage_on_an_assumed_due_date_waits_for_a_person() -> None:
    """e-Boekhouden fell back to a default 30-day term when the ledger named none: a legal track on an invented
    due date. The reminders still go; the letter waits for a person who knows whether a term was agreed."""
    track = Track(CONSUMER)
    track.add("a", day(0), "121.00")
    track.invoices["a"] = replace(track.invoices["a"], due_date_assumed=True)
    track.play(0, 24)
    assert [action.approval for _, action in track.done if action.stage != "ingebrekestelling"] == [(), (), ()]
    ((_, letter),) = track.stage("ingebrekestelling")
    assert letter.needs_approval and "the due date of Na is assumed" in letter.approval[0]


def test_a_claim_near_prescription_is_left_to_a_person_with_the_date() -> None:
    """An invoice six years overdue still got an automatic legal letter. A consumer's claim prescribes two years
    after it fell due (art. 7:28 BW), a business's five (art. 3:307 BW), anew from a written reminder."""
    planner = Planner("acme", {"default": POLICY}, allow_unverified_rates=True)
    old = InvoiceFacts("a", "Na", "c", date(2019, 3, 1), "EUR", D("121.00"))
    today = date(2025, 3, 3)
    for kind, prescribed in ((CONSUMER, "2021-03-01"), (BUSINESS, "2024-03-01")):
        (action,) = planner.plan(today, [old], {}, {"c": ContactFacts("c", kind)})
        assert action.needs_approval and f"Na prescribed on {prescribed}" in action.approval[-1]
    # A reminder written on 1 June 2024 starts the two years anew: 1 June 2026, within 90 days from 3 March 2026.
    reminded = {"a": Progress("aanmaning", date(2024, 6, 1), written_on=date(2024, 6, 1))}
    (soon,) = planner.plan(date(2026, 3, 3), [old], reminded, {"c": ContactFacts("c", CONSUMER)})
    assert "Na prescribes on 2026-06-01" in soon.approval[-1]
    (early,) = planner.plan(date(2025, 12, 1), [old], reminded, {"c": ContactFacts("c", CONSUMER)})
    assert early.approval == ()


def _subscription(recurring: bool, contact_recurring: bool | None = None) -> Track:
    """EUR 30 a month, each month's invoice paid the day after its final notice (so each next claim stands
    alone): every month a new legal letter."""
    track = Track(CONSUMER, recurring=contact_recurring)
    for month in range(7):
        track.add(str(month), day(30 * month), "30.00")
        track.invoices[str(month)] = replace(track.invoices[str(month)], recurring=recurring, total=D("30.00"))
    for n in range(0, 260):
        for ledger_id, facts in list(track.invoices.items()):
            finals = [on for on, action in track.stage("final_notice") if ledger_id in action.invoices]
            if finals and day(n) > finals[0] and facts.open_amount:
                track.pay(ledger_id)
        track.step(day(n))
    return track


def test_costs_on_a_small_periodic_claim_stop_at_140_euros_in_six_months() -> None:
    """A EUR 30 a month subscription got EUR 40 a letter, EUR 240 in six months; since 1 October 2024 the costs
    on periodic amounts under EUR 266.67 are capped at EUR 140 per six months."""
    plain = [action.collection_costs for _, action in _subscription(False).stage("ingebrekestelling")]
    assert plain == [D("40.00")] * 7
    capped = _subscription(True).stage("ingebrekestelling")
    costs = [action.collection_costs for _, action in capped]
    assert costs[:4] == [D("40.00"), D("40.00"), D("40.00"), D("20.00")]
    for on, _ in capped:  # no six months hold more than 140
        window = [action.collection_costs for sent, action in capped if on - timedelta(days=183) < sent <= on]
        assert sum(window, D(0)) <= D("140.00"), (on, window)
    assert all(action.capped for _, action in capped)
    # A person's say per customer wins over the ledger's: periodic, though the ledger does not mark them.
    said = [action.collection_costs for _, action in _subscription(False, True).stage("ingebrekestelling")]
    assert said == costs


def test_a_credit_note_is_set_off_before_costs_and_a_person_applies_it() -> None:
    """A negative open item of the customer (a credit note, a payment not yet applied) was dropped, and costs
    were computed on the whole. 1,000.00 owed and a credit note of 200.00: the costs are on 800.00 (120.00, not
    150.00), and the letter waits until a person applies the credit in the ledger or approves."""
    track = Track(CONSUMER)
    track.add("a", day(0), "1000.00")
    track.play(0, 20)
    track.add("cn", day(20), "-200.00")
    track.invoices["cn"] = replace(track.invoices["cn"], number="CN-1")
    track.play(21, 23)
    ((_, letter),) = track.stage("ingebrekestelling")
    assert (letter.principal, letter.credit, letter.collection_costs) == (D("1000.00"), D("200.00"), D("120.00"))
    assert letter.credit_from == ("CN-1",) and "credit notes or payments not yet applied (CN-1)" in letter.approval[0]


def test_a_business_credit_covers_its_oldest_invoice_first() -> None:
    """100.00 and 500.00 owed, 100.00 to their credit: the older invoice is settled by it and bears no costs; the
    other bears 75.00 (15% of 500)."""
    track = Track(BUSINESS)
    track.add("old", day(0), "100.00")
    track.add("new", day(2), "500.00")
    track.add("cn", day(1), "-100.00")
    track.play(0, 30)
    ((_, letter),) = track.stage("ingebrekestelling")
    assert letter.invoices == ("old", "new") and dict(letter.invoice_costs) == {"new": D("75.00")}
