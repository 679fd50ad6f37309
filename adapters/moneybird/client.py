"""Moneybird's HTTP specifics: base URL, bearer auth, its rate limit and its error shapes."""

from __future__ import annotations

import httpx

from connector.ledger.http import ApiClient, HttpOptions, RateLimit, default_error_message

DEFAULT_BASE_URL = "https://moneybird.com/api/v2"
# "150 requests per 5 minutes" for the whole platform, per token (Moneybird help centre).
PUBLISHED_LIMIT = RateLimit(requests=150, per_seconds=300)
HEADROOM = 0.1  # leave 10% for people and other tools using the same token


def error_message(response: httpx.Response) -> str:
    """Moneybird answers `{"error": "...", "symbolic": {...}}` or `{"error": {"field": [...]}}`;
    a 429 may be an HTML page."""
    try:
        body = response.json()
    except ValueError:
        return default_error_message(response)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return "; ".join(f"{field} {', '.join(map(str, msgs))}" for field, msgs in body["error"].items())
    return default_error_message(response)


def moneybird_client(
    *,
    administration: str,
    token: str,
    base_url: str | None,
    options: HttpOptions,
    timeout: float,
    rate_limit: RateLimit | None = None,
) -> ApiClient:
    limit = rate_limit or PUBLISHED_LIMIT.with_headroom(HEADROOM)
    return ApiClient(
        platform="moneybird",
        administration=administration,
        base_url=base_url or DEFAULT_BASE_URL,
        headers={"Authorization": f"Bearer {token}"},
        rate_limiter=options.limiter_for("moneybird", token, limit),
        retry=options.retry,
        timeout=timeout,
        transport=options.transport,
        sleep=options.sleep,
        error_message=error_message,
        # Both are UTC epoch seconds at Moneybird, not delays.
        reset_headers=("Retry-After", "RateLimit-Reset"),
    )
