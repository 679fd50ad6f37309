"""Leases in the store: which replica owns which administration, renewed by heartbeat.

One heartbeat is one short transaction: the replica's own row is renewed, its leases are renewed, the leases
it should let go are released, and the ones it should take are claimed with `SELECT ... FOR UPDATE SKIP
LOCKED` (two replicas reaching for the same lease never wait on each other; one gets it, the other sees it
taken at its next heartbeat). On SQLite the same statements run under its single write lock (and only one
process may use a SQLite store at all, see `connector.store.single_process`).

A lease is a fence as well as a schedule: every state change of an action that may lead to a side effect
requires, in the same statement, that the lease still names this replica with the epoch it claimed and has
not expired. A replica that hung past its lease and wakes up finds every such change refused.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from connector.clock import Clock
from connector.ownership import LeaseState, OwnershipPlan, lease_term, plan_ownership
from connector.store.models import Lease, Replica
from connector.store.repository import Store


@dataclass(frozen=True)
class Fence:
    """The claim a replica acts under: valid while the lease row still says so."""

    administration: str
    owner: str
    epoch: int
    clock: Clock  # the lease clock (wall time, also when business time runs faster)

    def clause(self) -> ColumnElement[bool]:
        now = self.clock.now()
        return sa.exists().where(
            col(Lease.administration) == self.administration,
            col(Lease.owner) == self.owner,
            col(Lease.epoch) == self.epoch,
            col(Lease.expires_at) > now,
        )


@dataclass
class Heartbeat:
    """What one heartbeat found and did."""

    owned: dict[str, int]  # administration -> epoch, after this heartbeat
    claimed: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # held before, taken by another replica since
    live_replicas: list[str] = field(default_factory=list)
    next_foreign_expiry: datetime | None = None  # the earliest moment another replica's lease runs out


@dataclass(frozen=True)
class LeaseRow:
    administration: str
    owner: str | None
    epoch: int
    acquired_at: datetime | None
    renewed_at: datetime | None
    expires_at: datetime | None
    takeovers: int
    previous_owner: str | None

    def holder(self, now: datetime) -> str | None:
        """The replica that holds this lease at `now`, if any (a lease that ran out holds nobody)."""
        held = self.owner is not None and self.expires_at is not None and self.expires_at > now
        return self.owner if held else None


class LeaseStore:
    def __init__(self, store: Store, clock: Clock) -> None:
        """`clock`: the lease clock. Leases are about processes being alive, so they keep wall time even
        when the business clock runs faster (the demo); tests inject a manual one."""
        self.store = store
        self.clock = clock

    def heartbeat(
        self,
        replica: Replica,
        administrations: Sequence[str],
        ttl: timedelta,
        held: Collection[str] = (),
        busy: Collection[str] = (),
    ) -> Heartbeat:
        """Renew `replica` and its leases, release and claim as `plan_ownership` says. `held` is what the
        replica believed it owned (to report what it lost), `busy` what it must not release right now."""
        now = self.clock.now()
        expires = now + lease_term(ttl)
        with self.store.session() as session, session.begin():
            self._upsert_replica(session, replica, now, expires)
            self._ensure_rows(session, administrations)
            renewed = session.execute(
                sa.update(Lease)
                .where(col(Lease.owner) == replica.name)
                .values(renewed_at=now, expires_at=expires)
                .returning(col(Lease.administration), col(Lease.epoch))
            ).all()
            owned = {row[0]: row[1] for row in renewed}
            live = list(
                session.exec(select(Replica.name).where(col(Replica.expires_at) > now).order_by(col(Replica.name)))
            )
            states = {
                lease.administration: LeaseState(lease.owner, lease.expires_at)
                for lease in session.exec(select(Lease).where(col(Lease.administration).in_(list(administrations))))
            }
            plan: OwnershipPlan = plan_ownership(replica.name, administrations, live, states, now, ttl, busy)
            if plan.release:
                session.execute(
                    sa.update(Lease)
                    .where(col(Lease.administration).in_(plan.release), col(Lease.owner) == replica.name)
                    .values(owner=None, previous_owner=replica.name, expires_at=now)
                )
                for name in plan.release:
                    owned.pop(name, None)
            claimed = self._claim(session, replica.name, plan.claim, now, expires) if plan.claim else {}
            owned.update(claimed)
            foreign = [
                state.expires_at
                for name, state in states.items()
                if state.owner not in (None, replica.name) and state.expires_at is not None and name not in claimed
            ]
        return Heartbeat(
            owned=owned,
            claimed=sorted(claimed),
            released=sorted(plan.release),
            lost=sorted(name for name in held if name not in owned and name not in plan.release),
            live_replicas=live,
            next_foreign_expiry=min((at for at in foreign if at > now), default=None),
        )

    def _claim(self, session: Session, me: str, names: list[str], now: datetime, expires: datetime) -> dict[str, int]:
        """Lock the free ones among `names` (skipping any another replica is claiming right now) and take them in
        one statement: a takeover of hundreds is one round trip, not hundreds."""
        free = sa.or_(col(Lease.owner).is_(None), col(Lease.expires_at).is_(None), col(Lease.expires_at) <= now)
        locked = list(
            session.exec(
                select(Lease.administration)
                .where(col(Lease.administration).in_(names), free)
                .order_by(col(Lease.administration))
                .with_for_update(skip_locked=True)
            )
        )
        if not locked:
            return {}
        taken_from_another = sa.and_(col(Lease.owner).is_not(None), col(Lease.owner) != me)
        rows = session.execute(
            sa.update(Lease)
            .where(col(Lease.administration).in_(locked), free)  # `free` again: SQLite has no row locks
            .values(
                owner=me,
                epoch=col(Lease.epoch) + 1,
                acquired_at=now,
                renewed_at=now,
                expires_at=expires,
                previous_owner=sa.func.coalesce(col(Lease.owner), col(Lease.previous_owner)),
                takeovers=col(Lease.takeovers) + sa.case((taken_from_another, 1), else_=0),
            )
            .returning(col(Lease.administration), col(Lease.epoch))
        ).all()
        return {row[0]: row[1] for row in rows}

    def _upsert_replica(self, session: Session, replica: Replica, now: datetime, expires: datetime) -> None:
        values = {
            "name": replica.name,
            "host": replica.host,
            "pid": replica.pid,
            "started_at": replica.started_at,
            "heartbeat_at": now,
            "expires_at": expires,
        }
        insert = _insert(session)(Replica).values(**values)
        session.execute(
            insert.on_conflict_do_update(index_elements=["name"], set_={"heartbeat_at": now, "expires_at": expires})
        )

    def _ensure_rows(self, session: Session, administrations: Sequence[str]) -> None:
        if not administrations:
            return
        known = set(
            session.exec(select(Lease.administration).where(col(Lease.administration).in_(list(administrations))))
        )
        missing = sorted(set(administrations) - known)
        if missing:
            insert = _insert(session)(Lease).values(
                [{"administration": name, "epoch": 0, "takeovers": 0} for name in missing]
            )
            session.execute(insert.on_conflict_do_nothing(index_elements=["administration"]))

    def release_all(self, replica: str) -> int:
        """A clean stop: every lease of `replica` free at once (the others take them at their next heartbeat),
        and the replica gone from the list of live ones."""
        now = self.clock.now()
        with self.store.session() as session, session.begin():
            result = session.execute(
                sa.update(Lease)
                .where(col(Lease.owner) == replica)
                .values(owner=None, previous_owner=replica, expires_at=now)
            )
            session.execute(sa.delete(Replica).where(col(Replica.name) == replica))
            return int(result.rowcount)  # type: ignore[attr-defined]

    def free_the_dead(self, me: str) -> list[str]:
        """Free every lease another replica holds and forget the other replicas: only for a process that knows
        it runs alone on this store (the SQLite file lock), whose predecessors are dead however fresh their
        leases look. Returns the administrations freed."""
        now = self.clock.now()
        with self.store.session() as session, session.begin():
            freed = session.execute(
                sa.update(Lease)
                .where(col(Lease.owner).is_not(None), col(Lease.owner) != me, col(Lease.expires_at) > now)
                .values(owner=None, previous_owner=col(Lease.owner), expires_at=now)
                .returning(col(Lease.administration))
            ).all()
            session.execute(sa.delete(Replica).where(col(Replica.name) != me))
        return sorted(row[0] for row in freed)

    def holds(self, fence: Fence) -> bool:
        with self.store.session() as session:
            return bool(session.execute(sa.select(fence.clause())).scalar())

    def leases(self) -> list[LeaseRow]:
        with self.store.session() as session:
            return [
                LeaseRow(
                    lease.administration,
                    lease.owner,
                    lease.epoch,
                    lease.acquired_at,
                    lease.renewed_at,
                    lease.expires_at,
                    lease.takeovers,
                    lease.previous_owner,
                )
                for lease in session.exec(select(Lease).order_by(col(Lease.administration)))
            ]

    def live_owners(self) -> dict[str, str]:
        """Administration -> the replica that holds its lease now."""
        now = self.clock.now()
        with self.store.session() as session:
            rows = session.exec(select(Lease).where(col(Lease.owner).is_not(None), col(Lease.expires_at) > now))
            return {lease.administration: str(lease.owner) for lease in rows}

    def replicas(self) -> list[Replica]:
        with self.store.session() as session:
            return list(session.exec(select(Replica).order_by(col(Replica.name))))

    def forget_replicas(self, older_than: datetime) -> int:
        """Rows of replicas gone for good (housekeeping)."""
        with self.store.session() as session, session.begin():
            result = session.execute(sa.delete(Replica).where(col(Replica.expires_at) < older_than))
            return int(result.rowcount)  # type: ignore[attr-defined]


def _insert(session: Session):  # type: ignore[no-untyped-def]
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
