"""A person's go-ahead, as tests give it: an administration approved under its policy before it may send."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from connector.clock import Clock
from connector.config import Settings
from connector.store import Store
from connector.store.approvals import ApprovalStore
from connector.workflow.policy import DEFAULT_POLICY, Policy, default_policy

TESTER = "Test Operator"


def approve(store: Store, administrations: Iterable[Any], policies: Mapping[str, Policy] | None = None) -> None:
    """Approve each configured administration under its policy (the default policy unless `policies` says)."""
    approvals = ApprovalStore(store)
    for administration in administrations:
        approvals.approve_administration(
            administration, policies or {DEFAULT_POLICY: default_policy()}, by=TESTER, note="approved by the test"
        )


def approve_settings(settings: Settings, clock: Clock) -> None:
    """Approve every enabled administration of a configuration in its store (before a daemon opens it)."""
    store = Store.open(settings.connector.database_url, clock)
    try:
        approve(store, settings.enabled_administrations, settings.policies)
    finally:
        store.close()
