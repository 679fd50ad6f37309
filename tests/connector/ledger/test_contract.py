"""Every registered ledger keeps the port's contract, checked through its own simulator."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from connector.clock import ManualClock
from connector.ledger import registry
from connector.store import Store
from tests.support.ledger_contract import CHECKS, Harness, harness


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
@pytest.mark.parametrize("ledger", registry.names())
def test_ledger_keeps_the_contract(
    ledger: str, check: Callable[[Harness], None], store: Store, clock: ManualClock
) -> None:
    with harness(registry.platform(ledger), store, clock) as h:
        check(h)


def test_every_ledger_brings_a_simulator_the_contract_can_drive() -> None:
    for platform in registry.platforms():
        assert platform.simulated and platform.simulator and platform.simulator_server, platform.name
