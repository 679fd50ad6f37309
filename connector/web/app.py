"""The web application: the health endpoints, and the cockpit's pages when `[cockpit] enabled` (the default)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connector.clock import Clock, business_date
from connector.config import AdministrationConfig, Settings
from connector.health.status import money as plain_money
from connector.log import get_logger
from connector.store import Store
from connector.store.users import UserStore
from connector.web import i18n
from connector.web.gate import Forbidden, Gate, NotSignedIn, csrf_token, session_of
from connector.web.health import HealthEndpoints, JSONDocument, health_routes

log = get_logger("web")
HERE = Path(__file__).parent
# What a page may load: only what it came with. No inline script; styles from our own file.
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; object-src 'none'; "
        b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


@dataclass
class Site:
    """What the pages read and change: the configuration, the store and the business clock."""

    settings: Settings
    store: Store
    clock: Clock
    users: UserStore = field(init=False)
    templates: Environment = field(init=False)

    def __post_init__(self) -> None:
        self.users = UserStore(self.store)
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["money"] = plain_money  # the English operations page (/status)
        self.templates.filters["isodate"] = date.fromisoformat

    @property
    def zone(self) -> Any:
        return self.settings.connector.zone

    def today(self) -> date:
        """The business date, in the administration's time zone."""
        return business_date(self.clock, self.settings.connector.zone)

    def administration(self, name: str) -> AdministrationConfig:
        """A configured administration; 404 for a name not configured."""
        try:
            return self.settings.administration(name)
        except KeyError:
            raise HTTPException(404) from None

    def administration_id(self, name: str) -> int:
        """The store's id of a configured administration; 404 for one not configured or never synced."""
        self.administration(name)
        found = self.store.administration_id(name)
        if found is None:
            raise HTTPException(404)
        return found

    def language(self, request: Request) -> str:
        session = session_of(request)
        if session is not None:
            return session.person.language
        asked = request.query_params.get("lang")
        return asked if asked in i18n.LANGUAGES else self.settings.cockpit.language

    def page(self, request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        """A cockpit page, in the person's language, with the session's CSRF token for its forms."""
        language = self.language(request)
        session = session_of(request)
        body = self.templates.get_template(template).render(
            request=request,
            person=session.person if session else None,
            csrf=csrf_token(request),
            lang=language,
            _=i18n.translator(language),
            money=lambda amount, currency="EUR": i18n.money(amount, currency, language),
            number=lambda value, digits=0: i18n.number(value, language, digits),
            moment=lambda value: i18n.moment(value, self.zone, language),
            day=lambda value: i18n.day(value, language),
            site_zone=self.zone,
            **context,
        )
        return HTMLResponse(body, status_code=status_code, headers={"Cache-Control": "no-store"})


def create_app(site: Site, health: HealthEndpoints) -> Starlette:
    cockpit = site.settings.cockpit.enabled
    routes: list[BaseRoute] = health_routes(
        health,
        status_page=lambda request, document: site.page(request, "status.html", status=document),
        cockpit=cockpit,
    )
    if cockpit:
        from connector.web import attention, customers, editor, messages, pages, signin

        routes += signin.routes(site) + pages.routes(site) + customers.routes(site) + attention.routes(site)
        routes += messages.routes(site) + editor.routes(site)
        routes.append(Mount("/static", StaticFiles(directory=HERE / "static"), name="static"))
    else:
        from starlette.routing import Route

        async def root(request: Request) -> Response:
            return RedirectResponse("/status", status_code=307)

        routes.append(Route("/", root, methods=["GET", "HEAD"]))
    middleware = [Middleware(_SecurityHeaders)]
    if cockpit:
        middleware.append(Middleware(Gate, users=site.users, section=site.settings.cockpit))
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            NotSignedIn: _sign_in_first,
            Forbidden: _forbidden(site),
            404: _not_found(site),
            Exception: _failed(site),
        },
    )


async def _sign_in_first(request: Request, exc: Exception) -> Response:
    if request.method in ("GET", "HEAD"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    return Response("Sign in first.", status_code=401, media_type="text/plain")


def _forbidden(site: Site) -> Callable[[Request, Exception], Any]:
    async def handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Forbidden)
        return site.page(request, "forbidden.html", status_code=403, needed=exc.needed)

    return handler


def _not_found(site: Site) -> Callable[[Request, Exception], Any]:
    async def handler(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith(("/healthz", "/readyz", "/status", "/metrics")) or session_of(request) is None:
            return JSONDocument(
                {"error": "not found", "routes": ["/healthz", "/readyz", "/metrics", "/status"]}, status_code=404
            )
        return site.page(request, "not_found.html", status_code=404)

    return handler


def _failed(site: Site) -> Callable[[Request, Exception], Any]:
    async def handler(request: Request, exc: Exception) -> Response:
        """Whatever broke (the store unreachable, most likely): named by its type, never with its message, which
        may hold customer data or a connection string. A person gets a page, a tool JSON."""
        log.error("web.request_failed", path=request.url.path, error=type(exc).__name__, exc_info=exc)
        if session_of(request) is not None and "text/html" in request.headers.get("accept", ""):
            return site.page(request, "failed.html", status_code=503, error=type(exc).__name__)
        return JSONDocument({"error": type(exc).__name__}, status_code=503)

    return handler


class _SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                own = {name.lower() for name, _ in message.get("headers", [])}
                added = [(name, value) for name, value in SECURITY_HEADERS if name not in own]
                message = {**message, "headers": [*message.get("headers", []), *added]}
            await send(message)

        await self.app(scope, receive, sending)
