"""Moneybird's settings: one `[[administrations]]` table with `platform = "moneybird"`."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr

from connector.ledger.port import LedgerSettings


class MoneybirdAdministration(LedgerSettings):
    platform: Literal["moneybird"]
    secret_fields: ClassVar[tuple[str, ...]] = ("token",)
    # 150 calls per 5 minutes; a sync with nothing new costs 2, so every 5 minutes leaves >95% for the rest.
    default_sync_interval: ClassVar[int] = 300
    administration_id: str = Field(pattern=r"^\d{1,20}$")
    token: SecretStr

    @property
    def ledger_reference(self) -> str:
        return f"administration {self.administration_id}"
