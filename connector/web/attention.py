"""An administration's attention queue: everything that waits for a person, in one place, with the decision
next to it (in bulk where one decision fits many): actions awaiting approval, failed, or flagged for review;
messages that did not arrive; disputes; the administration parked; claims nearing limitation; data missing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import quote

import sqlalchemy as sa
from sqlmodel import col, select
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from connector import decisions
from connector.domain import InvoiceStatus
from connector.store.evidence import EvidenceStore
from connector.store.models import Action, Contact, DeliveryProblem, Invoice, QuarantinedRecord
from connector.store.outbox import OutboxStore
from connector.store.overview import OverviewStore
from connector.store.workflow import Stop, WorkflowStore
from connector.web.app import Site
from connector.web.gate import first, form, known, person

# A claim on an invoice is barred five years after it fell due (art. 3:307 BW): flagged half a year before.
LIMITATION_YEARS = 5
LIMITATION_WARNING = timedelta(days=183)


@dataclass
class Queue:
    awaiting: list[Action] = field(default_factory=list)
    failed: list[Action] = field(default_factory=list)
    review: list[Action] = field(default_factory=list)
    undelivered: list[DeliveryProblem] = field(default_factory=list)
    disputes: list[Stop] = field(default_factory=list)
    limitation: list[Invoice] = field(default_factory=list)
    quarantined: list[QuarantinedRecord] = field(default_factory=list)
    no_email: list[Contact] = field(default_factory=list)  # customers with open invoices and nowhere to write
    parked: str | None = None
    names: dict[str, str] = field(default_factory=dict)  # contact id -> name
    numbers: dict[str, str] = field(default_factory=dict)  # invoice id -> number

    @property
    def count(self) -> int:
        return sum(
            len(items)
            for items in (
                self.awaiting,
                self.failed,
                self.review,
                self.undelivered,
                self.disputes,
                self.limitation,
                self.quarantined,
                self.no_email,
            )
        ) + (self.parked is not None)


DONE = ("approve", "reject", "retry", "sent", "not_sent", "undelivered", "unparked")


def _count(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 0


def limitation_day(today: date) -> date:
    """Invoices due on or before this day are within half a year of being barred."""
    try:
        barred_from = today.replace(year=today.year - LIMITATION_YEARS)
    except ValueError:  # 29 February
        barred_from = today.replace(year=today.year - LIMITATION_YEARS, day=28)
    return barred_from + LIMITATION_WARNING


def gather_queue(site: Site, name: str, administration_id: int, today: date) -> Queue:
    queue = Queue()
    for action in OverviewStore(site.store).needing_attention(administration_id):
        bucket = {"awaiting_approval": queue.awaiting, "failed": queue.failed, "review": queue.review}.get(
            action.status
        )
        if bucket is not None:
            bucket.append(action)
    queue.undelivered = EvidenceStore(site.store).problems(administration_id)
    workflow = WorkflowStore(site.store)
    queue.disputes = [stop for stop in workflow.stops(administration_id, today) if stop.kind == "dispute"]
    queue.quarantined = site.store.quarantined(administration_id)
    record = OverviewStore(site.store).administration(name)
    if record is not None and record.parked_at is not None:
        queue.parked = record.parked_reason or ""
    with site.store.session() as session:
        queue.limitation = list(
            session.exec(
                select(Invoice).where(
                    Invoice.administration_id == administration_id,
                    Invoice.status == InvoiceStatus.OPEN,
                    col(Invoice.due_date) <= limitation_day(today),
                )
            )
        )
        open_contacts = (
            sa.select(col(Invoice.contact_ledger_id))
            .where(col(Invoice.administration_id) == administration_id, col(Invoice.status) == InvoiceStatus.OPEN)
            .distinct()
        )
        queue.no_email = list(
            session.exec(
                select(Contact).where(
                    Contact.administration_id == administration_id,
                    col(Contact.ledger_id).in_(open_contacts),
                    sa.or_(col(Contact.email).is_(None), col(Contact.email) == ""),
                )
            )
        )
    queue.names, queue.numbers = workflow.names(administration_id)
    return queue


def routes(site: Site) -> list[BaseRoute]:
    def attention(request: Request) -> Response:
        person(request)
        name = request.path_params["name"]
        today = site.today()
        queue = gather_queue(site, name, site.administration_id(name), today)
        return site.page(
            request,
            "attention.html",
            name=name,
            queue=queue,
            done=known(request.query_params.get("done"), DONE),
            count=_count(request.query_params.get("count")),
            refused=known(request.query_params.get("refused"), ("address_unchanged", "nothing_undelivered")),
        )

    def decide(request: Request) -> Response:
        who = person(request, "controller")
        name = request.path_params["name"]
        admin_id = site.administration_id(name)
        fields = form(request)
        verb = first(fields, "do") or ""
        keys = set(fields.get("key", []))
        note = first(fields, "note") or None
        chosen = OutboxStore(site.store).by_keys(admin_id, sorted(keys))
        if verb in ("approve", "reject"):
            done = decisions.decide_actions(site.store, chosen, approve=verb == "approve", by=who.signature, note=note)
        elif verb == "retry":
            done = decisions.retry_failed(site.store, chosen, by=who.signature)
        elif verb in ("sent", "not_sent"):
            done = [
                action
                for action in chosen
                if decisions.resolve_review(site.store, action, sent=verb == "sent", by=who.signature, note=note)
            ]
        else:
            raise HTTPException(400, "do: approve, reject, retry, sent or not_sent")
        return RedirectResponse(f"/a/{quote(name)}/attention?done={verb}&count={len(done)}", status_code=303)

    def undelivered(request: Request) -> Response:
        who = person(request, "controller")
        name = request.path_params["name"]
        admin_id = site.administration_id(name)
        fields = form(request)
        contact = first(fields, "contact") or ""
        try:
            decisions.resolve_undelivered(
                site.store,
                admin_id,
                contact,
                by=who.signature,
                note=first(fields, "note") or None,
                same_address=first(fields, "same_address") == "1",
            )
        except decisions.Refused as exc:
            return RedirectResponse(f"/a/{quote(name)}/attention?refused={exc.code}", status_code=303)
        return RedirectResponse(f"/a/{quote(name)}/attention?done=undelivered&count=1", status_code=303)

    def unpark(request: Request) -> Response:
        who = person(request, "admin")
        name = request.path_params["name"]
        site.administration_id(name)
        if not OverviewStore(site.store).unpark(name, by=who.signature):
            return RedirectResponse(f"/a/{quote(name)}/attention", status_code=303)  # it was not parked (any more)
        return RedirectResponse(f"/a/{quote(name)}/attention?done=unparked&count=1", status_code=303)

    return [
        Route("/a/{name}/attention", attention, methods=["GET", "HEAD"]),
        Route("/a/{name}/attention", decide, methods=["POST"]),
        Route("/a/{name}/undelivered", undelivered, methods=["POST"]),
        Route("/a/{name}/unpark", unpark, methods=["POST"]),
    ]
