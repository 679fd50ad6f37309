"""The Skeleton ledger's settings: `platform = "skeleton"`, a bearer token and the API's address."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import SecretStr

from connector.ledger.port import LedgerSettings


class SkeletonAdministration(LedgerSettings):
    platform: Literal["skeleton"]
    secret_fields: ClassVar[tuple[str, ...]] = ("token",)
    token: SecretStr

    @property
    def ledger_reference(self) -> str:
        return f"skeleton at {self.base_url}"
