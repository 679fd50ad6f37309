"""Exact Online's settings: one `[[administrations]]` table with `platform = "exact_online"`."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr

from connector.ledger.port import NAME_PATTERN, LedgerSettings


class ExactOnlineAdministration(LedgerSettings):
    platform: Literal["exact_online"]
    secret_fields: ClassVar[tuple[str, ...]] = ("client_secret",)
    # 5,000 calls a day per division: every 10 minutes is 144 syncs, leaving most of the day for the rest.
    default_sync_interval: ClassVar[int] = 600
    division: int = Field(gt=0)  # pinned: never taken from the user's CurrentDivision
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    country: Literal["nl", "be", "de", "uk", "us", "es", "fr"] = "nl"
    # Exact keeps one token chain per app and user: administrations consented by one user share a connection
    # (and so one chain). Unset: the administration's own name.
    connection: str | None = Field(default=None, pattern=NAME_PATTERN)
    redirect_uri: str = Field(default="http://127.0.0.1:8765/callback", pattern=r"^https?://\S+$")
    # Calls of the daily budget (5,000 per app per division) kept free for people and other tools.
    daily_reserve: int = Field(default=500, ge=0, le=100_000)
    # Also keep a one-line status about the connector's reminders in the account's Remarks field.
    write_remarks: bool = False
    # A full read of the open receivables every so many days, to catch anything the change feed missed.
    consistency_check_days: int = Field(default=7, ge=1, le=365)

    @property
    def token_connection(self) -> str:
        return self.connection or self.name

    @property
    def reserved_calls(self) -> int:
        return self.daily_reserve

    @property
    def ledger_reference(self) -> str:
        return f"division {self.division} ({self.country})"
