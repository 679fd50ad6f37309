"""The attention queue: what waits for a person, decided in bulk, each decision in the audit log by name."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

import pytest
from sqlmodel import select

from adapters.moneybird.simulator import MoneybirdSimulator
from connector.clock import ManualClock
from connector.daemon import Daemon
from connector.store.models import AuditEntry
from connector.store.outbox import OutboxStore
from connector.web.attention import limitation_day
from connector.workflow.policy import ApprovalRules, default_policy
from tests.conftest import FAST_RETRIES, moneybird_settings
from tests.support.approvals import approve
from tests.support.web import csrf_of, sign_in, web_client


@pytest.fixture
def waiting(database_url: str, clock: ManualClock, simulator: MoneybirdSimulator) -> Iterator[Daemon]:
    """Every action waits for a person."""
    settings = moneybird_settings(simulator, database_url, "t-0123456789")
    everything = ApprovalRules(stages=tuple(stage.name for stage in default_policy().stages))
    settings = dataclasses.replace(
        settings, policies={"default": default_policy().model_copy(update={"approval": everything})}
    )
    daemon = Daemon(settings, clock=clock, http_options=FAST_RETRIES, serve_health=False)
    daemon.open()
    approve(daemon.store, settings.enabled_administrations, settings.policies)
    daemon.cycle("shop")
    yield daemon
    daemon.close()


def test_actions_awaiting_approval_are_approved_and_rejected_in_bulk(waiting: Daemon) -> None:
    administration_id = waiting.store.administration_id("shop") or 0
    box = OutboxStore(waiting.store)
    awaiting = box.actions(administration_id, ["awaiting_approval"])
    assert len(awaiting) >= 2
    with web_client(waiting) as client:
        sign_in(client, waiting, "vera", "viewer")
        page = client.get("/a/shop/attention").text
        assert "Wacht op goedkeuring" in page and "Goedkeuren" not in page  # a viewer sees, and may not decide
        assert client.post("/a/shop/attention", data={"csrf": csrf_of(page), "do": "approve"}).status_code == 403
        sign_in(client, waiting, "petra", "controller")
        page = client.get("/a/shop/attention").text
        keys = re.findall(r'name="key" value="([0-9a-f]+)"', page)
        assert set(keys) == {action.key for action in awaiting}
        first, *rest = keys
        answer = client.post(
            "/a/shop/attention", data={"csrf": csrf_of(page), "do": "reject", "key": [first], "note": "klant belt zelf"}
        )
        assert "Afgewezen: 1." in answer.text
        answer = client.post("/a/shop/attention", data={"csrf": csrf_of(answer.text), "do": "approve", "key": rest})
        assert f"Goedgekeurd: {len(rest)}." in answer.text
        again = client.post("/a/shop/attention", data={"csrf": csrf_of(answer.text), "do": "approve", "key": rest})
        assert "Goedgekeurd: 0." in again.text  # a second click changes nothing
    statuses = {action.key: action.status for action in box.actions(administration_id)}
    assert statuses[first] == "rejected" and all(statuses[key] == "pending" for key in rest)
    with waiting.store.session() as session:
        decided = {(e.event, e.detail.get("by"), e.detail.get("note")) for e in session.exec(select(AuditEntry))}
    assert ("rejected", "Petra (petra)", "klant belt zelf") in decided and (
        "approved",
        "Petra (petra)",
        None,
    ) in decided


def test_claims_near_limitation_are_flagged_half_a_year_before() -> None:
    from datetime import date

    assert limitation_day(date(2026, 12, 5)) == date(2022, 6, 6)
    assert limitation_day(date(2028, 2, 29)) == date(2023, 8, 30)
