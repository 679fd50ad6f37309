"""Exact Online's HTTP specifics: country hosts, the OAuth2 endpoints, its rate-limit headers and error shapes.

Limits (per app and division): 60 calls a minute and 5,000 a day, reported on every answer as
`X-RateLimit-*` (daily) and `X-RateLimit-Minutely-*`, resets in UTC epoch milliseconds. A minutely 429
carries only the minutely headers, a daily one only the daily. More than ten 4xx answers on one endpoint
within an hour block that endpoint for an hour, so refused requests are not repeated (`ErrorBudget`).
"""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from connector.ledger.http import (
    USER_AGENT,
    ApiClient,
    HttpOptions,
    RateLimit,
    default_error_message,
    rate_key,
    reset_delay,
    shared,
    shared_error_budget,
)
from connector.ledger.oauth import KeeperAuth, TokenGrant, TokenKeeper
from connector.ledger.port import ApiBudget, AuthError, TransientError
from connector.log import get_logger

COUNTRY_HOSTS = {
    "nl": "https://start.exactonline.nl",
    "be": "https://start.exactonline.be",
    "de": "https://start.exactonline.de",
    "uk": "https://start.exactonline.co.uk",
    "us": "https://start.exactonline.com",
    "es": "https://start.exactonline.es",
    "fr": "https://start.exactonline.fr",
}
MINUTELY_LIMIT = RateLimit(requests=60, per_seconds=60)
HEADROOM = 0.1  # leave 10% of each minute for people and other tools on the same app and division
ENDPOINT_ERRORS_PER_HOUR = 8  # Exact blocks an endpoint after more than 10 errors in an hour

log = get_logger("exact_online")


def error_message(response: httpx.Response) -> str:
    """OData errors: `{"error": {"code": "", "message": {"lang": "", "value": "<text>"}}}`."""
    try:
        body = response.json()
    except ValueError:
        return default_error_message(response)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = error.get("message")
        if isinstance(message, dict) and message.get("value"):
            return str(message["value"])
        if isinstance(message, str):
            return message
    reason = response.headers.get("Reason")
    return f"{default_error_message(response)}{f' ({reason})' if reason else ''}"


class DailyBudget:
    """What Exact's headers last said about the day's calls; shared by every client of one app+division."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._budget: ApiBudget | None = None

    def observe(self, response: httpx.Response) -> None:
        headers = response.headers
        limit, remaining = headers.get("X-RateLimit-Limit"), headers.get("X-RateLimit-Remaining")
        reset = headers.get("X-RateLimit-Reset")
        if not (limit and remaining and reset):
            return
        try:
            now = datetime.now(UTC)
            delay = reset_delay(reset, now)
            resets_at = datetime.fromtimestamp(now.timestamp() + (delay or 0), UTC)
            budget = ApiBudget(int(limit), int(remaining), resets_at, now)
        except ValueError:
            return
        with self._lock:
            self._budget = budget

    def current(self) -> ApiBudget | None:
        with self._lock:
            return self._budget


class ExactOAuth:
    """The consent URL and the token endpoint of one app on one country host.

    Token calls are never retried here: a refresh that timed out may have rotated the chain, and only the
    keeper (holding the lock) may decide what happens next.
    """

    ledger = "exact"
    refresh_not_before_seconds = 570.0  # "only ... 9 minutes and 30 seconds after you received it"

    def __init__(
        self,
        *,
        host: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.host = host.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self._transport = transport
        self._timeout = timeout

    def consent_url(self, state: str | None = None) -> tuple[str, str]:
        """The URL a person opens to consent, and the `state` to expect back."""
        state = state or secrets.token_urlsafe(16)
        query = urlencode(
            {
                "client_id": self.client_id,
                "redirect_uri": self.redirect_uri,
                "response_type": "code",
                "state": state,
                "force_login": "0",
            }
        )
        return f"{self.host}/api/oauth2/auth?{query}", state

    def exchange_code(self, code: str) -> TokenGrant:
        return self._token_call({"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri})

    def refresh(self, refresh_token: str) -> TokenGrant:
        return self._token_call({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def _token_call(self, form: dict[str, str]) -> TokenGrant:
        data = {**form, "client_id": self.client_id, "client_secret": self._client_secret}
        try:
            with httpx.Client(
                transport=self._transport, timeout=self._timeout, headers={"User-Agent": USER_AGENT}
            ) as client:
                response = client.post(f"{self.host}/api/oauth2/token", data=data)
        except httpx.TransportError as exc:
            raise TransientError(f"token endpoint: {type(exc).__name__}", outcome_unknown=True) from exc
        body = _json_object(response)
        if response.status_code == 200:
            try:
                return TokenGrant(
                    access_token=str(body["access_token"]),
                    refresh_token=str(body["refresh_token"]),
                    expires_in=int(str(body.get("expires_in", "600"))),  # a string at Exact
                )
            except (KeyError, ValueError) as exc:
                raise TransientError("token endpoint: an answer without tokens", outcome_unknown=True) from exc
        raise _token_error(response, body)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _token_error(response: httpx.Response, body: dict[str, Any]) -> Exception:
    status = response.status_code
    code = str(body.get("error") or "")
    description = str(body.get("error_description") or "")
    reason = response.headers.get("Reason", "")
    said = f"{code}: {description}".strip(": ") or f"HTTP {status}"
    if "not expired" in description or "TooEarly" in reason:
        # Exact refuses refreshes in a token's first 9.5 minutes; not a broken chain.
        return TransientError(f"token endpoint: too early to refresh ({said})")
    if status == 429 or status >= 500:
        return TransientError(f"token endpoint: {said}", outcome_unknown=True)
    if code == "invalid_client":
        return AuthError(f"Exact Online refused the app's client id or secret ({said})")
    # "Old refresh token used.", an expired refresh token, a used or unknown code: the chain is gone.
    return AuthError(f"Exact Online refused the tokens ({said})")


def exact_api_client(
    *,
    administration: str,
    host: str,
    division: int,
    client_id: str,
    keeper: TokenKeeper,
    connection: str,
    oauth: ExactOAuth,
    options: HttpOptions,
    timeout: float,
    rate_limit: RateLimit | None = None,
) -> tuple[ApiClient, DailyBudget]:
    """An API client for `{host}/api/v1/`; its budgets are per app and division, as Exact counts.
    `rate_limit` replaces the minutely limit, but against Exact's own hosts only by a stricter one."""
    credential = f"{client_id}:{division}"
    key = rate_key("exact_online", credential)
    limit = MINUTELY_LIMIT.with_headroom(HEADROOM)
    official = host.rstrip("/") in COUNTRY_HOSTS.values()
    if rate_limit is not None and (
        not official or rate_limit.requests / rate_limit.per_seconds < limit.requests / limit.per_seconds
    ):
        limit = rate_limit
    limiter = options.limiter_for("exact_online", credential, limit)
    budget = DailyBudget() if options.private_limiters else shared(DailyBudget, key, DailyBudget)

    def observe(response: httpx.Response) -> None:
        budget.observe(response)
        remaining = response.headers.get("X-RateLimit-Minutely-Remaining")
        if remaining is not None and remaining.strip() == "0":
            # Someone else spent this minute: wait for the next one instead of earning a 429.
            delay = reset_delay(response.headers.get("X-RateLimit-Minutely-Reset"), datetime.now(UTC))
            if delay and delay > 0:
                limiter.pause_for(min(delay, 61.0))

    client = ApiClient(
        platform="exact_online",
        administration=administration,
        base_url=f"{host.rstrip('/')}/api/v1",
        auth=KeeperAuth(keeper, connection, oauth),
        rate_limiter=limiter,
        retry=options.retry,
        timeout=timeout,
        transport=options.transport,
        sleep=options.sleep,
        error_message=error_message,
        reset_headers=("X-RateLimit-Minutely-Reset", "X-RateLimit-Reset"),
        on_response=observe,
        error_budget=shared_error_budget(key, ENDPOINT_ERRORS_PER_HOUR, 3600),
        decimal_json=True,
    )
    return client, budget
