"""`connector auth exact` and `connector secret-key` as a user runs them, against the Exact Online simulator."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner, Result

from adapters.exact_online.client import ExactOAuth
from adapters.exact_online.simulator import ExactOnlineSimulator
from adapters.exact_online.simulator_data import generate_seed
from connector.cli import app
from connector.clock import SystemClock
from connector.ledger.oauth import TokenGrant
from connector.ledger.port import AuthError
from connector.store import Store
from connector.store.overview import OverviewStore
from connector.store.tokens import TokenVault
from tests.conftest import EXACT_SECRET_KEY, SIM_TODAY
from tests.support.network import free_port
from tests.support.processes import child_environ

ROOT = Path(__file__).resolve().parents[2]
SECOND_DIVISION = "Tweede Vestiging B.V."
UNREACHABLE_DIVISION = 9_999_999


@pytest.fixture
def simulator() -> Iterator[ExactOnlineSimulator]:
    """A small division plus a second, empty one; the app's redirect URI is a free local port."""
    data = generate_seed(terms=14, accounts=6, seed=4, today=SIM_TODAY)
    data["app"]["redirect_uri"] = f"http://127.0.0.1:{free_port()}/callback"
    data["divisions"].append({"Code": data["divisions"][0]["Code"] + 1, "Description": SECOND_DIVISION})
    with ExactOnlineSimulator(data, today=SIM_TODAY, rate_limit_minutely=100_000) as sim:
        yield sim


def secrets_of(simulator: ExactOnlineSimulator) -> list[str]:
    """Everything that must never be printed: the app's secret, every token the simulator handed out, the key."""
    tokens = simulator._tokens  # the simulator's own record: every access and refresh token it ever issued
    return [
        simulator.client_secret,
        EXACT_SECRET_KEY,
        simulator.refresh_token,
        *tokens.old_refresh_tokens,
        *tokens.access_tokens,
    ]


def assert_no_secrets(text: str, simulator: ExactOnlineSimulator) -> None:
    for secret in secrets_of(simulator):
        assert secret not in text, f"a secret ({secret[:6]}...) was printed"


class Connector:
    """The `connector` command on one config file, the user's environment given explicitly."""

    def __init__(self, tmp_path: Path, simulator: ExactOnlineSimulator) -> None:
        self.tmp_path = tmp_path
        self.simulator = simulator
        self.database_url = f"sqlite:///{tmp_path / 'connector.db'}"
        self.config = tmp_path / "config.toml"
        self.outputs: list[str] = []
        self.write()

    def write(self, *, division: int | None = None, connector: str = "", more: str = "") -> None:
        sim = self.simulator
        self.config.write_text(
            f'[connector]\ndatabase_url = "{self.database_url}"\n{connector}\n\n'
            f"[[administrations]]\n"
            f'name = "acme"\n'
            f'platform = "exact_online"\n'
            f'base_url = "{sim.base_url}"\n'
            f"division = {division or sim.division}\n"
            f'client_id = "{sim.client_id}"\n'
            f'client_secret = "${{ACME_SECRET}}"\n'
            f'redirect_uri = "{sim.redirect_uri}"\n'
            f"rate_limit = {{ requests = 100000, per_seconds = 1 }}\n"
            f'company = {{ name = "Acme", kvk = "12345678", address = "Straat 1, 1234 AB Plaats" }}\n' + more
        )

    def env(self, **overrides: str | None) -> dict[str, str | None]:
        return {"CONNECTOR_SECRET_KEY": EXACT_SECRET_KEY, "ACME_SECRET": self.simulator.client_secret, **overrides}

    def __call__(self, *args: str, **env: str | None) -> Result:
        result = CliRunner().invoke(app, [*args, "--config", str(self.config)], env=self.env(**env))
        self.outputs.append(result.output)
        assert "Traceback" not in result.output
        assert_no_secrets(result.output, self.simulator)
        return result

    def store(self) -> Store:
        return Store.open(self.database_url, SystemClock())

    def vault(self, store: Store) -> TokenVault:
        return TokenVault(store, EXACT_SECRET_KEY)


@pytest.fixture
def connector(tmp_path: Path, simulator: ExactOnlineSimulator, monkeypatch: pytest.MonkeyPatch) -> Connector:
    monkeypatch.chdir(tmp_path)  # no stray .env from wherever the tests run
    return Connector(tmp_path, simulator)


def authorization_code(simulator: ExactOnlineSimulator) -> str:
    """What the browser brings back after the user allowed access: the code on the redirect URI."""
    answer = httpx.get(
        f"{simulator.base_url}/api/oauth2/auth",
        params={"client_id": simulator.client_id, "redirect_uri": simulator.redirect_uri, "response_type": "code"},
    )
    assert answer.status_code == 302
    return parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]


def consent_in_vault(connector: Connector) -> None:
    """Tokens as a consent stored them, without going through the command."""
    body = connector.simulator.issue_tokens()
    store = connector.store()
    try:
        grant = TokenGrant(body["access_token"], body["refresh_token"], int(body["expires_in"]))
        connector.vault(store).save_grant("acme", "exact_online", connector.simulator.client_id, grant)
    finally:
        store.close()


def oauth(simulator: ExactOnlineSimulator) -> ExactOAuth:
    return ExactOAuth(
        host=simulator.base_url,
        client_id=simulator.client_id,
        client_secret=simulator.client_secret,
        redirect_uri=simulator.redirect_uri,
    )


# --- a. consent through the browser and the local redirect listener ----------------------------------------


def test_consent_by_redirect_stores_the_tokens_and_sync_works(connector: Connector) -> None:
    simulator = connector.simulator
    environ = child_environ(**{k: v for k, v in connector.env().items() if v is not None})
    command = ["auth", "exact", "--admin", "acme", "--timeout", "15", "--config", str(connector.config)]
    process = subprocess.Popen(
        [sys.executable, "-m", "connector", *command],
        cwd=connector.tmp_path,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        printed: list[str] = []
        for line in process.stdout:  # ends by itself: the command gives up after --timeout
            printed.append(line)
            if line.startswith("Waiting for the redirect"):
                break
        urls = [line.strip() for line in printed if line.startswith(simulator.base_url)]
        assert len(urls) == 1, printed
        query = parse_qs(urlsplit(urls[0]).query)
        assert query["client_id"] == [simulator.client_id] and query["redirect_uri"] == [simulator.redirect_uri]
        assert query["state"][0]

        # Be the browser: the ledger sends us to the redirect URI, where the command listens.
        authorized = httpx.get(urls[0], follow_redirects=False)
        assert authorized.status_code == 302
        location = authorized.headers["location"]
        assert location.startswith(simulator.redirect_uri + "?")
        page = browse(location)
        assert page.status_code == 200 and "Consent received" in page.text

        rest, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = "".join(printed) + rest
    assert process.returncode == 0, output
    assert "acme: consent stored for connection 'acme' (chain 1)" in output
    assert f"division {simulator.division} (nl) is used" in output
    assert_no_secrets(output, simulator)

    store = connector.store()
    try:
        status = connector.vault(store).status("acme")
        assert status is not None and status.generation == 1 and status.failure is None
    finally:
        store.close()

    synced = connector("sync", "--admin", "acme")
    assert synced.exit_code == 0, synced.output
    assert synced.stdout.startswith("acme: success")
    store = connector.store()
    try:
        mirrored = {view.ledger_id for view in store.invoices("acme", "open")}
    finally:
        store.close()
    assert mirrored == {str(number) for number in simulator.open_invoice_numbers()}
    assert simulator.token_refreshes == 0  # the consent's own access token did the work


def browse(url: str) -> httpx.Response:
    """GET the local listener; it starts listening just after announcing itself, so retry a refusal briefly."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return httpx.get(url, timeout=5)
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_a_redirect_with_someone_elses_state_is_refused(connector: Connector) -> None:
    """The listener only takes the redirect of the consent it started (`state`); nothing is stored."""
    results: list[Result] = []
    command = threading.Thread(
        target=lambda: results.append(connector("auth", "exact", "--admin", "acme", "--timeout", "10")), daemon=True
    )
    command.start()
    forged = browse(f"{connector.simulator.redirect_uri}?code=stampNL001.forged&state=not-yours")
    command.join(timeout=15)
    assert forged.status_code == 400 and "Consent failed" in forged.text
    assert results and results[0].exit_code == 1
    assert "state does not match" in results[0].stderr
    store = connector.store()
    try:
        assert connector.vault(store).status("acme") is None
    finally:
        store.close()
    assert not [r for r in connector.simulator.requests() if r["path"] == "/api/oauth2/token"]  # no exchange tried


# --- b. a code given on the command line works once ---------------------------------------------------------


def test_a_code_given_on_the_command_line_works_once(connector: Connector) -> None:
    code = authorization_code(connector.simulator)
    first = connector("auth", "exact", "--admin", "acme", "--code", code)
    assert first.exit_code == 0, first.output
    assert "consent stored for connection 'acme' (chain 1)" in first.output
    assert "Open this URL" not in first.output  # nothing to ask of a person

    again = connector("auth", "exact", "--admin", "acme", "--code", code)
    assert again.exit_code == 1
    assert again.stderr.startswith("acme: Exact Online refused")
    assert "consent stored" not in again.output
    store = connector.store()
    try:
        status = connector.vault(store).status("acme")
        assert status is not None and status.generation == 1 and status.failure is None  # the chain is untouched
    finally:
        store.close()


# --- c. importing a refresh token from another integration ------------------------------------------------


def test_an_imported_refresh_token_is_refreshed_at_once_and_the_old_one_dies(connector: Connector) -> None:
    simulator = connector.simulator
    theirs = simulator.issue_tokens(refreshable_now=True)["refresh_token"]
    result = connector("auth", "exact", "--admin", "acme", "--refresh-token", theirs)
    assert result.exit_code == 0, result.output
    assert "acme: refresh token imported and refreshed for connection 'acme' (chain 1)" in result.output
    assert simulator.token_refreshes == 1
    with pytest.raises(AuthError, match="Old refresh token used"):
        oauth(simulator).refresh(theirs)
    store = connector.store()
    try:
        status = connector.vault(store).status("acme")
        assert status is not None and status.generation == 1 and status.expires_at is not None
    finally:
        store.close()
    assert connector("sync", "--admin", "acme").exit_code == 0
    assert simulator.token_refreshes == 1  # the new access token is used as it is


def test_a_dead_refresh_token_does_not_replace_a_working_chain(connector: Connector) -> None:
    """A mistyped or already used token is refused before anything is stored: the working chain stays."""
    simulator = connector.simulator
    dead = simulator.issue_tokens(refreshable_now=True)["refresh_token"]
    consented = connector("auth", "exact", "--admin", "acme", "--code", authorization_code(simulator))
    assert consented.exit_code == 0  # `dead` is an old token now
    result = connector("auth", "exact", "--admin", "acme", "--refresh-token", dead)
    assert result.exit_code == 1
    assert "Old refresh token used" in result.stderr and "imported" not in result.output
    store = connector.store()
    try:
        status = connector.vault(store).status("acme")
        assert status is not None and status.generation == 1 and status.failure is None
    finally:
        store.close()
    assert connector("sync", "--admin", "acme").exit_code == 0


# --- d. the divisions the consenting user can reach --------------------------------------------------------


def test_list_divisions_marks_the_configured_one(connector: Connector) -> None:
    simulator = connector.simulator
    consent_in_vault(connector)
    result = connector("auth", "exact", "--admin", "acme", "--list-divisions")
    assert result.exit_code == 0, result.output
    first, second = simulator.divisions
    assert result.stdout.splitlines() == [
        f"{first}\tSimulatie Groothandel B.V.  <- configured",
        f"{second}\t{SECOND_DIVISION}",
    ]


def test_list_divisions_with_an_unreachable_division_configured_fails(connector: Connector) -> None:
    consent_in_vault(connector)
    connector.write(division=UNREACHABLE_DIVISION)
    result = connector("auth", "exact", "--admin", "acme", "--list-divisions")
    assert result.exit_code == 1
    assert "<- configured" not in result.output
    assert f"division {UNREACHABLE_DIVISION} (configured) is not among them" in result.output
    assert all(str(code) in result.output for code in connector.simulator.divisions)


def test_list_divisions_without_a_consent_says_what_to_do(connector: Connector) -> None:
    result = connector("auth", "exact", "--admin", "acme", "--list-divisions")
    assert result.exit_code == 1
    assert "run `connector auth exact` first" in result.output


# --- e. a new consent unparks every administration on the connection -------------------------------------


def test_a_new_consent_unparks_the_administrations_of_that_connection(connector: Connector) -> None:
    simulator = connector.simulator
    second = simulator.divisions[1]
    shared = (
        f'connection = "office"\n\n'
        f'[[administrations]]\nname = "branch"\nplatform = "exact_online"\nbase_url = "{simulator.base_url}"\n'
        f'division = {second}\nclient_id = "{simulator.client_id}"\nclient_secret = "${{ACME_SECRET}}"\n'
        f'connection = "office"\n\n'
        f'[[administrations]]\nname = "other"\nplatform = "exact_online"\nbase_url = "{simulator.base_url}"\n'
        f'division = {second}\nclient_id = "{simulator.client_id}"\nclient_secret = "${{ACME_SECRET}}"\n'
    )
    connector.write(more=shared)
    store = connector.store()
    try:
        overview = OverviewStore(store)
        for name in ("acme", "branch", "other"):
            administration_id = store.ensure_administration(name, "exact_online")
            overview.park(administration_id, "Exact Online refused the tokens; run `connector auth exact`", "x")
    finally:
        store.close()

    result = connector("auth", "exact", "--admin", "acme", "--code", authorization_code(simulator))
    assert result.exit_code == 0, result.output
    assert "consent stored for connection 'office'" in result.output
    assert result.stdout.rstrip().endswith("; unparked acme, branch")
    store = connector.store()
    try:
        parked = {name: record.parked for name, record in OverviewStore(store).administrations().items()}
    finally:
        store.close()
    assert parked == {"acme": False, "branch": False, "other": True}  # another connection: its own consent

    again = connector("auth", "exact", "--admin", "acme", "--code", authorization_code(simulator))
    assert again.exit_code == 0 and "(chain 2)" in again.output and "unparked" not in again.output


# --- f. the secret key -------------------------------------------------------------------------------------


def test_check_config_wants_the_secret_key_for_an_enabled_exact_administration(connector: Connector) -> None:
    result = connector("check-config", CONNECTOR_SECRET_KEY=None)
    assert result.exit_code == 2
    problems = [line for line in result.output.splitlines() if line.startswith("connector.secret_key:")]
    assert len(problems) == 1
    assert "CONNECTOR_SECRET_KEY is not set" in problems[0] and "connector secret-key" in problems[0]
    assert result.output.splitlines()[-1] == "1 problem(s) in the configuration."

    ok = connector("check-config")
    assert ok.exit_code == 0, ok.output
    assert f"acme: exact_online division {connector.simulator.division} (nl), enabled" in ok.output

    connector.write(more="enabled = false\n")
    assert connector("check-config", CONNECTOR_SECRET_KEY=None).exit_code == 0  # no OAuth ledger in use: no key


def test_a_secret_key_written_in_the_file_is_refused(connector: Connector) -> None:
    connector.write(connector=f'secret_key = "{EXACT_SECRET_KEY}"')
    result = connector("check-config", CONNECTOR_SECRET_KEY=None)
    assert result.exit_code == 2
    assert any(
        line.startswith("connector.secret_key: a secret must not be written in the file")
        for line in result.output.splitlines()
    ), result.output
    # The environment does not make the literal acceptable either.
    assert connector("check-config").exit_code == 2
    connector.write(connector='secret_key = "${MY_KEY}"')  # a reference is how it is done
    assert connector("check-config", CONNECTOR_SECRET_KEY=None, MY_KEY=EXACT_SECRET_KEY).exit_code == 0


def test_secret_key_prints_a_new_fernet_key(connector: Connector) -> None:
    first = CliRunner().invoke(app, ["secret-key"])
    second = CliRunner().invoke(app, ["secret-key"])
    assert first.exit_code == 0 and second.exit_code == 0
    key = first.output.strip()
    assert len(first.output.splitlines()) == 1 and key != second.output.strip()
    cipher = Fernet(key.encode())
    assert cipher.decrypt(cipher.encrypt(b"refresh token")) == b"refresh token"
    # And the connector accepts it: a consent stored under it.
    result = connector(
        "auth", "exact", "--admin", "acme", "--code", authorization_code(connector.simulator), CONNECTOR_SECRET_KEY=key
    )
    assert result.exit_code == 0, result.output


# --- g. no secret in any output ----------------------------------------------------------------------------


def test_no_secret_appears_in_any_output(connector: Connector) -> None:
    """Every path of the command, the failing ones included, checked against every secret there is."""
    simulator = connector.simulator
    auth = ("auth", "exact", "--admin", "acme")
    assert connector(*auth, "--code", authorization_code(simulator)).exit_code == 0
    assert connector(*auth, "--list-divisions").exit_code == 0
    assert connector("sync", "--admin", "acme").exit_code == 0
    too_young = connector(*auth, "--refresh-token", simulator.refresh_token)  # the live token, just issued
    assert too_young.exit_code == 1 and "too early to refresh" in too_young.stderr
    assert connector(*auth, "--code", "stampNL001.not-a-code").exit_code == 1
    wrong_secret = connector(*auth, "--code", authorization_code(simulator), ACME_SECRET="sim000000000000")
    assert wrong_secret.exit_code == 1 and "refused the app's client id or secret" in wrong_secret.stderr
    assert connector("check-config").exit_code == 0
    assert connector("check-config", CONNECTOR_SECRET_KEY="not-a-fernet-key").exit_code == 2
    other_key = connector(*auth, "--list-divisions", CONNECTOR_SECRET_KEY=Fernet.generate_key().decode())
    assert other_key.exit_code == 1 and "not the key they were stored with" in other_key.stderr

    everything = "\n".join(connector.outputs)
    assert_no_secrets(everything, simulator)
    secrets = secrets_of(simulator)
    assert simulator._tokens.access_tokens and simulator._tokens.old_refresh_tokens  # there were tokens to look for
    assert len(secrets) >= 5


def test_auth_takes_the_ledger_by_its_platform_name_or_alias_and_refuses_the_others(connector: Connector) -> None:
    """`auth LEDGER` comes from the registry: `exact_online` and its alias `exact` consent alike; a ledger without
    OAuth, or one this version does not know, is a configuration error that says why."""
    first = connector("auth", "exact_online", "--admin", "acme", "--code", authorization_code(connector.simulator))
    assert first.exit_code == 0, first.output
    assert "consent stored for connection 'acme' (chain 1)" in first.output
    again = connector("auth", "exact", "--admin", "acme", "--code", authorization_code(connector.simulator))
    assert again.exit_code == 0 and "(chain 2)" in again.output, again.output
    assert connector("auth", "--help").exit_code == 0

    unknown = connector("auth", "snelstart", "--admin", "acme")
    assert unknown.exit_code == 2 and "no adapter for platform 'snelstart'" in unknown.output
    other = connector("auth", "moneybird", "--admin", "acme")
    assert other.exit_code == 2 and "not a Moneybird administration (exact_online)" in other.output


def test_every_registered_simulator_answers_to_the_same_flags_and_its_old_ones() -> None:
    listing = CliRunner().invoke(app, ["simulate", "--help"])
    assert listing.exit_code == 0
    for ledger in ("moneybird", "exact_online", "eboekhouden"):
        assert ledger in listing.output
        options = CliRunner().invoke(app, ["simulate", ledger, "--help"], env={"COLUMNS": "200"}).output
        for flag in ("--port", "--seed-file", "--generate", "--contacts", "--faults", "--fault-seed"):
            assert flag in options, (ledger, flag)
    assert (
        "--accounts" in CliRunner().invoke(app, ["simulate", "exact_online", "--help"], env={"COLUMNS": "200"}).output
    )
    assert (
        "--relations" in CliRunner().invoke(app, ["simulate", "eboekhouden", "--help"], env={"COLUMNS": "200"}).output
    )
