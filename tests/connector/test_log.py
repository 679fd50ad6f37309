"""Logs: structured, with the administration on every line, and never a secret."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

from adapters.moneybird.simulator import MoneybirdSimulator
from connector.clock import ManualClock
from connector.ledger.simulation import Faults
from connector.log import configure_logging, get_logger, redact, redact_text, register_secret
from connector.store import Store
from connector.sync import sync_administration
from tests.conftest import SIM_TODAY, moneybird_adapter


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("debug", "json", stream=stream)
    yield stream
    configure_logging("warning", "console")


def test_a_debug_sync_logs_every_call_without_the_token(
    store: Store, clock: ManualClock, captured: io.StringIO
) -> None:
    token = "mb-personal-token-0123456789abcdef"
    register_secret(token)  # what loading the configuration does for every secret
    with MoneybirdSimulator.generate(
        invoices=150, contacts=10, today=SIM_TODAY, faults=Faults("5xx:0.3", seed=2)
    ) as sim:
        adapter = moneybird_adapter(sim, clock, token=token)
        with adapter:
            report = sync_administration(store, adapter, name="acme", ledger_reference="", clock=clock)
    assert report.ok, report.error
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    calls = [line for line in lines if line["event"] == "http.response"]
    assert len(calls) == report.api_calls >= 4
    assert any(line["event"] == "http.retry" for line in lines)
    assert all(line.get("administration") == "acme" for line in lines if line["event"].startswith(("http.", "sync.")))
    assert token not in captured.getvalue()
    assert "Bearer" not in captured.getvalue()


def test_sensitive_keys_and_registered_values_are_masked(captured: io.StringIO) -> None:
    register_secret("hunter2-but-longer")
    get_logger("test").info(
        "something", authorization="Bearer abc", api_token="xyz", detail="password is hunter2-but-longer", count=3
    )
    (line,) = [json.loads(x) for x in captured.getvalue().splitlines()]
    assert line["authorization"] == "***" and line["api_token"] == "***"
    assert line["detail"] == "password is ***" and line["count"] == 3


def test_redact_walks_nested_structures() -> None:
    assert redact({"headers": {"Authorization": "Bearer x"}, "items": [{"refresh_token": "r"}]}) == {
        "headers": {"Authorization": "***"},
        "items": [{"refresh_token": "***"}],
    }


def test_secrets_registered_after_a_line_was_masked_are_masked_too() -> None:
    """The mask pattern is built lazily (a thousand tokens at start-up): a later registration must count."""
    early = [f"early-token-{index:04d}-abcdef" for index in range(300)]
    for value in early:
        register_secret(value)
    assert redact_text(f"a {early[7]} b") == "a *** b"
    register_secret("late-token-xyz-123456")
    register_secret("late-token-xyz-123456-longer")  # the longer one wins where both match
    assert redact_text("x late-token-xyz-123456-longer y late-token-xyz-123456 z") == "x *** y *** z"
    assert redact_text(" ".join(early[::50])) == " ".join(["***"] * len(early[::50]))
