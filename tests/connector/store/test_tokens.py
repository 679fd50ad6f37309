"""The token vault: encrypted at rest, one refresher at a time, the new pair committed before use."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from connector.clock import ManualClock
from connector.ledger.oauth import TokenGrant
from connector.ledger.port import AuthError
from connector.store import Store
from connector.store.tokens import SecretKeyError, TokenVault

KEY = Fernet.generate_key().decode()


class Ledger:
    """A token endpoint that rotates like Exact's: each refresh token works once."""

    ledger = "exact"
    refresh_not_before_seconds = 570.0

    def __init__(self, delay: float = 0.0) -> None:
        self.current = "refresh-0"
        self.refreshes = 0
        self.old_token_used = 0
        self.delay = delay
        self.lock = threading.Lock()

    def refresh(self, refresh_token: str) -> TokenGrant:
        time.sleep(self.delay)
        with self.lock:
            if refresh_token != self.current:
                self.old_token_used += 1
                raise AuthError("Exact Online refused the tokens (unauthorized_client: Old refresh token used.)")
            self.refreshes += 1
            self.current = f"refresh-{self.refreshes}"
            return TokenGrant(f"access-{self.refreshes}", self.current, 600)


def test_tokens_are_encrypted_at_rest_and_read_back(store: Store) -> None:
    vault = TokenVault(store, KEY)
    vault.save_grant("office", "exact_online", "app-1", TokenGrant("access-secret", "refresh-secret", 600))
    with store.engine.connect() as connection:
        row = connection.execute(sa.text("SELECT access_token, refresh_token FROM oauth_tokens")).one()
    assert "secret" not in row.access_token and "secret" not in row.refresh_token
    assert vault.access_token("office", Ledger()) == "access-secret"


def test_a_wrong_or_missing_key_is_a_clear_error(store: Store) -> None:
    TokenVault(store, KEY).save_grant("office", "exact_online", "app-1", TokenGrant("a", "r", 600))
    with pytest.raises(SecretKeyError, match="not the key they were stored with"):
        TokenVault(store, Fernet.generate_key().decode()).access_token("office", Ledger())
    with pytest.raises(SecretKeyError, match="not set"):
        TokenVault(store, "")
    with pytest.raises(SecretKeyError, match="not a Fernet key"):
        TokenVault(store, "too-short")


def test_a_rotated_key_still_reads_tokens_stored_under_the_old_one(store: Store) -> None:
    TokenVault(store, KEY).save_grant("office", "exact_online", "app-1", TokenGrant("access-1", "r", 600))
    rotated = TokenVault(store, f"{Fernet.generate_key().decode()},{KEY}")
    assert rotated.access_token("office", Ledger()) == "access-1"


def test_refreshes_only_when_due_and_never_in_the_first_570_seconds(store: Store, clock: ManualClock) -> None:
    vault, ledger = TokenVault(store, KEY), Ledger()
    vault.save_grant("office", "exact_online", "app-1", TokenGrant("access-0", "refresh-0", 600))
    clock.advance(timedelta(seconds=560))  # 40 s left, inside the margin, but too young to refresh
    assert vault.access_token("office", ledger) == "access-0"
    assert ledger.refreshes == 0
    clock.advance(timedelta(seconds=15))
    assert vault.access_token("office", ledger) == "access-1"
    assert vault.access_token("office", ledger) == "access-1"
    assert ledger.refreshes == 1
    status = vault.status("office")
    assert status is not None and status.refreshes == 1 and status.generation == 1


def test_an_imported_refresh_token_is_refreshed_on_first_use(store: Store) -> None:
    vault, ledger = TokenVault(store, KEY), Ledger()
    vault.import_refresh_token("office", "exact_online", "app-1", "refresh-0")
    assert vault.access_token("office", ledger) == "access-1"
    assert ledger.current == "refresh-1"


def test_a_token_the_ledger_rejected_is_replaced(store: Store, clock: ManualClock) -> None:
    vault, ledger = TokenVault(store, KEY), Ledger()
    vault.save_grant("office", "exact_online", "app-1", TokenGrant("access-0", "refresh-0", 600))
    clock.advance(timedelta(seconds=580))
    assert vault.access_token("office", ledger, rejected="access-0") == "access-1"
    # Another thread that saw the same rejection gets the new token without a second refresh.
    assert vault.access_token("office", ledger, rejected="access-0") == "access-1"
    assert ledger.refreshes == 1


def test_concurrent_threads_refresh_once(store: Store, clock: ManualClock) -> None:
    vault, ledger = TokenVault(store, KEY), Ledger(delay=0.2)
    vault.save_grant("office", "exact_online", "app-1", TokenGrant("access-0", "refresh-0", 600))
    clock.advance(timedelta(seconds=600))
    got: list[str] = []
    errors: list[BaseException] = []

    def use() -> None:
        try:
            got.append(vault.access_token("office", ledger))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert got == ["access-1"] * 8
    assert ledger.refreshes == 1 and ledger.old_token_used == 0


def test_a_refused_chain_is_remembered_until_a_new_consent(store: Store, clock: ManualClock) -> None:
    vault, ledger = TokenVault(store, KEY), Ledger()
    vault.save_grant("office", "exact_online", "app-1", TokenGrant("access-0", "stolen-and-used", 600))
    clock.advance(timedelta(seconds=600))
    with pytest.raises(AuthError, match=r"Old refresh token used.*connector auth exact"):
        vault.access_token("office", ledger)
    with pytest.raises(AuthError, match="new consent"):
        vault.access_token("office", ledger)
    assert ledger.old_token_used == 1  # the dead chain was not tried again
    vault.save_grant("office", "exact_online", "app-1", TokenGrant("access-new", "refresh-0", 600))
    assert vault.access_token("office", ledger) == "access-new"
    status = vault.status("office")
    assert status is not None and status.generation == 2 and status.failure is None


def test_no_tokens_means_consent_first(store: Store) -> None:
    with pytest.raises(AuthError, match="connector auth exact"):
        TokenVault(store, KEY).access_token("office", Ledger())
