"""OAuth2 pieces any adapter can use: what a token endpoint grants, where tokens are kept, and an httpx
auth that asks the keeper for a valid access token on every request.

Refresh tokens that rotate on every use (Exact Online) make the keeper the one place that may refresh:
it serialises refreshes across threads and processes and commits the new pair before anyone uses it.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Protocol

import httpx


@dataclass(frozen=True)
class TokenGrant:
    """A token endpoint's answer. `expires_in` in seconds (Exact sends it as a string)."""

    access_token: str
    refresh_token: str
    expires_in: int

    def __repr__(self) -> str:  # never print a token
        return f"TokenGrant(expires_in={self.expires_in})"


class Refresher(Protocol):
    """What a token keeper needs of a ledger to keep a chain fresh."""

    ledger: str  # the ledger as `connector auth LEDGER` names it, for messages that ask for a new consent
    # No refresh while the access token is younger than this (Exact Online refuses refreshes in the first
    # 9.5 minutes of a token's life); 0 where the ledger has no such rule.
    refresh_not_before_seconds: float

    def refresh(self, refresh_token: str) -> TokenGrant:
        """A new grant for the refresh token (which a rotating ledger then kills)."""
        ...


class OAuthClient(Refresher, Protocol):
    """One app's OAuth2 authorization-code flow at one ledger host."""

    client_id: str
    redirect_uri: str

    def consent_url(self, state: str | None = None) -> tuple[str, str]:
        """The URL a person opens to consent, and the `state` to expect back."""
        ...

    def exchange_code(self, code: str) -> TokenGrant: ...


class TokenKeeper(Protocol):
    def access_token(self, connection: str, refresher: Refresher, *, rejected: str | None = None) -> str:
        """A valid access token for `connection`, refreshing through `refresher` when it is due.
        `rejected`: the ledger refused this access token, so a still-current one is not good enough."""
        ...


class KeeperAuth(httpx.Auth):
    """Bearer auth from a TokenKeeper; a 401 gets one more try with a token the keeper vouches for."""

    requires_response_body = True  # to tell an expired token from a revoked one

    def __init__(self, keeper: TokenKeeper, connection: str, refresher: Refresher) -> None:
        self.keeper = keeper
        self.connection = connection
        self.refresher = refresher

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.keeper.access_token(self.connection, self.refresher)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401 and expired_access_token(response):
            token = self.keeper.access_token(self.connection, self.refresher, rejected=token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request


def expired_access_token(response: httpx.Response) -> bool:
    """A 401 that says the access token expired (the clock ran ahead of ours), as opposed to a revoked one."""
    challenge = response.headers.get("WWW-Authenticate", "").lower()
    return "expired" in challenge or "expired" in response.text[:300].lower()
