"""Which replica should work on which administration: pure planning, no I/O.

Every live replica computes the same answer from the same facts (rendezvous hashing: each administration goes
to the live replica with the highest hash of the pair). So replicas agree without talking to each other, and
when one joins or leaves only its share moves: about 1/n of the administrations, never a reshuffle.

The store (connector/store/leases.py) holds the truth: a lease per administration with an owner, an expiry
and an epoch. A replica claims what is free and meant for it, lets go of what is meant for another live
replica (unless a cycle is running on it right now: that one goes at a later heartbeat), and takes anything
left free for a whole lease term, so an administration meant for a replica that does not carry it (another
configuration, a replica that cannot claim) is never orphaned.

A lease is written to end `takeover_margin` before the TTL is up: noticing the end and claiming take a moment,
and a dead replica's administrations must be owned again within the TTL, counted from its last heartbeat.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class LeaseState:
    owner: str | None
    expires_at: datetime | None

    def free(self, now: datetime) -> bool:
        return self.owner is None or self.expires_at is None or self.expires_at <= now

    def free_since(self, now: datetime) -> timedelta:
        """How long the lease has been free (zero while held)."""
        if not self.free(now):
            return timedelta()
        return now - self.expires_at if self.expires_at is not None else timedelta.max


def takeover_margin(ttl: timedelta) -> timedelta:
    """Room, inside the TTL, for another replica to notice a lease's end and claim it."""
    return min(ttl / 10, timedelta(seconds=3))


def lease_term(ttl: timedelta) -> timedelta:
    """How long one heartbeat keeps a lease: a little less than the TTL (see `takeover_margin`)."""
    return ttl - takeover_margin(ttl)


@dataclass
class OwnershipPlan:
    claim: list[str] = field(default_factory=list)
    release: list[str] = field(default_factory=list)


def _weight(administration: str, replica: str) -> bytes:
    return hashlib.sha256(f"{administration}\0{replica}".encode()).digest()


def preferred_replica(administration: str, replicas: Collection[str]) -> str | None:
    """The live replica an administration belongs with (rendezvous hashing); None without replicas."""
    return max(replicas, key=lambda replica: _weight(administration, replica), default=None)


def lapsed_replicas(leases: Mapping[str, LeaseState], now: datetime) -> set[str]:
    """Replicas that still own a lease that has run out."""
    return {state.owner for state in leases.values() if state.owner is not None and state.free(now)}


def plan_ownership(
    me: str,
    administrations: Sequence[str],
    live_replicas: Collection[str],
    leases: Mapping[str, LeaseState],
    now: datetime,
    ttl: timedelta,
    busy: Collection[str] = (),
) -> OwnershipPlan:
    """What `me` should claim and release now, given the live replicas (`me` among them) and the leases.

    A replica with a lapsed lease is not live, whatever its own row says: every heartbeat renews all of a
    replica's leases together, so one that ran out means its heartbeats stopped. (The store renews `me`'s
    leases before planning, so `me` is never lapsed there; the rule is the same for all so plans agree.)
    """
    replicas = (set(live_replicas) | {me}) - lapsed_replicas(leases, now)
    plan = OwnershipPlan()
    for administration in administrations:
        lease = leases.get(administration, LeaseState(None, None))
        preferred = preferred_replica(administration, replicas)
        if lease.owner == me and not lease.free(now):
            if preferred != me and administration not in busy:
                plan.release.append(administration)
        elif lease.free(now) and (preferred == me or lease.free_since(now) >= ttl):
            plan.claim.append(administration)
    return plan


def spread_offsets(names: Sequence[str], window_seconds: float) -> dict[str, float]:
    """Start offsets that spread `names` evenly over `window_seconds`, in an order fixed by the names (so a
    restart spreads them the same way and one administration does not always go first)."""
    ordered = sorted(names, key=lambda name: hashlib.sha256(name.encode()).digest())
    if not ordered:
        return {}
    step = window_seconds / len(ordered)
    return {name: index * step for index, name in enumerate(ordered)}
