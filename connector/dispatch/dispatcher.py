"""The dispatcher: plan, enqueue, and execute what is due, each action at most once.

Right before an action goes out, its invoices are re-read from the ledger; if any was paid, changed, deleted
or paused (in the ledger or here) the action is dropped with the reason, and the next plan takes it from
there. After the channel acted, a short note is written on each invoice in the ledger, exactly once: each
note carries the action's reference, so a write-back cut off midway finds its own notes before writing again.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from connector import spent_calls
from connector.administration import AdministrationBase
from connector.clock import Clock
from connector.config import EmailSection, Settings
from connector.dispatch.channels import (
    ChannelError,
    Delivery,
    EmailChannel,
    HandoverChannel,
    LedgerReminderChannel,
    Outgoing,
    PostChannel,
    TaskChannel,
    case_stem,
)
from connector.dispatch.dossier import CaseFile, LetterProof, build_case
from connector.dispatch.letters import PDF, Attachment, LetterError, letter_filename, letter_pdf, logo_data_uri
from connector.dispatch.messages import InvoiceLine, MessageContext, MessageRenderer, RenderedMessage, header_safe
from connector.dispatch.post import FolderPost, HttpsPost, PostLetter, PostProvider, address_problem
from connector.ledger import records as ledger_records
from connector.ledger.port import (
    AuthError,
    Capability,
    ChangeBatch,
    Invoice,
    LedgerAdapter,
    LedgerError,
    RateLimited,
    TransientError,
)
from connector.log import get_logger, redact_text
from connector.store import Store
from connector.store.approvals import ApprovalStore, awaiting_approval_reason
from connector.store.channels import ChannelHealthStore
from connector.store.evidence import EvidenceStore, FilePart
from connector.store.leases import Fence
from connector.store.models import Action
from connector.store.outbox import AWAITING_APPROVAL, OutboxStore
from connector.store.workflow import WorkflowStore, went_out_on
from connector.workflow.calendar import BusinessCalendar
from connector.workflow.legal import Channel, RatePeriod, letter_term, payment_deadline, posting_day
from connector.workflow.planner import planned_amount, planned_amounts
from connector.workflow.policy import CUSTOMER_FACING, Policy, Stage

log = get_logger("dispatch")
SENT_EVENT = {
    "email": "email_sent",
    "post": "letter_posted",
    "task": "task_created",
    "ledger_reminder": "ledger_reminder_sent",
    "handover": "handed_over",
}


@dataclass
class DispatchReport:
    administration: str
    planned: int = 0
    executed: int = 0
    dropped: int = 0
    retried: int = 0
    failed: int = 0
    review: int = 0
    notes_written: int = 0
    problems: list[str] = field(default_factory=list)
    waiting: int = 0  # due, but held back by the send window
    window_opens_at: datetime | None = None  # when those go out
    awaiting_approval: str | None = None  # why nothing goes out until a person approves the administration
    sender_missing: str | None = None  # why nothing goes out until the sender's details are configured
    actions_awaiting_approval: int = 0  # actions the policy reserves for a person, waiting for one
    channels_down: dict[str, str] = field(default_factory=dict)  # channel -> why it could not be used this run
    held_for_channel: int = 0  # due actions that wait for their channel to come back (their tries are kept)
    ledger_unavailable: str | None = None  # the re-check could not reach the ledger: the rest waits for next run

    def to_json(self) -> dict[str, Any]:
        document = dict(self.__dict__)
        document["window_opens_at"] = self.window_opens_at.isoformat() if self.window_opens_at else None
        return document


@dataclass(frozen=True)
class Preview:
    message: RenderedMessage
    recipient: str | None

    def letter(self) -> bytes | None:
        """The printed letter as PDF, for a stage that is one."""
        return letter_pdf(self.message.letter_html) if self.message.letter_html is not None else None


class _RenderOnly:
    """The ledger of a dispatcher made only to render: any use of it is a defect, and says so."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"a preview never calls the ledger (asked for {name!r})")


_NO_LEDGER: Any = _RenderOnly()


@dataclass
class Dispatcher:
    store: Store
    adapter: LedgerAdapter
    administration: AdministrationBase
    policies: dict[str, Policy]
    clock: Clock
    email: EmailSection | None = None
    handover_dir: Path = Path("data/handover")
    handover_url: str | None = None
    renderer: MessageRenderer = field(default_factory=MessageRenderer)
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar)
    max_attempts: int = 5
    retry_base: timedelta = timedelta(minutes=15)
    should_stop: Callable[[], bool] = lambda: False  # shutting down: finish the action in hand, start no other
    # After each action: the report so far, how many of the due actions were handled, and how many were due.
    progress: Callable[[DispatchReport, int, int], None] = lambda report, done, due: None
    fence: Fence | None = None  # the lease this runs under (the daemon's); None: a one-shot command
    rates: Sequence[RatePeriod] | None = None  # the interest-rate table; None: the packaged one
    post: PostProvider | None = None  # the print-and-mail service (or the print batch) for `post` stages
    posting_days: int = 1  # business days from handing a letter to the post service to its posting
    attach_invoice_pdfs: bool = False  # each invoice's own PDF from the ledger with its e-mail reminders
    invoice_pdf_max_bytes: int = 2048 * 1024
    channel_failing_after: int = 3  # failures in a row before a channel counts as failing (logged, on /readyz)
    _ignore_window: bool = field(default=False, init=False, repr=False)  # this run's: a person's --ignore-window
    _went_through: set[str] = field(default_factory=set, init=False, repr=False)  # channels this run, since a failure

    @classmethod
    def for_settings(
        cls,
        settings: Settings,
        store: Store,
        adapter: LedgerAdapter,
        administration: AdministrationBase,
        clock: Clock,
        *,
        fence: Fence | None = None,
    ) -> Dispatcher:
        """A dispatcher as the configuration says: e-mail, handover, templates, tries and the send window."""
        section = settings.connector
        window_start, window_end = section.send_window_times
        return cls(
            store=store,
            adapter=adapter,
            administration=administration,
            policies=dict(settings.policies),
            clock=clock,
            email=settings.email_for(administration),
            handover_dir=Path(section.handover_dir),
            handover_url=section.handover_url,
            renderer=MessageRenderer(Path(section.templates_dir) if section.templates_dir else None),
            max_attempts=section.max_attempts,
            calendar=BusinessCalendar(
                tz=section.zone,
                window_start=window_start,
                window_end=window_end,
                send_weekdays=section.send_weekdays,
                send_on_public_holidays=section.send_on_public_holidays,
            ),
            fence=fence,
            rates=settings.rates,
            channel_failing_after=section.channel_failing_after,
            post=post_provider(settings, clock, section.zone),
            posting_days=settings.post.posting_days if settings.post else 1,
            attach_invoice_pdfs=section.attach_invoice_pdfs,
            invoice_pdf_max_bytes=section.invoice_pdf_max_kb * 1024,
        )

    def __post_init__(self) -> None:
        self.outbox = OutboxStore(self.store, fence=self.fence)
        self.workflow = WorkflowStore(self.store)
        self.channels = ChannelHealthStore(self.store)
        self.evidence = EvidenceStore(self.store)
        self.log = log.bind(administration=self.administration.name)
        self.administration_id = self.store.ensure_administration(
            self.administration.name, self.administration.platform, self.administration.ledger_reference
        )

    # --- one run --------------------------------------------------------------------------------------

    def run(self, today: date | None = None, *, ignore_window: bool = False) -> DispatchReport:
        # Every call counts against the ledger's window, and is remembered for a process that starts after this
        # one dies: it learns what was spent before its first call.
        spent_calls.learn(self.store, self.adapter.rate_limiter(), self.clock)
        self._spent = spent_calls.OutsideSync(self.store, self.adapter)
        try:
            return self._run(today, ignore_window=ignore_window)
        finally:
            self._spent.record()

    def _run(self, today: date | None, *, ignore_window: bool) -> DispatchReport:
        now = self.clock.now()
        today = today or self.calendar.today(now)
        report = DispatchReport(self.administration.name)
        self._went_through = set()
        self._recover(report)
        report.awaiting_approval = self._awaiting_approval()
        report.sender_missing = self.administration.sender_missing()
        if report.awaiting_approval is not None or report.sender_missing is not None:
            for action in self.outbox.unfinished(self.administration_id, "sent"):
                self._write_back(action, report)  # what went out before is still written back
            return report
        actions = self.workflow.due_actions(
            self.administration_id, self.administration, self.policies, today, self.rates
        )
        report.planned = len(self.outbox.enqueue(self.administration_id, actions, self.calendar.next_send_moment(now)))
        for action in self.outbox.unfinished(self.administration_id, "sent"):
            self._write_back(action, report)  # a write-back an earlier run did not finish
        self._ignore_window = ignore_window
        if self._window_open():
            due = self.outbox.due(self.administration_id, now if not ignore_window else _far_future(now))
            for done, action in enumerate(due):
                self.progress(report, done, len(due))
                self._spent.record()  # the calls the last action (or the write-backs before) made
                # The window is asked before each message, not once a run: a backlog that starts at 16:59
                # behind a rate limit must not go on sending into the evening.
                if self.should_stop() or not self._window_open() or report.ledger_unavailable is not None:
                    break
                if action.action in report.channels_down:
                    report.held_for_channel += 1  # one try a run tells whether it is back; the rest wait
                    continue
                try:
                    self._execute(action, report)
                except Exception as exc:  # a defect or bad data costs this action a try, never the whole run
                    self.log.exception("dispatch.action_crashed", action=action.key, stage=action.stage)
                    phase = action.status if action.status in ("executing", "sending") else "executing"
                    if phase == "sending":
                        self.outbox.transition(
                            action,
                            "review",
                            expect="sending",
                            event="needs_review",
                            error=redact_text(f"{type(exc).__name__}: {exc}"),
                        )
                        report.review += 1
                    else:
                        self._retry_or_fail(action, phase, f"{type(exc).__name__}: {exc}", report)
        report.actions_awaiting_approval = len(self.outbox.unfinished(self.administration_id, AWAITING_APPROVAL))
        if not self._window_open():
            now = self.clock.now()
            report.waiting = len(self.outbox.due(self.administration_id, _far_future(now)))
            if report.waiting:
                report.window_opens_at = self.calendar.next_send_moment(now)
        return report

    def _awaiting_approval(self) -> str | None:
        """Why the administration may not send yet: nobody approved the policy it runs under, as configured."""
        name = self.administration.policy
        policy = self.policies[name]
        if ApprovalStore(self.store).approved(self.administration_id, name, policy.fingerprint()):
            return None
        return awaiting_approval_reason(self.administration.name, name)

    def _window_open(self) -> bool:
        return self._ignore_window or self.calendar.in_send_window(self.clock.now())

    def _recover(self, report: DispatchReport) -> None:
        """After a crash: a claim that never reached the channel is retried; one that may have left is not."""
        for action in self.outbox.unfinished(self.administration_id, "executing"):
            if action.attempts >= self.max_attempts:
                error = f"interrupted on each of {action.attempts} tries"
                self.outbox.transition(action, "failed", expect="executing", event="failed", error=error)
                report.failed += 1
                continue
            if self.outbox.transition(
                action, "pending", expect="executing", event="retry_after_interruption", fenced=True
            ):
                report.retried += 1
        for action in self.outbox.unfinished(self.administration_id, "sending"):
            reason = "interrupted while sending: it may have reached the customer; check before resending"
            if self.outbox.transition(
                action, "review", expect="sending", event="needs_review", error=reason, fenced=True
            ):
                self.evidence.uncertain(action.id or 0)
                report.review += 1
                self.log.warning("dispatch.needs_review", action=action.key, stage=action.stage)

    # --- one action -----------------------------------------------------------------------------------

    def _execute(self, action: Action, report: DispatchReport) -> None:
        if not self.outbox.transition(action, "executing", expect="pending"):
            return  # someone else has it
        # Dates in the message are those of the real sending day, whatever day the plan was made for.
        today = self.calendar.today(self.clock.now())
        ids = self.outbox.invoice_ids(action)
        try:
            fresh = self._recheck(ids)
        except (TransientError, RateLimited) as exc:
            # The ledger, not this action: the try is given back and the rest of the run waits for the next one
            # (the sync's own failures already show on /readyz).
            self.outbox.transition(action, "pending", expect="executing", attempt_spent=False)
            report.ledger_unavailable = redact_text(f"re-check failed: {exc}")
            return
        except LedgerError as exc:
            self._retry_or_fail(action, "executing", f"re-check failed: {exc}", report)
            return
        self.store.apply_invoice_batch(self.administration_id, fresh)
        reason = self._stale(action, fresh.records, fresh.deleted, ids, today)
        if reason is not None:
            self.outbox.transition(
                action, "dropped", expect="executing", event="dropped", error=reason, detail={"reason": reason}
            )
            report.dropped += 1
            return
        invoices = sorted(fresh.records, key=lambda i: (i.due_date, i.ledger_id))
        try:
            self._silence_ledger(invoices)
        except LedgerError as exc:
            self._retry_or_fail(action, "executing", f"pausing the ledger's own reminders failed: {exc}", report)
            return
        contact = self.store.contact(self.administration_id, action.contact_ledger_id)
        deadline = self._deadline(action, today)
        stage = self._stage(action)
        as_letter = action.action == "post" or (stage is not None and stage.is_letter)
        originals = self._invoice_pdfs(action, invoices, stage)
        try:
            message = self._render(action, invoices, contact, today, deadline, letter=as_letter, attached=originals)
            attachments = [*self._attachments(action, message, today), *originals.values()]
        except LetterError as exc:
            self._retry_or_fail(action, "executing", str(exc), report, retry=False)
            return
        sent_at = self.clock.now()  # the message's Date: inside the window, or it waits for the next one
        if not (self._ignore_window or self.calendar.in_send_window(sent_at)):
            # The re-check took us past the window (a rate limit, a slow ledger): the try that was begun is
            # given back, and the action goes out when the window opens again.
            opens = self.calendar.next_send_moment(sent_at)
            self.outbox.transition(action, "pending", expect="executing", next_attempt_at=opens, attempt_spent=False)
            return
        delivery = Delivery(
            key=action.key,
            administration=self.administration.name,
            stage=action.stage,
            invoices=invoices,
            contact_name=header_safe(contact.name if contact else action.contact_ledger_id),
            contact_email=contact.email if contact else None,
            message=message,
            planned=action.planned,
            sent_at=sent_at,
            attachments=attachments,
            postal_address=postal_address(contact),
        )
        try:
            prepared = self._prepare(action, delivery)
        except ChannelError as exc:  # nothing can leave (no address): it cannot succeed as it stands
            self._retry_or_fail(action, "executing", redact_text(str(exc)), report, retry=exc.retry)
            return
        if not self.outbox.transition(action, "sending", expect="executing"):
            return
        try:
            outcome = self._send(action, delivery, prepared)
        except ChannelError as exc:
            error = redact_text(str(exc))
            if prepared.evidence_id is not None:
                self.evidence.handed(prepared.evidence_id, "uncertain" if exc.unknown else "refused", reply=error)
            if exc.retry or exc.unknown:  # trouble with the channel, not with what this message says
                self._channel_failed(action.action, error)
            if exc.unknown:
                self.outbox.transition(action, "review", expect="sending", event="needs_review", error=error)
                report.review += 1
            elif exc.down:
                # Nothing left, and nothing about this message was wrong: it waits, its tries intact, and the
                # run stops using the channel. A weekend without the SMTP server fails no action.
                self.outbox.transition(
                    action,
                    "pending",
                    expect="sending",
                    error=error,
                    next_attempt_at=self.clock.now() + self.retry_base,
                    attempt_spent=False,
                )
                report.channels_down[action.action] = error
                report.held_for_channel += 1
            else:
                self._retry_or_fail(action, "sending", error, report, retry=exc.retry)
            return
        self._channel_succeeded(action.action)
        if prepared.evidence_id is not None:
            self.evidence.handed(
                prepared.evidence_id,
                "accepted",
                reply=outcome.get("server_reply"),
                external_id=outcome.get("queue_id") or outcome.get("letter_id"),
                detail={k: outcome[k] for k in ("to", "refused", "message_id", "case_file") if k in outcome},
            )
            outcome["evidence"] = prepared.evidence_id
        outcome["note"] = message.note
        outcome["sent_on"] = today.isoformat()
        outcome["deadline"] = deadline.isoformat() if deadline else None
        if action.legal_letter:
            outcome["letter_channel"] = self._letter_channel(action)

        def record_sent(expect: str) -> bool:
            event = SENT_EVENT[action.action]
            return self.outbox.transition(
                action, "sent", expect=expect, event=event, outcome=outcome, detail=_summary(outcome)
            )

        if not record_sent("sending"):
            # Another replica took the administration over while this one was sending, and flagged the
            # action for review: it did go out, so it is recorded as sent (and never sent again).
            record_sent("review")
        report.executed += 1
        self._write_back(action, report, invoices)

    def _stale(
        self, action: Action, records: Sequence[Invoice], deleted: Sequence[str], ids: Sequence[str], today: date
    ) -> str | None:
        """Why the action must not go out any more, judged on what the ledger says now."""
        if deleted:
            return f"deleted in the ledger: {', '.join(deleted)}"
        found = {invoice.ledger_id: invoice for invoice in records}
        missing = [i for i in ids if i not in found]
        if missing:
            return f"could not be read from the ledger: {', '.join(missing)}"
        closed = [f"{i.number or i.ledger_id} is {i.status.value}" for i in records if not i.status.is_open]
        if closed:
            return "; ".join(closed)
        ours = self.workflow.paused_by_connector(self.administration_id)
        paused = [i.number or i.ledger_id for i in records if i.ledger_reminders_paused and i.ledger_id not in ours]
        if paused:
            return f"paused in the ledger: {', '.join(paused)}"
        if self.workflow.is_excluded(self.administration_id, action.contact_ledger_id):
            return "the customer was excluded from reminders"
        undeliverable = self.workflow.undeliverable(self.administration_id, action.contact_ledger_id)
        if undeliverable is not None:
            return f"waiting for a person: {undeliverable}"
        holds = self.workflow.active_holds(self.administration_id, ids, today)
        if holds:
            return "on hold: " + ", ".join(f"{i} ({why})" for i, why in sorted(holds.items()))
        planned = planned_amount(action.planned, "principal")
        now_open = sum((i.open_amount.amount for i in records), Decimal(0))
        if now_open != planned:
            return f"open amount changed from {planned} to {now_open} since planning"
        return None

    def _silence_ledger(self, invoices: Sequence[Invoice]) -> None:
        """Pause the ledger's own reminders on invoices this connector now chases (when configured), once each;
        a pause is harmless to repeat, so a crash in between costs nothing."""
        if not self.administration.pause_ledger_reminders:
            return
        if not self.adapter.supports(Capability.PAUSE_LEDGER_REMINDERS):
            return
        ours = self.workflow.paused_by_connector(self.administration_id)
        for invoice in invoices:
            if invoice.ledger_id not in ours and not invoice.ledger_reminders_paused:
                # Recorded first: a crash in between leaves a record of a pause that may not have happened
                # (harmless, pausing again is a no-op), never a pause of ours mistaken for a person's.
                self.workflow.audit(self.administration_id, "ledger_reminders_paused", invoice=invoice.ledger_id)
                self.adapter.pause_ledger_reminders(invoice)

    def _policy(self, action: Action) -> Policy:
        return self.policies.get(str(action.planned.get("policy", "default"))) or self.policies["default"]

    def _stage(self, action: Action) -> Stage | None:
        policy = self._policy(action)
        index = policy.index(action.stage)
        return policy.stages[index] if index >= 0 else None

    def _letter_channel(self, action: Action) -> Channel:
        return "post" if action.action == "post" else self._policy(action).letter_channel

    def _deadline(self, action: Action, sent_on: date) -> date | None:
        """The term the message states, from the day it really goes out: the legal letter's per HR 2016:2704
        (a term stated one day short voids the letter), other stages `term_days` on. A letter by post goes in
        the post `posting_days` after it is handed over: its term is stated from that day."""
        policy = self._policy(action)
        stage = self._stage(action)
        if action.action == "post":
            sent_on = posting_day(sent_on, self.posting_days)
        if action.legal_letter:
            channel = self._letter_channel(action)
            return letter_term(sent_on, channel, email_days=policy.email_receipt_days).last_day
        if stage is not None and stage.term_days:
            return payment_deadline(sent_on, stage.term_days)
        return None

    def _invoice_pdfs(self, action: Action, invoices: Sequence[Invoice], stage: Stage | None) -> dict[str, Attachment]:
        """Each invoice's own PDF, as the ledger made it, for an e-mail: fetched once and kept (again only when what
        the invoice shows changed). One that cannot be had now (too large, the ledger has none, or it is busy) is
        left out, and the message says only what is attached."""
        wanted = stage is None or stage.options.get("attach_invoices", True) is not False
        if not (self.attach_invoice_pdfs and wanted and action.action == "email" and self.email is not None):
            return {}
        if not self.adapter.supports(Capability.INVOICE_PDF):
            return {}
        found: dict[str, Attachment] = {}
        total = 0
        for invoice in invoices:
            shows = _shows(invoice)
            pdf = self.evidence.invoice_pdf(self.administration_id, invoice.ledger_id, shows)
            if pdf is None:
                try:
                    pdf = self.adapter.invoice_pdf(invoice, self.invoice_pdf_max_bytes)
                except LedgerError as exc:
                    self.log.info("dispatch.invoice_pdf_unavailable", invoice=invoice.ledger_id, error=str(exc))
                    continue
                if pdf is not None:
                    self.evidence.keep_invoice_pdf(self.administration_id, invoice.ledger_id, shows, pdf)
            if pdf is None or total + len(pdf) > MESSAGE_ATTACHMENTS_LIMIT:
                continue
            total += len(pdf)
            word = "factuur" if str(action.planned.get("language") or "nl") == "nl" else "invoice"
            found[invoice.ledger_id] = Attachment(f"{word}-{_file_safe(invoice.number or invoice.ledger_id)}.pdf", pdf)
        return found

    def _attachments(self, action: Action, message: RenderedMessage, today: date) -> list[Attachment]:
        """The printed letter as PDF, when the stage is one."""
        if message.letter_html is None:
            return []
        language = str(action.planned.get("language") or "nl")
        name = letter_filename(language, action.stage, action.key[:12])
        return [Attachment(name, letter_pdf(message.letter_html))]

    @classmethod
    def for_preview(
        cls, settings: Settings, store: Store, administration: AdministrationBase, clock: Clock
    ) -> Dispatcher:
        """A dispatcher that only shows what an action would send: its ledger is never called."""
        return cls.for_settings(settings, store, _NO_LEDGER, administration, clock)

    def preview(self, action: Action, today: date) -> Preview:
        """The message an action would send if it went out `today`, rendered from the mirror as it stands (no
        call to the ledger): what a person reads before approving it. At sending it is made again, from the
        ledger re-read then, with the invoices' own PDFs beside it."""
        ids = self.outbox.invoice_ids(action)
        invoices = sorted(
            self.store.mirrored_invoices(self.administration_id, ids), key=lambda i: (i.due_date, i.ledger_id)
        )
        contact = self.store.contact(self.administration_id, action.contact_ledger_id)
        stage = self._stage(action)
        as_letter = action.action == "post" or (stage is not None and stage.is_letter)
        message = self._render(action, invoices, contact, today, self._deadline(action, today), letter=as_letter)
        return Preview(message, contact.email if contact else None)

    def _render(
        self,
        action: Action,
        invoices: Sequence[Invoice],
        contact: Any,
        today: date,
        deadline: date | None,
        *,
        letter: bool = False,
        attached: Mapping[str, Attachment] | None = None,
    ) -> RenderedMessage:
        planned = action.planned
        company = self.administration.company
        earlier = [
            (sent.legal_letter, on, covered)
            for sent, covered in self.outbox.earlier_messages(action, sorted(CUSTOMER_FACING))
            if (on := went_out_on(sent.action, sent.executed_at, sent.outcome)) is not None
        ]
        reminded = {ledger_id for letter, _, covered in earlier if not letter for ledger_id in covered}
        per_invoice = planned_amounts(planned, "invoice_costs")
        before_on = planned.get("costs_stated_before_on")
        context = MessageContext(
            language=str(planned.get("language") or "nl"),
            stage=action.stage,
            legal_letter=action.legal_letter,
            debtor_kind=str(planned.get("debtor_kind", "consumer")),
            company_name=company.name if company else self.administration.name,
            company_email=company.email if company else None,
            company_iban=company.iban if company else None,
            contact_name=header_safe(contact.name if contact else action.contact_ledger_id),
            currency=str(planned.get("currency", "EUR")),
            invoices=[
                InvoiceLine(
                    i.number or i.ledger_id,
                    i.invoice_date,
                    i.due_date,
                    i.open_amount.amount,
                    i.total.amount,
                    i.payment_url,
                    per_invoice.get(i.ledger_id),
                )
                for i in invoices
            ],
            principal=planned_amount(planned, "principal"),
            collection_costs=planned_amount(planned, "collection_costs"),
            interest=Decimal(str(planned["interest"])) if planned.get("interest") else None,
            interest_pending="interest" in planned and planned["interest"] is None,
            sent_on=today,
            deadline=deadline,
            vat_percent=self.administration.collection_costs_vat_percent,
            recipient=(contact.email if contact else None) or (contact.name if contact else None),
            sender=company,
            agency=self.administration.collection_agency,
            reminded_on=[on for letter, on, _ in earlier if not letter],
            reminded_invoices=[i.number or i.ledger_id for i in invoices if i.ledger_id in reminded],
            letter_sent_on=next((on for letter, on, _ in reversed(earlier) if letter), None),
            costs_stated_before=planned_amount(planned, "costs_stated_before"),
            costs_stated_before_on=date.fromisoformat(before_on) if before_on else None,
            costs_capped=bool(planned.get("capped")),
            principal_stated_before=planned_amount(planned, "principal_stated_before"),
            credit=planned_amount(planned, "credit"),
            credit_from=list(planned.get("credit_from") or ()),
            reference=action.key[:12],
            attached_invoices=[i.number or i.ledger_id for i in invoices if i.ledger_id in (attached or {})],
            recipient_address=postal_address(contact),
            logo=logo_data_uri(company.logo) if company and company.logo and letter else None,
        )
        return self.renderer.render(str(planned.get("template") or action.stage), context, letter=letter)

    def _prepare(self, action: Action, delivery: Delivery) -> Prepared:
        """What goes out, as bytes, recorded as evidence before it is handed over (a customer-facing message or a
        case file): a crash while handing it over leaves the proof of what may have left."""
        if action.action == "email":
            if self.email is None:
                raise ChannelError(
                    "no [email] section in the configuration: cannot send reminders by e-mail", down=True
                )
            outgoing = EmailChannel(self.email).outgoing(delivery)
            files = [FilePart("message.eml", "message/rfc822", outgoing.content)]
            files += [FilePart(a.filename, a.media_type, a.content) for a in delivery.attachments]
            evidence_id = self.evidence.prepare(
                action, channel="email", recipient=", ".join(outgoing.customer), files=files
            )
            return Prepared(evidence_id, outgoing)
        if action.action == "post":
            letter = self._post_letter(action, delivery)
            evidence_id = self.evidence.prepare(
                action,
                channel="post",
                recipient=", ".join(letter.address),
                files=[FilePart(letter.filename, PDF, letter.pdf)],
                detail={"provider": self.post.name if self.post else None},
            )
            return Prepared(evidence_id, letter)
        if action.action == "ledger_reminder":  # the ledger writes and sends it: what we know is when and to whom
            evidence_id = self.evidence.prepare(
                action,
                channel="ledger_reminder",
                recipient=delivery.contact_email or delivery.contact_name,
                files=[],
                detail={"sent_by": self.adapter.platform},
            )
            return Prepared(evidence_id, None)
        if action.action == "handover":
            case = self._case(action, delivery)
            channel = HandoverChannel(self.adapter, self.handover_dir, self.handover_url)
            paths = channel.paths(delivery, case)
            files = [
                FilePart(paths[0].name, "application/json", case.json()),
                FilePart(paths[1].name, "text/csv", case.csv()),
            ]
            evidence_id = self.evidence.prepare(
                action,
                channel="handover",
                recipient=self.administration.collection_agency or self.handover_url or str(self.handover_dir),
                files=files,
                detail={"files_on_disk": [str(path) for path in paths]},
            )
            return Prepared(evidence_id, case)
        return Prepared(None, None)

    def _case(self, action: Action, delivery: Delivery) -> CaseFile:
        """The case file: the debtor, the invoices with their history, and the legal letters' proof."""
        contact = self.store.contact(self.administration_id, action.contact_ledger_id)
        ids = [i.ledger_id for i in delivery.invoices]
        history = [e for ledger_id in ids for e in self.workflow.history(self.administration_id, ledger_id)]
        letters = []
        for sent, _ in self.outbox.earlier_messages(action, sorted(CUSTOMER_FACING)):
            if not sent.legal_letter or sent.executed_at is None:
                continue
            sent_on = went_out_on(sent.action, sent.executed_at, sent.outcome)
            if sent_on is None:
                continue
            letters.append(
                LetterProof(
                    action=sent,
                    sent_on=sent_on,
                    channel="post" if sent.outcome.get("letter_channel") == "post" else "email",
                    email_days=self._policy(sent).email_receipt_days,
                    proofs=self.evidence.proofs(action_ids=[sent.id] if sent.id is not None else []),
                )
            )
        planned = action.planned
        debtor = {
            "ledger_id": action.contact_ledger_id,
            "name": delivery.contact_name,
            "kind": planned.get("debtor_kind"),
            "email": delivery.contact_email,
            "phone": contact.phone if contact else None,
            "postal_address": list(delivery.postal_address),
            "kvk_number": contact.kvk_number if contact else None,
            "vat_number": contact.vat_number if contact else None,
            "customer_number": contact.customer_number if contact else None,
        }
        invoices = [
            {
                "ledger_id": i.ledger_id,
                "number": i.number,
                "invoice_date": i.invoice_date.isoformat() if i.invoice_date else None,
                "due_date": i.due_date.isoformat(),
                "currency": i.open_amount.currency,
                "total": str(i.total.amount),
                "open_amount": str(i.open_amount.amount),
            }
            for i in delivery.invoices
        ]
        return build_case(
            administration=delivery.administration,
            reference=delivery.key,
            created_at=delivery.sent_at.isoformat(),
            stem=case_stem(delivery),
            debtor=debtor,
            invoices=invoices,
            history=history,
            amounts={key: planned.get(key) for key in ("principal", "collection_costs", "interest")},
            letters=letters,
        )

    def _post_letter(self, action: Action, delivery: Delivery) -> PostLetter:
        if self.post is None:
            raise ChannelError("no [post] section in the configuration: cannot send letters by post", down=True)
        problem = address_problem(delivery.postal_address)
        if problem is not None:
            raise ChannelError(f"no postal address for {delivery.contact_name!r}: {problem}; add it in the ledger")
        pdf = next(a for a in delivery.attachments if a.media_type == PDF)
        return PostLetter(
            key=action.key,
            administration=self.administration.name,
            reference=action.key[:12],
            address=list(delivery.postal_address),
            pdf=pdf.content,
            filename=f"{self.administration.name}-{pdf.filename}",
        )

    def _send(self, action: Action, delivery: Delivery, prepared: Prepared) -> dict[str, Any]:
        if action.action == "email":
            assert self.email is not None and isinstance(prepared.payload, Outgoing)
            return EmailChannel(self.email).transmit(prepared.payload)
        if action.action == "post":
            assert self.post is not None and isinstance(prepared.payload, PostLetter)
            return PostChannel(self.post).send(prepared.payload)
        if action.action == "task":
            return TaskChannel(self.adapter).send(delivery)
        if action.action == "ledger_reminder":
            return LedgerReminderChannel(self.adapter).send(delivery)
        if action.action == "handover":
            assert isinstance(prepared.payload, CaseFile)
            channel = HandoverChannel(self.adapter, self.handover_dir, self.handover_url)
            return channel.send(delivery, prepared.payload)
        raise ChannelError(f"unknown action {action.action!r}")

    def _channel_failed(self, channel: str, error: str) -> None:
        self._went_through.discard(channel)
        before, after = self.channels.failed(self.administration_id, channel, error)
        n = self.channel_failing_after
        if after.failing(n) and not before.failing(n):
            self.log.warning("channel.failing", channel=channel, failures=after.failures, error=error)

    def _channel_succeeded(self, channel: str) -> None:
        """Recorded once a run per channel (and again after a failure): not a store write for every message."""
        if channel in self._went_through:
            return
        self._went_through.add(channel)
        before = self.channels.succeeded(self.administration_id, channel)
        if before.failing(self.channel_failing_after):
            since = before.failing_since.isoformat() if before.failing_since else None
            self.log.info("channel.recovered", channel=channel, failures=before.failures, failing_since=since)

    def _retry_or_fail(
        self, action: Action, phase: str, error: str, report: DispatchReport, *, retry: bool = True
    ) -> None:
        error = redact_text(error)
        if retry and action.attempts < self.max_attempts:
            wait = self.retry_base * (3 ** max(0, action.attempts - 1))
            self.outbox.transition(
                action, "pending", expect=phase, error=error, next_attempt_at=self.clock.now() + wait
            )
            report.retried += 1
        else:
            self.outbox.transition(action, "failed", expect=phase, event="failed", error=error, detail={"error": error})
            report.failed += 1
            report.problems.append(f"{action.stage} for contact {action.contact_ledger_id}: {error}")
            self.log.warning("dispatch.failed", action=action.key, stage=action.stage, error=error)

    # --- write-back -----------------------------------------------------------------------------------

    def _write_back(self, action: Action, report: DispatchReport, invoices: Sequence[Invoice] | None = None) -> None:
        """A note on each invoice, exactly once; the action is done when all are written."""
        outcome = dict(action.outcome)
        notes: dict[str, str] = dict(outcome.get("notes") or {})
        if invoices is None:
            try:
                invoices = self._recheck(self.outbox.invoice_ids(action)).records
            except LedgerError as exc:
                self.log.info("dispatch.writeback_deferred", action=action.key, error=str(exc))
                return
        marker = f"[ref {action.key[:12]}]"
        for invoice in sorted(invoices, key=lambda i: i.ledger_id):
            if invoice.ledger_id in notes:
                continue
            if not self.outbox.lease_holds():
                self.log.info("dispatch.writeback_deferred", action=action.key, error="the lease moved on")
                return  # the new owner finishes the write-back (it looks for the marker first)
            if outcome.get("task_invoice") == invoice.ledger_id:
                notes[invoice.ledger_id] = str(outcome.get("task_note", ""))  # the task note is this invoice's note
            else:
                text = f"{outcome.get('note', action.stage)} {marker}"
                try:
                    notes[invoice.ledger_id] = self._note_once(action, outcome, invoice, marker, text)
                except (TransientError, RateLimited, AuthError) as exc:
                    # Not refused, only not now (a timeout, the rate limit, credentials a person must renew):
                    # the next run looks for the marker before writing again.
                    self.log.info("dispatch.writeback_deferred", action=action.key, error=str(exc))
                    return
                except LedgerError as exc:
                    notes[invoice.ledger_id] = ""
                    report.problems.append(f"note on {invoice.number or invoice.ledger_id} refused: {exc}")
                report.notes_written += 1
            outcome["notes"] = notes
            self.outbox.save_outcome(
                action, outcome, "note_written", invoice.ledger_id, {"note_id": notes[invoice.ledger_id]}
            )
        self.outbox.transition(action, "done", expect="sent")

    def _recheck(self, ids: Sequence[str]) -> ChangeBatch[Invoice]:
        """The invoices as the ledger has them now, vetted like everything the sync stores."""
        return ledger_records.vet(self.adapter.invoices_by_id(ids))

    def _note_once(self, action: Action, outcome: dict[str, Any], invoice: Invoice, marker: str, text: str) -> str:
        """Write the note, asking the ledger for it first only when an earlier attempt may have written it:
        the attempt is recorded before the write, so a first attempt costs one call, not two. When another
        process may have written it meanwhile (this is a later attempt, or this process lost its lease while it
        wrote: it was frozen and another took over), the ledger is made to hold it once."""
        attempted: list[str] = list(outcome.get("notes_attempted") or [])
        later_attempt = invoice.ledger_id in attempted
        if later_attempt:
            found = self.adapter.find_note(invoice, marker)
            if found is not None:
                return found
        else:
            outcome["notes_attempted"] = [*attempted, invoice.ledger_id]
            self.outbox.save_outcome(action, outcome)
        written = self.adapter.add_note(invoice, text)
        if later_attempt or not self.outbox.lease_holds():
            return self._one_note(action, invoice, marker, written)
        return written

    def _one_note(self, action: Action, invoice: Invoice, marker: str, written: str) -> str:
        """The notes carrying `marker` on the invoice, reduced to one: every process that checks keeps the same
        one (the lowest id) and removes the others where the ledger allows; where it does not, a person is told."""
        notes = self.adapter.find_notes(invoice, marker)
        if len(notes) <= 1:
            return notes[0] if notes else written
        keep = min(notes, key=lambda note_id: (len(note_id), note_id))
        extra = [note_id for note_id in notes if note_id != keep]
        if self.adapter.supports(Capability.DELETE_NOTES):
            for note_id in extra:
                self.adapter.delete_note(invoice, note_id)
            event = "duplicate_note_removed"
        else:
            event = "duplicate_note"
            self.log.warning("dispatch.duplicate_note", action=action.key, invoice=invoice.ledger_id, notes=notes)
        self.workflow.audit(
            self.administration_id,
            event,
            invoice=invoice.ledger_id,
            action_id=action.id,
            detail={"kept": keep, "extra": extra},
        )
        return keep


MESSAGE_ATTACHMENTS_LIMIT = 10 * 1024 * 1024  # the invoices' PDFs in one e-mail: most mail servers take 20 MB


def _shows(invoice: Invoice) -> str:
    """What an invoice's PDF shows (its number, dates and total): the ledger's version also changes with a note
    or a payment, which leave the document as it was."""
    dates = f"{invoice.invoice_date}|{invoice.due_date}"
    material = f"{invoice.number}|{dates}|{invoice.total.amount}|{invoice.total.currency}"
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def _file_safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:60] or "invoice"


@dataclass(frozen=True)
class Prepared:
    """What an action hands its channel, as recorded in the evidence before it goes (None: nothing to keep)."""

    evidence_id: int | None
    payload: Any


def postal_address(contact: Any) -> list[str]:
    """The customer's address as lines for an envelope's window: the name (for a business, to the attention of
    its contact person), the street, the postcode and place, and the country when it is not the Netherlands."""
    if contact is None:
        return []
    lines = [contact.company_name or contact.name]
    if contact.company_name and contact.person_name:
        lines.append(f"t.a.v. {contact.person_name}")
    if contact.address:
        lines += [line.strip() for line in str(contact.address).splitlines() if line.strip()]
    place = " ".join(part for part in (contact.zipcode, contact.city) if part)
    if place:
        lines.append(place)
    if contact.country and contact.country.upper() != "NL":
        lines.append(contact.country.upper())
    return [header_safe(line) for line in lines if line]


def post_provider(settings: Settings, clock: Clock, zone: Any) -> PostProvider | None:
    """The post service the configuration names; None without a `[post]` section."""
    section = settings.post
    if section is None:
        return None
    if section.provider == "https":
        assert section.url is not None
        token = section.token.get_secret_value() if section.token else None
        return HttpsPost(section.url, token, timeout=section.timeout_seconds, options=section.options)
    return FolderPost(Path(section.folder), lambda: clock.now().astimezone(zone).date())


def _far_future(now: datetime) -> datetime:
    return now + timedelta(days=3650)


def _summary(outcome: dict[str, Any]) -> dict[str, Any]:
    return {key: outcome[key] for key in ("channel", "message_id", "to", "task_note", "case_file") if key in outcome}
