"""What went out, exactly as it left: a message's page shows each time it was handed over (to whom, the server's
answer, what came back) and the e-mail itself from the very bytes kept as evidence, with its files (the letter's
PDF, the invoices' PDFs) to download. An invoice's page shows its whole history."""

from __future__ import annotations

from datetime import date, datetime, time
from email import message_from_bytes, policy
from email.message import EmailMessage
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from connector import decisions
from connector.dispatch.dispatcher import Dispatcher, Preview
from connector.store.customers import CustomerStore
from connector.store.evidence import EvidenceStore, Proof
from connector.store.models import Action
from connector.store.outbox import OutboxStore
from connector.store.workflow import HOLD_REASONS, WorkflowStore
from connector.web.app import Site
from connector.web.gate import first, form, known, person

NOT_GONE = ("pending", "awaiting_approval", "failed")  # what a preview shows: a message that has not left
SHOWN = ("email", "post")  # actions with a message to show (a call task or a handover has none)
# A kept e-mail's HTML shown in a frame that may run nothing, load nothing and submit nothing.
SANDBOXED = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox; frame-ancestors 'self'"
FRAMED = {"Content-Security-Policy": SANDBOXED, "X-Frame-Options": "SAMEORIGIN", "Cache-Control": "no-store"}


def routes(site: Site) -> list[BaseRoute]:
    def action_of(name: str, key: str) -> Action:
        admin_id = site.administration_id(name)
        found = OutboxStore(site.store).by_keys(admin_id, [key])
        if not found:
            raise HTTPException(404)
        return found[0]

    def proofs(action: Action) -> list[Proof]:
        return EvidenceStore(site.store).proofs(action_ids=[action.id or 0])

    def message(request: Request) -> Response:
        person(request)
        name, key = request.path_params["name"], request.path_params["key"]
        action = action_of(name, key)
        kept = proofs(action)
        mails = {proof.evidence.id: _email(proof) for proof in kept}
        upcoming = preview_of(name, action) if action.status in NOT_GONE and action.action in SHOWN else None
        workflow = WorkflowStore(site.store)
        contacts, numbers = workflow.names(action.administration_id)
        invoices = [numbers.get(i, i) for i in OutboxStore(site.store).invoice_ids(action)]
        return site.page(
            request,
            "message.html",
            name=name,
            action=action,
            proofs=kept,
            mails=mails,
            customer=contacts.get(action.contact_ledger_id, action.contact_ledger_id),
            invoices=invoices,
            done=known(request.query_params.get("done"), ("postponed", "unchanged")),
            preview=upcoming,
        )

    def body(request: Request) -> Response:
        person(request)
        name, key = request.path_params["name"], request.path_params["key"]
        evidence_id = int(request.path_params["evidence"])
        for proof in proofs(action_of(name, key)):
            if proof.evidence.id == evidence_id and (mail := _email(proof)) is not None:
                part = mail.get_body(("html", "plain"))
                if part is None:
                    break
                content = part.get_content()
                media = "text/html" if part.get_content_type() == "text/html" else "text/plain"
                return Response(content, media_type=f"{media}; charset=utf-8", headers=FRAMED)
        raise HTTPException(404)

    def file(request: Request) -> Response:
        person(request)
        name, key = request.path_params["name"], request.path_params["key"]
        file_id = int(request.path_params["file"])
        for proof in proofs(action_of(name, key)):
            for kept in proof.files:
                if kept.id == file_id:
                    return Response(
                        kept.content,
                        media_type=kept.media_type,
                        headers={
                            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(kept.name)}",
                            "Content-Security-Policy": SANDBOXED,
                            "Cache-Control": "no-store",
                        },
                    )
        raise HTTPException(404)

    def preview_of(name: str, action: Action) -> Preview:
        today = site.today()
        dispatcher = Dispatcher.for_preview(site.settings, site.store, site.settings.administration(name), site.clock)
        return dispatcher.preview(action, today)

    def preview_body(request: Request) -> Response:
        person(request)
        name, key = request.path_params["name"], request.path_params["key"]
        shown = preview_of(name, action_of(name, key))
        return Response(shown.message.html, media_type="text/html; charset=utf-8", headers=FRAMED)

    def preview_letter(request: Request) -> Response:
        person(request)
        name, key = request.path_params["name"], request.path_params["key"]
        action = action_of(name, key)
        pdf = preview_of(name, action).letter()
        if pdf is None:
            raise HTTPException(404)
        return Response(
            pdf,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f"inline; filename=voorbeeld-{action.stage}-{action.key[:12]}.pdf",
                "Content-Security-Policy": SANDBOXED,
                "Cache-Control": "no-store",
            },
        )

    def postpone(request: Request) -> Response:
        who = person(request, "controller")
        name, key = request.path_params["name"], request.path_params["key"]
        action = action_of(name, key)
        fields = form(request)
        try:
            day = date.fromisoformat(first(fields, "until") or "")
        except ValueError:
            raise HTTPException(400, "until: a date (YYYY-MM-DD)") from None
        today = site.today()
        if action.status != "pending" or day <= today:
            raise HTTPException(400, "only an action ready to go can be postponed, to a later day")
        until = datetime.combine(day, time(0), site.zone)
        moved = decisions.postpone(site.store, action, until, by=who.signature, note=first(fields, "note") or None)
        return RedirectResponse(
            f"/a/{quote(name)}/m/{key}?done={'postponed' if moved else 'unchanged'}", status_code=303
        )

    def invoice(request: Request) -> Response:
        person(request)
        name, invoice_id = request.path_params["name"], request.path_params["invoice"]
        admin_id = site.administration_id(name)
        workflow = WorkflowStore(site.store)
        contact_id = workflow.contact_of(admin_id, invoice_id)
        if contact_id is None:
            raise HTTPException(404)
        file_ = CustomerStore(site.store).file(admin_id, contact_id)
        assert file_ is not None
        found = next(i for i in file_.invoices if i.ledger_id == invoice_id)
        actions = [a for a in file_.actions if invoice_id in file_.covers.get(a.id or 0, [])]
        today = site.today()
        held = workflow.active_holds(admin_id, [invoice_id], today)
        return site.page(
            request,
            "invoice.html",
            name=name,
            invoice=found,
            contact=file_.contact,
            actions=actions,
            history=workflow.history(admin_id, invoice_id),
            held=held,
            reasons=HOLD_REASONS,
            today=today,
        )

    return [
        Route("/a/{name}/m/{key}", message, methods=["GET", "HEAD"]),
        Route("/a/{name}/m/{key}/postpone", postpone, methods=["POST"]),
        Route("/a/{name}/m/{key}/preview", preview_body, methods=["GET", "HEAD"]),
        Route("/a/{name}/m/{key}/preview.pdf", preview_letter, methods=["GET", "HEAD"]),
        Route("/a/{name}/m/{key}/{evidence:int}/body", body, methods=["GET", "HEAD"]),
        Route("/a/{name}/m/{key}/file/{file:int}", file, methods=["GET", "HEAD"]),
        Route("/a/{name}/i/{invoice}", invoice, methods=["GET", "HEAD"]),
    ]


def _email(proof: Proof) -> EmailMessage | None:
    for kept in proof.files:
        if kept.name == "message.eml":
            parsed = message_from_bytes(kept.content, policy=policy.default)
            assert isinstance(parsed, EmailMessage)
            return parsed
    return None
