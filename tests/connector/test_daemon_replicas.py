"""Two daemons in one process as two replicas of one store, on an injected lease clock: they split the
administrations, each acts only on its own, and when one dies the other takes its share over within the
lease term, sends nothing twice and loses nothing. On SQLite the second one refuses to start instead."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import select

from adapters.moneybird.simulator import MoneybirdSimulator
from connector.clock import ManualClock
from connector.config import Settings, settings_from_dict
from connector.daemon import Daemon
from connector.dispatch.mailsink import MailSink
from connector.ownership import preferred_replica
from connector.store.db import StoreInUse
from connector.store.models import Administration, SyncRun
from tests.conftest import FAST_RETRIES, SIM_TODAY
from tests.support.approvals import approve
from tests.support.sender import SENDER
from tests.support.web import status_page

TOKEN = "replica-token-0123456789"
TTL = 30


@pytest.fixture
def simulator() -> Iterator[MoneybirdSimulator]:
    with MoneybirdSimulator.generate(
        invoices=48, contacts=16, administrations=6, seed=11, today=SIM_TODAY, rate_limit=100_000
    ) as sim:  # pausing Moneybird's own reminders costs a call an invoice: more than its budget in one test cycle
        yield sim


@pytest.fixture
def lease_clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 24, 8, 0, tzinfo=UTC))


def settings_for(simulator: MoneybirdSimulator, database_url: str, smtp_port: int, replica: str) -> Settings:
    raw = {
        "connector": {
            "database_url": database_url,
            "replica_name": replica,
            "lease_ttl_seconds": TTL,
            "send_window": "00:00-24:00",
            "send_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "send_on_public_holidays": True,
            "shutdown_grace_seconds": 0.5,
        },
        "email": {"host": "127.0.0.1", "port": smtp_port, "security": "none", "from_address": "debiteuren@example.nl"},
        "administrations": [
            {
                "name": f"client-{index}",
                "platform": "moneybird",
                "base_url": simulator.base_url,
                "administration_id": administration_id,
                "token": f"${{TOKEN_{index}}}",  # one each: Moneybird's rate limit is per token
                "company": SENDER,
                "rate_limit": {"requests": 100_000, "per_seconds": 300},
            }
            for index, administration_id in enumerate(simulator.administration_ids)
        ],
    }
    tokens = {f"TOKEN_{index}": f"{TOKEN}-{index}" for index in range(len(simulator.administration_ids))}
    return settings_from_dict(raw, environ=tokens)


def replica(settings: Settings, clock: ManualClock, lease_clock: ManualClock) -> Daemon:
    daemon = Daemon(
        settings,
        clock=clock,
        lease_clock=lease_clock,
        http_options=FAST_RETRIES,
        serve_health=False,
    )
    daemon.open()
    approve(daemon.store, settings.enabled_administrations, settings.policies)
    return daemon


def api_calls(simulator: MoneybirdSimulator, administration_id: str) -> int:
    return sum(1 for request in simulator.requests() if f"/{administration_id}/" in request["path"])


def cycle_everything(*daemons: Daemon) -> None:
    for daemon in daemons:
        for name in daemon.administrations:
            daemon.cycle(name)


@pytest.mark.slow
def test_two_replicas_split_the_work_and_one_takes_over_when_the_other_dies(
    simulator: MoneybirdSimulator,
    database_url: str,
    clock: ManualClock,
    lease_clock: ManualClock,
    smtp_sink: tuple[MailSink, int],
) -> None:
    sink, smtp_port = smtp_sink
    settings = settings_for(simulator, database_url, smtp_port, "alpha")
    names = [admin.name for admin in settings.administrations]
    ids = dict(zip(names, simulator.administration_ids, strict=True))
    first = replica(settings, clock, lease_clock)
    if database_url.startswith("sqlite"):
        # One process per SQLite store: the second replica refuses, naming the way out.
        with pytest.raises(StoreInUse, match="PostgreSQL"):
            replica(settings_for(simulator, database_url, smtp_port, "beta"), clock, lease_clock)
        first.close()
        return
    second = replica(settings_for(simulator, database_url, smtp_port, "beta"), clock, lease_clock)
    # A replica's name ends in a random suffix, and rendezvous hashing gives one of two replicas all six
    # administrations about once in 32 pairs: this test is about a split, so it takes a pair that splits.
    while (
        second.keeper is not None
        and first.keeper is not None
        and len({preferred_replica(name, {first.keeper.name, second.keeper.name}) for name in names}) < 2
    ):
        second.close()
        second = replica(settings_for(simulator, database_url, smtp_port, "beta"), clock, lease_clock)
    try:
        assert first.keeper is not None and second.keeper is not None
        assert set(first.keeper.owned()) == set(names) and second.keeper.owned() == {}  # first come, first served

        # The first sees the second at its next heartbeat and hands over the second's share, which the
        # second claims at its own: every administration has exactly one owner.
        lease_clock.advance(timedelta(seconds=TTL / 3))
        first.keeper.tick()
        second.keeper.tick()
        mine, theirs = set(first.keeper.owned()), set(second.keeper.owned())
        assert mine and theirs and not mine & theirs and mine | theirs == set(names)

        # Each replica runs cycles for its own administrations only (both try all of them).
        cycle_everything(first, second)
        assert all(api_calls(simulator, ids[name]) > 0 for name in names)
        with first.store.session() as session:
            synced = Counter(session.exec(select(Administration.name).join(SyncRun)))
        assert synced == dict.fromkeys(names, 1)  # one sync each: nobody synced another's administration
        sent = Counter(message["X-Connector-Action"] for message in sink.messages)
        assert sent and max(sent.values()) == 1
        status = first.status()
        leases = {admin["name"]: admin["lease"] for admin in status["administrations"]}
        assert {leases[name]["owner"] for name in mine} == {first.keeper.name}
        assert {leases[name]["owner"] for name in theirs} == {second.keeper.name}
        assert status["replica"]["name"] == first.keeper.name
        assert {r["name"] for r in status["replicas"]} == {first.keeper.name, second.keeper.name}
        page = status_page(first)
        assert "Replicas" in page and f'class="lease-owner">{second.keeper.name}<' in page

        # The second dies: no heartbeat, nothing released. Within the lease term its share is owned again.
        calls_before = {name: api_calls(simulator, ids[name]) for name in theirs}
        lease_clock.advance(timedelta(seconds=TTL + 1))
        taken = first.keeper.tick()
        assert set(taken.claimed) == theirs and set(first.keeper.owned()) == set(names)
        cycle_everything(first)
        assert all(api_calls(simulator, ids[name]) > calls_before[name] for name in theirs)
        document = first.status()
        assert all(admin["lease"]["takeovers"] == 1 for admin in document["administrations"] if admin["name"] in theirs)
        families = {f.name: f for f in text_string_to_metric_families(first.metrics.render().decode())}
        owned = [s for s in families["connector_lease_owned"].samples if s.value == 1]
        assert {s.labels["administration"] for s in owned} == set(names)
        assert {s.labels["replica"] for s in owned} == {first.keeper.name}
        takeovers = {s.labels["administration"]: s.value for s in families["connector_lease_takeovers"].samples}
        assert {name for name, count in takeovers.items() if count == 1} == theirs

        # The second wakes up (it had only hung): it finds its leases gone and acts on nothing.
        calls = sum(api_calls(simulator, administration_id) for administration_id in ids.values())
        cycle_everything(second)
        assert second.keeper.owned() == {}
        assert sum(api_calls(simulator, administration_id) for administration_id in ids.values()) == calls

        # Nothing went out twice, and every action is finished.
        sent_after = Counter(message["X-Connector-Action"] for message in sink.messages)
        assert max(sent_after.values()) == 1
        for admin in first.status()["administrations"]:
            assert admin["outbox_depth"] == 0, admin["name"]
    finally:
        first.close()
        second.close()
