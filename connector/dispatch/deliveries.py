"""What became of what was sent: bounces and auto-replies from the senders' mailboxes, and the post service's
statuses, recorded with the message they are about.

A hard bounce of a customer's every address marks the message undelivered: it counts as never sent (a letter
never refers to it, a legal letter's term never starts), the customer's track stops, and a person is asked to fix
the address in the ledger (`connector bounces`). A letter posted later than the day it states its term from, or
returned by the post, waits for a person the same way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from connector.administration import Mailbox
from connector.clock import AMSTERDAM, Clock
from connector.config import Settings
from connector.dispatch.dispatcher import post_provider
from connector.dispatch.mailbox import MailboxError, read_new
from connector.dispatch.post import PostError, PostProvider, PostStatus
from connector.dispatch.reports import DeliveryReport, read_report
from connector.log import get_logger
from connector.store import Store
from connector.store.evidence import EvidenceStore, Purged
from connector.store.models import Action, Evidence
from connector.store.outbox import OutboxStore
from connector.workflow.legal import posting_day

log = get_logger("deliveries")


@dataclass
class DeliveryRound:
    """One round of reading what came back."""

    messages_read: int = 0
    reports: int = 0
    bounced: list[str] = field(default_factory=list)  # action keys marked undelivered
    posted: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # mailboxes or services that could not be read

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class DeliveryTracker:
    def __init__(self, store: Store, clock: Clock, *, post: PostProvider | None = None, posting_days: int = 1):
        self.store = store
        self.clock = clock
        self.evidence = EvidenceStore(store)
        self.outbox = OutboxStore(store)
        self.post = post
        self.posting_days = posting_days

    # --- mailboxes --------------------------------------------------------------------------------------

    def read_mailboxes(self, boxes: Iterable[Mailbox], outcome: DeliveryRound | None = None) -> DeliveryRound:
        outcome = outcome or DeliveryRound()
        seen: set[str] = set()
        for box in boxes:
            if box.address in seen:
                continue
            seen.add(box.address)
            try:
                outcome.messages_read += read_new(
                    box, self.evidence, lambda raw, source: self.take(raw, source, outcome)
                )
            except MailboxError as exc:
                outcome.problems.append(str(exc))
                log.warning("deliveries.mailbox_unreadable", mailbox=box.address, error=str(exc))
        return outcome

    def take(self, raw: bytes, source: str, outcome: DeliveryRound | None = None) -> DeliveryReport | None:
        """Record one message from a bounce mailbox against the message it reports on, if it is about one of ours."""
        report = read_report(raw)
        if report is None:
            return None
        for key in report.keys:
            evidence = self.evidence.sent_with_key(key, report.recipients[0].address if report.recipients else None)
            if evidence is None or evidence.channel != "email":
                continue
            recipients = [r.__dict__ for r in report.recipients]
            status = (
                "delivered" if report.kind in ("auto_reply", "delivered") and evidence.status == "accepted" else None
            )
            recorded = self.evidence.event(
                evidence.id or 0,
                report.kind,
                source=source,
                at=report.at,
                detail={"subject": report.subject, "recipients": recipients, **report.detail},
                raw=raw,
                status=status,
            )
            if not recorded:
                continue
            if outcome is not None:
                outcome.reports += 1
            if report.hard and self._every_address_bounced(evidence):
                reason = "; ".join(f"{r.status} {r.diagnostic}".strip() for r in report.recipients if r.hard)
                added = self._undelivered(evidence, evidence.recipient, reason or "bounced", {"source": source})
                if added and outcome is not None:
                    outcome.bounced.append(evidence.action_key)
        return report

    def _every_address_bounced(self, evidence: Evidence) -> bool:
        customer = {address.strip().lower() for address in evidence.recipient.split(",") if address.strip()}
        bounced: set[str] = set()
        for event in self.evidence.events(evidence.id or 0):
            if event.kind != "bounced":
                continue
            recipients = event.detail.get("recipients") or []
            if not any(r.get("address") for r in recipients):
                return True  # a report that names no address: the message as a whole came back
            bounced |= {
                str(r["address"]).lower()
                for r in recipients
                if r.get("action") == "failed" and str(r.get("status", "")).startswith("5")
            }
        return bool(customer) and customer <= bounced

    def _undelivered(self, evidence: Evidence, address: str, reason: str, detail: dict[str, Any]) -> bool:
        action = self._action(evidence)
        if action is None:
            return False
        added = self.evidence.add_problem(action, evidence, address=address, reason=reason, detail=detail)
        if added:
            self.evidence.event(evidence.id or 0, "undelivered", source=f"undelivered:{evidence.id}", status="bounced")
            log.warning(
                "deliveries.undelivered",
                action=action.key,
                stage=action.stage,
                channel=evidence.channel,
                contact=action.contact_ledger_id,
                reason=reason,
            )
        return added

    def _action(self, evidence: Evidence) -> Action | None:
        return next((a for a in self.outbox.find(evidence.action_key) if a.id == evidence.action_id), None)

    # --- the post -----------------------------------------------------------------------------------------

    def poll_post(self, outcome: DeliveryRound | None = None) -> DeliveryRound:
        """Ask the post service about every letter it has not reported posted yet."""
        outcome = outcome or DeliveryRound()
        if self.post is None:
            return outcome
        for evidence in self.evidence.awaiting("post", ["accepted"]):
            if not evidence.external_id:
                continue
            try:
                status = self.post.status(evidence.external_id)
            except PostError as exc:
                outcome.problems.append(f"post service: {exc}")
                log.warning("deliveries.post_unreachable", error=str(exc))
                break
            if status is not None:
                self.post_status(evidence, status, outcome=outcome)
        return outcome

    def post_status(
        self, evidence: Evidence, status: PostStatus, *, by: str | None = None, outcome: DeliveryRound | None = None
    ) -> None:
        source = f"post:{evidence.external_id}:{status.status}"
        if status.status in ("posted", "delivered") and status.posted_on is not None:
            if self.evidence.event(
                evidence.id or 0,
                "posted",
                source=source,
                detail={"posted_on": status.posted_on.isoformat(), "by": by, **status.detail},
                status="posted",
            ):
                self._posted(evidence, status.posted_on, by)
                if outcome is not None:
                    outcome.posted.append(evidence.action_key)
        elif status.status == "returned":
            if self.evidence.event(evidence.id or 0, "returned", source=source, detail=status.detail):
                reason = str(status.detail.get("reason") or "returned by the post")
                self._undelivered(evidence, evidence.recipient, reason, {"source": source})
        elif status.status:
            self.evidence.event(evidence.id or 0, status.status, source=source, detail=status.detail)

    def _posted(self, evidence: Evidence, posted_on: date, by: str | None) -> None:
        """The letter is in the post: its term and the next stage's spacing run from this day. Posted later than
        the day its stated term assumed, its term may be short: a person looks before anything relies on it."""
        action = self._action(evidence)
        if action is None:
            return
        self.outbox.save_outcome(action, {**action.outcome, "posted_on": posted_on.isoformat()})
        self.outbox.record_event(action, "letter_in_post", {"posted_on": posted_on.isoformat(), "by": by})
        handed = (evidence.handed_at or evidence.prepared_at).astimezone(AMSTERDAM).date()
        assumed = posting_day(handed, self.posting_days)
        if posted_on > assumed and action.outcome.get("deadline"):
            reason = (
                f"posted on {posted_on.isoformat()}, after the {assumed.isoformat()} the letter states its term from: "
                "its term may be too short; send it again or confirm it"
            )
            self._undelivered(evidence, evidence.recipient, reason, {"posted_on": posted_on.isoformat()})

    def mark_posted(self, keys: Sequence[str], posted_on: date, *, by: str) -> list[str]:
        """A person reports letters of a print batch posted on a day (`connector post posted`)."""
        done = []
        for key in keys:
            evidence = self.evidence.sent_with_key(key)
            if evidence is None or evidence.channel != "post" or evidence.status != "accepted":
                continue
            self.post_status(evidence, PostStatus("posted", posted_on, {"reported_by": by}), by=by)
            done.append(key)
        return done


def delivery_tracker(settings: Settings, store: Store, clock: Clock) -> DeliveryTracker:
    post = post_provider(settings, clock, settings.connector.zone)
    return DeliveryTracker(store, clock, post=post, posting_days=settings.post.posting_days if settings.post else 1)


def purge_evidence(store: Store, clock: Clock, retention_days: int) -> list[Purged]:
    """Remove the proof of customers whose last message is older than the retention period, and the case files
    written for them; each customer's purge is in the audit log and the log."""
    purged = EvidenceStore(store).purge(clock.now() - timedelta(days=retention_days))
    for item in purged:
        for path in item.paths:
            with contextlib.suppress(FileNotFoundError):
                Path(path).unlink()
        log.info(
            "evidence.purged",
            administration_id=item.administration_id,
            contact=item.contact_ledger_id,
            messages=item.messages,
            files=item.files + len(item.paths),
            retention_days=retention_days,
        )
    return purged
