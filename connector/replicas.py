"""This process as a replica: its name, its leases, and the heartbeat that keeps them.

The heartbeat runs on its own thread, not in the pool that runs cycles, so a pool full of slow syncs never
delays it. It renews every third of the lease term and also wakes when another replica's lease is about to
run out, so a dead replica's administrations are taken over right when its leases end. Without a
successful heartbeat for a whole term (the database unreachable) the replica treats every lease as lost
and stops acting: by then another replica may own them.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta

from connector.clock import Clock
from connector.log import get_logger
from connector.ownership import lease_term
from connector.store.leases import Fence, Heartbeat, LeaseStore
from connector.store.models import Replica

log = get_logger("replica")


def replica_name(configured: str | None = None) -> str:
    """The configured name (or the host's) with the pid and a random suffix: a restarted process is a new
    replica, so it never mistakes its predecessor's leases for its own."""
    base = configured or socket.gethostname().split(".")[0] or "replica"
    return f"{base}-{os.getpid()}-{secrets.token_hex(2)}"


class ReplicaKeeper:
    def __init__(
        self,
        leases: LeaseStore,
        administrations: Sequence[str],
        ttl: timedelta,
        clock: Clock,
        *,
        name: str | None = None,
        on_change: Callable[[Heartbeat], None] = lambda heartbeat: None,
        busy: Callable[[], Collection[str]] = frozenset,
    ) -> None:
        """`on_change` hears about every heartbeat that claimed, released or lost something; `busy` names
        the administrations with a cycle running (not released until it ends). `clock` is the lease clock
        (wall time; the thread waits in wall seconds)."""
        self.leases = leases
        self.administrations = list(administrations)
        self.ttl = ttl
        self.term = lease_term(ttl)  # what a heartbeat keeps a lease for (the store says the same)
        self.clock = clock
        self.name = name or replica_name()
        self.on_change = on_change
        self.busy = busy
        now = clock.now()
        self.replica = Replica(
            name=self.name, host=socket.gethostname(), pid=os.getpid(), started_at=now, heartbeat_at=now, expires_at=now
        )
        self._owned: dict[str, int] = {}
        self._renewed_at: datetime | None = None
        self._lock = threading.Lock()
        self._tick_lock = threading.Lock()  # one heartbeat at a time (each claim moves the epoch)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last: Heartbeat | None = None
        self.failures = 0
        self.takeovers = 0  # administrations this replica took from one that had not let go

    # --- what the daemon asks -----------------------------------------------------------------------

    def owned(self) -> dict[str, int]:
        """Administration -> epoch, while the last heartbeat is less than a lease term old."""
        with self._lock:
            if self._renewed_at is None or self.clock.now() - self._renewed_at >= self.term:
                return {}
            return dict(self._owned)

    def holds(self, administration: str) -> bool:
        return administration in self.owned()

    def holds_fresh(self, administration: str) -> bool:
        """`holds`, after a heartbeat right now if the last one is overdue (older than half a term: the
        thread was held up, or time jumped): a cycle never starts on a stale view of its lease."""
        with self._lock:
            stale = self._renewed_at is None or self.clock.now() - self._renewed_at >= self.ttl / 2
        if stale:
            self.tick()
        return self.holds(administration)

    def fence(self, administration: str) -> Fence | None:
        epoch = self.owned().get(administration)
        return None if epoch is None else Fence(administration, self.name, epoch, self.clock)

    # --- the heartbeat ------------------------------------------------------------------------------

    def tick(self) -> Heartbeat:
        """One heartbeat, now (the thread calls this; tests call it directly with a manual clock)."""
        with self._tick_lock:
            with self._lock:
                held = list(self._owned)
            started = self.clock.now()
            heartbeat = self.leases.heartbeat(self.replica, self.administrations, self.ttl, held, set(self.busy()))
            with self._lock:
                self._owned = dict(heartbeat.owned)
                self._renewed_at = started
                self.last = heartbeat
        if heartbeat.lost:
            log.warning("lease.lost", administrations=len(heartbeat.lost), sample=heartbeat.lost[:5])
        if heartbeat.claimed or heartbeat.released:
            log.info(
                "lease.changed",
                claimed=len(heartbeat.claimed),
                released=len(heartbeat.released),
                owned=len(heartbeat.owned),
                replicas=len(heartbeat.live_replicas),
            )
        if heartbeat.claimed or heartbeat.released or heartbeat.lost:
            self.on_change(heartbeat)
        return heartbeat

    def start(self) -> None:
        """Keep heartbeating on a thread (after a first `tick`)."""
        self._thread = threading.Thread(target=self._run, name=f"heartbeat {self.name}", daemon=True)
        self._thread.start()

    def stop(self, *, release: bool) -> None:
        """Stop the heartbeat; `release` frees every lease at once (a clean stop) so others need not wait
        for them to expire."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if release:
            try:
                freed = self.leases.release_all(self.name)
                log.info("lease.released_all", administrations=freed)
            except Exception as exc:  # the database is gone: the leases simply expire
                log.warning("lease.release_failed", error=str(exc))
        with self._lock:
            self._owned = {}

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.wait(self._seconds_to_next()):
            try:
                self.tick()
                self.failures = 0
            except Exception as exc:
                self.failures += 1
                log.error("lease.heartbeat_failed", error=str(exc), failures=self.failures)
                self._give_up_if_overdue()

    def _give_up_if_overdue(self) -> None:
        """No heartbeat for a whole term: another replica may own these by now, so they count as lost."""
        with self._lock:
            overdue = self._renewed_at is None or self.clock.now() - self._renewed_at >= self.term
            lost, self._owned = (sorted(self._owned), {}) if overdue else ([], self._owned)
        if lost:
            log.error("lease.all_lost", administrations=len(lost), reason="no heartbeat for a whole lease term")
            self.on_change(Heartbeat(owned={}, lost=lost))

    def _seconds_to_next(self) -> float:
        """A third of the term, or sooner if another replica's lease runs out before that (a little after,
        so it has really ended)."""
        wait = self.ttl.total_seconds() / 3
        if self.failures:
            wait = min(wait, 2.0)
        last = self.last
        if last is not None and last.next_foreign_expiry is not None:
            until = (last.next_foreign_expiry - self.clock.now()).total_seconds() + 0.25
            wait = min(wait, max(until, 0.25))
        return wait
