"""OAuth token chains in the store: encrypted at rest, refreshed by one holder at a time.

Exact Online rotates the refresh token on every refresh and kills the old one, so two refreshers racing
lose the chain for good (the user must consent again). The rules kept here:

- one refresher per connection, across threads and processes: the refresh happens inside a transaction
  that holds the token row's lock (`SELECT ... FOR UPDATE` on PostgreSQL; SQLite's write lock, taken by
  `BEGIN IMMEDIATE`), and the row is read again once the lock is held — someone may just have refreshed;
- the new pair is committed before the new access token is handed out: a crash after that loses nothing;
- no refresh while the access token is younger than the ledger allows (`refresh_not_before_seconds`:
  Exact refuses refreshes in the first 9.5 minutes of a token's life);
- a refusal of the chain itself ("Old refresh token used", an expired refresh token) is recorded on the
  row and raised as an AuthError that asks for a new consent.

Tokens are encrypted with Fernet under the connector's secret key (`CONNECTOR_SECRET_KEY`); several
comma-separated keys let an operator rotate it (the first encrypts, any decrypts).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlmodel import select

from connector.ledger.oauth import Refresher, TokenGrant
from connector.ledger.port import AuthError
from connector.store.models import OAuthToken
from connector.store.repository import Store

MARGIN_SECONDS = 30  # refresh when less than this is left of the access token


class SecretKeyError(AuthError):
    """The secret key is missing, malformed, or not the one the stored tokens were encrypted with: like a
    refused credential, a person must act."""


@dataclass(frozen=True)
class TokenStatus:
    """What may be shown about a connection: never a token."""

    connection: str
    platform: str
    client_id: str
    consented_at: datetime
    issued_at: datetime | None
    expires_at: datetime | None
    generation: int
    refreshes: int
    failure: str | None


class TokenVault:
    def __init__(
        self,
        store: Store,
        secret_key: str,
        *,
        not_before_seconds: float | None = None,
        margin_seconds: float = MARGIN_SECONDS,
    ) -> None:
        keys = [key.strip() for key in secret_key.split(",") if key.strip()]
        if not keys:
            raise SecretKeyError("CONNECTOR_SECRET_KEY is not set; make one with `connector secret-key`")
        try:
            self._cipher = MultiFernet([Fernet(key.encode()) for key in keys])
        except ValueError:
            raise SecretKeyError("CONNECTOR_SECRET_KEY is not a Fernet key (32 url-safe base64 bytes)") from None
        self.key_fingerprint = hashlib.sha256(keys[0].encode()).hexdigest()[:16]
        self.store = store
        # None: each ledger's own rule (the refresher's); a number overrides it (tests).
        self.not_before = timedelta(seconds=not_before_seconds) if not_before_seconds is not None else None
        self.margin = timedelta(seconds=margin_seconds)

    @classmethod
    def for_settings(cls, store: Store, settings: Any) -> TokenVault | None:
        """The vault for a configuration, or None when it has no secret key (no OAuth ledger configured)."""
        key = settings.connector.secret_key
        return cls(store, key.get_secret_value()) if key is not None else None

    # --- a new chain -----------------------------------------------------------------------------------

    def save_grant(self, connection: str, platform: str, client_id: str, grant: TokenGrant) -> TokenStatus:
        """Store the pair a consent (or an import) produced; the previous chain is gone at the ledger."""
        now = self.store.clock.now()
        return self._start_chain(
            connection,
            platform,
            client_id,
            refresh_token=grant.refresh_token,
            access_token=grant.access_token,
            issued_at=now,
            expires_at=now + timedelta(seconds=grant.expires_in),
        )

    def import_refresh_token(self, connection: str, platform: str, client_id: str, refresh_token: str) -> TokenStatus:
        """Take over a chain from another integration: the next use refreshes it (and ends theirs)."""
        return self._start_chain(connection, platform, client_id, refresh_token=refresh_token)

    def _start_chain(
        self,
        connection: str,
        platform: str,
        client_id: str,
        *,
        refresh_token: str,
        access_token: str | None = None,
        issued_at: datetime | None = None,
        expires_at: datetime | None = None,
    ) -> TokenStatus:
        now = self.store.clock.now()
        with self.store.session() as session, session.begin():
            row = session.exec(select(OAuthToken).where(OAuthToken.connection == connection).with_for_update()).first()
            generation = row.generation + 1 if row is not None else 1
            row = row or OAuthToken(connection=connection, platform=platform, client_id=client_id, refresh_token="")
            row.platform, row.client_id = platform, client_id
            row.refresh_token = self._encrypt(refresh_token)
            row.access_token = self._encrypt(access_token) if access_token else None
            row.issued_at, row.expires_at = issued_at, expires_at
            row.consented_at, row.updated_at = now, now
            row.generation, row.refreshes, row.failure = generation, 0, None
            session.add(row)
            session.flush()
            return _status(row)

    # --- using a chain ---------------------------------------------------------------------------------

    def status(self, connection: str) -> TokenStatus | None:
        with self.store.session() as session:
            row = session.get(OAuthToken, connection)
            return _status(row) if row is not None else None

    def access_token(self, connection: str, refresher: Refresher, *, rejected: str | None = None) -> str:
        """A valid access token, refreshed first when due. Raises AuthError when there is no chain or the
        ledger refused it (a person must consent again), SecretKeyError when the key does not fit."""
        with self.store.session() as session:
            row = session.get(OAuthToken, connection)
            if row is None:
                raise AuthError(
                    f"no tokens for connection {connection!r}: run `connector auth {refresher.ledger}` first"
                )
            current = self._usable(row, rejected, refresher)
        if current is not None:
            return current
        return self._refresh(connection, refresher, rejected)

    def _usable(self, row: OAuthToken, rejected: str | None, refresher: Refresher) -> str | None:
        """The stored access token if it can be used as it is."""
        if row.failure:
            raise AuthError(
                f"{row.failure}; the connection needs a new consent: run `connector auth {refresher.ledger}`"
            )
        if row.access_token is None or row.expires_at is None:
            return None
        token = self._decrypt(row.access_token, row.connection)
        if token == rejected:
            return None
        if row.expires_at - self.store.clock.now() > self.margin:
            return token
        return None

    def _refresh(self, connection: str, refresher: Refresher, rejected: str | None) -> str:
        now = self.store.clock.now()
        with self.store.session() as session, session.begin():
            # The lock: a second refresher (thread or process) waits here, then finds the fresh pair.
            row = session.exec(select(OAuthToken).where(OAuthToken.connection == connection).with_for_update()).first()
            if row is None:
                raise AuthError(
                    f"no tokens for connection {connection!r}: run `connector auth {refresher.ledger}` first"
                )
            current = self._usable(row, rejected, refresher)
            if current is not None:
                return current
            not_before = (
                self.not_before
                if self.not_before is not None
                else timedelta(seconds=refresher.refresh_not_before_seconds)
            )
            young = row.issued_at is not None and now - row.issued_at < not_before
            if young and row.access_token is not None and row.expires_at is not None and row.expires_at > now:
                # Too early for the ledger to accept a refresh: use what we have while it lasts.
                return self._decrypt(row.access_token, connection)
            refused: AuthError | None = None
            try:
                grant = refresher.refresh(self._decrypt(row.refresh_token, connection))
            except AuthError as exc:
                refused = exc
                row.failure = str(exc)[:500]  # remembered, so no one tries the dead chain again
            else:
                row.access_token = self._encrypt(grant.access_token)
                row.refresh_token = self._encrypt(grant.refresh_token)
                row.issued_at = now
                row.expires_at = now + timedelta(seconds=grant.expires_in)
                row.refreshes += 1
            row.updated_at = now
            session.add(row)
        if refused is not None:
            raise AuthError(
                f"{refused}; the connection needs a new consent: run `connector auth {refresher.ledger}`"
            ) from refused
        # Committed: only now may the new access token be used.
        return grant.access_token

    # --- encryption -----------------------------------------------------------------------------------

    def _encrypt(self, value: str) -> str:
        return self._cipher.encrypt(value.encode()).decode()

    def _decrypt(self, value: str, connection: str) -> str:
        try:
            return self._cipher.decrypt(value.encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                f"CONNECTOR_SECRET_KEY does not decrypt the tokens of connection {connection!r}: "
                "it is not the key they were stored with (restore that key, or consent again)"
            ) from None


def _status(row: OAuthToken) -> TokenStatus:
    return TokenStatus(
        connection=row.connection,
        platform=row.platform,
        client_id=row.client_id,
        consented_at=row.consented_at,
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        generation=row.generation,
        refreshes=row.refreshes,
        failure=row.failure,
    )
