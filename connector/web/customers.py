"""The cockpit's customers and invoices: the list with search, a customer's page with one timeline of everything
sent and planned, an invoice's history, and what a credit controller changes there (pause and resume an invoice,
exclude or include a customer, say whether they are a consumer or a business)."""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from connector.store.customers import CustomerStore
from connector.store.workflow import HOLD_REASONS, WorkflowStore
from connector.web.app import Site
from connector.web.gate import first, form, known, person
from connector.web.timeline import timeline

KINDS = ("consumer", "business")
INVOICES_SHOWN = 500  # the list shows this many of what matches, oldest due first; the count says how many
DONE = ("paused", "already_paused", "resumed", "excluded", "included", "kind")


def routes(site: Site) -> list[BaseRoute]:
    def customers(request: Request) -> Response:
        person(request)
        name = request.path_params["name"]
        query = request.query_params.get("q", "").strip()
        rows = CustomerStore(site.store).customers(site.administration_id(name), site.today(), query)
        return site.page(request, "customers.html", name=name, rows=rows, query=query)

    def invoices(request: Request) -> Response:
        person(request)
        name = request.path_params["name"]
        admin_id = site.administration_id(name)
        params = request.query_params
        state = known(params.get("state"), ("open", "closed", "all")) or "open"
        query = params.get("q", "").strip().lower()
        overdue_only = params.get("overdue") == "1"
        today = site.today()
        views = site.store.invoices(name, state)  # type: ignore[arg-type]
        held = WorkflowStore(site.store).active_holds(
            admin_id, [view.ledger_id for view in views if view.state == "open"], today
        )
        paused_only = params.get("paused") == "1"
        rows = [
            view
            for view in views
            if (not query or query in (view.number or "").lower() or query in (view.contact_name or "").lower())
            and (not overdue_only or (view.state == "open" and view.due_date < today))
            and (not paused_only or view.ledger_id in held)
        ]
        return site.page(
            request,
            "invoices.html",
            name=name,
            rows=rows[:INVOICES_SHOWN],
            matching=len(rows),
            held=held,
            params=params,
            state=state,
            today=today,
        )

    def customer(request: Request) -> Response:
        person(request)
        name = request.path_params["name"]
        contact_id = request.path_params["contact"]
        admin_id = site.administration_id(name)
        file = CustomerStore(site.store).file(admin_id, contact_id)
        if file is None:
            raise HTTPException(404)
        workflow = WorkflowStore(site.store)
        config = site.settings.administration(name)
        day = site.today()
        upcoming = workflow.next_for_contact(
            admin_id, config, site.settings.policies, contact_id, day, site.settings.rates
        )
        kind, why = workflow.debtor(admin_id, contact_id)
        held = workflow.active_holds(admin_id, [invoice.ledger_id for invoice in file.invoices], day)
        return site.page(
            request,
            "customer.html",
            name=name,
            file=file,
            entries=timeline(file, upcoming, site.zone),
            kind=kind.value,
            why=why,
            held=held,
            reasons=HOLD_REASONS,
            today=day,
            done=known(request.query_params.get("done"), DONE),
        )

    def back(name: str, contact_id: str, done: str) -> Response:
        return RedirectResponse(f"/a/{quote(name)}/c/{quote(contact_id, safe='')}?done={done}", status_code=303)

    def pause(request: Request) -> Response:
        who = person(request, "controller")
        name, invoice_id = request.path_params["name"], request.path_params["invoice"]
        admin_id = site.administration_id(name)
        fields = form(request)
        reason = first(fields, "reason") or ""
        until_text = first(fields, "until") or ""
        if reason not in HOLD_REASONS:
            raise HTTPException(400, f"reason: one of {', '.join(HOLD_REASONS)}")
        try:
            until = date.fromisoformat(until_text) if until_text else None
        except ValueError:
            raise HTTPException(400, "until: a date (YYYY-MM-DD)") from None
        if until is not None and until < site.today():
            raise HTTPException(400, "until: today or later")
        workflow = WorkflowStore(site.store)
        contact_id = workflow.contact_of(admin_id, invoice_id)
        if contact_id is None:
            raise HTTPException(404)
        if workflow.active_holds(admin_id, [invoice_id], site.today()):
            return back(name, contact_id, "already_paused")  # a second click, or another person was first
        workflow.hold(admin_id, invoice_id, reason, until, first(fields, "note") or None, by=who.signature)
        return back(name, contact_id, "paused")

    def resume(request: Request) -> Response:
        who = person(request, "controller")
        name, invoice_id = request.path_params["name"], request.path_params["invoice"]
        admin_id = site.administration_id(name)
        workflow = WorkflowStore(site.store)
        contact_id = workflow.contact_of(admin_id, invoice_id)
        if contact_id is None:
            raise HTTPException(404)
        workflow.release(admin_id, invoice_id, by=who.signature)
        return back(name, contact_id, "resumed")

    def exclude(request: Request) -> Response:
        who = person(request, "controller")
        name, contact_id = request.path_params["name"], request.path_params["contact"]
        admin_id = site.administration_id(name)
        if site.store.contact(admin_id, contact_id) is None:
            raise HTTPException(404)
        fields = form(request)
        excluded = first(fields, "excluded") == "1"
        WorkflowStore(site.store).override_contact(
            admin_id, contact_id, by=who.signature, note=first(fields, "note") or None, excluded=excluded
        )
        return back(name, contact_id, "excluded" if excluded else "included")

    def kind(request: Request) -> Response:
        who = person(request, "controller")
        name, contact_id = request.path_params["name"], request.path_params["contact"]
        admin_id = site.administration_id(name)
        if site.store.contact(admin_id, contact_id) is None:
            raise HTTPException(404)
        chosen = first(form(request), "kind") or ""
        if chosen not in (*KINDS, "ledger"):
            raise HTTPException(400, "kind: consumer, business or ledger")
        WorkflowStore(site.store).override_contact(
            admin_id, contact_id, by=who.signature, debtor_kind=None if chosen == "ledger" else chosen
        )
        return back(name, contact_id, "kind")

    return [
        Route("/a/{name}/customers", customers, methods=["GET", "HEAD"]),
        Route("/a/{name}/invoices", invoices, methods=["GET", "HEAD"]),
        Route("/a/{name}/c/{contact}", customer, methods=["GET", "HEAD"]),
        Route("/a/{name}/c/{contact}/exclude", exclude, methods=["POST"]),
        Route("/a/{name}/c/{contact}/kind", kind, methods=["POST"]),
        Route("/a/{name}/i/{invoice}/pause", pause, methods=["POST"]),
        Route("/a/{name}/i/{invoice}/resume", resume, methods=["POST"]),
    ]
