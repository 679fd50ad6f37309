"""A fourth ledger is one folder and a registration: the test-only Skeleton plugin (tests/support/skeleton)
keeps the contract, is configured, checked and synced like the built-in ones, with no file outside its folder
knowing it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from connector.clock import ManualClock
from connector.config import ConfigError, settings_from_dict
from connector.ledger import registry
from connector.store import Store
from tests.support import skeleton
from tests.support.ledger_contract import CHECKS, Harness, harness

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def registered() -> Iterator[None]:
    registry.register(skeleton.PLATFORM)
    yield
    registry.unregister(skeleton.PLATFORM.name)


@pytest.mark.usefixtures("registered")
@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
def test_the_skeleton_ledger_keeps_the_contract(
    check: Callable[[Harness], None], store: Store, clock: ManualClock
) -> None:
    with harness(registry.platform("skeleton"), store, clock) as h:
        check(h)


@pytest.mark.usefixtures("registered")
def test_once_registered_it_is_configured_and_checked_like_any_ledger() -> None:
    table = {"name": "klant", "platform": "skeleton", "base_url": "http://127.0.0.1:9", "token": "${SKELETON_TOKEN}"}
    settings = settings_from_dict({"administrations": [table]}, environ={"SKELETON_TOKEN": "secret-value-1"})
    (administration,) = settings.administrations
    assert administration.ledger_reference == "skeleton at http://127.0.0.1:9"
    with pytest.raises(ConfigError) as refused:  # its secret field is a secret like any other
        settings_from_dict({"administrations": [{**table, "token": "literal"}]}, environ={})
    assert any(
        "administrations[0].token: a secret must not be written in the file" in p for p in refused.value.problems
    )


def test_unregistered_it_is_an_unknown_platform_that_names_the_known_ones() -> None:
    table = {"name": "klant", "platform": "skeleton", "token": "${T}"}
    with pytest.raises(ConfigError) as refused:
        settings_from_dict({"administrations": [table]}, environ={"T": "x"})
    (problem,) = [p for p in refused.value.problems if "platform" in p]
    assert "unknown platform 'skeleton' (one of moneybird, exact_online, eboekhouden)" in problem


def test_nothing_outside_its_folder_names_it() -> None:
    """The plugin's whole footprint is its folder (and, for a built-in one, a line in the registry)."""
    folder = ROOT / "tests" / "support" / "skeleton"
    mentions = [
        path.relative_to(ROOT)
        for top in ("connector", "adapters", "tests")
        for path in (ROOT / top).rglob("*.py")
        if folder not in path.parents and "support.skeleton" in path.read_text()
    ]
    assert mentions == [Path("tests/connector/ledger/test_a_new_ledger.py")]
