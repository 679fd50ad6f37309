"""Shared fixtures: a store on SQLite always, and on PostgreSQL too when TEST_DATABASE_URL is set."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from adapters.eboekhouden.adapter import EboekhoudenAdapter
from adapters.eboekhouden.settings import EboekhoudenAdministration
from adapters.exact_online.adapter import ExactOnlineAdapter
from adapters.exact_online.settings import ExactOnlineAdministration
from adapters.moneybird.adapter import MoneybirdAdapter
from adapters.moneybird.settings import MoneybirdAdministration
from connector.clock import ManualClock
from connector.config import Settings, settings_from_dict
from connector.dispatch.mailsink import MailSink
from connector.ledger.http import HttpOptions, RetryPolicy
from connector.ledger.oauth import TokenGrant
from connector.log import configure_logging
from connector.store import Store
from connector.store.tokens import TokenVault
from tests.support.faketime import repair_sleep
from tests.support.sender import SENDER

PG_SKIP_REASON = (
    "PostgreSQL half of the suite: set TEST_DATABASE_URL, e.g. "
    "postgresql+psycopg://postgres@127.0.0.1:5432/test (.ci/run does)"
)
TABLES = (
    "quarantined_records",
    "sync_runs",
    "sync_cursors",
    "invoices",
    "contacts",
    "administrations",
    "oauth_tokens",
    "leases",
    "replicas",
    "api_calls",
    "mailbox_cursors",
    "users",
    "login_failures",
)

configure_logging("warning", "console")
repair_sleep()  # the suite runs with the date moved by libfaketime too (tests/support/faketime.py)

# Tests assert behaviour, not speed: on a busy 2-core machine the first draws of a strategy can be slow.
settings.register_profile("connector", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("connector")


@pytest.fixture(autouse=True)
def isolated_from_the_caller(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test sees the developer's setup: `CONNECTOR_*` variables in the shell are cleared, and each test runs
    in an empty working directory, so a `.env` or `config.toml` where `make test` was started changes nothing."""
    for name in [name for name in os.environ if name.startswith("CONNECTOR_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    """A private schema in the test database for this test process, dropped at the end."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        yield None
        return
    schema = f"test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite store at the newest schema, made once per test process: each test starts from a copy
    instead of running every migration again (a tenth of a second, hundreds of times)."""
    path = tmp_path_factory.mktemp("template") / "store.db"
    Store.open(f"sqlite:///{path}", ManualClock(datetime(2026, 1, 1, tzinfo=UTC))).close()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str | None) -> str:
    if request.param == "sqlite":
        path = tmp_path / "store.db"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
        return f"sqlite:///{path}"
    if postgres_url is None:
        pytest.skip(PG_SKIP_REASON)
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        exists = connection.exec_driver_sql("SELECT to_regclass('administrations')").scalar()
        if exists:
            connection.exec_driver_sql(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    engine.dispose()
    return postgres_url


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 24, 9, 30, tzinfo=UTC))


@pytest.fixture
def store(database_url: str, clock: ManualClock) -> Iterator[Store]:
    store = Store.open(database_url, clock)
    yield store
    store.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first: handed out at the start, they run beside the many short ones instead of after them."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-snapshots",
        action="store_true",
        help="rewrite the message snapshots (tests/connector/dispatch/snapshots) from the templates",
    )


def pytest_report_header() -> str:
    if os.environ.get("TEST_DATABASE_URL"):
        return "store tests: SQLite and PostgreSQL (TEST_DATABASE_URL is set)"
    return f"store tests: SQLite only; PostgreSQL ones are skipped. {PG_SKIP_REASON}"


SIM_TODAY = date(2026, 11, 24)
FAST_RETRIES = HttpOptions(retry=RetryPolicy(attempts=8, initial_wait=0.01, max_wait=0.05), private_limiters=True)


def moneybird_config(
    simulator: Any, *, name: str = "acme", token: str = "test-token", **extra: Any
) -> MoneybirdAdministration:
    return MoneybirdAdministration(
        name=name,
        platform="moneybird",
        base_url=simulator.base_url,
        administration_id=simulator.administration_ids[0],
        token=SecretStr(token),
        **extra,
    )


def moneybird_adapter(
    simulator: Any, clock: ManualClock, *, options: HttpOptions = FAST_RETRIES, **extra: Any
) -> MoneybirdAdapter:
    return MoneybirdAdapter.from_config(moneybird_config(simulator, **extra), clock, options)


EXACT_SECRET_KEY = "9dS3Kq7d3wq5ZbZl2m8kQ7a3rUo9c4bVb2xW1y0zN6E="  # a test-only Fernet key


def exact_config(simulator: Any, *, name: str = "acme", **extra: Any) -> ExactOnlineAdministration:
    return ExactOnlineAdministration(
        name=name,
        platform="exact_online",
        base_url=simulator.base_url,
        division=simulator.division,
        client_id=simulator.client_id,
        client_secret=SecretStr(simulator.client_secret),
        redirect_uri=simulator.redirect_uri,
        **extra,
    )


def exact_adapter(
    simulator: Any,
    store: Store,
    clock: ManualClock,
    *,
    options: HttpOptions = FAST_RETRIES,
    consent: bool = True,
    **extra: Any,
) -> ExactOnlineAdapter:
    """An adapter on the simulator with its tokens in the store's vault (a fresh consent unless told not)."""
    config = exact_config(simulator, **extra)
    vault = TokenVault(store, EXACT_SECRET_KEY)
    if consent:
        body = simulator.issue_tokens()
        grant = TokenGrant(body["access_token"], body["refresh_token"], int(body["expires_in"]))
        vault.save_grant(config.token_connection, "exact_online", config.client_id, grant)
    return ExactOnlineAdapter.from_config(config, clock, options, vault)


def eboekhouden_config(simulator: Any, *, name: str = "acme", **extra: Any) -> EboekhoudenAdministration:
    return EboekhoudenAdministration(
        name=name,
        platform="eboekhouden",
        base_url=simulator.base_url,
        api_token=SecretStr(simulator.api_token),
        **extra,
    )


def eboekhouden_adapter(
    simulator: Any, clock: ManualClock, *, options: HttpOptions = FAST_RETRIES, **extra: Any
) -> EboekhoudenAdapter:
    return EboekhoudenAdapter.from_config(eboekhouden_config(simulator, **extra), clock, options)


def calls_by_endpoint(requests: list[dict[str, Any]]) -> dict[str, int]:
    """Count the simulator's request log as (method, last path part) -> count."""
    counts: dict[str, int] = {}
    for request in requests:
        parts = request["path"].rstrip("/").split("/")
        key = f"{request['method']} {'/'.join(parts[-2:]) if parts[-1].startswith('synchronization') else parts[-1]}"
        counts[key] = counts.get(key, 0) + 1
    return counts


@pytest.fixture
def smtp_sink() -> Iterator[tuple[MailSink, int]]:
    """A real SMTP server on loopback (aiosmtpd) that keeps every message it accepts."""
    sink = MailSink()
    port = sink.start()
    try:
        yield sink, port
    finally:
        sink.stop()


def moneybird_settings(
    simulator: Any,
    database_url: str,
    token: str,
    *,
    environ: dict[str, str] | None = None,
    sections: dict[str, Any] | None = None,
    **connector: Any,
) -> Settings:
    """Settings with one Moneybird administration, "shop", its token read from the environment as configured;
    `sections` adds tables beside it ([email], [post])."""
    raw = {
        **(sections or {}),
        "connector": {"database_url": database_url, **connector},
        "administrations": [
            {
                "name": "shop",
                "platform": "moneybird",
                "base_url": simulator.base_url,
                "administration_id": simulator.administration_ids[0],
                "token": "${SHOP_TOKEN}",
                "company": SENDER,
            }
        ],
    }
    return settings_from_dict(raw, environ={"SHOP_TOKEN": token, **(environ or {})})
