"""The ledger port: everything the core may ask of a ledger, and all a ledger plugin needs to know of the core.

A ledger is a plugin folder under `adapters/` that exports a `PLATFORM` (a `Platform`): its settings model
(extending `LedgerSettings`), how to make its adapter, and optionally its OAuth flow, its simulator and a
shutdown hook. The adapter maps the ledger's API onto the domain objects in `connector.domain`; the core never
sees platform JSON. Required operations are abstract; optional ones are declared in `capabilities` and raise
`NotSupported` when an adapter does not offer them. See docs/adding-a-ledger.md.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from connector.administration import NAME_PATTERN
from connector.administration import AdministrationBase as LedgerSettings
from connector.clock import Clock
from connector.domain import Contact, Invoice, InvoiceStatus, Money, SenderDetails

if TYPE_CHECKING:
    from connector.ledger.http import HttpOptions, RateLimiter
    from connector.ledger.oauth import OAuthClient, TokenKeeper

__all__ = [
    "NAME_PATTERN",
    "ApiBudget",
    "AuthError",
    "BadRecord",
    "Capability",
    "ChangeBatch",
    "Contact",
    "Invoice",
    "InvoiceStatus",
    "LedgerAdapter",
    "LedgerError",
    "LedgerSettings",
    "Money",
    "NotFound",
    "NotSupported",
    "OAuthSupport",
    "Platform",
    "RateLimited",
    "RequestRejected",
    "SenderDetails",
    "SimulatedLedger",
    "SyncState",
    "TransientError",
    "chunks",
    "mapped",
]


# --- errors -------------------------------------------------------------------------------------------


class LedgerError(Exception):
    """Anything that went wrong talking to a ledger."""


class AuthError(LedgerError):
    """Credentials are missing, revoked or lack a permission: a person must act; retrying will not help."""


class RateLimited(LedgerError):
    """The ledger refused because of its rate limit and our retries ran out."""

    def __init__(self, message: str, retry_at: datetime | None = None) -> None:
        super().__init__(message)
        self.retry_at = retry_at


class TransientError(LedgerError):
    """Timeouts, connection failures, 5xx, malformed answers: worth trying again later.

    `outcome_unknown` is set when a non-idempotent request may have been carried out by the ledger
    (for example a timeout after a note was sent): the caller must re-read the ledger before retrying.
    """

    def __init__(self, message: str, *, outcome_unknown: bool = False) -> None:
        super().__init__(message)
        self.outcome_unknown = outcome_unknown


class NotFound(LedgerError):
    """The record does not exist (any more) in the ledger."""


class RequestRejected(LedgerError):
    """The ledger refused a request as invalid (a 4xx other than auth, not found or rate limit)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class NotSupported(LedgerError):
    """The adapter does not offer this optional capability."""


class BadRecord(LedgerError):
    """A record from the ledger that cannot be mapped; it is quarantined with its reason, the rest goes on."""

    def __init__(
        self,
        entity: str,
        ledger_id: str,
        reason: str,
        payload: Any,
        version: str | None = None,
        status: InvoiceStatus | None = None,
    ) -> None:
        super().__init__(f"{entity} {ledger_id}: {reason}")
        self.entity = entity
        self.ledger_id = ledger_id[:64]
        self.reason = reason
        self.payload = payload
        self.version = version
        # What the ledger says became of it, when that much could be read: a paid invoice with a broken
        # field must still leave the open set in the mirror.
        self.status = status


ItemT = TypeVar("ItemT")
_ABSENT = object()


def mapped(mapper: Callable[[], ItemT], entity: str, ledger_id: str, payload: Any) -> ItemT:
    """The record `mapper` makes of one payload. Raises BadRecord for a record the mapping refuses, and also for
    one it trips over: a defect in a mapping costs that record (quarantined with the reason), never the pass."""
    try:
        return mapper()
    except BadRecord:
        raise
    except Exception as defect:
        raise BadRecord(entity, ledger_id, f"cannot be mapped: {defect!r}", payload) from defect


def chunks(items: Sequence[ItemT], size: int) -> Iterator[list[ItemT]]:
    """`items` in lists of at most `size` (ids per call or per stored batch)."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


# --- sync shapes --------------------------------------------------------------------------------------

RecordT = TypeVar("RecordT", Invoice, Contact)


@dataclass(frozen=True)
class SyncState:
    """What the mirror already holds, so an adapter can ask the ledger for only what changed.

    `cursor` is the adapter's own opaque bookmark (for ledgers that have one); `known_versions` maps the
    ledger ids the mirror holds (open invoices, or contacts) to their stored versions;
    `quarantined_versions` are records held in quarantine (fetch them again only when their version
    changes); `wanted_ids` are ids the mirror refers to but does not hold yet (the contact of an invoice);
    `stored_raw` reads the payloads the mirror holds.
    """

    cursor: str | None = None
    known_versions: Mapping[str, str | None] = field(default_factory=dict)
    quarantined_versions: Mapping[str, str | None] = field(default_factory=dict)
    wanted_ids: frozenset[str] = frozenset()
    # The payloads the mirror holds (`raw` of each record) for the given ids, or for all of them (None):
    # for ledgers that send a change in parts, so the adapter can put the whole record together again.
    stored_raw: Callable[[Collection[str] | None], Mapping[str, Mapping[str, Any]]] = field(
        default=lambda _ids: {}, compare=False, repr=False
    )

    def is_news(self, ledger_id: str, version: str | None) -> bool:
        """Whether the ledger's record at `version` is news to the mirror: not held at that version, and not
        held in quarantine at it either (a broken record is fetched again only once the ledger changes it)."""
        return (
            self.known_versions.get(ledger_id, _ABSENT) != version
            and self.quarantined_versions.get(ledger_id, _ABSENT) != version
        )


@dataclass
class ChangeBatch(Generic[RecordT]):
    """One unit the sync engine stores in a single transaction, together with `cursor` when given."""

    records: list[RecordT] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)  # contacts that came along with invoices
    deleted: list[str] = field(default_factory=list)  # ledger ids that no longer exist
    bad: list[BadRecord] = field(default_factory=list)
    cursor: str | None = None

    def __len__(self) -> int:
        return len(self.records) + len(self.deleted) + len(self.bad)


@dataclass(frozen=True)
class ApiBudget:
    """A ledger's daily call budget as its last answer reported it (Exact Online: per app and division)."""

    limit: int
    remaining: int
    resets_at: datetime
    observed_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "remaining": self.remaining,
            "resets_at": self.resets_at.isoformat(),
            "observed_at": self.observed_at.isoformat(),
        }


class Capability(StrEnum):
    CALL_TASKS = "call_tasks"  # a note that shows up as a to-do for a person
    PAUSE_LEDGER_REMINDERS = "pause_ledger_reminders"
    SEND_LEDGER_REMINDER = "send_ledger_reminder"
    MARK_DUBIOUS = "mark_dubious"
    MARK_UNCOLLECTIBLE = "mark_uncollectible"
    SENDER_DETAILS = "sender_details"  # the business's own name, KvK, address, ... as the ledger keeps them
    DELETE_NOTES = "delete_notes"  # a note written twice (a frozen process woke up) can be removed again
    INVOICE_PDF = "invoice_pdf"  # the invoice as the ledger made it, to attach to a reminder


# --- the contract -------------------------------------------------------------------------------------


class LedgerAdapter(abc.ABC):
    platform: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]] = frozenset()

    def supports(self, capability: Capability) -> bool:
        return capability in self.capabilities

    # required

    @abc.abstractmethod
    def invoice_changes(self, state: SyncState) -> Iterator[ChangeBatch[Invoice]]:
        """Open invoices that are new or changed since `state`, and what became of those that left the
        open set (paid, uncollectible, deleted) — learned from the ledger, never assumed."""

    @abc.abstractmethod
    def invoices_by_id(self, ledger_ids: Sequence[str]) -> ChangeBatch[Invoice]:
        """Current state of the given invoices; ids the ledger no longer has are in `deleted`."""

    @abc.abstractmethod
    def contact_changes(self, state: SyncState) -> Iterator[ChangeBatch[Contact]]:
        """Contacts the mirror holds that changed since `state`, plus the `wanted_ids`."""

    @abc.abstractmethod
    def contacts_by_id(self, ledger_ids: Sequence[str]) -> ChangeBatch[Contact]:
        """Current state of the given contacts."""

    @abc.abstractmethod
    def add_note(self, invoice: Invoice, text: str, *, todo: bool = False) -> str:
        """Write a note about the invoice into the ledger; `todo` asks for a task for a person.
        Returns the ledger's id of the note."""

    def find_note(self, invoice: Invoice, marker: str) -> str | None:
        """The id of a note on the invoice containing `marker`, if the ledger can tell; None otherwise.
        Lets a write-back interrupted after sending find its own note instead of writing it twice."""
        return None

    def find_notes(self, invoice: Invoice, marker: str) -> list[str]:
        """The ids of every note on the invoice containing `marker`, read from the ledger now (not from what
        this adapter remembers): after a takeover, two processes may each have written one."""
        found = self.find_note(invoice, marker)
        return [found] if found else []

    def delete_note(self, invoice: Invoice, note_id: str) -> None:
        """Remove a note (DELETE_NOTES); a note already gone is no error."""
        raise NotSupported(f"{self.platform} cannot delete notes")

    def invoice_pdf(self, invoice: Invoice, max_bytes: int) -> bytes | None:
        """The invoice's PDF as the ledger made it (INVOICE_PDF), with the fewest calls the API allows; None when
        the ledger has none for it or it is larger than `max_bytes` (nothing larger is read)."""
        raise NotSupported(f"{self.platform} cannot give an invoice's PDF")

    def api_calls(self) -> Mapping[str, int]:
        """Calls made so far, per endpoint label."""
        return {}

    def throttled_responses(self) -> int:
        """How many times the ledger answered 'too many requests' so far."""
        return 0

    def budget(self) -> ApiBudget | None:
        """The ledger's daily call budget, for ledgers that have one and report it."""
        return None

    def rate_limiter(self) -> RateLimiter | None:
        """The limiter of the credential this adapter calls with (shared by every adapter on it), so the
        core can remember across restarts what was spent of the ledger's window."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and sessions."""

    # optional capabilities

    def pause_ledger_reminders(self, invoice: Invoice) -> None:
        raise NotSupported(f"{self.platform} cannot pause its own reminders")

    def resume_ledger_reminders(self, invoice: Invoice) -> None:
        raise NotSupported(f"{self.platform} cannot resume its own reminders")

    def send_ledger_reminder(self, invoices: Sequence[Invoice]) -> None:
        raise NotSupported(f"{self.platform} cannot send its own reminders")

    def mark_dubious(self, invoice: Invoice, on: date) -> None:
        raise NotSupported(f"{self.platform} cannot mark invoices as dubious")

    def mark_uncollectible(self, invoice: Invoice, on: date) -> None:
        raise NotSupported(f"{self.platform} cannot mark invoices as uncollectible")

    def sender_details(self) -> SenderDetails:
        """The administration's own details as the ledger keeps them, to offer instead of typing them."""
        raise NotSupported(f"{self.platform}'s API does not give the administration's own details")

    def __enter__(self) -> LedgerAdapter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- a ledger's simulator, as every ledger's is driven --------------------------------------------------

SimulatedT = TypeVar("SimulatedT", bound="SimulatedLedger")


class SimulatedLedger(abc.ABC):
    """One administration in a ledger's simulator, driven the same way whichever ledger it is: by the contract
    tests every registered ledger must pass, and by tests that play one story on every ledger.

    Ledger ids are the adapter's (`Invoice.ledger_id`). Changes go through the simulator's own controls,
    as a person working in the ledger would make them; `server` is the simulator itself, for what only one
    ledger has.
    """

    platform: ClassVar[str]

    @classmethod
    @abc.abstractmethod
    def start(
        cls: type[SimulatedT], *, invoices: int, contacts: int, seed: int, today: date, clock: Clock
    ) -> SimulatedT:
        """A simulator on loopback over a generated administration, serving until `stop`."""

    @property
    @abc.abstractmethod
    def server(self) -> Any: ...

    @abc.abstractmethod
    def settings(self, name: str = "acme", **extra: Any) -> LedgerSettings:
        """The administration's settings, pointing at the simulator with the credentials it accepts."""

    def grant(self) -> Any:
        """For a ledger that keeps OAuth tokens: a fresh consent's `TokenGrant`, to store under the settings'
        `token_connection`. None for the rest."""
        return None

    @abc.abstractmethod
    def open_ids(self) -> list[str]: ...

    @abc.abstractmethod
    def is_open(self, ledger_id: str) -> bool: ...

    @abc.abstractmethod
    def pay(self, ledger_id: str, amount: Decimal | None = None) -> None:
        """Register a payment in the ledger: the whole open amount, or `amount` of it."""

    @abc.abstractmethod
    def notes(self) -> list[tuple[str, str]]:
        """(invoice ledger id, text) of every note the connector wrote back, as the ledger keeps them."""

    @abc.abstractmethod
    def requests(self) -> list[dict[str, Any]]:
        """The API calls the simulator served (`method`, `path`, ...), control calls left out."""

    @abc.abstractmethod
    def rename_customer(self, ledger_id: str, name: str) -> None:
        """Give the customer of the invoice another name, as a person would type it in the ledger."""

    def reminders_paused(self, ledger_id: str) -> bool:
        """Whether the ledger's own reminders are paused for the invoice (PAUSE_LEDGER_REMINDERS)."""
        raise NotSupported(f"{self.platform} cannot pause its own reminders")

    @abc.abstractmethod
    def stop(self) -> None: ...

    def __enter__(self: SimulatedT) -> SimulatedT:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the plugin descriptor ----------------------------------------------------------------------------

SettingsT = TypeVar("SettingsT", bound=LedgerSettings)


@dataclass(frozen=True)
class Reachable:
    """An administration (an Exact Online division, say) that a consent's tokens reach."""

    code: str
    description: str


@dataclass(frozen=True)
class OAuthSupport(Generic[SettingsT]):
    """How `connector auth LEDGER` consents for a ledger that uses OAuth2's authorization code flow.

    `client` makes the ledger's OAuth client for one administration's settings; `reachable` lists what the
    stored tokens reach (`auth --list-administrations`); `configured` names the one the settings pin.
    """

    client: Callable[[SettingsT, HttpOptions | None], OAuthClient]
    reachable: Callable[[SettingsT, TokenKeeper, Clock], list[Reachable]] | None = None
    configured: Callable[[SettingsT], str] | None = None
    reachable_kind: str = "administration"  # what the ledger calls one ("division")


@dataclass(frozen=True)
class Platform(Generic[SettingsT]):
    """One ledger, as the registry knows it.

    - `name` is the `platform` key in the configuration; `aliases` are other names the CLI accepts for it
      (`connector auth exact`).
    - `settings` validates an `[[administrations]]` table of this platform.
    - `create` makes the adapter for one administration; `tokens` is the token keeper for OAuth ledgers.
    - `simulator` names the simulator's command as `module:function` (loaded only when it runs): a function
      with typer-annotated options, mounted as `connector simulate NAME`; `simulator_server` names the
      simulator's class (`module:Class`), for the demo; `simulated` names its `SimulatedLedger` (`module:Class`),
      through which the contract tests drive it.
    - `shutdown` closes what the ledger keeps open across adapters (e-Boekhouden's sessions) on a clean stop.
    """

    name: str
    title: str
    settings: type[SettingsT]
    adapter: type[LedgerAdapter]
    create: Callable[[SettingsT, Clock, HttpOptions, TokenKeeper | None], LedgerAdapter]
    oauth: OAuthSupport[SettingsT] | None = None
    simulator: str | None = None
    simulator_server: str | None = None
    simulated: str | None = None
    shutdown: Callable[[], object] | None = None
    aliases: tuple[str, ...] = ()

    @property
    def capabilities(self) -> frozenset[Capability]:
        return self.adapter.capabilities
