"""What a ledger's rate budget already spent, across processes.

The ledger counts calls per credential in a window (Moneybird: 150 per 5 minutes); a process that starts after
a crash does not know what its predecessor spent, and would run into the ledger's 429 within seconds and then
wait out its penalty. Sync runs record their calls as they go; the calls made outside them (the re-check before
each action, notes, pauses) are recorded here as they are made. A fresh limiter learns both before its first
call.
"""

from __future__ import annotations

from datetime import timedelta

from connector.clock import Clock
from connector.ledger.http import RateLimiter
from connector.ledger.port import LedgerAdapter
from connector.store import Store


def learn(store: Store, limiter: RateLimiter | None, clock: Clock) -> None:
    """Tell a limiter, before its first call, what any process spent of its window.

    Spending is looked up by rate budget, not administration: administrations sharing a token share one."""
    if limiter is None or limiter.used or not limiter.learns_from_store or not limiter.key:
        return
    now = clock.now()
    for at, calls in store.recent_api_calls(limiter.key, timedelta(seconds=limiter.limit.per_seconds)):
        limiter.record_past_calls(calls, (now - at).total_seconds())
    limiter.learns_from_store = False


class OutsideSync:
    """Records the calls an adapter makes from now on (outside a sync run), each time `record` is called."""

    def __init__(self, store: Store, adapter: LedgerAdapter) -> None:
        self.store, self.adapter = store, adapter
        self._counted = self._made()

    def record(self) -> None:
        limiter = self.adapter.rate_limiter()
        made = self._made()
        if limiter is not None and limiter.key and made > self._counted:
            self.store.record_api_calls(limiter.key, made - self._counted)
        self._counted = made

    def _made(self) -> int:
        return sum(self.adapter.api_calls().values())
