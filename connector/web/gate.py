"""Who is asking, and whether a change is theirs: sessions, the reverse proxy's header, CSRF and roles.

`Gate` is plain ASGI middleware in front of every route. It finds the session (the cookie, or the trusted
proxy's header naming an account), and refuses any POST whose form does not carry the session's CSRF token or
whose `Origin` is another site. A form checked here is handed on parsed, in `request.state.form`.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import timedelta
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connector.config import CockpitSection
from connector.store.users import Person, Session, UserStore

SESSION_COOKIE = "connector_session"
LOGIN_COOKIE = "connector_login"  # the sign-in form's CSRF token, before there is a session
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_LIMIT = 1024 * 1024
FIELDS = 2000  # more fields than any form of ours has (a bulk decision on many actions included)


class NotSignedIn(Exception):
    """The page wants a signed-in person."""


class Forbidden(Exception):
    """Signed in, but their role does not allow this."""

    def __init__(self, needed: str) -> None:
        super().__init__(needed)
        self.needed = needed


def session_of(request: Request) -> Session | None:
    found: Session | None = request.scope.get("state", {}).get("session")
    return found


def person(request: Request, role: str = "viewer") -> Person:
    """The signed-in person, when their role is at least `role`."""
    session = session_of(request)
    if session is None:
        raise NotSignedIn()
    if not session.person.may(role):
        raise Forbidden(role)
    return session.person


def form(request: Request) -> dict[str, list[str]]:
    """The POSTed form, as the gate checked it."""
    found: dict[str, list[str]] = request.scope.get("state", {}).get("form", {})
    return found


def first(fields: dict[str, list[str]], name: str) -> str | None:
    """A form's first value for `name`, if it has one."""
    values = fields.get(name)
    return values[0] if values else None


def known(value: str | None, allowed: tuple[str, ...]) -> str | None:
    """A value from the query string, when it is one the page knows (never shown or formatted otherwise)."""
    return value if value in allowed else None


def csrf_token(request: Request) -> str:
    session = session_of(request)
    if session is not None:
        return session.csrf
    return str(request.scope.get("state", {}).get("login_csrf", ""))


@dataclass
class Gate:
    app: ASGIApp
    users: UserStore
    section: CockpitSection

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        request = Request(scope)
        cookies: list[str] = []
        session = await run_in_threadpool(self._session, request, cookies)
        if isinstance(session, Response):
            await session(scope, receive, send)
            return
        state["session"] = session
        state["login_csrf"] = request.cookies.get(LOGIN_COOKIE) or ""
        if session is None and not state["login_csrf"]:
            state["login_csrf"] = secrets.token_urlsafe(24)
            cookies.append(cookie(self.section, LOGIN_COOKIE, state["login_csrf"], max_age=3600))
        if scope["method"] in UNSAFE:
            body = await _body(receive)
            if body is None:
                await PlainTextResponse("Refused: the form is too large.", status_code=413)(scope, receive, send)
                return
            refusal = self._refusal(request, session, body)
            if refusal is not None:
                await PlainTextResponse(refusal, status_code=403)(scope, receive, send)
                return
            state["form"] = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=FIELDS)
            receive = _replay(body)
        await self.app(scope, receive, _with_cookies(send, cookies))

    # --- who -------------------------------------------------------------------------------------------

    def _session(self, request: Request, cookies: list[str]) -> Session | Response | None:
        idle = timedelta(minutes=self.section.session_idle_minutes)
        token = request.cookies.get(SESSION_COOKIE)
        session = self.users.session(token, idle) if token else None
        header = self.section.proxy_user_header
        if header is None or not self._from_trusted_proxy(request):
            return session
        name = request.headers.get(header)
        if not name:
            return session
        if session is not None and session.person.username == name.strip().lower():
            return session
        found = self.users.person(name)
        if found is None:
            return PlainTextResponse(
                f"No cockpit account for {name!r}: an admin adds it with `connector users add`.", status_code=403
            )
        token, session = self.users.start_session(found, lifetime(self.section), address(request, self.section))
        cookies.append(session_cookie(self.section, token))
        return session

    def _from_trusted_proxy(self, request: Request) -> bool:
        return _peer(request) in self.section.trusted_proxies

    # --- CSRF ------------------------------------------------------------------------------------------

    def _refusal(self, request: Request, session: Session | None, body: bytes) -> str | None:
        """Why a change is refused, or None: it comes from our own page, with the token that page carried."""
        origin = request.headers.get("origin")
        if origin is not None and origin != "null" and not _same_site(origin, request):
            return "Refused: this form was sent from another site."
        expected = session.csrf if session is not None else request.cookies.get(LOGIN_COOKIE)
        content_type = request.headers.get("content-type", "")
        given = request.headers.get("x-csrf-token")
        if given is None and content_type.startswith("application/x-www-form-urlencoded"):
            given = first(parse_qs(body.decode("utf-8", "replace"), max_num_fields=FIELDS), "csrf")
        if not expected or not given or not hmac.compare_digest(given.encode(), expected.encode()):
            return "Refused: the form's security token is missing or out of date. Reload the page and try again."
        return None


def lifetime(section: CockpitSection) -> timedelta:
    return timedelta(hours=section.session_hours)


def session_cookie(section: CockpitSection, token: str) -> str:
    return cookie(section, SESSION_COOKIE, token, max_age=int(lifetime(section).total_seconds()))


def cookie(section: CockpitSection, name: str, value: str, *, max_age: int) -> str:
    """A Set-Cookie value: HttpOnly, SameSite=Lax, the whole site, and Secure unless configured otherwise."""
    jar: SimpleCookie = SimpleCookie()
    jar[name] = value
    morsel = jar[name]
    morsel["path"] = "/"
    morsel["httponly"] = True
    morsel["samesite"] = "Lax"
    morsel["max-age"] = max_age
    if section.cookie_secure:
        morsel["secure"] = True
    return morsel.OutputString()


def _same_site(origin: str, request: Request) -> bool:
    given = urlsplit(origin)
    host = request.headers.get("host", "")
    return given.netloc == host


def _peer(request: Request) -> str:
    """Who opened the connection (uvicorn is told not to rewrite it from X-Forwarded-For)."""
    peer = request.scope.get("client")
    return str(peer[0]) if peer else ""


def address(request: Request, section: CockpitSection) -> str:
    """The person's address: the connection's, or behind a trusted proxy the last one it added to
    X-Forwarded-For (what a client writes there itself is never believed)."""
    peer = _peer(request)
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and peer in section.trusted_proxies:
        return forwarded.split(",")[-1].strip()[:64]
    return peer


async def _body(receive: Receive) -> bytes | None:
    """The request's body, or None when it is larger than a form of ours can be."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > FORM_LIMIT:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def _with_cookies(send: Send, cookies: list[str]) -> Send:
    if not cookies:
        return send

    async def sending(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            headers += [(b"set-cookie", cookie.encode("latin-1")) for cookie in cookies]
            message = {**message, "headers": headers}
        await send(message)

    return sending
