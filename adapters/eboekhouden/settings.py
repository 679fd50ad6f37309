"""e-Boekhouden's settings: one `[[administrations]]` table with `platform = "eboekhouden"`."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr

from connector.ledger.port import LedgerSettings

EBOEKHOUDEN_NOTE_FIELDS = ("note", *(f"freeText{n}" for n in range(1, 11)))


class EboekhoudenAdministration(LedgerSettings):
    platform: Literal["eboekhouden"]
    secret_fields: ClassVar[tuple[str, ...]] = ("api_token",)
    # No published rate limit: a sync with nothing new costs one call per 2,000 open items.
    default_sync_interval: ClassVar[int] = 300
    api_token: SecretStr  # one API token per administration (e-Boekhouden has no other way to pick one)
    # Names this connector to e-Boekhouden when it opens a session: letters, digits, _ and spaces, at most 10.
    source: str = Field(default="connector", pattern=r"^[\w_ ]{1,10}$")
    # Where the connector keeps its short dunning summary on the relation: its `note` (a delimited block,
    # a person's own text kept) or one of the free fields freeText1..freeText10 (the latest step only).
    note_field: Literal[EBOEKHOUDEN_NOTE_FIELDS] = "note"  # type: ignore[valid-type]
    # Payment term when neither the invoice, its booking nor the relation names one (days; the statutory 30).
    default_payment_term_days: int = Field(default=30, ge=0, le=365)
    # Relations have no change feed: each one is read again after this many hours (spread over the cycles).
    relation_refresh_hours: int = Field(default=24, ge=1, le=24 * 30)

    @property
    def ledger_reference(self) -> str:
        return "api token"
