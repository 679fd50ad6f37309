"""Signing in and out. Failed sign-ins are counted per name and per address: after `login_attempts` for a name
(or four times as many from one address) within `lockout_minutes`, sign-in waits until that long after the last."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from connector.log import get_logger
from connector.web import i18n
from connector.web.app import Site
from connector.web.gate import SESSION_COOKIE, address, first, form, lifetime, person, session_cookie, session_of

log = get_logger("web")
ADDRESS_FACTOR = 4  # one office's address may hold several people mistyping


def routes(site: Site) -> list[BaseRoute]:
    section = site.settings.cockpit
    window = timedelta(minutes=section.lockout_minutes)

    def login(request: Request) -> Response:
        return sign_in(request) if request.method == "POST" else show(request)

    def show(request: Request) -> Response:
        if session_of(request) is not None:
            return RedirectResponse(_next(request.query_params.get("next")), status_code=303)
        return site.page(
            request, "login.html", next=_next(request.query_params.get("next")), insecure=_insecure(request)
        )

    def sign_in(request: Request) -> Response:
        fields = form(request)
        username = (first(fields, "username") or "").strip()
        password = first(fields, "password") or ""
        target = _next(first(fields, "next"))
        where = address(request, section)
        since = site.clock.now() - window
        by_name, by_address, latest = site.users.failures(username, where, since)
        if by_name >= section.login_attempts or by_address >= section.login_attempts * ADDRESS_FACTOR:
            language = site.language(request)
            until = (latest or site.clock.now()) + window
            message = i18n.translator(language)(
                "Too many failed attempts. Try again after {time}.", time=i18n.moment(until, site.zone, language)
            )
            log.warning("web.sign_in_locked", username=username, address=where)
            return site.page(request, "login.html", status_code=429, next=target, error=message, username=username)
        # Counted as failed before the password is checked, so parallel guesses cannot outrun the limit.
        attempt = site.users.failed(username, where)
        found = site.users.verify(username, password)
        if found is None:
            log.info("web.sign_in_failed", username=username, address=where)
            error = i18n.translator(site.language(request))("The name or the password is not right.")
            return site.page(request, "login.html", status_code=401, next=target, error=error, username=username)
        site.users.forget_failure(attempt)
        token, _ = site.users.start_session(found, lifetime(section), where)
        log.info("web.signed_in", username=found.username, address=where)
        response = RedirectResponse(target, status_code=303)
        response.headers.append("set-cookie", session_cookie(section, token))
        return response

    def logout(request: Request) -> Response:
        session = session_of(request)
        if session is not None:
            site.users.end_session(session.token_hash)
            log.info("web.signed_out", username=session.person.username)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", secure=section.cookie_secure, httponly=True, samesite="lax")
        return response

    def language(request: Request) -> Response:
        who = person(request)
        chosen = first(form(request), "language")
        if chosen in i18n.LANGUAGES:
            site.users.set_language(who.username, chosen)
        return RedirectResponse(_next(first(form(request), "next")), status_code=303)

    return [
        Route("/login", login, methods=["GET", "HEAD", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/language", language, methods=["POST"]),
    ]


def _next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (never `//elsewhere` or a full address)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _insecure(request: Request) -> bool:
    host = request.url.hostname or ""
    return request.url.scheme != "https" and host not in ("localhost", "127.0.0.1", "::1")
