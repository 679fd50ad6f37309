"""The cockpit's accounts in the store (SQLite and PostgreSQL): sessions by token hash, failed sign-ins, pruning."""

from __future__ import annotations

from datetime import timedelta

import pytest

from connector.clock import ManualClock
from connector.store import Store
from connector.store.models import WebSession
from connector.store.users import AccountError, UserStore, token_hash

PASSWORD = "a long enough password"


def test_a_session_is_found_by_its_token_only_while_it_lives(store: Store, clock: ManualClock) -> None:
    users = UserStore(store)
    petra = users.add("petra", "controller", by="test", password=PASSWORD, display_name="Petra de Vries")
    assert petra.signature == "Petra de Vries (petra)" and petra.may("viewer") and not petra.may("admin")
    token, session = users.start_session(petra, timedelta(hours=12), "192.0.2.7")
    with store.session() as db:
        stored = db.get(WebSession, token_hash(token))
        assert stored is not None and stored.id != token  # only the hash is kept
    idle = timedelta(minutes=60)
    assert users.session(token, idle) == session
    assert users.session(token + "x", idle) is None
    clock.advance(timedelta(minutes=59))
    assert users.session(token, idle) is not None  # used: the idle time starts again
    clock.advance(timedelta(minutes=59))
    assert users.session(token, idle) is not None
    clock.advance(timedelta(hours=11))
    assert users.session(token, idle) is None  # idle too long
    token, session = users.start_session(petra, timedelta(hours=12), None)
    users.end_session(session.token_hash)
    assert users.session(token, idle) is None
    token, _ = users.start_session(petra, timedelta(hours=12), None)
    users.disable("petra", by="Anna (anna)")
    assert users.session(token, idle) is None


def test_failed_sign_ins_per_name_and_address_and_pruning(store: Store, clock: ManualClock) -> None:
    users = UserStore(store)
    start = clock.now()
    for _ in range(3):
        users.failed("Petra", "192.0.2.7")
    users.failed("jan", "192.0.2.7")
    by_name, by_address, latest = users.failures("petra", "192.0.2.7", start)
    assert (by_name, by_address, latest) == (3, 4, start)
    clock.advance(timedelta(days=2))
    users.prune(clock.now() - timedelta(days=1))
    assert users.failures("petra", "192.0.2.7", start)[:2] == (0, 0)


def test_accounts_refuse_what_would_be_wrong(store: Store) -> None:
    users = UserStore(store)
    with pytest.raises(AccountError, match="one word"):
        users.add("petra de vries", "viewer", by="test")
    with pytest.raises(AccountError, match="not the account's name"):
        users.add("averylongname", "viewer", by="test", password="AveryLongName")
    users.add("proxy-only", "viewer", by="test")  # signs in through the reverse proxy only
    assert users.verify("proxy-only", "") is None
    assert users.person("PROXY-ONLY") is not None
