"""Work slots: at most N cycles work at once, and a cycle that only waits on a ledger lends its slot.

A first load of an e-Boekhouden administration is mostly waiting for its credential's rate limit (two calls a
second, a hundred calls). If waiting held a slot, a few hundred such cycles would fill every slot for many
minutes while cycles on other ledgers, which could run at once, queue behind them. So the slots bound what
costs the machine (CPU, memory in use, database connections), and more threads than slots may be in hand,
each waiting on its own ledger's budget without a slot (`connector.ledger.http.idle_sleep` lends it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from connector.ledger.http import lending_while_idle

WAITING_PER_SLOT = 8  # cycles in hand per slot: enough for a rate-limited ledger's first loads to overlap


class WorkSlots:
    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._semaphore = threading.BoundedSemaphore(slots)
        self._local = threading.local()
        self._count_lock = threading.Lock()
        self.working_now = 0  # cycles holding a slot (for /metrics)
        self.waiting_now = 0  # cycles that lent theirs while they wait on a ledger

    @contextmanager
    def working(self) -> Iterator[None]:
        """Hold a slot for the block (waiting for one first); waits on a ledger inside lend it out."""
        self._take()
        try:
            with lending_while_idle(self.lend):
                yield
        finally:
            self._give()

    @contextmanager
    def lend(self) -> Iterator[None]:
        """Give this thread's slot to another cycle for the block, and take one back after it."""
        if not getattr(self._local, "held", False):
            yield
            return
        self._give()
        self._count(waiting=1)
        try:
            yield
        finally:
            self._count(waiting=-1)
            self._take()

    def _take(self) -> None:
        self._semaphore.acquire()
        self._local.held = True
        self._count(working=1)

    def _give(self) -> None:
        self._local.held = False
        self._count(working=-1)
        self._semaphore.release()

    def _count(self, working: int = 0, waiting: int = 0) -> None:
        with self._count_lock:
            self.working_now += working
            self.waiting_now += waiting
