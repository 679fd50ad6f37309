"""Which replica works on which administration: the pure planning, including its properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from connector.ownership import (
    LeaseState,
    lapsed_replicas,
    lease_term,
    plan_ownership,
    preferred_replica,
    spread_offsets,
)

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
TTL = timedelta(seconds=30)
NAMES = [f"client-{index:04d}" for index in range(300)]

names = st.lists(st.text("abcdefgh-0123", min_size=1, max_size=8), min_size=1, max_size=40, unique=True)
replica_sets = st.lists(st.text("rstuvw123", min_size=1, max_size=6), min_size=1, max_size=6, unique=True)


def held(owner: str | None, seconds: float = 20) -> LeaseState:
    return LeaseState(owner, NOW + timedelta(seconds=seconds))


def test_every_administration_has_one_preferred_replica_and_shares_are_even() -> None:
    replicas = ["r1", "r2", "r3"]
    shares = {replica: 0 for replica in replicas}
    for name in NAMES:
        shares[str(preferred_replica(name, replicas))] += 1
    assert sum(shares.values()) == len(NAMES)
    assert all(70 <= share <= 130 for share in shares.values()), shares  # about a third each
    assert preferred_replica("x", []) is None


@given(names, replica_sets)
def test_a_replica_leaving_moves_only_its_own_administrations(administrations: list[str], replicas: list[str]) -> None:
    before = {name: preferred_replica(name, replicas) for name in administrations}
    gone = replicas[0]
    after = {name: preferred_replica(name, replicas[1:]) for name in administrations}
    for name in administrations:
        if before[name] != gone:
            assert after[name] == before[name]  # nobody else's administrations move
        else:
            assert after[name] != gone


@given(names, replica_sets, st.data())
def test_replicas_that_agree_on_the_facts_never_claim_the_same_administration(
    administrations: list[str], replicas: list[str], data: st.DataObject
) -> None:
    """Whatever the leases look like, two replicas planning on the same facts never both claim one."""
    states = {
        name: data.draw(
            st.sampled_from([LeaseState(None, None), held(replicas[0]), held(replicas[-1], -5), held("gone", -40)])
        )
        for name in administrations
    }
    plans = {replica: plan_ownership(replica, administrations, replicas, states, NOW, TTL) for replica in replicas}
    for name in administrations:
        claimants = [replica for replica, plan in plans.items() if name in plan.claim]
        free_long = states[name].free_since(NOW) >= TTL
        assert len(claimants) <= 1 or free_long  # after a whole term free, anyone may (the store picks one)
        if states[name].free(NOW) and not free_long:
            preferred = preferred_replica(name, set(replicas) - lapsed_replicas(states, NOW))
            assert claimants == ([preferred] if preferred else [])  # none live: it waits until free for a term


def test_a_lone_replica_claims_everything_free() -> None:
    plan = plan_ownership("r1", NAMES[:5], ["r1"], {}, NOW, TTL)
    assert plan.claim == NAMES[:5] and plan.release == []


def test_a_new_replica_gets_its_share_as_the_old_one_lets_go() -> None:
    administrations = NAMES[:60]
    leases = {name: held("r1") for name in administrations}
    # r2 joins: everything is held, so it claims nothing yet...
    assert plan_ownership("r2", administrations, ["r1", "r2"], leases, NOW, TTL).claim == []
    # ...r1 sees r2 and lets go of r2's share, except the administration whose cycle is running...
    meant_for_r2 = [name for name in administrations if preferred_replica(name, ["r1", "r2"]) == "r2"]
    busy = meant_for_r2[0]
    plan = plan_ownership("r1", administrations, ["r1", "r2"], leases, NOW, TTL, busy={busy})
    assert plan.release == meant_for_r2[1:] and plan.claim == []
    # ...and r2 claims what was let go.
    for name in plan.release:
        leases[name] = LeaseState(None, NOW)
    assert plan_ownership("r2", administrations, ["r1", "r2"], leases, NOW, TTL).claim == meant_for_r2[1:]


def test_a_dead_replicas_leases_go_to_the_survivors_when_they_run_out() -> None:
    administrations = NAMES[:30]
    leases = {name: held("dead", 10) for name in administrations}
    live = ["r1", "r2"]
    assert all(not plan_ownership(r, administrations, live, leases, NOW, TTL).claim for r in live)  # not yet
    later = NOW + timedelta(seconds=11)
    claims = {r: plan_ownership(r, administrations, live, leases, later, TTL).claim for r in live}
    assert sorted(claims["r1"] + claims["r2"]) == administrations
    assert not set(claims["r1"]) & set(claims["r2"])


def test_a_replica_whose_leases_ran_out_counts_as_gone_even_while_its_row_looks_live() -> None:
    """Its leases and its row are renewed together, but the row may be read as live a moment longer: the
    lapsed leases decide, so the survivors claim at once instead of a term later."""
    administrations = NAMES[:30]
    leases = {name: held("dead", -0.5) for name in administrations}
    live = ["r1", "r2", "dead"]  # its row has not run out yet
    claims = {r: plan_ownership(r, administrations, live, leases, NOW, TTL).claim for r in ["r1", "r2"]}
    assert sorted(claims["r1"] + claims["r2"]) == administrations
    assert not set(claims["r1"]) & set(claims["r2"])
    assert lapsed_replicas(leases, NOW) == {"dead"}


def test_a_lease_is_kept_a_little_less_than_the_ttl_so_a_takeover_fits_inside_it() -> None:
    assert lease_term(timedelta(seconds=30)) == timedelta(seconds=27)
    assert lease_term(timedelta(seconds=6)) == timedelta(seconds=5.4)
    assert lease_term(timedelta(seconds=600)) == timedelta(seconds=597)


def test_a_lease_nobody_claims_for_a_whole_term_goes_to_anyone() -> None:
    """Meant for a replica that does not carry it (another configuration): never orphaned."""
    name = next(n for n in NAMES if preferred_replica(n, ["r1", "other"]) == "other")
    leases = {name: LeaseState(None, NOW - timedelta(seconds=5))}
    assert plan_ownership("r1", [name], ["r1", "other"], leases, NOW, TTL).claim == []
    leases = {name: LeaseState(None, NOW - TTL)}
    assert plan_ownership("r1", [name], ["r1", "other"], leases, NOW, TTL).claim == [name]


def test_first_runs_are_spread_evenly_and_the_same_way_each_time() -> None:
    offsets = spread_offsets(NAMES[:100], 480.0)
    assert sorted(offsets.values()) == [index * 4.8 for index in range(100)]
    assert spread_offsets(list(reversed(NAMES[:100])), 480.0) == offsets
    assert spread_offsets([], 10.0) == {}
