"""Configuration: a TOML file, the environment and `.env`, validated in one go.

Any string may reference an environment variable as `${NAME}`. Secrets (tokens, client secrets, database
passwords) must be given that way: a literal secret in the file is an error, so config files can be
shared and committed. Every problem is reported with its key path, never just the first one.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from connector.administration import AdministrationBase, Mailbox
from connector.dispatch.transport import refuse_plain_http
from connector.ledger import registry
from connector.log import register_secret
from connector.workflow.legal import RatePeriod, load_rates, merge_rates
from connector.workflow.policy import DEFAULT_POLICY, Policy, PolicyProblems, Stage, default_policy, stage_problems

DEFAULT_CONFIG_PATH = Path("config.toml")
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ONLY_REFERENCE = re.compile(r"^\s*\$\{[A-Za-z_][A-Za-z0-9_]*\}\s*$")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WORKING_DAYS: tuple[Weekday, ...] = WEEKDAYS[:5]


class ConfigError(Exception):
    """The configuration has problems; `problems` lists each as 'key.path: message'."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def normalise_database_url(value: str) -> str:
    """SQLite, or PostgreSQL through psycopg 3 (the driver this connector ships); never echoes the URL,
    which may hold a password."""
    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError("not a database URL (expected sqlite:///PATH or postgresql+psycopg://...)") from None
    backend, _, driver = url.drivername.partition("+")
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "psycopg"):
            raise ValueError(f"driver {driver!r} is not installed; use postgresql+psycopg://")
        return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if backend != "sqlite":
        raise ValueError(f"unsupported database {backend!r} (use sqlite or postgresql)")
    return value


def display_database_url(value: str) -> str:
    return make_url(value).render_as_string(hide_password=True)


# --- the model ----------------------------------------------------------------------------------------


class ConnectorSection(BaseSettings):
    """The `[connector]` table. Environment variables `CONNECTOR_<KEY>` (or in `.env`) override the file."""

    model_config = SettingsConfigDict(env_prefix="CONNECTOR_", extra="forbid", env_file=None)

    database_url: str = "sqlite:///data/connector.db"
    timezone: str = "Europe/Amsterdam"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"
    handover_dir: str = "data/handover"  # case files for the collection agency (JSON and CSV per customer)
    # Also POST each case file here: HTTPS only (plain HTTP only to this machine).
    handover_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    # How long the proof of what was sent (the e-mails, letters and case files) is kept after a customer's last
    # message: the five-year limitation period (art. 3:307 BW) and a year. Then it is purged, and that is logged.
    evidence_retention_days: int = Field(default=6 * 365 + 2, ge=30, le=36500)
    # Each invoice's own PDF from the ledger goes with its e-mail reminders, where the ledger offers one; fetched
    # once per version of the invoice. A larger PDF is left out (the message says only what is attached).
    attach_invoice_pdfs: bool = True
    invoice_pdf_max_kb: int = Field(default=2048, ge=16, le=20480)
    # How often the bounce mailboxes are read, and the print service asked about posted letters.
    delivery_poll_seconds: int = Field(default=300, ge=30, le=86400)
    templates_dir: str | None = None  # your own templates, overriding the built-in ones file by file
    # Interest-rate rows of your own (the format of the packaged rates.toml), added to the packaged table; a row
    # for the same half-year and kind replaces the packaged one. For a new half-year before a release has it.
    rates_file: str | None = None
    max_attempts: int = Field(default=5, ge=1, le=50)  # tries before an action is marked failed
    # A channel (the SMTP server, the agency's intake, the ledger's tasks) that failed this many tries in a row
    # is failing: logged once, named on /readyz and /status, until a message goes through again.
    channel_failing_after: int = Field(default=3, ge=1, le=100)
    send_window: str = Field(default="09:00-17:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$")
    send_days: list[Weekday] = Field(default_factory=lambda: list(WORKING_DAYS), min_length=1)
    send_on_public_holidays: bool = False  # Dutch public holidays (Koningsdag, Kerstmis, ...) are quiet by default
    # The health endpoint (/healthz, /readyz, /metrics, /status) of `connector run`; port 0 picks a free one.
    health_host: str = "127.0.0.1"
    health_port: int = Field(default=8080, ge=0, le=65535)
    status_token: SecretStr | None = None  # when set, /status wants "Authorization: Bearer <token>"
    keep_sync_runs_days: int = Field(default=30, ge=1, le=3650)  # older sync runs are pruned
    shutdown_grace_seconds: float = Field(default=8.0, gt=0, le=60)  # SIGTERM: time for the action in hand
    # At most this many administrations sync or dispatch at the same time in this process (the rest queue).
    max_concurrent_cycles: int = Field(default=8, ge=1, le=256)
    # Several `connector run` on one PostgreSQL split the administrations by leases: a replica that dies or
    # hangs loses its own after this long and the others take them over. Renewed every third of it.
    lease_ttl_seconds: int = Field(default=30, ge=6, le=600)
    # Names this process in /status and the lease table (a suffix keeps restarts apart); default: the host.
    replica_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    # Encrypts OAuth tokens in the store (Fernet: 32 url-safe base64 bytes; `connector secret-key` makes one).
    # Several keys separated by commas: the first encrypts, all decrypt, so a key can be rotated.
    secret_key: SecretStr | None = None

    @property
    def send_window_times(self) -> tuple[time, time]:
        start, end = self.send_window.split("-")
        return time.fromisoformat(start), time.fromisoformat("23:59" if end == "24:00" else end)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only what `settings_from_dict` passes in: it merges the `CONNECTOR_<KEY>` overrides itself, from the
        # environment it is given, so the process environment never leaks into settings built from a dict.
        return (init_settings,)

    @field_validator("handover_url")
    @classmethod
    def _handover_over_https(cls, value: str | None) -> str | None:
        if value is not None:
            refuse_plain_http(value, "the handover URL")
        return value

    @field_validator("status_token")
    @classmethod
    def _strong_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < 16:
            raise ValueError("must be at least 16 characters (an empty token would leave /status open)")
        return value

    @field_validator("secret_key")
    @classmethod
    def _fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        keys = [key.strip() for key in value.get_secret_value().split(",") if key.strip()]
        if not keys:
            return None
        for key in keys:
            try:
                if len(base64.urlsafe_b64decode(key.encode())) != 32:
                    raise ValueError
            except (ValueError, binascii.Error):
                raise ValueError(
                    "not a Fernet key (32 url-safe base64-encoded bytes); make one with `connector secret-key`"
                ) from None
        return SecretStr(",".join(keys))

    @field_validator("send_days", mode="before")
    @classmethod
    def _days_from_text(cls, value: Any) -> Any:
        """From the environment a list arrives as text: "mon,tue,sat" (or JSON)."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [day.strip() for day in text.split(",") if day.strip()]
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        return normalise_database_url(value)

    @property
    def send_weekdays(self) -> frozenset[int]:
        return frozenset(WEEKDAYS.index(day) for day in self.send_days)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class EmailSection(BaseModel):
    """`[email]`: the SMTP server reminders go out through."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1)
    port: int = Field(default=587, gt=0, lt=65536)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    from_address: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    from_name: str | None = None
    reply_to: str | None = None
    bcc: str | None = None  # a copy of every reminder, for the archive
    timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    bounces: Mailbox | None = None  # where bounces and auto-replies arrive, read over IMAP

    @property
    def message_id_domain(self) -> str:
        return self.from_address.rsplit("@", 1)[1]


class CockpitSection(BaseModel):
    """`[cockpit]`: the web application for the people who chase payments, served beside /healthz on
    `health_host:health_port`. Accounts come from `connector users add`; behind a reverse proxy that signs people
    in, `proxy_user_header` names the header that carries the account's name (believed only from
    `trusted_proxies`)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    language: Literal["nl", "en"] = "nl"  # for the sign-in page; a signed-in person sees their own
    session_idle_minutes: int = Field(default=60, ge=5, le=24 * 60)
    session_hours: int = Field(default=12, ge=1, le=24 * 30)  # signed in again after this, however busy
    # The session cookie goes over HTTPS only. Browsers make an exception for this machine (localhost), so turn
    # it off only for a plain-HTTP address on a private network you trust.
    cookie_secure: bool = True
    proxy_user_header: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]{1,64}$")
    # The proxies whose header is believed: every process that can reach the port from one of these addresses
    # can sign in as anyone, so they must be named (no default).
    trusted_proxies: list[str] = Field(default_factory=list)
    login_attempts: int = Field(default=5, ge=1, le=100)  # failures per name before it waits `lockout_minutes`
    lockout_minutes: int = Field(default=15, ge=1, le=24 * 60)

    @model_validator(mode="after")
    def _proxies_named(self) -> CockpitSection:
        if self.proxy_user_header and not self.trusted_proxies:
            raise ValueError("proxy_user_header needs trusted_proxies: the addresses of the proxy that signs people in")
        return self


class PostSection(BaseModel):
    """`[post]`: how letters for a `post` stage are sent: a print-and-mail service's HTTPS API, or a print-ready
    batch per day in a folder for an office that posts its own."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["folder", "https"] = "folder"
    folder: str = "data/post"  # folder: the batches
    url: str | None = Field(default=None, pattern=r"^https?://\S+$")  # https: the service's API
    token: SecretStr | None = None  # https: its API token, "${NAME}"
    # Business days between handing a letter over and its posting, as the service promises (the batch: the office
    # posts the next working day). The letter states its term from that day; a later posting is flagged.
    posting_days: int = Field(default=1, ge=0, le=10)
    options: dict[str, Any] = Field(default_factory=dict)  # passed to the service as they are (registered, color)
    timeout_seconds: float = Field(default=30.0, gt=0, le=300)

    @field_validator("url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is not None:
            refuse_plain_http(value, "the print service URL")
        return value

    @model_validator(mode="after")
    def _url_for_https(self) -> PostSection:
        if self.provider == "https" and not self.url:
            raise ValueError('provider "https" needs url, the print service\'s API')
        return self


AdministrationConfig = AdministrationBase  # one administration's settings, of the model its ledger registers


class _Administrations(BaseModel):
    model_config = ConfigDict(extra="forbid")
    administrations: list[AdministrationConfig] = Field(default_factory=list)


@dataclass(frozen=True)
class Settings:
    connector: ConnectorSection
    administrations: tuple[AdministrationConfig, ...]
    source: Path | None = None
    policies: Mapping[str, Policy] = field(default_factory=lambda: {DEFAULT_POLICY: default_policy()})
    email: EmailSection | None = None
    rates: tuple[RatePeriod, ...] | None = None  # the interest-rate table; None: the packaged one
    post: PostSection | None = None
    cockpit: CockpitSection = field(default_factory=CockpitSection)

    def policy_for(self, administration: AdministrationConfig) -> Policy:
        return self.policies[administration.policy]

    def email_for(self, administration: AdministrationBase) -> EmailSection | None:
        """The SMTP account and sender for an administration's reminders: `[email]` with its own keys over it.
        Unless one names them, the From name is the client's trading name and replies go to the client's
        address (`company.email`), so each client's reminders come in its own name."""
        own = administration.email.model_dump(exclude_none=True) if administration.email else {}
        base = self.email.model_dump(exclude_none=True) if self.email else {}
        if not own and not base:
            return None
        company = administration.company
        merged = {**base, **own}
        if company is not None:
            merged.setdefault("from_name", company.name)
            if company.email:
                merged.setdefault("reply_to", company.email)
        return EmailSection.model_validate(merged)

    def administration(self, name: str) -> AdministrationConfig:
        for admin in self.administrations:
            if admin.name == name:
                return admin
        known = ", ".join(a.name for a in self.administrations) or "none configured"
        raise KeyError(f"no administration named {name!r} (known: {known})")

    @property
    def enabled_administrations(self) -> tuple[AdministrationConfig, ...]:
        return tuple(a for a in self.administrations if a.enabled)


# --- loading ------------------------------------------------------------------------------------------


def load_settings(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    env_file: Path | None = Path(".env"),
) -> Settings:
    """Read, interpolate and validate the configuration; raise ConfigError listing every problem."""
    path = path or Path((os.environ if environ is None else environ).get("CONNECTOR_CONFIG", DEFAULT_CONFIG_PATH))
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found (pass --config PATH or copy config.example.toml)"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not UTF-8 text"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    env_files = [path.parent / ".env", *([env_file] if env_file is not None else [])]
    settings = settings_from_dict(raw, environ=environment(environ, env_files))
    return dataclasses.replace(settings, source=path)


def environment(environ: Mapping[str, str] | None = None, env_files: list[Path] | None = None) -> dict[str, str]:
    """The process environment over `.env` files (beside the config file, then the working directory):
    a real environment variable always wins."""
    values: dict[str, str] = {}
    for env_file in env_files or []:
        if env_file.is_file():
            values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    return values


def settings_from_dict(raw: Mapping[str, Any], *, environ: Mapping[str, str]) -> Settings:
    problems: list[str] = []
    unknown = sorted(set(raw) - {"connector", "administrations", "policies", "email", "post", "cockpit"})
    problems += [f"{key}: unknown section or key" for key in unknown]

    raw_connector = raw.get("connector", {})
    raw_admins = raw.get("administrations", [])
    if not isinstance(raw_connector, dict):
        problems.append("connector: must be a table ([connector])")
        raw_connector = {}
    if not isinstance(raw_admins, list):
        problems.append("administrations: must be an array of tables ([[administrations]])")
        raw_admins = []

    problems += _literal_secrets(raw_connector, raw_admins)
    connector_values = _interpolate(raw_connector, "connector", environ, problems)
    admin_values = []
    for index, raw_admin in enumerate(raw_admins):
        # A disabled administration may leave its variables unset: it is configured, not used.
        disabled = isinstance(raw_admin, dict) and raw_admin.get("enabled") is False
        sink: list[str] = [] if disabled else problems
        admin_values.append(_interpolate(raw_admin, f"administrations[{index}]", environ, sink))
    problems += _malformed_secrets(admin_values)

    connector = _validate_connector(connector_values, environ, problems)
    administrations = _validate_administrations(admin_values, raw_admins, problems)
    policies = _validate_policies(raw.get("policies", {}), problems)
    email = _validate_email(raw.get("email"), environ, problems)
    post = _validate_post(raw.get("post"), environ, problems)
    cockpit = _validate_cockpit(raw.get("cockpit"), environ, problems)
    for index, admin in enumerate(administrations):
        if admin.email is not None and email is None:
            problems += [
                f"administrations[{index}].email.{key}: missing (there is no [email] to take it from)"
                for key in ("host", "from_address")
                if getattr(admin.email, key) is None
            ]
        problems += _vat_on_costs_problems(admin, index, policies)
        configured = isinstance(raw.get("policies"), dict) and admin.policy in raw["policies"]
        if admin.policy not in policies and not configured:  # a policy with problems has them listed already
            known = ", ".join(sorted(policies))
            problems.append(f"administrations[{index}].policy: unknown policy {admin.policy!r} (known: {known})")

    if connector is not None and connector.secret_key is None:
        problems += [
            f"connector.secret_key: CONNECTOR_SECRET_KEY is not set; administration {admin.name!r} keeps its "
            "OAuth tokens in the store encrypted with it (make one with `connector secret-key`)"
            for admin in administrations
            if admin.enabled and admin.token_connection is not None
        ][:1]
    if problems:
        raise ConfigError(sorted(problems, key=_file_order))
    assert connector is not None
    for admin in administrations:
        for admin_secret in admin.secrets():
            register_secret(admin_secret)
    if connector.status_token is not None:
        register_secret(connector.status_token.get_secret_value())
    if connector.secret_key is not None:
        for key in connector.secret_key.get_secret_value().split(","):
            register_secret(key)
    password = make_url(connector.database_url).password
    register_secret(str(password) if password else None)
    rates = _load_rates(connector.rates_file, problems) if connector.rates_file else None
    if problems:
        raise ConfigError(sorted(problems, key=_file_order))
    own_email = [a.email for a in administrations if a.email]
    for secret in [
        email.password if email else None,
        email.bounces.password if email and email.bounces else None,
        *(e.password for e in own_email),
        *(e.bounces.password for e in own_email if e.bounces),
        post.token if post else None,
    ]:
        if secret is not None:
            register_secret(secret.get_secret_value())
    return Settings(
        connector,
        tuple(administrations),
        policies=policies,
        email=email,
        rates=rates,
        post=post,
        cockpit=cockpit or CockpitSection(),
    )


def _load_rates(path: str, problems: list[str]) -> tuple[RatePeriod, ...] | None:
    try:
        return merge_rates(load_rates(), load_rates(Path(path)))
    except FileNotFoundError:
        problems.append(f"connector.rates_file: {path}: file not found")
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        problems.append(f"connector.rates_file: {exc}")
    return None


def _file_order(problem: str) -> tuple[int, int]:
    """Problems in the order their keys appear in the file: [connector] first, then each administration."""
    match = re.match(r"administrations\[(\d+)\]", problem)
    if match:
        return (2, int(match.group(1)))
    return (1, 0) if problem.startswith("connector") else (0, 0)


def _literal_secrets(raw_connector: Mapping[str, Any], raw_admins: list[Any]) -> list[str]:
    problems = []
    for index, admin in enumerate(raw_admins):
        if not isinstance(admin, dict):
            continue
        model = registry.settings_models().get(str(admin.get("platform")))
        for key in model.secret_fields if model else ():
            value = admin.get(key)
            if value not in (None, "") and not (isinstance(value, str) and _ONLY_REFERENCE.match(value)):
                problems.append(
                    f"administrations[{index}].{key}: a secret must not be written in the file; "
                    f'reference an environment variable, e.g. {key} = "${{{_env_name(admin, key)}}}"'
                )
        own_email = admin.get("email")
        if isinstance(own_email, dict):
            where, example = f"administrations[{index}].email", _env_name(admin, "bounces_password")
            problems += _literal_nested_secret(own_email, "bounces", "password", where, example)
        password = own_email.get("password") if isinstance(own_email, dict) else None
        if password not in (None, "") and not (isinstance(password, str) and _ONLY_REFERENCE.match(password)):
            problems.append(
                f"administrations[{index}].email.password: a secret must not be written in the file; "
                f'reference an environment variable, e.g. password = "${{{_env_name(admin, "smtp_password")}}}"'
            )
    for key in ("status_token", "secret_key"):
        token = raw_connector.get(key)
        if token not in (None, "") and not (isinstance(token, str) and _ONLY_REFERENCE.match(token)):
            problems.append(
                f"connector.{key}: a secret must not be written in the file; "
                f'reference an environment variable, e.g. {key} = "${{CONNECTOR_{key.upper()}}}"'
            )
    url = raw_connector.get("database_url")
    if isinstance(url, str):
        try:
            password = make_url(url).password
        except ArgumentError:
            password = None
        if password and not _REFERENCE.fullmatch(str(password)):
            problems.append(
                "connector.database_url: contains a literal password; "
                "reference it as ${NAME}, e.g. postgresql+psycopg://user:${DB_PASSWORD}@host/db"
            )
    return problems


def _malformed_secrets(admins: list[Any]) -> list[str]:
    """Secrets arrive from files and orchestrators with a trailing newline; strip that, refuse the rest."""
    problems = []
    for index, admin in enumerate(admins):
        if not isinstance(admin, dict):
            continue
        model = registry.settings_models().get(str(admin.get("platform")))
        for key in model.secret_fields if model else ():
            value = admin.get(key)
            if not isinstance(value, str):
                continue
            admin[key] = value = value.strip()
            if any(ch.isspace() or not ch.isprintable() for ch in value):
                problems.append(f"administrations[{index}].{key}: contains spaces or control characters")
    return problems


def _env_name(admin: Mapping[str, Any], key: str) -> str:
    name = re.sub(r"[^A-Za-z0-9]+", "_", str(admin.get("name", "admin"))).upper().strip("_") or "ADMIN"
    return f"{name}_{key.upper()}"


def _interpolate(value: Any, path: str, environ: Mapping[str, str], problems: list[str]) -> Any:
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in environ:
                problems.append(f"{path}: environment variable {name} is not set")
                return ""
            return environ[name]

        return _REFERENCE.sub(substitute, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, f"{path}.{k}", environ, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, f"{path}[{i}]", environ, problems) for i, v in enumerate(value)]
    return value


def _validate_connector(
    values: Mapping[str, Any], environ: Mapping[str, str], problems: list[str]
) -> ConnectorSection | None:
    overrides = {
        name: environ[f"CONNECTOR_{name.upper()}"]
        for name in ConnectorSection.model_fields
        if f"CONNECTOR_{name.upper()}" in environ
    }
    try:
        # Validate file values merged with overrides explicitly, so errors name the key path.
        return ConnectorSection.model_validate({**values, **overrides})
    except ValidationError as exc:
        problems += [_describe(error, "connector") for error in exc.errors()]
        return None


def _validate_administrations(values: list[Any], raw: list[Any], problems: list[str]) -> list[AdministrationConfig]:
    found: list[AdministrationConfig] = []
    for index, value in enumerate(values):
        path = f"administrations[{index}]"
        if not isinstance(value, dict):
            problems.append(f"{path}: must be a table")
            continue
        platform = value.get("platform")
        models = registry.settings_models()
        if platform is None:
            problems.append(f"{path}.platform: missing (one of {', '.join(models)})")
            continue
        model = models.get(str(platform))
        if model is None:
            problems.append(f"{path}.platform: unknown platform {platform!r} (one of {', '.join(models)})")
            continue
        try:
            found.append(model.model_validate(value))
        except ValidationError as exc:
            problems += [_describe(error, path) for error in exc.errors()]
    seen: dict[str, int] = {}
    for index, value in enumerate(raw):
        name = value.get("name") if isinstance(value, dict) else None
        if isinstance(name, str):
            if name in seen:
                problems.append(
                    f"administrations[{index}].name: duplicate name {name!r} (also administrations[{seen[name]}])"
                )
            seen.setdefault(name, index)
    return found


_NEVER_ECHOED = {"database_url", "password", "status_token", "secret_key"}


def _never_echoed(key: str) -> bool:
    return key in _NEVER_ECHOED or any(key in model.secret_fields for model in registry.settings_models().values())


def _validate_email(raw: Any, environ: Mapping[str, str], problems: list[str]) -> EmailSection | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.append("email: must be a table ([email])")
        return None
    password = raw.get("password")
    if password not in (None, "") and not (isinstance(password, str) and _ONLY_REFERENCE.match(password)):
        problems.append('email.password: a secret must not be written in the file; e.g. password = "${SMTP_PASSWORD}"')
    problems += _literal_nested_secret(raw, "bounces", "password", "email", "BOUNCES_PASSWORD")
    values = _interpolate(raw, "email", environ, problems)
    try:
        return EmailSection.model_validate(values)
    except ValidationError as exc:
        problems += [_describe(error, "email") for error in exc.errors()]
        return None


def _validate_post(raw: Any, environ: Mapping[str, str], problems: list[str]) -> PostSection | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.append("post: must be a table ([post])")
        return None
    token = raw.get("token")
    if token not in (None, "") and not (isinstance(token, str) and _ONLY_REFERENCE.match(token)):
        problems.append('post.token: a secret must not be written in the file; e.g. token = "${POST_API_TOKEN}"')
    values = _interpolate(raw, "post", environ, problems)
    try:
        return PostSection.model_validate(values)
    except ValidationError as exc:
        problems += [_describe(error, "post") for error in exc.errors()]
        return None


def _validate_cockpit(raw: Any, environ: Mapping[str, str], problems: list[str]) -> CockpitSection | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.append("cockpit: must be a table ([cockpit])")
        return None
    try:
        return CockpitSection.model_validate(_interpolate(raw, "cockpit", environ, problems))
    except ValidationError as exc:
        problems += [_describe(error, "cockpit") for error in exc.errors()]
        return None


def _literal_nested_secret(raw: Mapping[str, Any], table: str, key: str, where: str, example: str) -> list[str]:
    """A secret in a nested table (`[email.bounces] password`) written literally."""
    nested = raw.get(table)
    value = nested.get(key) if isinstance(nested, dict) else None
    if value in (None, "") or (isinstance(value, str) and _ONLY_REFERENCE.match(value)):
        return []
    return [f'{where}.{table}.{key}: a secret must not be written in the file; e.g. {key} = "${{{example}}}"']


def _validate_policies(raw: Any, problems: list[str]) -> dict[str, Policy]:
    """`[policies.NAME]` tables; the built-in `default` is there unless a table of that name replaces it."""
    policies = {DEFAULT_POLICY: default_policy()}
    if not isinstance(raw, dict):
        problems.append("policies: must be a table of [policies.NAME] tables")
        return policies
    for name, value in raw.items():
        try:
            # A table without stages keeps the built-in sequence: `catch_up = "latest"` alone is enough.
            stages = {} if isinstance(value, dict) and "stages" in value else {"stages": default_policy().stages}
            policies[name] = Policy.model_validate({**stages, **value} if isinstance(value, dict) else value)
        except ValidationError as exc:
            problems += _policy_problems(exc, value, f"policies.{name}")
    return policies


def _vat_on_costs_problems(admin: AdministrationConfig, index: int, policies: Mapping[str, Policy]) -> list[str]:
    """BTW on collection costs only as BIK art. 2 lid 3 allows it: a VAT-charging third party collects (the
    collection agency a handover goes to) and the creditor cannot reclaim the VAT (it has no VAT number)."""
    if admin.collection_costs_vat_percent is None:
        return []
    key = f"administrations[{index}].collection_costs_vat_percent"
    why = []
    if admin.collection_agency is None:
        why.append("no collection_agency is named (the VAT-charging third party that collects)")
    policy = policies.get(admin.policy)
    if policy is not None and not any(stage.action == "handover" for stage in policy.stages):
        why.append(f"policy {admin.policy!r} hands nobody over to that agency")
    if admin.company is not None and admin.company.vat_number:
        why.append(f"the company has a VAT number ({admin.company.vat_number}), so it reclaims the VAT it pays")
    if not why:
        return []
    return [
        f"{key}: BTW may be added to collection costs only when a VAT-charging third party collects and you cannot "
        f"reclaim the VAT (BIK art. 2 lid 3); here {'; '.join(why)}"
    ]


def _policy_problems(exc: ValidationError, raw: Any, prefix: str) -> list[str]:
    """Every problem of one policy: its keys' own errors, and the rules across its stages (order, the legal
    letter, the handover), checked on the stages that are valid by themselves when some are not, so that one
    mistake hides no other."""
    found: list[str] = []
    across_checked = False
    for error in exc.errors():
        problem = (error.get("ctx") or {}).get("error")
        if isinstance(problem, PolicyProblems):
            across_checked = True
            found += [f"{prefix}.{key}: {message}" for key, message in problem.problems]
        else:
            found.append(_describe(error, prefix))
    raw_stages = raw.get("stages") if isinstance(raw, dict) else None
    if not across_checked and isinstance(raw_stages, list):
        valid, positions = [], []
        for position, raw_stage in enumerate(raw_stages):
            with contextlib.suppress(ValidationError):
                valid.append(Stage.model_validate(raw_stage))
                positions.append(position)
        found += [f"{prefix}.{key}: {message}" for key, message in stage_problems(valid, positions=positions)]
    return found


def _describe(error: Mapping[str, Any], prefix: str) -> str:
    path = prefix
    for part in error["loc"]:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    kind = error["type"]
    if kind == "missing":
        message = "missing (required)"
    elif kind == "extra_forbidden":
        message = "unknown key"
    elif kind == "string_pattern_mismatch" and path.endswith(".name"):
        message = f"invalid name {error.get('input')!r}: letters, digits, '.', '_' and '-' only"
    else:
        message = str(error["msg"]).removeprefix("Value error, ")
        secret = _never_echoed(path.rsplit(".", 1)[-1])
        if "input" in error and kind != "value_error" and not secret and not isinstance(error["input"], dict | list):
            message += f" (got {error['input']!r})"
    return f"{path}: {message}"
