"""e-Boekhouden's HTTP specifics: the session that an API token opens, its error shape and codes, and a
conservative client-side rate limit (the vendor publishes none).

An API token (one per administration) buys a short-lived session token with `POST /v1/session`; every
other call sends that token as the raw `Authorization` value. The session is kept per API token for the
life of the process, so a cycle costs no extra calls; it is renewed shortly before `expiresIn` runs out,
and once when a call answers 401 (the server may end a session early). `end_sessions` closes them with
`DELETE /v1/session` when the process stops.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import httpx

from connector.ledger.http import (
    USER_AGENT,
    ApiClient,
    HttpOptions,
    RateLimit,
    default_error_message,
    pooled_transport,
    rate_key,
    shared,
    shared_objects,
)
from connector.ledger.port import AuthError, LedgerError, TransientError
from connector.log import get_logger

DEFAULT_BASE_URL = "https://api.e-boekhouden.nl"
# Unpublished; "bursts reportedly get throttled". Two calls a second with bursts of ten stays polite and
# still reads 5,000 open items (3 pages) in seconds; `rate_limit` in the configuration overrides it.
DEFAULT_LIMIT = RateLimit(requests=10, per_seconds=5)
RENEW_EARLY_SECONDS = 60  # a session is renewed this long before e-Boekhouden says it expires
FALLBACK_SESSION_SECONDS = 600  # when an answer carries no usable `expiresIn`
END_TIMEOUT_SECONDS = 2.0  # closing sessions at a stop: per request, all together, how many at once
END_ALL_SECONDS = 3.0
END_PARALLEL = 8

# Codes that mean the administration itself is out of reach: a person must act, retrying will not help.
BLOCKING_CODES = frozenset(
    {
        "SECURITY_001",  # no permission
        "SECURITY_003",  # no access to the administration
        "SECURITY_004",  # not activated
        "SECURITY_005",  # overdue payment
        "SECURITY_006",  # not accessible
        "SECURITY_011",  # registered under another domain
        "MODULE_001",  # the accounting trial's limit
        "PAKKET_001",
        "PAKKET_002",
        "EP_001",
    }
)
RENEWAL_HELP = (
    "create a new API token in e-Boekhouden (Beheer > Inrichting > Koppelingen > API: e-Boekhouden API) "
    "and put it in the administration's api_token variable"
)

log = get_logger("eboekhouden")


def error_body(response: httpx.Response) -> dict[str, Any]:
    """The `{type, title, status, code, message, ...}` body of an error answer ({} when there is none: 401s
    have no body)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def error_message(response: httpx.Response) -> str:
    body = error_body(response)
    if not body:
        return default_error_message(response) if response.content else response.reason_phrase
    parts = [str(body[key]) for key in ("code", "title") if body.get(key)]
    if body.get("message"):
        parts.append(f"({body['message']})")
    if body.get("propertyName"):
        parts.append(f"[{body['propertyName']}]")
    return " ".join(parts) or default_error_message(response)


def classify_error(message: str, response: httpx.Response) -> LedgerError | None:
    """A blocked, unpaid or trial-limited administration answers 400 with a code, not 401/403."""
    code = str(error_body(response).get("code") or "")
    if code in BLOCKING_CODES:
        return AuthError(f"{message}: the administration is not reachable with this API token until a person acts")
    return None


class Session:
    """The session of one API token on one host, shared by every client of it in this process."""

    def __init__(self, url: str, api_token: str, source: str, monotonic: Callable[[], float] = time.monotonic):
        self.url = url
        self._api_token = api_token
        self.source = source
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        self.created = 0  # sessions opened, for call counts

    def __repr__(self) -> str:  # never print a token
        return f"Session({self.url!r}, open={self._token is not None})"

    def current(self) -> str | None:
        with self._lock:
            if self._token is not None and self._monotonic() < self._renew_at:
                return self._token
            return None

    def request(self) -> httpx.Request:
        return httpx.Request(
            "POST",
            self.url,
            json={"accessToken": self._api_token, "source": self.source},
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )

    def accept(self, response: httpx.Response) -> str | None:
        """The new session token from a `POST /v1/session` answer. AuthError (which parks the administration)
        only for what a person must fix: the token refused, expired or missing, the administration blocked.
        None for any other failure: the caller hands that answer on, so the client's retry policy judges it."""
        status = response.status_code
        body = error_body(response)
        code = str(body.get("code") or "")
        what = error_message(response)
        if status == 403 or code in ("API_SESSION_003", "API_SESSION_004") or code in BLOCKING_CODES:
            if code == "API_SESSION_004":
                raise AuthError(f"e-Boekhouden says the API token has expired ({what}): {RENEWAL_HELP}")
            raise AuthError(f"e-Boekhouden refused the API token ({status} {what}): {RENEWAL_HELP}")
        if code in ("API_SESSION_001", "API_SESSION_002"):
            raise AuthError(f"e-Boekhouden refused the session's source {self.source!r} ({what})")
        if status >= 300:
            return None  # anything else (5xx, 429, a proxy's 404) is this request's answer, judged as such
        token = body.get("token")
        if not isinstance(token, str) or not token:
            raise TransientError("e-Boekhouden answered the session request without a token")
        expires_in = body.get("expiresIn")
        seconds = int(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else None
        lifetime = seconds if seconds is not None else FALLBACK_SESSION_SECONDS
        with self._lock:
            self._token = token
            self._renew_at = self._monotonic() + max(lifetime - RENEW_EARLY_SECONDS, lifetime / 2)
            self.created += 1
        return token

    def discard(self, token: str) -> None:
        """The server refused `token`: the next call opens a new session (unless another thread already did)."""
        with self._lock:
            if self._token == token:
                self._token = None

    def forget(self) -> str | None:
        """Stop using the current session (the next call opens a new one); returns its token, to `delete`."""
        with self._lock:
            token, self._token = self._token, None
        return token

    def delete(
        self, token: str, transport: httpx.BaseTransport | None = None, timeout: float = END_TIMEOUT_SECONDS
    ) -> bool:
        """`DELETE /v1/session`; True when e-Boekhouden closed it."""
        client = httpx.Client(transport=transport or pooled_transport(self.url), timeout=timeout)
        try:
            response = client.delete(self.url, headers={"Authorization": token, "User-Agent": USER_AGENT})
        except httpx.HTTPError as exc:
            log.info("session.end_failed", error=type(exc).__name__)
            return False
        finally:
            client.close()
        return response.status_code < 300


class SessionAuth(httpx.Auth):
    """Sends the session token raw (no scheme), as the vendor's quick start says; opens a session when
    there is none, and on a 401 opens one new session and tries once more."""

    requires_response_body = True

    def __init__(self, session: Session) -> None:
        self.session = session

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.session.current()
        if token is None:
            token = self.session.accept((yield self.session.request()))
            if token is None:
                return  # the session answer (5xx, 429) becomes this request's answer: retried as such
        request.headers["Authorization"] = token
        response = yield request
        if response.status_code != 401:
            return
        self.session.discard(token)
        token = self.session.accept((yield self.session.request()))
        if token is None:
            return
        request.headers["Authorization"] = token
        yield request


def session_for(base_url: str, api_token: str, source: str) -> Session:
    url = f"{base_url.rstrip('/')}/v1/session"
    return shared(Session, rate_key("eboekhouden", f"{url}|{api_token}"), lambda: Session(url, api_token, source))


def end_sessions(transport: httpx.BaseTransport | None = None, within_seconds: float = END_ALL_SECONDS) -> int:
    """Close every session this process opened, several at a time and within `within_seconds` (a stop must
    not outlast the service manager's patience; a session not closed simply expires); returns how many
    e-Boekhouden closed."""
    open_ones = [(session, token) for session in shared_objects(Session) if (token := session.forget()) is not None]
    if not open_ones:
        return 0
    pool = ThreadPoolExecutor(max_workers=min(END_PARALLEL, len(open_ones)), thread_name_prefix="session-end")
    futures = [pool.submit(session.delete, token, transport) for session, token in open_ones]
    done, not_done = wait(futures, timeout=within_seconds)
    pool.shutdown(wait=False, cancel_futures=True)
    if not_done:
        log.info("session.end_abandoned", sessions=len(not_done), detail="they expire by themselves")
    return sum(1 for future in done if future.exception() is None and future.result())


def eboekhouden_client(
    *,
    administration: str,
    api_token: str,
    source: str,
    base_url: str | None,
    options: HttpOptions,
    timeout: float,
    rate_limit: RateLimit | None = None,
) -> tuple[ApiClient, Session]:
    root = base_url or DEFAULT_BASE_URL
    session = session_for(root, api_token, source)
    client = ApiClient(
        platform="eboekhouden",
        administration=administration,
        base_url=root,
        auth=SessionAuth(session),
        rate_limiter=options.limiter_for("eboekhouden", api_token, rate_limit or DEFAULT_LIMIT),
        retry=options.retry,
        timeout=timeout,
        transport=options.transport,
        sleep=options.sleep,
        error_message=error_message,
        classify_error=classify_error,
        decimal_json=True,  # amounts are JSON numbers: read them as decimals, never through a float
    )
    return client, session
