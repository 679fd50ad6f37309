"""The planner: for one administration and one business date, the reminder actions that are due.

Pure: it reads facts (the mirror), progress (what the workflow already did) and policies, and returns
actions. Rules, in the order they bite:

- nothing for an invoice that is paid, held (dispute, payment arrangement, manual hold), paused in the
  ledger by a person, or whose contact is excluded;
- stages only move forward, one message at a time — no burst — with the spacing between stages kept relative
  to when the previous one actually went out. An invoice first seen past some stages (every overdue invoice
  at go-live) begins at the policy's start stage, the first message to the customer, and goes through each
  later stage in turn (`catch_up = "restart"`, the default); with `catch_up = "latest"` (for an office whose
  previous tool already sent the earlier ones) it gets only the latest stage that applies;
- legal steps are never skipped: no stage after the legal letter until that letter went out and its term
  (14 days from the day after presumed delivery) has passed; the stages after it are scheduled from the end
  of that term, so a final notice never cuts into it;
- one message a customer a day: the invoices of one customer whose messages are due on one day go out as
  one message at the highest stage that is due (an invoice joins a stage past the legal letter only once its
  own letter's term has run out: the legal chain is never skipped), and nothing else reaches the customer on
  a day a message already went out or while one is still on its way;
- an action a policy reserves for a person (by default the handover) is marked as waiting for approval.
"""

from __future__ import annotations

import calendar
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Protocol

from connector.domain import format_amount
from connector.workflow.legal import (
    RECURRING_CAP,
    RECURRING_SMALL,
    DebtorKind,
    MissingRate,
    RatePeriod,
    after_grace,
    collection_costs,
    interest_start,
    letter_term,
    payment_deadline,
    prescription_date,
    rate_kind,
    statutory_interest,
)
from connector.workflow.policy import DEFAULT_POLICY, Policy, Stage

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Hold:
    reason: str  # dispute | arrangement | hold
    until: date | None = None

    def active(self, today: date) -> bool:
        return self.until is None or today <= self.until


@dataclass(frozen=True)
class InvoiceFacts:
    """What the planner needs to know of an open invoice (from the mirror)."""

    ledger_id: str
    number: str | None
    contact_id: str
    due_date: date
    currency: str
    open_amount: Decimal
    language: str = "nl"
    ledger_paused: bool = False
    first_seen_on: date | None = None  # when the connector first mirrored it
    due_date_assumed: bool = False  # from the configured default term: the ledger names none
    recurring: bool = False  # a periodic claim (a subscription, a recurring invoice in the ledger)
    total: Decimal | None = None  # the invoice's amount: for a periodic claim, the periodic amount


@dataclass(frozen=True)
class Progress:
    """What the workflow already did for one invoice (from the outbox and audit log)."""

    stage: str | None = None  # the last stage executed
    stage_on: date | None = None
    letter_on: date | None = None  # when the legal letter went out
    letter_channel: str = "email"
    hold: Hold | None = None
    ledger_paused_by_connector: bool = False  # we paused the ledger's own reminders: not a person's hold
    # The last stage is planned but has not gone out yet (waiting for the window, a retry or a person): the
    # next one is planned only once it did, spaced from that day.
    in_flight: bool = False
    # A person's decision that this invoice, not yet reminded of, begins at this stage (`connector start-at`).
    start_stage: str | None = None
    letter_key: str | None = None  # the legal letter that covered it (`LetterFacts.key`)
    written_on: date | None = None  # the last written message about it that went out (interrupts prescription)


@dataclass(frozen=True)
class LetterFacts:
    """A legal letter that went out to a customer: what it covered and the costs it stated. Costs claimed later
    for those invoices never exceed what it stated; a consumer's next letter charges only what the staffel on
    everything still open adds to it."""

    key: str
    sent_on: date
    invoices: tuple[str, ...]
    principal: Decimal
    costs: Decimal
    invoice_costs: Mapping[str, Decimal] = field(default_factory=dict)  # per invoice, for a business
    capped: bool = False  # it covered small periodic claims: its costs count against their six-month cap


@dataclass(frozen=True)
class ContactFacts:
    ledger_id: str
    kind: DebtorKind = DebtorKind.CONSUMER
    excluded: bool = False
    policy: str | None = None
    last_message_on: date | None = None  # the last day a message from us went out to this customer
    message_in_flight: bool = False  # a message to them is planned and not out yet (the window, a retry, a person)
    letters: tuple[LetterFacts, ...] = ()  # the legal letters that went out to them
    recurring: bool | None = None  # a person's say that their claims are periodic (or not), over the ledger's


@dataclass(frozen=True)
class PlannedAction:
    administration: str
    stage: str
    stage_index: int
    action: str
    template: str
    legal_letter: bool
    contact_id: str
    debtor_kind: DebtorKind
    invoices: tuple[str, ...]
    currency: str
    principal: Decimal
    collection_costs: Decimal
    interest: Decimal | None
    deadline: date | None
    language: str
    reason: str
    planned_on: date
    policy: str = DEFAULT_POLICY
    warnings: tuple[str, ...] = ()
    # Why a person must approve it before it goes out (empty: it goes by itself).
    approval: tuple[str, ...] = ()
    # The collection costs per invoice, where they are charged per invoice (a business: at least EUR 40 each).
    invoice_costs: tuple[tuple[str, Decimal], ...] = ()
    # A consumer's later legal letter: the costs earlier letters on claims still open stated, and the day the
    # last of them went out; this letter's costs are what the staffel on everything open adds to them.
    costs_stated_before: Decimal = ZERO
    costs_stated_before_on: date | None = None
    principal_stated_before: Decimal = ZERO  # what those earlier letters' costs were on
    # The costs were lowered to the cap on small periodic claims (EUR 140 per six months).
    capped: bool = False
    # The customer's credit notes and payments not yet applied (negative open items), set off against this
    # message's invoices before costs and interest; `credit_from` names them.
    credit: Decimal = ZERO
    credit_from: tuple[str, ...] = ()

    @property
    def needs_approval(self) -> bool:
        return bool(self.approval)

    @property
    def key(self) -> str:
        """The idempotency key: the same contact, stage and invoice set is the same action, always."""
        material = "|".join((self.administration, self.contact_id, self.stage, ",".join(sorted(self.invoices))))
        return hashlib.sha256(material.encode()).hexdigest()[:32]

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "administration": self.administration,
            "stage": self.stage,
            "action": self.action,
            "template": self.template,
            "legal_letter": self.legal_letter,
            "contact_id": self.contact_id,
            "debtor_kind": self.debtor_kind.value,
            "invoices": list(self.invoices),
            "currency": self.currency,
            "principal": format_amount(self.principal),
            "collection_costs": format_amount(self.collection_costs),
            "interest": format_amount(self.interest) if self.interest is not None else None,
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "language": self.language,
            "reason": self.reason,
            "planned_on": self.planned_on.isoformat(),
            "policy": self.policy,
            "warnings": list(self.warnings),
            "approval": list(self.approval),
            "invoice_costs": {ledger_id: format_amount(amount) for ledger_id, amount in self.invoice_costs},
            "costs_stated_before": format_amount(self.costs_stated_before),
            "costs_stated_before_on": self.costs_stated_before_on.isoformat() if self.costs_stated_before_on else None,
            "principal_stated_before": format_amount(self.principal_stated_before),
            "capped": self.capped,
            "credit": format_amount(self.credit),
            "credit_from": list(self.credit_from),
        }


def planned_amount(plan: Mapping[str, Any], key: str) -> Decimal:
    """An amount from a stored plan (`PlannedAction.to_json`); absent or empty reads as zero."""
    return Decimal(str(plan.get(key) or "0"))


def planned_amounts(plan: Mapping[str, Any], key: str) -> dict[str, Decimal]:
    """Amounts by invoice from a stored plan, such as `invoice_costs`."""
    return {ledger_id: Decimal(str(amount)) for ledger_id, amount in (plan.get(key) or {}).items()}


@dataclass(frozen=True)
class _Step:
    invoice: InvoiceFacts
    stage_index: int
    done: int  # the last stage the invoice reached (-1: none)
    past_letter: bool  # the invoice may go past the legal letter (it went out and its term ran out, or none binds)
    lifted_from: int | None = None  # the stage it was due for, before it joined a higher one in one message
    started_by_person: bool = False  # it begins where a person said (`connector start-at`)
    progress: Progress = Progress()  # what the workflow already did for it
    swept: bool = False  # not due for anything today: it joined a consumer's legal letter as an overdue invoice


@dataclass(frozen=True)
class _Costs:
    total: Decimal = ZERO
    per_invoice: tuple[tuple[str, Decimal], ...] = ()
    stated_before: Decimal = ZERO
    stated_before_on: date | None = None
    principal_before: Decimal = ZERO
    capped: bool = False


@dataclass
class Planner:
    administration: str
    policies: Mapping[str, Policy]
    default_policy: str = DEFAULT_POLICY
    rates: Sequence[RatePeriod] | None = None
    allow_unverified_rates: bool = False  # an operator's choice; by default a period without a verified rate is flagged
    vat_percent: Decimal | None = None  # BTW on collection costs, only when configured as not reclaimable
    _terms: dict[tuple[date, str, int, int], date] = field(default_factory=dict, repr=False)

    def plan(
        self,
        today: date,
        invoices: Iterable[InvoiceFacts],
        progress: Mapping[str, Progress],
        contacts: Mapping[str, ContactFacts],
    ) -> list[PlannedAction]:
        by_contact: dict[str, list[_Step]] = defaultdict(list)
        free: dict[str, list[tuple[InvoiceFacts, Progress]]] = defaultdict(list)  # could be in a message today
        credits: dict[str, list[InvoiceFacts]] = defaultdict(list)  # credit notes, payments not yet applied
        open_ids: dict[str, set[str]] = defaultdict(set)
        empty = Progress()
        for invoice in invoices:
            contact = contacts.get(invoice.contact_id) or ContactFacts(invoice.contact_id)
            if contact.excluded:
                continue
            policy = self.policies[contact.policy or self.default_policy]
            state = progress.get(invoice.ledger_id, empty)
            if invoice.open_amount > 0:
                open_ids[invoice.contact_id].add(invoice.ledger_id)
            elif invoice.open_amount < 0:
                credits[invoice.contact_id].append(invoice)
            if not _chaseable(today, invoice, state, policy):
                continue
            free[invoice.contact_id].append((invoice, state))
            step = self._next_step(today, invoice, state, contact, policy)
            if step is not None:
                by_contact[invoice.contact_id].append(step)
        actions = []
        for contact_id, steps in by_contact.items():
            contact = contacts.get(contact_id) or ContactFacts(contact_id)
            name = contact.policy or self.default_policy
            for group in self._messages(today, contact, self.policies[name], steps, free[contact_id]):
                actions.append(self._action(today, group, contact, name, open_ids[contact_id], credits[contact_id]))
        return sorted(actions, key=lambda a: (a.stage_index, a.contact_id, a.invoices))

    def _messages(
        self,
        today: date,
        contact: ContactFacts,
        policy: Policy,
        steps: Sequence[_Step],
        free: Sequence[tuple[InvoiceFacts, Progress]],
    ) -> list[list[_Step]]:
        """One customer's due steps as actions: what is for a person (a call task, a handover) per stage; what
        reaches the customer as at most one message today, at the highest stage that is due. A consumer's legal
        letter takes in every other overdue invoice of theirs that no letter covered yet: one legal track per
        customer, the costs on the summed principal."""
        others: dict[tuple[int, str], list[_Step]] = defaultdict(list)
        threads: dict[str, list[_Step]] = defaultdict(list)
        quiet = contact.last_message_on == today or contact.message_in_flight
        for step in steps:
            split = step.invoice.currency + ("" if policy.group_per_contact else step.invoice.ledger_id)
            if not policy.stages[step.stage_index].customer_facing:
                others[(step.stage_index, split)].append(step)
            elif not quiet:
                threads[split].append(step)
        binds = _letter_binds(policy, contact.kind)
        letter = policy.letter_index
        found = [
            group + self._sweep(today, policy, contact.kind, group, free)
            if binds and letter is not None and stage_index > letter
            else group
            for (stage_index, _), group in others.items()
        ]
        messages = []
        for group in threads.values():
            top = max(step.stage_index for step in group)
            messages.append([lifted for step in group if (lifted := _join(step, top, policy)) is not None])
        if messages:
            # Two currencies (or a policy that writes per invoice) would be two messages: the most pressing goes
            # today, the other on a later day.
            chosen = max(messages, key=lambda m: (m[0].stage_index, sum((s.invoice.open_amount for s in m), ZERO)))
            if binds and letter is not None and chosen[0].stage_index >= letter:
                chosen = chosen + self._sweep(today, policy, contact.kind, chosen, free)
            found.append(chosen)
        return found

    # --- one invoice ----------------------------------------------------------------------------------

    def _next_step(
        self, today: date, invoice: InvoiceFacts, progress: Progress, contact: ContactFacts, policy: Policy
    ) -> _Step | None:
        stages = policy.stages
        done = policy.index(progress.stage)
        overdue = (today - invoice.due_date).days
        letter = policy.letter_index
        letter_binds = _letter_binds(policy, contact.kind)

        def applies(index: int) -> bool:
            stage = stages[index]
            return _applies(stage, contact.kind) and invoice.open_amount >= policy.minimum_at(index)

        def ready(index: int) -> bool:
            stage = stages[index]
            if overdue < stage.days:
                return False
            spaced_from = progress.stage_on if done >= 0 else None
            if spaced_from is not None and today < spaced_from + timedelta(days=stage.days - stages[done].days):
                return False  # keep the spacing from when the previous stage really went out
            if letter_binds and letter is not None and index > letter:
                # Never past the legal letter before its term has run out; the stages after it are scheduled
                # from the end of that term, keeping their spacing (nothing may cut into the term).
                term_end = self._term_end(progress, policy)
                spacing = timedelta(days=stage.days - stages[letter + 1].days)
                if term_end is None or today < term_end + spacing:
                    return False
            return True

        choice: int | None = None
        begin = done + 1
        # A person said where this one begins (its earlier reminders went out elsewhere, `connector start-at`).
        started = done < 0 and progress.start_stage is not None and policy.index(progress.start_stage) >= 0
        if started:
            begin = policy.index(progress.start_stage)
        elif policy.catch_up == "restart" and done < 0:
            # An invoice first seen past some stages begins at the start stage (the first message to the
            # customer), so the legal letter is never the first thing they get from us.
            start = policy.start_index(lambda stage: _applies(stage, contact.kind))
            if start is not None and overdue >= stages[start].days:
                begin = start
        if started or policy.catch_up == "restart":
            # From there on, every stage in its turn.
            following = next((i for i in range(begin, len(stages)) if applies(i)), None)
            if following is not None and ready(following):
                choice = following
        else:
            for index in range(begin, len(stages)):
                if overdue < stages[index].days:
                    break  # stages are ordered by days
                if applies(index) and ready(index):
                    choice = index
        if choice is None:
            return None
        past_letter = not letter_binds or (
            (term_end := self._term_end(progress, policy)) is not None and today >= term_end
        )
        return _Step(
            invoice,
            choice,
            done,
            past_letter,
            started_by_person=started,
            progress=progress,
        )

    def _sweep(
        self,
        today: date,
        policy: Policy,
        kind: DebtorKind,
        message: Sequence[_Step],
        free: Sequence[tuple[InvoiceFacts, Progress]],
    ) -> list[_Step]:
        """A consumer's other invoices that go in this message of their legal track, though not due for it today
        by their own calendar. The legal letter takes every overdue invoice no letter covered yet: they are in
        default, and the law allows one letter with the costs on the summed principal, not one per due date.
        A stage after it takes every invoice whose letter's term and grace have passed and that has not reached
        this stage as its next: a final notice claims what the letter stated, once, not in parts on different
        days, and a handover hands the whole claim over."""
        index = message[0].stage_index
        at_letter = index == policy.letter_index
        taken = {step.invoice.ledger_id for step in message}
        currency = message[0].invoice.currency
        swept = []
        for invoice, progress in free:
            done = policy.index(progress.stage)
            if invoice.ledger_id in taken or invoice.currency != currency or done >= index:
                continue
            if invoice.open_amount < policy.minimum_at(index):
                continue
            if at_letter:
                if progress.letter_on is not None or invoice.due_date >= today:
                    continue
            else:
                term_end = self._term_end(progress, policy)
                following = next((i for i in range(done + 1, index + 1) if _applies(policy.stages[i], kind)), None)
                if term_end is None or today < term_end or following != index:
                    continue
            swept.append(
                _Step(
                    invoice,
                    index,
                    done,
                    not at_letter,
                    lifted_from=done + 1,
                    swept=True,
                    progress=progress,
                )
            )
        return swept

    def _term_end(self, progress: Progress, policy: Policy) -> date | None:
        """The first day after the legal letter's term and the grace after it (a transfer made on the term's
        last day reaches the account a business day or two later), if the letter went out: from then on costs
        are charged, and a final notice or handover may go."""
        if progress.letter_on is None:
            return None
        return self._term(progress.letter_on, progress.letter_channel, policy.email_receipt_days, policy.grace_days)

    def _term(self, sent: date, channel: str, email_days: int, grace_days: int) -> date:
        cache_key = (sent, channel, email_days, grace_days)
        if cache_key not in self._terms:
            term = letter_term(sent, "post" if channel == "post" else "email", email_days=email_days)
            self._terms[cache_key] = after_grace(term.last_day, grace_days)
        return self._terms[cache_key]

    # --- one message ----------------------------------------------------------------------------------

    def _action(
        self,
        today: date,
        steps: list[_Step],
        contact: ContactFacts,
        policy_name: str,
        open_ids: set[str],
        credits: Sequence[InvoiceFacts],
    ) -> PlannedAction:
        policy = self.policies[policy_name]
        index = steps[0].stage_index
        stage = policy.stages[index]
        ordered = sorted(steps, key=lambda s: (s.invoice.due_date, s.invoice.ledger_id))
        invoices = [step.invoice for step in ordered]
        principal = sum((i.open_amount for i in invoices), ZERO)
        letter = policy.letter_index
        charges = letter is not None and index >= letter  # costs and interest from the legal letter on
        warnings: list[str] = []
        interest: Decimal | None = ZERO
        costs = _Costs()
        credit = ZERO
        credit_from: tuple[str, ...] = ()
        if charges:
            # What the customer has to their credit is set off first, oldest invoice first: costs and interest
            # are on what is left.
            own = [c for c in credits if c.currency == invoices[0].currency]
            credit = -sum((c.open_amount for c in own), ZERO)
            credit_from = tuple(c.number or c.ledger_id for c in own)
            net = _set_off(ordered, credit)
            interest = self._interest([step.invoice for step in net], contact.kind, today, warnings)
            costs = self._costs(today, index == letter, net, contact, open_ids)
        languages = {i.language for i in invoices}
        return PlannedAction(
            administration=self.administration,
            stage=stage.name,
            stage_index=index,
            action=stage.action,
            template=stage.template_name,
            legal_letter=stage.legal_letter,
            contact_id=contact.ledger_id,
            debtor_kind=contact.kind,
            invoices=tuple(i.ledger_id for i in invoices),
            currency=invoices[0].currency,
            principal=principal,
            collection_costs=costs.total,
            interest=interest,
            deadline=self._deadline(today, stage, policy),
            language=languages.pop() if len(languages) == 1 else "nl",
            reason=_reason(today, invoices, stage, index, policy, ordered, contact.kind),
            planned_on=today,
            policy=policy_name,
            warnings=tuple(warnings),
            approval=_approval(today, stage, index, policy, ordered, principal, contact.kind, credit_from),
            invoice_costs=costs.per_invoice,
            costs_stated_before=costs.stated_before,
            costs_stated_before_on=costs.stated_before_on,
            principal_stated_before=costs.principal_before,
            capped=costs.capped,
            credit=credit,
            credit_from=credit_from,
        )

    def _costs(
        self, today: date, is_letter: bool, steps: Sequence[_Step], contact: ContactFacts, open_ids: set[str]
    ) -> _Costs:
        """The collection costs a message states, and per invoice where they are charged per invoice.

        A business owes the costs per invoice, at least EUR 40 each (art. 6:96 lid 4 BW; CJEU C-585/20). A
        consumer owes them once on what one letter covers: the staffel on the summed principal (claims are
        combined, art. 6:96 lid 5 BW); a later letter to them states only what the staffel on everything still
        open adds to the costs the earlier letters stated, so the same principal never bears costs twice. After
        the letter, no message claims more than the letter stated for its invoices (a higher claim needs a new
        letter), nor more than the staffel on what is open now (a part paid within the term bears none)."""
        letters = {letter.key: letter for letter in contact.letters}
        vat = self.vat_percent
        if contact.kind is DebtorKind.BUSINESS:
            per_invoice = []
            for step in steps:
                amount = collection_costs(step.invoice.open_amount, vat_rate=vat)
                stated = (
                    letters[step.progress.letter_key].invoice_costs.get(step.invoice.ledger_id)
                    if (not is_letter and step.progress.letter_key in letters)
                    else None
                )
                per_invoice.append((step.invoice.ledger_id, amount if stated is None else min(amount, stated)))
            return _Costs(sum((amount for _, amount in per_invoice), ZERO), tuple(per_invoice))
        principal = sum((step.invoice.open_amount for step in steps), ZERO)
        staffel = collection_costs(principal, vat_rate=vat)
        if is_letter:
            earlier = [letter for letter in contact.letters if open_ids.intersection(letter.invoices)]
            principal_before = sum((letter.principal for letter in earlier), ZERO)
            combined = collection_costs(principal_before + principal, vat_rate=vat)
            stated_before = sum((letter.costs for letter in earlier), ZERO)
            costs = max(ZERO, min(staffel, combined - stated_before))
            small = [step for step in steps if _small_periodic(step.invoice, contact)]
            allowed = costs
            if small:
                # The cap on small periodic claims: what the letters of the last six months stated on them counts.
                since = _months_before(today, 6)
                used = sum(
                    (letter.costs for letter in contact.letters if letter.capped and letter.sent_on > since), ZERO
                )
                others = principal - sum((step.invoice.open_amount for step in small), ZERO)
                allowed = max(ZERO, RECURRING_CAP - used) + (
                    collection_costs(others, vat_rate=vat) if others > 0 else ZERO
                )
            return _Costs(
                min(costs, allowed),
                stated_before=stated_before,
                stated_before_on=max((letter.sent_on for letter in earlier), default=None),
                principal_before=principal_before,
                capped=bool(small),
            )
        keys = {step.progress.letter_key for step in steps if step.progress.letter_key in letters}
        unknown = [
            step for step in steps if step.progress.letter_key not in letters
        ]  # a letter from before this was kept
        stated = sum((letters[key].costs for key in keys), ZERO)
        if unknown:
            stated += collection_costs(sum((step.invoice.open_amount for step in unknown), ZERO), vat_rate=vat)
        return _Costs(min(stated, staffel))

    def _interest(
        self, invoices: Sequence[InvoiceFacts], kind: DebtorKind, today: date, warnings: list[str]
    ) -> Decimal | None:
        total = ZERO
        for invoice in invoices:
            try:
                total += statutory_interest(
                    invoice.open_amount,
                    interest_start(invoice.due_date),
                    today,
                    rate_kind(kind),
                    rates=self.rates,
                    allow_unverified=self.allow_unverified_rates,
                )
            except MissingRate as missing:
                warnings.append(f"interest not computed: {missing}")
                return None
        return total

    def _deadline(self, today: date, stage: Stage, policy: Policy) -> date | None:
        if stage.legal_letter:
            return letter_term(today, policy.letter_channel, email_days=policy.email_receipt_days).last_day
        if stage.term_days:
            return payment_deadline(today, stage.term_days)
        return None


def _applies(stage: Stage, kind: DebtorKind) -> bool:
    return stage.audience == "all" or stage.audience == kind.value


def _small_periodic(invoice: InvoiceFacts, contact: ContactFacts) -> bool:
    """A periodic claim under EUR 266.67 a period: the ledger made it from a subscription or recurring invoice,
    or a person said the customer's claims are periodic (a person's say wins either way)."""
    recurring = invoice.recurring if contact.recurring is None else contact.recurring
    return recurring and (invoice.total if invoice.total is not None else invoice.open_amount) < RECURRING_SMALL


def _months_before(day: date, months: int) -> date:
    month = day.month - months
    year = day.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _set_off(steps: Sequence[_Step], credit: Decimal) -> list[_Step]:
    """The steps with the customer's credit taken off their invoices, oldest first; an invoice it covers
    entirely is left out (nothing of it bears costs or interest)."""
    left, result = credit, []
    for step in steps:
        taken = min(left, step.invoice.open_amount)
        left -= taken
        if step.invoice.open_amount - taken > 0:
            result.append(replace(step, invoice=replace(step.invoice, open_amount=step.invoice.open_amount - taken)))
    return result


def _chaseable(today: date, invoice: InvoiceFacts, progress: Progress, policy: Policy) -> bool:
    """Whether anything may reach this invoice today: open, not held, nothing of it on its way, not paused in
    the ledger by a person."""
    if invoice.open_amount <= 0:
        return False
    if progress.hold is not None and progress.hold.active(today):
        return False
    if progress.in_flight:
        return False
    return not (invoice.ledger_paused and policy.respect_ledger_pause and not progress.ledger_paused_by_connector)


def _letter_binds(policy: Policy, kind: DebtorKind) -> bool:
    """Whether the legal letter holds this debtor back: a consumer always, even behind a letter the policy
    addresses to others (no collection costs and no handover without a 14-day letter whose term has passed);
    a business when the letter is addressed to it."""
    letter = policy.letter_index
    return letter is not None and (_applies(policy.stages[letter], kind) or kind is DebtorKind.CONSUMER)


def _join(step: _Step, top: int, policy: Policy) -> _Step | None:
    """The step lifted to stage `top` to go in one message with the customer's other invoices; None when it may
    not: past the legal letter before its own term ran out, or below the stage's minimum amount (it goes on
    another day)."""
    if step.stage_index == top:
        return step
    letter = policy.letter_index
    if letter is not None and top > letter and not step.past_letter:
        return None
    if step.invoice.open_amount < policy.minimum_at(top):
        return None
    return replace(step, stage_index=top, lifted_from=step.stage_index)


def _reason(
    today: date,
    invoices: Sequence[InvoiceFacts],
    stage: Stage,
    index: int,
    policy: Policy,
    steps: Sequence[_Step],
    kind: DebtorKind,
) -> str:
    oldest = max((today - i.due_date).days for i in invoices)
    text = f"{oldest} days past due: stage {index + 1} of {len(policy.stages)} ({stage.name}, from day {stage.days})"
    skipped = sorted(
        {
            policy.stages[i].name
            for step in steps
            if not step.started_by_person
            for i in range(step.done + 1, step.lifted_from if step.lifted_from is not None else step.stage_index)
            if _applies(policy.stages[i], kind)
        }
    )
    if skipped:
        text += f"; not sent, being past their moment: {', '.join(skipped)}"
    started = [_name(step) for step in steps if step.started_by_person]
    if started:
        text += f"; begins at the stage a person set for {', '.join(started)} (`connector start-at`)"
    swept = [_name(step) for step in steps if step.swept]
    if swept:
        joins = "also overdue, in this one legal letter" if stage.legal_letter else "with it, its letter's term passed"
        text += f"; {', '.join(swept)} {joins} (one legal track a customer)"
    lifted = [step for step in steps if step.lifted_from is not None and not step.swept]
    if lifted:
        numbers = ", ".join(_name(step) for step in lifted)
        text += f"; {numbers} joined from an earlier stage (one message a customer a day)"
    if len(invoices) > 1:
        text += f"; {len(invoices)} invoices in one message"
    return text


def _approval(
    today: date,
    stage: Stage,
    index: int,
    policy: Policy,
    steps: Sequence[_Step],
    principal: Decimal,
    kind: DebtorKind,
    credit_from: Sequence[str] = (),
) -> tuple[str, ...]:
    """Why this action waits for a person: the policy's approval rules, and what the law makes risky to do
    unasked (a legal stage on a due date the ledger never stated; a claim near or past prescription)."""
    rules = policy.approval
    reasons = []
    letter = policy.letter_index
    if letter is not None and index >= letter:
        assumed = [_name(step) for step in steps if step.invoice.due_date_assumed]
        if assumed:
            reasons.append(
                f"the due date of {', '.join(assumed)} is assumed (the ledger names no payment term; the default "
                "was used): without an agreed term the customer may not be in default (art. 6:82-6:83 BW)"
            )
    if credit_from:
        reasons.append(
            f"the customer has credit notes or payments not yet applied ({', '.join(credit_from)}): costs are on "
            "what is left after setting them off; a person applies them in the ledger, or approves"
        )
    for step in steps:
        prescribes = prescription_date(step.invoice.due_date, step.progress.written_on, kind)
        if today >= prescribes - timedelta(days=policy.limitation_margin_days):
            reasons.append(
                f"{_name(step)} {'prescribed' if today >= prescribes else 'prescribes'} on {prescribes.isoformat()} "
                f"({'art. 7:28' if kind is DebtorKind.CONSUMER else 'art. 3:307'} BW, from the due date or the last "
                "written reminder): a person decides whether to go on"
            )
    if policy.needs_approval(stage):
        reasons.append(f"stage {stage.name} needs a person's approval")
    if rules.amount_above is not None and principal > rules.amount_above:
        reasons.append(
            f"{format_amount(principal)} is above the approval threshold {format_amount(rules.amount_above)}"
        )
    if rules.overdue_at_first_sight_days is not None:
        late = [
            _name(step)
            for step in steps
            if step.done < 0
            and step.invoice.first_seen_on is not None
            and (step.invoice.first_seen_on - step.invoice.due_date).days > rules.overdue_at_first_sight_days
        ]
        if late:
            reasons.append(
                f"first action on {', '.join(late)}, more than {rules.overdue_at_first_sight_days} days overdue "
                "when first seen"
            )
    return tuple(reasons)


def _name(step: _Step) -> str:
    return step.invoice.number or step.invoice.ledger_id


class PlanningSettings(Protocol):
    """What the planner reads of an administration's settings."""

    @property
    def name(self) -> str: ...
    @property
    def policy(self) -> str: ...
    @property
    def collection_costs_vat_percent(self) -> Decimal | None: ...


def planner_for(
    administration: PlanningSettings, policies: Mapping[str, Policy], rates: Sequence[RatePeriod] | None = None
) -> Planner:
    """The planner as an administration's configuration sets it up (policy, BTW on collection costs, and the
    interest-rate table: the packaged one unless the configuration adds rows)."""
    return Planner(
        administration.name,
        policies,
        administration.policy,
        rates=rates,
        vat_percent=administration.collection_costs_vat_percent,
    )
