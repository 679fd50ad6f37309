"""Readiness reasons: what an operator reads on /readyz when an administration is behind."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from adapters.moneybird.settings import MoneybirdAdministration
from connector.health.status import AdministrationFigures
from connector.store.models import SyncRun
from tests.support.sender import COMPANY

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def figures(*, success_ago: int | None, finished: SyncRun | None, latest: SyncRun | None) -> AdministrationFigures:
    config = MoneybirdAdministration(
        name="shop",
        platform="moneybird",
        administration_id="1",
        token=SecretStr("t"),
        sync_interval_seconds=60,
        company=COMPANY,
    )
    return AdministrationFigures(
        config,
        last_run=latest,
        last_finished_run=finished,
        last_success_at=None if success_ago is None else NOW - timedelta(seconds=success_ago),
        approved=True,
    )


def run(outcome: str, error: str | None = None, started_ago: int = 5) -> SyncRun:
    started = NOW - timedelta(seconds=started_ago)
    finished = None if outcome == "running" else started + timedelta(seconds=1)
    return SyncRun(administration_id=1, started_at=started, finished_at=finished, outcome=outcome, error=error)


def test_a_fresh_success_is_ready() -> None:
    assert figures(success_ago=10, finished=run("success"), latest=run("running")).not_ready_because(NOW) is None


def test_a_retry_in_progress_does_not_hide_the_failure_before_it() -> None:
    failed = run("failed", "ledger unreachable", started_ago=20)
    reason = figures(success_ago=900, finished=failed, latest=run("running")).not_ready_because(NOW)
    assert reason is not None
    assert reason.startswith("last successful sync 900 s ago")
    assert "last attempt failed: ledger unreachable" in reason
    assert "a sync has been running since" in reason


def test_never_synced_names_the_last_failure() -> None:
    failed = run("auth_failed", "401 from the ledger")
    reason = figures(success_ago=None, finished=failed, latest=failed).not_ready_because(NOW)
    assert reason == "no successful sync yet; last attempt auth_failed: 401 from the ledger"


def test_stale_after_a_success_mentions_no_failure() -> None:
    ok = run("success", started_ago=900)
    reason = figures(success_ago=899, finished=ok, latest=ok).not_ready_because(NOW)
    assert reason is not None and "last attempt" not in reason and "running" not in reason


def test_an_administration_nobody_approved_is_not_ready_and_says_what_to_do() -> None:
    waiting = replace(figures(success_ago=10, finished=run("success"), latest=run("success")), approved=False)
    reason = waiting.not_ready_because(NOW)
    assert reason is not None and reason.startswith("awaiting approval: nothing is sent until a person approves")
    assert "`connector approve --admin shop`" in reason and "`connector plan --admin shop`" in reason


def test_actions_awaiting_a_person_are_named_without_making_it_unready() -> None:
    item = replace(
        figures(success_ago=10, finished=run("success"), latest=run("success")),
        awaiting_approval={"handover": 2, "ingebrekestelling": 1},
    )
    assert item.not_ready_because(NOW) is None
    assert item.waiting_for_a_person == (
        "3 action(s) await approval (handover 2, ingebrekestelling 1): `connector outbox --status awaiting_approval`"
    )
