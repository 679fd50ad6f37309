"""A process that keeps using one Exact Online connection: asks the vault for a token, calls the API.

Run by tests/connector/store/test_tokens_processes.py, two at a time, to show that refreshes from two
processes never break the rotating token chain.
"""

from __future__ import annotations

import json
import sys
import time

import httpx

from adapters.exact_online.client import ExactOAuth
from connector.clock import SystemClock, pause
from connector.store import Store
from connector.store.tokens import TokenVault


def main() -> None:
    database_url, key, base_url, client_id, client_secret, start, until = sys.argv[1:8]
    store = Store.open(database_url, SystemClock(), upgrade=False)
    vault = TokenVault(store, key, not_before_seconds=1.0, margin_seconds=0.5)
    oauth = ExactOAuth(host=base_url, client_id=client_id, client_secret=client_secret, redirect_uri="http://x/")
    statuses: list[int] = []
    errors: list[str] = []
    while time.time() < float(start):  # both processes begin at the same moment
        pause(0.005)
    with httpx.Client(base_url=base_url) as client:
        while time.time() < float(until):
            try:
                token = vault.access_token("office", oauth)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                break
            response = client.get("/api/v1/current/Me", headers={"Authorization": f"Bearer {token}"})
            statuses.append(response.status_code)
            pause(0.02)
    store.close()
    print(json.dumps({"statuses": statuses, "errors": errors}))


if __name__ == "__main__":
    main()
