from __future__ import annotations

from pathlib import Path

import pytest

from connector.config import ConfigError, load_settings, settings_from_dict
from connector.log import redact_text

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
