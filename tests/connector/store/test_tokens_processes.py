"""Acceptance: two processes refreshing one connection at the same moment never lose the token chain."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.exact_online.client import ExactOAuth
from adapters.exact_online.simulator import ExactOnlineSimulator
from connector.clock import SystemClock
from connector.ledger.oauth import TokenGrant
from connector.store import Store
from connector.store.tokens import TokenVault
from tests.conftest import EXACT_SECRET_KEY

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def simulator() -> Iterator[ExactOnlineSimulator]:
    # Access tokens of 2 s that may be refreshed after 1 s: a dozen rotations in a few seconds.
    with ExactOnlineSimulator.generate(
        terms=10, accounts=5, access_token_seconds=2, min_refresh_seconds=1, rate_limit_minutely=100_000
    ) as sim:
        yield sim


def test_two_processes_refreshing_together_keep_the_chain(simulator: ExactOnlineSimulator, database_url: str) -> None:
    store = Store.open(database_url, SystemClock())
    vault = TokenVault(store, EXACT_SECRET_KEY, not_before_seconds=1.0, margin_seconds=0.5)
    body = simulator.issue_tokens()
    vault.save_grant(
        "office", "exact_online", simulator.client_id, TokenGrant(body["access_token"], body["refresh_token"], 2)
    )
    simulator.clear_requests()
    start, until = time.time() + 2.0, time.time() + 8.0
    args = [database_url, EXACT_SECRET_KEY, simulator.base_url, simulator.client_id, simulator.client_secret]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.support.token_user", *args, str(start), str(until)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))

    for result in results:
        assert result["errors"] == []
        assert result["statuses"] and set(result["statuses"]) == {200}  # every API call had a valid token
    token_calls = Counter(e["status"] for e in simulator.requests() if e["path"] == "/api/oauth2/token")
    assert token_calls == Counter({200: simulator.token_refreshes})  # no refresh was refused, none wasted
    assert simulator.token_refreshes >= 4  # the chain really rotated under both processes
    # The chain is intact: the refresh token in the vault is the one the ledger accepts now.
    status = vault.status("office")
    assert status is not None and status.failure is None and status.refreshes == simulator.token_refreshes
    time.sleep(1.1)
    oauth = ExactOAuth(
        host=simulator.base_url, client_id=simulator.client_id, client_secret=simulator.client_secret, redirect_uri="x"
    )
    before = simulator.token_refreshes
    vault.access_token("office", oauth, rejected=vault.access_token("office", oauth))
    assert simulator.token_refreshes == before + 1
    store.close()
