"""Leases in the store: two replicas in one process on an injected lease clock. Claim, rebalance, expiry,
takeover, fencing, clean release; on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from connector.clock import ManualClock
from connector.replicas import ReplicaKeeper
from connector.store import Store
from connector.store.leases import Heartbeat, LeaseStore
from connector.store.outbox import OutboxStore
from connector.workflow.legal import DebtorKind
from connector.workflow.planner import PlannedAction

TTL = timedelta(seconds=30)
NAMES = [f"client-{index:02d}" for index in range(24)]


@pytest.fixture
def lease_clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 24, 8, 0, tzinfo=UTC))


@pytest.fixture
def leases(store: Store, lease_clock: ManualClock) -> LeaseStore:
    return LeaseStore(store, lease_clock)


def keeper(leases: LeaseStore, name: str, changes: list[Heartbeat] | None = None) -> ReplicaKeeper:
    return ReplicaKeeper(
        leases, NAMES, TTL, leases.clock, name=name, on_change=changes.append if changes is not None else lambda _: None
    )


def owners(leases: LeaseStore, now: datetime) -> dict[str, str | None]:
    return {
        row.administration: row.owner if row.expires_at and row.expires_at > now else None for row in leases.leases()
    }


def test_a_lone_replica_owns_everything_at_its_first_heartbeat(leases: LeaseStore, lease_clock: ManualClock) -> None:
    r1 = keeper(leases, "r1")
    beat = r1.tick()
    assert sorted(beat.claimed) == NAMES and set(r1.owned()) == set(NAMES)
    assert set(owners(leases, lease_clock.now()).values()) == {"r1"}
    assert all(row.epoch == 1 and row.takeovers == 0 for row in leases.leases())
    # Renewing keeps the epoch: the fences handed out stay valid.
    lease_clock.advance(timedelta(seconds=10))
    assert r1.tick().claimed == [] and set(r1.owned().values()) == {1}


def test_two_replicas_split_the_work_and_a_dead_ones_share_is_taken_over_within_the_term(
    leases: LeaseStore, lease_clock: ManualClock
) -> None:
    r1_changes: list[Heartbeat] = []
    r1, r2 = keeper(leases, "r1", r1_changes), keeper(leases, "r2")
    r1.tick()
    r2.tick()  # joins: everything is held by r1, nothing to claim yet
    assert r2.owned() == {}
    lease_clock.advance(timedelta(seconds=1))
    released = r1.tick().released  # r1 sees r2 and lets go of r2's share
    assert released and len(released) < len(NAMES)
    assert sorted(r2.tick().claimed) == released
    split = owners(leases, lease_clock.now())
    assert all(owner in ("r1", "r2") for owner in split.values())  # every administration: exactly one owner
    assert set(r1.owned()) | set(r2.owned()) == set(NAMES) and not set(r1.owned()) & set(r2.owned())
    r2_share = set(r2.owned())
    r2_fence = r2.fence(sorted(r2_share)[0])
    assert r2_fence is not None and leases.holds(r2_fence)

    # r2 dies (no more heartbeats, nothing released). Before its leases run out, r1 takes nothing...
    lease_clock.advance(timedelta(seconds=20))
    assert r1.tick().claimed == []
    # ...and once they have, r1's next heartbeat (at most a third of the term later) takes them all.
    lease_clock.advance(timedelta(seconds=11))
    taken = r1.tick()
    assert set(taken.claimed) == r2_share and set(r1.owned()) == set(NAMES)
    rows = {row.administration: row for row in leases.leases()}
    assert all(rows[name].takeovers == 1 and rows[name].previous_owner == "r2" for name in r2_share)
    assert all(rows[name].epoch == 3 for name in r2_share)  # r1, r2, r1 again
    # The dead replica's fence no longer holds: whatever it had in flight cannot go on.
    assert not leases.holds(r2_fence)

    # r2 wakes up (it had hung): its first heartbeat tells it what it lost, and it renews nothing.
    lost = r2.tick()
    assert set(lost.lost) == r2_share and lost.claimed == [] and set(r2.owned()) == set()
    assert set(owners(leases, lease_clock.now()).values()) == {"r1"}
    # Alive again, it gets its share back through the ordinary hand-over.
    lease_clock.advance(timedelta(seconds=1))
    r1.tick()
    assert set(r2.tick().claimed) == r2_share
    assert any(change.released for change in r1_changes)


def test_a_clean_stop_hands_over_at_once(leases: LeaseStore, lease_clock: ManualClock) -> None:
    r1, r2 = keeper(leases, "r1"), keeper(leases, "r2")
    r1.tick()
    r2.tick()
    r1.stop(release=True)
    assert [replica.name for replica in leases.replicas()] == ["r2"]
    assert sorted(r2.tick().claimed) == NAMES  # no waiting for the term
    assert all(row.takeovers == 0 for row in leases.leases())  # let go, not taken over


def test_no_heartbeat_for_a_term_means_acting_on_nothing(leases: LeaseStore, lease_clock: ManualClock) -> None:
    r1 = keeper(leases, "r1")
    r1.tick()
    fence = r1.fence(NAMES[0])
    assert fence is not None
    lease_clock.advance(TTL)
    assert r1.owned() == {} and r1.fence(NAMES[0]) is None
    assert not leases.holds(fence)  # expired even though nobody took it
    assert r1.holds_fresh(NAMES[0])  # a heartbeat right before a cycle renews it (nobody else wanted it)


def test_a_fenced_outbox_refuses_to_act_once_the_lease_moved_on(
    store: Store, leases: LeaseStore, lease_clock: ManualClock
) -> None:
    """The ABA case: the old owner hung after claiming an action; the new owner recovered it and claimed it
    again. The old owner's next step (handing it to the channel) must fail, in the database."""
    r1, r2 = keeper(leases, "r1"), keeper(leases, "r2")
    r1.tick()
    name = NAMES[0]
    administration_id = store.ensure_administration(name, "moneybird", "1")
    planned = PlannedAction(
        administration=name,
        stage="reminder_1",
        stage_index=1,
        action="email",
        template="reminder_1",
        legal_letter=False,
        contact_id="c1",
        debtor_kind=DebtorKind.BUSINESS,
        invoices=("i1",),
        currency="EUR",
        principal=Decimal("100.00"),
        collection_costs=Decimal(0),
        interest=None,
        deadline=None,
        language="nl",
        reason="due",
        planned_on=lease_clock.now().date(),
    )
    old_fence = r1.fence(name)
    old = OutboxStore(store, fence=old_fence)
    old.enqueue(administration_id, [planned], lease_clock.now())
    (action,) = old.due(administration_id, store.clock.now() + timedelta(days=1))
    assert old.transition(action, "executing", expect="pending")

    lease_clock.advance(TTL + timedelta(seconds=1))  # r1 hangs past its term; r2 takes over
    r2.tick()
    new = OutboxStore(store, fence=r2.fence(name))
    (stuck,) = new.unfinished(administration_id, "executing")
    assert new.transition(stuck, "pending", expect="executing", fenced=True)
    assert new.transition(stuck, "executing", expect="pending")

    assert not old.transition(action, "sending", expect="executing")  # refused: same state, old lease
    assert not old.lease_holds() and new.lease_holds()
    assert new.transition(stuck, "sending", expect="executing")


# Row locks with SKIP LOCKED: PostgreSQL only; on SQLite one writer at a time holds the file anyway.
@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_heartbeats_racing_on_postgresql_never_give_one_administration_two_owners(
    store: Store, leases: LeaseStore, lease_clock: ManualClock
) -> None:
    assert store.engine.dialect.name == "postgresql"
    keepers = [keeper(leases, f"r{index}") for index in range(4)]
    errors: list[BaseException] = []

    def beat(replica: ReplicaKeeper) -> None:
        try:
            for _ in range(15):
                replica.tick()
                lease_clock.advance(timedelta(seconds=2))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=beat, args=(replica,)) for replica in keepers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    for _ in range(5):  # settle: a replica whose thread ended early lost its lapsed leases; the rest rebalance
        beats = [replica.tick() for replica in keepers]
        if not any(beat.claimed or beat.released for beat in beats):
            break
    held = [name for replica in keepers for name in replica.owned()]
    assert len(held) == len(set(held))  # never two owners
    rows = leases.leases()
    assert all(row.owner in {replica.name for replica in keepers} for row in rows)
    assert sorted(held) == NAMES
