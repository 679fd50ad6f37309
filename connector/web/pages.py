"""The cockpit's pages."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from connector import decisions
from connector.health.status import AdministrationFigures, gather
from connector.store.models import DailyFigure
from connector.store.overview import OverviewStore
from connector.store.workflow import WorkflowStore
from connector.web import charts, overview
from connector.web.app import Site
from connector.web.gate import first, form, person

HISTORY_DAYS = 180  # how far back the dashboard draws DSO
MISSING_ONE_BY_ONE = 20  # administrations without today's figures worked out one by one; more: all at once


def routes(site: Site) -> list[BaseRoute]:
    def home(request: Request) -> Response:
        person(request)
        today = site.today()
        store = OverviewStore(site.store)
        figures = gather(store, site.settings, detail=False)
        actions, quarantined = store.action_counts(), store.quarantine_counts()
        for item in figures:
            item.actions = actions.get(item.administration_id or 0, {})
            item.quarantined = quarantined.get(item.administration_id or 0, 0)
        now = site.clock.now()
        every = overview.rows(
            figures, _days(store, figures, today), {f.name: f.not_ready_because(now) for f in figures}
        )
        params = request.query_params
        shown = overview.view(
            every,
            query=params.get("q", "").strip(),
            platform=params.get("platform", ""),
            attention_only=params.get("attention") == "1",
            sort=params.get("sort", "attention"),
            descending=params.get("dir", "desc") != "asc",
            page=_int(params.get("page"), 1),
        )
        platforms = sorted({row.platform for row in every})
        return site.page(
            request, "overview.html", view=shown, platforms=platforms, today=today, params=params, link=_link(request)
        )

    def dashboard(request: Request) -> Response:
        person(request)
        name = request.path_params["name"]
        config = site.administration(name)
        today = site.today()
        store = OverviewStore(site.store)
        (figures,) = gather(store, site.settings, today=today, only=name)
        administration_id = figures.administration_id
        live = store.day_figures(today, administration_id) if administration_id else {}
        (row,) = overview.rows([figures], live, {name: figures.not_ready_because(site.clock.now())})
        ageing = charts.bars([(bucket.label, bucket.amount) for bucket in figures.ageing])
        days = store.days(administration_id, today - timedelta(days=HISTORY_DAYS)) if administration_id else []
        dso = [
            (day.day.isoformat(), value)
            for day in days
            if day.currency == row.currency
            and day.day < today
            and (value := overview.days_sales_outstanding(day.open_amount, day.invoiced_90_days)) is not None
        ]
        if row.dso is not None:
            dso.append((today.isoformat(), row.dso))
        due = (
            WorkflowStore(site.store).due_actions(
                administration_id, config, site.settings.policies, today, site.settings.rates
            )
            if administration_id is not None and not figures.approved
            else []
        )
        return site.page(
            request,
            "administration.html",
            name=name,
            config=config,
            figures=figures,
            row=row,
            ageing=ageing,
            dso=charts.line(dso),
            dso_rows=dso,
            due_today=Counter(action.stage for action in due),
            done=request.query_params.get("done"),
            chart=charts,
        )

    def approve(request: Request) -> Response:
        who = person(request, "admin")
        name = request.path_params["name"]
        site.administration(name)
        today = site.today()
        note = first(form(request), "note") or None
        went = decisions.approve_administration(site.store, site.settings, name, today, by=who.signature, note=note)
        return RedirectResponse(
            f"/a/{quote(name)}?done={'approved' if went.new else 'already_approved'}", status_code=303
        )

    return [
        Route("/", home, methods=["GET", "HEAD"]),
        Route("/a/{name}", dashboard, methods=["GET", "HEAD"]),
        Route("/a/{name}/approve", approve, methods=["POST"]),
    ]


def _days(store: OverviewStore, figures: list[AdministrationFigures], today: date) -> dict[int, list[DailyFigure]]:
    """Today's receivables per administration as kept after its last sync; worked out now for those not synced
    yet today (one query for all of them when there are many)."""
    kept = store.figures_of_day(today)
    missing = [f.administration_id for f in figures if f.administration_id and f.administration_id not in kept]
    if len(missing) > MISSING_ONE_BY_ONE:
        return {**store.day_figures(today), **kept}
    for administration_id in missing:
        kept.update(store.day_figures(today, administration_id))
    return kept


def _link(request: Request) -> Callable[..., str]:
    """A link to this page with some of its query changed (None drops a key)."""

    def link(**changes: object) -> str:
        query = {key: value for key, value in request.query_params.items() if key not in changes}
        query.update({key: str(value) for key, value in changes.items() if value is not None})
        return "?" + urlencode(query) if query else request.url.path

    return link


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default
