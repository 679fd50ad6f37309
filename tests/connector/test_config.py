from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from connector.config import ConfigError, load_settings, settings_from_dict
from connector.log import redact_text
from connector.workflow.policy import default_policy

VALID = """
[connector]
database_url = "sqlite:///data/connector.db"
timezone = "Europe/Amsterdam"

[[administrations]]
name = "acme"
platform = "moneybird"
enabled = true
base_url = "https://moneybird.com/api/v2"
administration_id = "123456789012345678"
token = "${ACME_MONEYBIRD_TOKEN}"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def problems_of(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), environ=environ or {}, env_file=None)
    return caught.value.problems


def test_valid_config_resolves_secret_from_environment(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, VALID), environ={"ACME_MONEYBIRD_TOKEN": "tok-123456"}, env_file=None)
    admin = settings.administration("acme")
    assert admin.platform == "moneybird"
    assert admin.token.get_secret_value() == "tok-123456"
    assert admin.administration_id == "123456789012345678"
    assert "tok-123456" not in repr(admin)
    # once loaded, the secret is masked in every log line
    assert redact_text("Bearer tok-123456") == "Bearer ***"


def test_example_config_documents_a_valid_configuration() -> None:
    example = Path(__file__).parents[2] / "config.example.toml"
    environ = {
        name: "secret-value"
        for name in ("ACME_MONEYBIRD_TOKEN", "GLOBEX_EXACT_CLIENT_SECRET", "INITECH_EBOEKHOUDEN_TOKEN")
    }
    settings = load_settings(example, environ=environ, env_file=None)
    assert [a.platform for a in settings.administrations] == ["moneybird", "exact_online", "eboekhouden"]


def test_five_mistakes_are_all_reported_with_their_keys(tmp_path: Path) -> None:
    text = """
[connector]
timezone = "Europe/Amsterdm"

[[administrations]]
name = "acme"
platform = "moneybird"
administration_id = "123456789012345678"
token = "literal-secret-token"

[[administrations]]
name = "beta"
platform = "moneybrid"

[[administrations]]
name = "acme"
platform = "moneybird"
administration_id = "123"
token = "${NOT_SET_ANYWHERE}"
"""
    problems = problems_of(tmp_path, text)
    assert len(problems) == 5, problems
    assert problems[0].startswith("connector.timezone: unknown timezone 'Europe/Amsterdm'")
    assert problems[1].startswith("administrations[0].token: a secret must not be written in the file")
    assert problems[2] == (
        "administrations[1].platform: unknown platform 'moneybrid' (one of moneybird, exact_online, eboekhouden)"
    )
    assert problems[3] == "administrations[2].token: environment variable NOT_SET_ANYWHERE is not set"
    assert problems[4] == "administrations[2].name: duplicate name 'acme' (also administrations[0])"
    assert all("literal-secret-token" not in problem for problem in problems)


def test_unknown_keys_wrong_types_and_missing_fields(tmp_path: Path) -> None:
    text = """
[connector]
databse_url = "sqlite:///x.db"

[[administrations]]
name = "acme"
platform = "moneybird"
enabled = "perhaps"
token = "${T}"
"""
    problems = problems_of(tmp_path, text, {"T": "x" * 10})
    assert "connector.databse_url: unknown key" in problems
    assert any(p.startswith("administrations[0].enabled:") for p in problems)
    assert "administrations[0].administration_id: missing (required)" in problems


def test_literal_database_password_is_refused(tmp_path: Path) -> None:
    text = '[connector]\ndatabase_url = "postgresql+psycopg://app:hunter2@db/connector"\n'
    problems = problems_of(tmp_path, text)
    assert problems == [
        "connector.database_url: contains a literal password; reference it as ${NAME}, "
        "e.g. postgresql+psycopg://user:${DB_PASSWORD}@host/db"
    ]
    ok = '[connector]\ndatabase_url = "postgresql+psycopg://app:${DB_PASSWORD}@db/connector"\n'
    settings = load_settings(write(tmp_path, ok), environ={"DB_PASSWORD": "hunter2"}, env_file=None)
    assert settings.connector.database_url.endswith("app:hunter2@db/connector")


def test_environment_overrides_the_file_and_dotenv_fills_references(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ACME_MONEYBIRD_TOKEN=from-dotenv-file\nCONNECTOR_TIMEZONE=UTC\n")
    settings = load_settings(
        write(tmp_path, VALID), environ={"CONNECTOR_DATABASE_URL": "sqlite:///other.db"}, env_file=None
    )
    assert settings.connector.database_url == "sqlite:///other.db"
    assert settings.connector.timezone == "UTC"
    assert settings.administration("acme").token.get_secret_value() == "from-dotenv-file"


def test_real_environment_wins_over_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ACME_MONEYBIRD_TOKEN=from-dotenv-file\n")
    settings = load_settings(write(tmp_path, VALID), environ={"ACME_MONEYBIRD_TOKEN": "from-env"}, env_file=None)
    assert settings.administration("acme").token.get_secret_value() == "from-env"


def test_missing_file_and_bad_toml_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.toml", environ={}, env_file=None)
    assert problems_of(tmp_path, "[connector\n")[0].endswith(
        "not valid TOML: Expected ']' at the end of a table declaration (at line 1, column 11)"
    )


def test_secret_values_are_never_echoed(tmp_path: Path) -> None:
    text = """
[connector]
database_url = "postgresql+psycopg//u:${DB_PW}@h/db"

[[administrations]]
name = "acme"
platform = "eboekhouden"
api_token = 98765432109876
"""
    problems = problems_of(tmp_path, text, {"DB_PW": "supersecretpw"})
    assert problems[0].startswith("connector.database_url: not a database URL")
    assert problems[1].startswith("administrations[0].api_token: a secret must not be written in the file")
    assert not any("supersecretpw" in p or "98765432109876" in p for p in problems)


def test_a_trailing_newline_in_a_secret_is_stripped_and_inner_whitespace_refused(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, VALID), environ={"ACME_MONEYBIRD_TOKEN": "tok-secret\n"}, env_file=None)
    assert settings.administration("acme").token.get_secret_value() == "tok-secret"
    problems = problems_of(tmp_path, VALID, {"ACME_MONEYBIRD_TOKEN": "tok\nsecret"})
    assert problems == ["administrations[0].token: contains spaces or control characters"]


def test_disabled_administrations_may_leave_variables_unset(tmp_path: Path) -> None:
    text = (
        VALID
        + """
[[administrations]]
name = "later"
platform = "moneybird"
enabled = false
administration_id = "1"
token = "${NOT_YET_THERE}"
"""
    )
    settings = load_settings(write(tmp_path, text), environ={"ACME_MONEYBIRD_TOKEN": "tok-123456"}, env_file=None)
    assert [a.name for a in settings.enabled_administrations] == ["acme"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://app:${PW}@db/connector", "postgresql+psycopg://app:pw@db/connector"),
        ("postgres://app@db/connector", "postgresql+psycopg://app@db/connector"),
        ("postgresql+psycopg://app@db/connector", "postgresql+psycopg://app@db/connector"),
        ("sqlite:///data/connector.db", "sqlite:///data/connector.db"),
    ],
)
def test_database_urls_are_normalised_to_the_shipped_driver(tmp_path: Path, given: str, expected: str) -> None:
    settings = load_settings(
        write(tmp_path, f'[connector]\ndatabase_url = "{given}"\n'), environ={"PW": "pw"}, env_file=None
    )
    assert settings.connector.database_url == expected


def test_unsupported_database_drivers_are_config_errors(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, '[connector]\ndatabase_url = "postgresql+psycopg2://app@db/x"\n')
    assert problems == ["connector.database_url: driver 'psycopg2' is not installed; use postgresql+psycopg://"]
    problems = problems_of(tmp_path, '[connector]\ndatabase_url = "mysql://app@db/x"\n')
    assert problems == ["connector.database_url: unsupported database 'mysql' (use sqlite or postgresql)"]


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'[connector]\ntimezone = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_settings(path, environ={}, env_file=None)


def test_other_platforms_validate_their_own_keys() -> None:
    raw = {
        "administrations": [
            {
                "name": "x",
                "platform": "exact_online",
                "division": "abc",
                "client_id": "id",
                "client_secret": "${S}",
            },
            {"name": "y", "platform": "eboekhouden", "api_token": "plain"},
        ]
    }
    with pytest.raises(ConfigError) as caught:
        settings_from_dict(raw, environ={"S": "secret-value"})
    problems = caught.value.problems
    assert any(p.startswith("administrations[0].division:") for p in problems)
    assert any(p.startswith("administrations[1].api_token: a secret must not be written") for p in problems)


def test_the_documented_policy_example_is_valid_and_is_the_default() -> None:
    example = (Path(__file__).parents[2] / "config.example.toml").read_text()
    block = example[example.index("# [policies.default]") :]
    toml_text = "\n".join(line.removeprefix("# ") for line in block.splitlines() if line.startswith("# "))
    settings = settings_from_dict(tomllib.loads(toml_text), environ={})
    documented = settings.policies["default"]
    assert documented.model_copy(update={"approval": default_policy().approval}) == default_policy()
    assert documented.approval.stages == ("handover",) and documented.approval.amount_above == Decimal("10000.00")


def test_policy_mistakes_are_reported_with_their_keys() -> None:
    raw = {
        "policies": {"gentle": {"stages": [{"name": "nudge", "days": 5, "action": "fax"}]}},
        "administrations": [{"name": "a", "platform": "eboekhouden", "api_token": "${T}", "policy": "firm"}],
    }
    with pytest.raises(ConfigError) as caught:
        settings_from_dict(raw, environ={"T": "token-value"})
    problems = caught.value.problems
    assert any(p.startswith("policies.gentle.stages[0].action:") for p in problems)
    assert "administrations[0].policy: unknown policy 'firm' (known: default, gentle)" not in problems  # gentle failed
    assert "administrations[0].policy: unknown policy 'firm' (known: default)" in problems


def test_send_days_come_from_the_file_or_the_environment() -> None:
    assert settings_from_dict({}, environ={}).connector.send_weekdays == frozenset(range(5))
    from_file = settings_from_dict({"connector": {"send_days": ["sat"]}}, environ={})
    assert from_file.connector.send_weekdays == frozenset({5})
    from_env = settings_from_dict({}, environ={"CONNECTOR_SEND_DAYS": "mon, sat"})
    assert from_env.connector.send_weekdays == frozenset({0, 5})
    with pytest.raises(ConfigError) as caught:
        settings_from_dict({"connector": {"send_days": ["mon", "zat"]}}, environ={})
    assert caught.value.problems[0].startswith("connector.send_days[1]:")


@pytest.mark.parametrize("token", ["", "short-token"])
def test_a_weak_status_token_is_refused_rather_than_leaving_status_open(token: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_dict({}, environ={"CONNECTOR_STATUS_TOKEN": token})
    assert caught.value.problems == [
        "connector.status_token: must be at least 16 characters (an empty token would leave /status open)"
    ]


def test_a_literal_status_token_in_the_file_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_dict({"connector": {"status_token": "a-literal-token-of-some-length"}}, environ={})
    assert caught.value.problems[0].startswith("connector.status_token: a secret must not be written in the file")


def test_settings_from_a_dict_read_only_the_environment_they_are_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `CONNECTOR_*` variable in the shell reaches the settings only through the `environ` passed in."""
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", "sqlite:////nonexistent/x.db")
    monkeypatch.setenv("CONNECTOR_LOG_LEVEL", "debug")
    raw = {"connector": {"database_url": f"sqlite:///{tmp_path / 'given.db'}"}}
    settings = settings_from_dict(raw, environ={})
    assert settings.connector.database_url == f"sqlite:///{tmp_path / 'given.db'}"
    assert settings.connector.log_level == "info"
    overridden = settings_from_dict(raw, environ={"CONNECTOR_LOG_LEVEL": "warning"})
    assert overridden.connector.log_level == "warning"


def test_loading_with_a_given_environment_ignores_the_process_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTOR_CONFIG", str(tmp_path / "elsewhere.toml"))
    monkeypatch.setenv("CONNECTOR_TIMEZONE", "UTC")
    monkeypatch.chdir(tmp_path)
    write(tmp_path, VALID)
    settings = load_settings(environ={"ACME_MONEYBIRD_TOKEN": "tok-123456"}, env_file=None)
    assert settings.source == Path("config.toml") and settings.connector.timezone == "Europe/Amsterdam"
    # Without a given environment, the process's is what a user's shell says: it overrides the file.
    monkeypatch.setenv("ACME_MONEYBIRD_TOKEN", "tok-123456")
    assert load_settings(tmp_path / "config.toml", env_file=None).connector.timezone == "UTC"


def test_a_policy_table_without_stages_keeps_the_built_in_sequence() -> None:
    raw = {"policies": {"default": {"catch_up": "latest"}, "migrated": {"start_stage": "aanmaning"}}}
    policies = settings_from_dict(raw, environ={}).policies
    assert policies["default"].catch_up == "latest" and policies["default"].stages == default_policy().stages
    assert policies["migrated"].catch_up == "restart" and policies["migrated"].start_stage == "aanmaning"
    with pytest.raises(ConfigError) as caught:
        settings_from_dict({"policies": {"default": {"start_stage": "handover"}}}, environ={})
    assert [p.split(":", 1)[0] for p in caught.value.problems] == ["policies.default.start_stage"]
    assert "does not reach the customer" in caught.value.problems[0]


def test_approval_rules_are_configured_per_policy() -> None:
    raw = {"policies": {"default": {"approval": {"stages": ["ingebrekestelling", "handover"]}}}}
    policy = settings_from_dict(raw, environ={}).policies["default"]
    assert [stage.name for stage in policy.stages if policy.needs_approval(stage)] == ["ingebrekestelling", "handover"]
    none = settings_from_dict({"policies": {"default": {"approval": {"stages": []}}}}, environ={}).policies["default"]
    assert not any(none.needs_approval(stage) for stage in none.stages)
    for approval, problem in (
        ({"limit": 1}, "policies.default.approval.limit: unknown key"),
        ({"stages": ["letter"]}, "policies.default.approval.stages: no stage named 'letter' (stages: call, "),
    ):
        with pytest.raises(ConfigError) as caught:
            settings_from_dict({"policies": {"default": {"approval": approval}}}, environ={})
        assert [p[: len(problem)] for p in caught.value.problems] == [problem]


def test_each_administration_sends_in_its_own_name_or_through_its_own_account() -> None:
    raw = {
        "email": {"host": "smtp.kantoor.example", "from_address": "debiteuren@kantoor.example", "password": "${P}"},
        "administrations": [
            {
                "name": "bakker",
                "platform": "eboekhouden",
                "api_token": "${T}",
                "company": {"name": "Bakkerij De Vries", "email": "info@bakkerij.example"},
            },
            {
                "name": "slager",
                "platform": "eboekhouden",
                "api_token": "${T}",
                "company": {"name": "Slagerij Jansen"},
                "email": {"host": "smtp.slagerij.example", "from_address": "boekhouding@slagerij.example",
                          "username": "slagerij", "password": "${SLAGER_SMTP}", "from_name": "Jansen Vlees"},
            },
        ],
    }  # fmt: skip
    settings = settings_from_dict(raw, environ={"T": "token-value", "P": "office-pw", "SLAGER_SMTP": "slager-pw"})
    bakker, slager = (settings.email_for(a) for a in settings.administrations)
    assert bakker is not None and slager is not None
    # Through the office's account, in the client's name, replies to the client:
    assert (bakker.host, bakker.from_address) == ("smtp.kantoor.example", "debiteuren@kantoor.example")
    assert (bakker.from_name, bakker.reply_to) == ("Bakkerij De Vries", "info@bakkerij.example")
    # Through its own account, as it names itself:
    assert (slager.host, slager.username, slager.from_name) == ("smtp.slagerij.example", "slagerij", "Jansen Vlees")
    assert slager.password is not None and slager.password.get_secret_value() == "slager-pw"
    assert "slager-pw" not in redact_text("login slager-pw")  # a secret, masked wherever it appears


def test_an_administrations_own_account_is_checked_like_the_global_one() -> None:
    admin = {"name": "a", "platform": "eboekhouden", "api_token": "${T}"}
    own = {**admin, "email": {"password": "hunter2", "from_name": "A"}}
    with pytest.raises(ConfigError) as caught:
        settings_from_dict({"administrations": [own]}, environ={"T": "token-value"})
    assert sorted(p.split(":", 1)[0] for p in caught.value.problems) == [
        "administrations[0].email.from_address",
        "administrations[0].email.host",
        "administrations[0].email.password",
    ]
    assert "hunter2" not in " ".join(caught.value.problems)


def test_without_the_senders_details_an_administration_says_why_it_sends_nothing() -> None:
    raw = {"administrations": [{"name": "a", "platform": "eboekhouden", "api_token": "${T}", "company": {"name": "A"}}]}
    (admin,) = settings_from_dict(raw, environ={"T": "token-value"}).administrations
    assert admin.sender_missing() == (
        "sender details missing (company.kvk; company.address): nothing is sent until they are configured "
        "(`connector check-config`)"
    )


def test_an_operator_adds_interest_rates_without_a_release(tmp_path: Path) -> None:
    rows = tmp_path / "rates.toml"
    rows.write_text(
        '[[rate]]\nvalid_from = 2026-07-01\nkind = "statutory"\npercent = "4"\nverified = true\n'
        'sources = ["https://wetten.overheid.nl/BWBR0047640"]\n'
    )
    settings = settings_from_dict({"connector": {"rates_file": str(rows)}}, environ={})
    assert settings.rates is not None
    confirmed = [r for r in settings.rates if r.valid_from.isoformat() == "2026-07-01" and r.kind.value == "statutory"]
    assert [(r.percent, r.verified) for r in confirmed] == [(Decimal("4"), True)]
    assert settings_from_dict({}, environ={}).rates is None  # the packaged table
    for text, problem in (
        (None, "connector.rates_file: " + str(tmp_path / "nope.toml") + ": file not found"),
        ('[[rate]]\nvalid_from = 2026-07-01\nkind = "statutory"\npercent = 4.0\n', "connector.rates_file: "),
    ):
        path = tmp_path / "nope.toml"
        if text is not None:
            path = tmp_path / "bad.toml"
            path.write_text(text)
        with pytest.raises(ConfigError) as caught:
            settings_from_dict({"connector": {"rates_file": str(path)}}, environ={})
        assert [p[: len(problem)] for p in caught.value.problems] == [problem]


def test_btw_on_collection_costs_only_with_a_vat_charging_agency_and_no_vat_number() -> None:
    """BIK art. 2 lid 3: BTW on the costs only when a VAT-charging third party collects and the creditor cannot
    reclaim the VAT; a free switch let a VAT-registered business collecting itself add 21%."""
    base = {"name": "a", "platform": "eboekhouden", "api_token": "${T}", "collection_costs_vat_percent": "21"}
    company = {"name": "Bakkerij", "kvk": "12345678", "address": "Straat 1, 1234 AB Plaats"}
    with pytest.raises(ConfigError) as caught:
        settings_from_dict(
            {"administrations": [{**base, "company": {**company, "vat_number": "NL001234567B01"}}]},
            environ={"T": "token-value"},
        )
    (problem,) = [p for p in caught.value.problems if "collection_costs_vat_percent" in p]
    assert problem.startswith("administrations[0].collection_costs_vat_percent: BTW may be added")
    assert "no collection_agency is named" in problem and "has a VAT number (NL001234567B01)" in problem
    allowed = {**base, "company": company, "collection_agency": "Incasso Noord B.V."}
    settings = settings_from_dict({"administrations": [allowed]}, environ={"T": "token-value"})
    assert settings.administrations[0].collection_costs_vat_percent == Decimal("21")


def test_personal_data_leaves_only_over_https() -> None:
    """The handover URL and the print service's: plain HTTP only to this machine (a local relay, a test)."""
    for url in ("http://agency.example/intake", "ftp://agency.example/"):
        with pytest.raises(ConfigError) as caught:
            settings_from_dict({"connector": {"handover_url": url}}, environ={})
        assert caught.value.problems[0].startswith("connector.handover_url:"), caught.value.problems
    for url in ("https://agency.example/intake", "http://127.0.0.1:8099/intake", "http://localhost/x"):
        assert settings_from_dict({"connector": {"handover_url": url}}, environ={}).connector.handover_url == url
    with pytest.raises(ConfigError) as caught:
        settings_from_dict({"post": {"provider": "https", "url": "http://print.example/v1"}}, environ={})
    assert "not HTTPS" in caught.value.problems[0]


def test_post_and_bounce_mailbox_secrets_are_references_and_every_problem_is_named() -> None:
    raw = {
        "post": {"provider": "https", "token": "a-literal-print-token"},
        "email": {
            "host": "smtp.example",
            "from_address": "debiteuren@example.nl",
            "bounces": {"host": "imap.example", "username": "bounces", "password": "hunter2hunter2"},
        },
    }
    with pytest.raises(ConfigError) as caught:
        settings_from_dict(raw, environ={})
    problems = caught.value.problems
    assert any(p.startswith("post.token: a secret must not be written in the file") for p in problems), problems
    assert any(p.startswith("email.bounces.password: a secret must not be written") for p in problems), problems
    assert any(p.startswith("post: ") and "needs url" in p for p in problems), problems


def test_a_loaded_file_keeps_every_section(tmp_path: Path) -> None:
    """Loading from a file once dropped what the file said about interest rates: every section comes through."""
    rows = tmp_path / "rates.toml"
    rows.write_text(
        '[[rate]]\nvalid_from = 2026-07-01\nkind = "statutory"\npercent = "4"\nverified = true\n'
        'sources = ["https://wetten.overheid.nl/BWBR0047640"]\n'
    )
    zone = 'timezone = "Europe/Amsterdam"\n'
    text = VALID.replace(zone, f'{zone}rates_file = "{rows}"\n')
    text += '\n[post]\nprovider = "https"\nurl = "https://print.example/v1"\ntoken = "${PRINT_TOKEN}"\n'
    environ = {"ACME_MONEYBIRD_TOKEN": "x" * 20, "PRINT_TOKEN": "p" * 20}
    settings = load_settings(write(tmp_path, text), environ=environ, env_file=None)
    assert settings.rates is not None and settings.post is not None and settings.post.url == "https://print.example/v1"
    assert settings.post.token is not None and redact_text(settings.post.token.get_secret_value()) != "p" * 20


def test_the_documented_cockpit_example_is_valid_and_its_mistakes_are_named() -> None:
    example = (Path(__file__).parents[2] / "config.example.toml").read_text()
    block = example[example.index("# [cockpit]") : example.index("# One [[administrations]]")]
    toml_text = "\n".join(line.removeprefix("# ") for line in block.splitlines() if line.startswith("# "))
    cockpit = settings_from_dict(tomllib.loads(toml_text), environ={}).cockpit
    assert cockpit.proxy_user_header == "X-Remote-User" and cockpit.session_idle_minutes == 60
    assert settings_from_dict({}, environ={}).cockpit.cookie_secure is True  # on by default
    with pytest.raises(ConfigError) as caught:
        settings_from_dict(
            {"cockpit": {"language": "de", "session_hours": 0, "proxy_user_header": "X User"}}, environ={}
        )
    keys = sorted(problem.split(":")[0] for problem in caught.value.problems)
    assert keys == ["cockpit.language", "cockpit.proxy_user_header", "cockpit.session_hours"]
