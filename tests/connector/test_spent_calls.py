"""A process started after a crash knows what its predecessor spent of the ledger's window: the calls of its
syncs and, as much, those of its dispatch (re-checks, notes, pauses)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from adapters.moneybird.adapter import MoneybirdAdapter
from adapters.moneybird.simulated import SimulatedMoneybird
from adapters.moneybird.simulator import MoneybirdSimulator
from connector import spent_calls
from connector.clock import AMSTERDAM, ManualClock
from connector.config import EmailSection
from connector.dispatch.dispatcher import Dispatcher
from connector.dispatch.mailsink import MailSink
from connector.ledger.http import RateLimit, RateLimiter
from connector.store import Store
from connector.sync import sync_administration
from connector.workflow.policy import default_policy
from tests.conftest import FAST_RETRIES, SIM_TODAY
from tests.support.approvals import approve
from tests.support.sender import COMPANY


@pytest.mark.parametrize("dies_after", ["sync", "dispatch"])
def test_a_restart_learns_every_call_spent_in_the_window(
    store: Store, clock: ManualClock, smtp_sink: tuple[MailSink, int], tmp_path: Path, dies_after: str
) -> None:
    with MoneybirdSimulator.generate(invoices=60, contacts=20, seed=5, today=SIM_TODAY, rate_limit=100_000) as sim:
        settings = SimulatedMoneybird(sim).settings(company=COMPANY)
        adapter = MoneybirdAdapter.from_config(settings, clock, FAST_RETRIES)
        clock.set(datetime.combine(SIM_TODAY + timedelta(days=1), time(10), tzinfo=AMSTERDAM).astimezone(UTC))
        sync_administration(store, adapter, name=settings.name, ledger_reference="", clock=clock)
        if dies_after == "dispatch":
            approve(store, [settings])
            email = EmailSection(
                host="127.0.0.1", port=smtp_sink[1], security="none", from_address="d@bakkerij.example"
            )
            dispatcher = Dispatcher(
                store=store,
                adapter=adapter,
                administration=settings,
                policies={"default": default_policy()},
                clock=clock,
                email=email,
                handover_dir=tmp_path / "handover",
            )
            assert dispatcher.run().executed > 0
        spent = sum(adapter.api_calls().values())
        key = adapter.rate_limiter().key

    clock.advance(timedelta(seconds=30))  # the process died; a new one starts half a minute later
    fresh = RateLimiter(RateLimit(150, 300), key=key)
    spent_calls.learn(store, fresh, clock)
    assert fresh.calls_in_window() == spent > 0
