"""What every administration's settings share, whatever its ledger: its name, its sender, its policy, how often
it syncs. A ledger's own settings model (its credentials and options) extends `AdministrationBase` in the
ledger's folder and is registered with the ledger (`connector.ledger.registry`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from connector.domain import SenderDetails
from connector.workflow.policy import DEFAULT_POLICY

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"


class Mailbox(BaseModel):
    """`[email.bounces]`: the IMAP mailbox where the sender's bounces and auto-replies arrive (the Return-Path's
    mailbox). It is only read, never changed: how far it was read is kept in the store."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1)
    port: int | None = Field(default=None, gt=0, lt=65536)  # default: 993 for ssl, else 143
    security: Literal["ssl", "starttls", "none"] = "ssl"
    username: str = Field(min_length=1)
    password: SecretStr | None = None
    folder: str = "INBOX"
    timeout_seconds: float = Field(default=30.0, gt=0, le=300)

    @property
    def address(self) -> str:
        """Names this mailbox in the store and the logs (no secret in it)."""
        port = self.port or (993 if self.security == "ssl" else 143)
        return f"{self.username}@{self.host}:{port}/{self.folder}"


class AdministrationEmail(BaseModel):
    """`[administrations.email]`: this administration's own sender or SMTP account, over `[email]` key by key.
    An accountancy office sends each client's reminders in the client's name: its own `from_name` and
    `reply_to`, or its own account (`host`, `username`, `password`, `from_address`)."""

    model_config = ConfigDict(extra="forbid")

    host: str | None = Field(default=None, min_length=1)
    port: int | None = Field(default=None, gt=0, lt=65536)
    security: Literal["starttls", "ssl", "none"] | None = None
    username: str | None = None
    password: SecretStr | None = None
    from_address: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    from_name: str | None = None
    reply_to: str | None = None
    bcc: str | None = None
    timeout_seconds: float | None = Field(default=None, gt=0, le=300)
    bounces: Mailbox | None = None


class Company(BaseModel):
    """Who the reminders come from, as the customer knows them, and as the law wants every business letter to
    name its sender: the name the business is registered under, its KvK number and its address (art. 27
    Handelsregisterwet 2007), for a B.V. or N.V. also its statutory seat (art. 2:186 / 2:75 BW)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)  # as customers know it (the trading name)
    legal_name: str | None = None  # as registered, when it differs: "De Vries Bakkerijen B.V."
    kvk: str | None = Field(default=None, pattern=r"^\d{8}$")
    vat_number: str | None = Field(default=None, pattern=r"^[A-Z]{2}[0-9A-Z]{2,13}$")
    address: str | None = Field(default=None, min_length=5)  # one line: "Bakkersstraat 1, 3511 AB Utrecht"
    postal_address: str | None = None  # when letters should go elsewhere: "Postbus 123, 3500 AC Utrecht"
    statutory_seat: str | None = None  # "statutair gevestigd te ..." for a B.V. or N.V.
    phone: str | None = None
    email: str | None = None
    iban: str | None = None
    logo: str | None = None  # a PNG, JPEG or SVG file for the printed letters' head

    REQUIRED: ClassVar[dict[str, str]] = {
        "kvk": "the KvK number (art. 27 Handelsregisterwet 2007: every business letter states it)",
        "address": "the address (art. 27 Handelsregisterwet 2007)",
    }

    def missing(self) -> list[str]:
        """The sender details the law wants on every message that are not configured, as `key: why`."""
        return self.missing_in(self.model_dump())

    @classmethod
    def missing_in(cls, values: Mapping[str, Any]) -> list[str]:
        found = [f"{key}: missing: {why}" for key, why in cls.REQUIRED.items() if not values.get(key)]
        if not values.get("name"):
            found.insert(0, "name: missing: the name customers know the business by")
        registered = str(values.get("legal_name") or values.get("name") or "").upper().replace(".", "")
        if not values.get("statutory_seat") and registered.endswith((" BV", " NV")):
            found.append("statutory_seat: missing: a B.V. or N.V. states its statutory seat (art. 2:186 BW)")
        return found

    @classmethod
    def proposed(cls, configured: Company | None, found: SenderDetails) -> tuple[dict[str, str], list[str]]:
        """The sender details to configure: what is configured, completed with what the ledger knows. Returns
        the values and, per key, where the ledger says otherwise or holds a value this model would refuse."""
        values = {key: value for key, value in (configured.model_dump() if configured else {}).items() if value}
        notes = []
        for key in ("name", "kvk", "vat_number", "address", "email", "phone", "iban"):
            offered = getattr(found, key)
            if not offered:
                continue
            try:
                cls.model_validate({"name": "x", key: offered})
            except ValidationError:
                notes.append(f"{key}: the ledger's {offered!r} is not valid here; type it")
                continue
            if key not in values:
                values[key] = offered
            elif values[key] != offered:
                notes.append(f"{key}: configured {values[key]!r}, the ledger says {offered!r}")
        return values, notes


class RateLimitOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")
    requests: int = Field(gt=0)
    per_seconds: float = Field(gt=0)


class AdministrationBase(BaseModel):
    """Settings every administration has. A ledger's model narrows `platform` to its name, lists its secret
    fields (which must reference the environment), and overrides the properties below where they apply."""

    model_config = ConfigDict(extra="forbid")
    secret_fields: ClassVar[tuple[str, ...]] = ()

    platform: str
    name: str = Field(pattern=NAME_PATTERN)
    enabled: bool = True
    base_url: str | None = None
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    rate_limit: RateLimitOverride | None = None
    policy: str = DEFAULT_POLICY
    company: Company | None = None  # default: the administration's name
    # The collection agency its customers are handed over to: named in a handover message and the case file.
    collection_agency: str | None = Field(default=None, min_length=1)
    email: AdministrationEmail | None = None  # its own sender or SMTP account, over [email]
    # Silence the ledger's own reminders on invoices this connector chases, so a customer never gets two reminder
    # streams with different deadlines (where the ledger allows it; `check-config` warns where it does not).
    pause_ledger_reminders: bool = True
    # BTW on collection costs: only when the creditor uses a VAT-charged third party and cannot reclaim the VAT
    # (BIK art. 2 lid 3); e.g. 21. Unset: none, which is right for a VAT-registered business collecting itself.
    collection_costs_vat_percent: Decimal | None = Field(default=None, ge=0, le=30)
    # How often `connector run` syncs (and then dispatches); unset: the platform's default, which fits its
    # rate budget with room for re-checks and write-back.
    sync_interval_seconds: int | None = Field(default=None, ge=1, le=86_400)
    # /readyz reports the administration as not ready when its last successful sync is older than this;
    # unset: three sync intervals plus a minute.
    stale_after_seconds: int | None = Field(default=None, ge=1, le=7 * 86_400)
    default_sync_interval: ClassVar[int] = 300

    @property
    def sync_interval(self) -> int:
        return self.sync_interval_seconds or self.default_sync_interval

    @property
    def stale_after(self) -> int:
        return self.stale_after_seconds or 3 * self.sync_interval + 60

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value.rstrip("/") if value else value

    def sender_problems(self) -> list[str]:
        """What its messages lack to name their sender as the law wants, as `company.key: why` (nothing is sent
        for it until these are configured)."""
        if self.company is None:
            return [
                "company: missing: who the reminders come from, with its KvK number and address, e.g. company = "
                '{ name = "Acme B.V.", kvk = "12345678", address = "Straat 1, 1234 AB Plaats", statutory_seat = '
                '"Plaats" }'
            ]
        return [f"company.{problem}" for problem in self.company.missing()]

    def sender_missing(self) -> str | None:
        """Why nothing may go out for it: its messages could not name their sender as the law wants."""
        problems = self.sender_problems()
        if not problems:
            return None
        keys = "; ".join(problem.split(":", 1)[0] for problem in problems)
        return f"sender details missing ({keys}): nothing is sent until they are configured (`connector check-config`)"

    @property
    def ledger_reference(self) -> str:
        """Which administration at the ledger it is, for people: "administration 123", "division 4 (nl)"."""
        return self.platform

    @property
    def token_connection(self) -> str | None:
        """The OAuth token chain it uses, for ledgers that keep tokens in the store (encrypted under
        CONNECTOR_SECRET_KEY, which it then needs); None for the rest."""
        return None

    @property
    def reserved_calls(self) -> int:
        """Calls of the ledger's daily budget kept free for people and other tools, where it has one."""
        return 0

    def secrets(self) -> list[str]:
        return [str(getattr(self, name).get_secret_value()) for name in self.secret_fields]

    def summary(self) -> str:
        state = "enabled" if self.enabled else "disabled"
        return f"{self.name}: {self.platform} {self.ledger_reference}, {state}"
