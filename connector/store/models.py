"""The local store's tables. Ledger ids are strings; money is Decimal; instants are UTC."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from connector.store.types import Amount, JSONDocument, UTCDateTime

# Stable constraint names, so migrations read the same on SQLite and PostgreSQL.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _utc(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


class Administration(SQLModel, table=True):
    __tablename__ = "administrations"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    platform: str = Field(max_length=32)
    ledger_reference: str = Field(default="", max_length=128)
    created_at: datetime = _utc()
    # Parked: the ledger refused the credentials; nothing is tried until a person acts (new credentials,
    # `connector unpark`). `parked_credential` fingerprints the refused credentials, so a restart with the
    # same ones stays parked and one with new ones does not.
    parked_at: datetime | None = _utc(default=None)
    parked_reason: str | None = Field(default=None, sa_type=sa.Text)
    parked_credential: str | None = Field(default=None, max_length=64)


class Contact(SQLModel, table=True):
    """A customer as the ledger last sent it. `last_seen_at`: when the ledger last sent its data."""

    __tablename__ = "contacts"
    __table_args__ = (sa.UniqueConstraint("administration_id", "ledger_id"),)

    id: int | None = Field(default=None, primary_key=True)
    administration_id: int = Field(foreign_key="administrations.id", ondelete="CASCADE")
    ledger_id: str = Field(max_length=64)
    name: str = Field(sa_type=sa.Text)
    company_name: str | None = Field(default=None, sa_type=sa.Text)
    person_name: str | None = Field(default=None, sa_type=sa.Text)
    email: str | None = Field(default=None, sa_type=sa.Text)
    phone: str | None = Field(default=None, sa_type=sa.Text)
    address: str | None = Field(default=None, sa_type=sa.Text)
    zipcode: str | None = Field(default=None, sa_type=sa.Text)
    city: str | None = Field(default=None, sa_type=sa.Text)
    country: str | None = Field(default=None, max_length=2)
    kvk_number: str | None = Field(default=None, sa_type=sa.Text)
    vat_number: str | None = Field(default=None, sa_type=sa.Text)
    customer_number: str | None = Field(default=None, sa_type=sa.Text)
    language: str | None = Field(default=None, max_length=8)  # for reminders on invoices that name none
    is_business: bool = False  # on evidence only (`connector.domain.Contact.business_evidence`)
    kind_in_ledger: str | None = Field(default=None, max_length=16)  # the ledger's own flag: business | consumer
    ledger_version: str | None = Field(default=None, sa_type=sa.Text)
    raw: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDocument)
    first_seen_at: datetime = _utc()
    last_seen_at: datetime = _utc()


class Invoice(SQLModel, table=True):
    """A sales invoice as the ledger last sent it. `last_seen_at` is when the ledger last sent its data;
    an open invoice is confirmed present by every successful sync run (see sync_runs)."""

    __tablename__ = "invoices"
    __table_args__ = (
        sa.UniqueConstraint("administration_id", "ledger_id"),
        sa.Index("ix_invoices_admin_status_due", "administration_id", "status", "due_date"),
        sa.Index("ix_invoices_admin_contact", "administration_id", "contact_ledger_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    administration_id: int = Field(foreign_key="administrations.id", ondelete="CASCADE")
    ledger_id: str = Field(max_length=64)
    number: str | None = Field(default=None, sa_type=sa.Text)
    contact_ledger_id: str = Field(max_length=64)
    invoice_date: date | None = None
    due_date: date
    currency: str = Field(max_length=3)
    total: Decimal = Field(sa_type=Amount)
    open_amount: Decimal = Field(sa_type=Amount)
    status: str = Field(max_length=16)
    ledger_state: str = Field(max_length=32)
    ledger_version: str | None = Field(default=None, sa_type=sa.Text)
    ledger_reminders_paused: bool | None = None
    due_date_assumed: bool = False  # from the configured default term: the ledger names none
    recurring: bool = False  # made by a subscription or recurring invoice in the ledger
    language: str | None = Field(default=None, max_length=8)
    payment_url: str | None = Field(default=None, sa_type=sa.Text)
    raw: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDocument)
    first_seen_at: datetime = _utc()
    last_seen_at: datetime = _utc()
    closed_at: datetime | None = _utc(default=None)


class SyncCursor(SQLModel, table=True):
    __tablename__ = "sync_cursors"

    administration_id: int = Field(foreign_key="administrations.id", primary_key=True, ondelete="CASCADE")
    entity: str = Field(primary_key=True, max_length=32)
    cursor: str = Field(sa_type=sa.Text)
    updated_at: datetime = _utc()


class ApiCalls(SQLModel, table=True):
    """Calls made on a rate budget outside sync runs (which count their own), as they were made."""

    __tablename__ = "api_calls"
    __table_args__ = (sa.Index("ix_api_calls_rate_key_at", "rate_key", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    rate_key: str = Field(max_length=64)
    at: datetime = _utc()
    calls: int


class SyncRun(SQLModel, table=True):
    __tablename__ = "sync_runs"
    __table_args__ = (
        sa.Index("ix_sync_runs_admin_started", "administration_id", "started_at"),
        sa.Index("ix_sync_runs_rate_key_progress", "rate_key", "progress_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    administration_id: int = Field(foreign_key="administrations.id", ondelete="CASCADE")
    started_at: datetime = _utc()
    # Updated after every stored batch, so a run killed midway still tells what it spent and when.
    progress_at: datetime | None = _utc(default=None)
    finished_at: datetime | None = _utc(default=None)
    # running | success | failed | auth_failed | rate_limited | interrupted | abandoned
    outcome: str = Field(default="running", max_length=16)
    # Which rate budget the calls came out of (platform + credential fingerprint): administrations that
    # share a token share a budget.
    rate_key: str | None = Field(default=None, max_length=64)
    invoices_upserted: int = 0
    invoices_closed: int = 0
    contacts_upserted: int = 0
    quarantined: int = 0
    api_calls: int = 0
    api_calls_by_endpoint: dict[str, int] = Field(default_factory=dict, sa_type=JSONDocument)
    error: str | None = Field(default=None, sa_type=sa.Text)


class QuarantinedRecord(SQLModel, table=True):
    __tablename__ = "quarantined_records"
    __table_args__ = (sa.UniqueConstraint("administration_id", "entity", "ledger_id"),)

    id: int | None = Field(default=None, primary_key=True)
    administration_id: int = Field(foreign_key="administrations.id", ondelete="CASCADE")
    entity: str = Field(max_length=32)
    ledger_id: str = Field(max_length=64)
    ledger_version: str | None = Field(default=None, sa_type=sa.Text)
    reason: str = Field(sa_type=sa.Text)
    payload: Any = Field(default=None, sa_type=JSONDocument, nullable=True)
    first_seen_at: datetime = _utc()
    last_seen_at: datetime = _utc()
    resolved_at: datetime | None = _utc(default=None)


# --- the reminder workflow -----------------------------------------------------------------------------


class Action(SQLModel, table=True):
    """The outbox: one planned reminder action, executed at most once (its key is unique per administration).

    status: pending -> executing -> done; or dropped (the re-check found it paid or paused), failed (out of
    tries), review (interrupted between sending and recording: never resent without a person). One the policy
    reserves for a person starts as awaiting_approval: approved it becomes pending, rejected it never goes out.
    """

    __tablename__ = "actions"
    __table_args__ = (
        sa.UniqueConstraint("administration_id", "key"),
        sa.Index("ix_actions_status_next", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    administration_id: int = Field(foreign_key="administrations.id", ondelete="CASCADE")
    key: str = Field(max_length=64)
    stage: str = Field(max_length=40)
    stage_index: int
    action: str = Field(max_length=20)
    legal_letter: bool = False
    contact_ledger_id: str = Field(max_length=64)
    planned_on: date
    planned: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDocument)  # the plan, as decided
    status: str = Field(default="pending", max_length=24)
    attempts: int = 0
    next_attempt_at: datetime | None = _utc(default=None)
    created_at: datetime = _utc()
    updated_at: datetime = _utc()
    executed_at: datetime | None = _utc(default=None)
    outcome: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDocument)  # message id, note ids, files
    error: str | None = Field(default=None, sa_type=sa.Text)


class ActionInvoice(SQLModel, table=True):
    """Which invoices an action covers: the workflow's progress per invoice is read from here."""

    __tablename__ = "action_invoices"
    __table_args__ = (sa.Index("ix_action_invoices_admin_invoice", "administration_id", "invoice_ledger_id"),)

    action_id: int = Field(foreign_key="actions.id", primary_key=True, ondelete="CASCADE")
    invoice_ledger_id: str = Field(primary_key=True, max_length=64)
    administration_id: int = Field(foreign_key="administrations.id", ondelete="CASCADE")


class Hold(SQLModel, table=True):
    """A person's pause of one invoice: a dispute, a payment arrangement (until a date) or a manual hold."""

    __tablename__ = "holds"
    __table_args__ = (sa.Index("ix_holds_admin_invoice", "administration_id", "invoice_ledger_id"),)

    id: int | None = Field(default=None, primary_key=True)
    administration_id: int = Field(foreign_key="administrations.id", ondelete="CASCADE")
    invoice_ledger_id: str = Field(max_length=64)
    reason: str = Field(max_length=16)  # dispute | arrangement | hold
    until: date | None = None
    note: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = _utc()
    created_by: str | None = Field(default=None, sa_type=sa.Text)  # who paused it
    released_at: datetime | None = _utc(default=None)
    released_by: str | None = Field(default=None, sa_type=sa.Text)


class InvoiceStart(SQLModel, table=True):
    """A person's decision that an invoice not yet reminded of begins at a later stage than the policy says (its
    earlier reminders went out by hand or from another tool). One per invoice; the audit log keeps the history."""

    __tablename__ = "invoice_starts"

    administration_id: int = Field(foreign_key="administrations.id", primary_key=True, ondelete="CASCADE")
    invoice_ledger_id: str = Field(primary_key=True, max_length=64)
    stage: str = Field(max_length=40)
    decided_by: str = Field(sa_type=sa.Text)
    decided_at: datetime = _utc()
    note: str | None = Field(default=None, sa_type=sa.Text)


class ContactOverride(SQLModel, table=True):
    """What a person decided about a customer: exclude from reminders, another policy, B2B or B2C."""

    __tablename__ = "contact_overrides"

    administration_id: int = Field(foreign_key="administrations.id", primary_key=True, ondelete="CASCADE")
    contact_ledger_id: str = Field(primary_key=True, max_length=64)
    excluded: bool = False
    policy: str | None = Field(default=None, max_length=64)
    debtor_kind: str | None = Field(default=None, max_length=16)  # consumer | business
    recurring: bool | None = None  # their claims are periodic (True) or not (False), whatever the ledger says
    updated_at: datetime = _utc()
    updated_by: str | None = Field(default=None, sa_type=sa.Text)  # who decided last


class AuditEntry(SQLModel, table=True):
    """Everything the workflow and people did, per invoice: the full history stays here."""

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_admin_invoice", "administration_id", "invoice_ledger_id"),)

    id: int | None = Field(default=None, primary_key=True)
    # None for what concerns no one administration: the cockpit's accounts, the templates.
    administration_id: int | None = Field(default=None, foreign_key="administrations.id", ondelete="CASCADE")
    at: datetime = _utc()
    event: str = Field(max_length=40)
    invoice_ledger_id: str | None = Field(default=None, max_length=64)
    contact_ledger_id: str | None = Field(default=None, max_length=64)
    action_id: int | None = Field(default=None, foreign_key="actions.id", ondelete="SET NULL")
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDocument)


class AdministrationApproval(SQLModel, table=True):
    """A person's go-ahead for an administration under one policy, exactly as configured (`fingerprint`): until
    one matches the policy in force, nothing is sent for it. A row per approval; the latest counts."""

    __tablename__ = "administration_approvals"
    __table_args__ = (sa.Index("ix_administration_approvals_admin", "administration_id", "approved_at"),)

    id: int | None = Field(default=None, primary_key=True)
    administration_id: int = Field(foreign_key="administrations.id", ondelete="CASCADE")
    policy: str = Field(max_length=64)
    # The policy's fingerprint; "*" for an administration that was live before approvals existed (the store
    # upgrade approves the policy it runs under then, once, in the person's stead, and says so in the audit log).
    fingerprint: str = Field(max_length=64)
    approved_by: str = Field(sa_type=sa.Text)
    approved_at: datetime = _utc()
    note: str | None = Field(default=None, sa_type=sa.Text)


class ChannelHealth(SQLModel, table=True):
    """How an administration's channel (e-mail, call tasks, the ledger's reminders, the handover) fared lately.

    Failures in a row count up; one message that goes through resets them. From `channel_failing_after` failures
    in a row the channel is failing: logged once, named on /readyz and /status, until it recovers.
    """

    __tablename__ = "channel_health"

    administration_id: int = Field(foreign_key="administrations.id", primary_key=True, ondelete="CASCADE")
    channel: str = Field(primary_key=True, max_length=20)  # the action kind: email | task | ledger_reminder | handover
    failures: int = 0  # in a row, since the last success
    failing_since: datetime | None = _utc(default=None)  # the first failure of the current run of failures
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    last_failure_at: datetime | None = _utc(default=None)
    last_success_at: datetime | None = _utc(default=None)


class OAuthToken(SQLModel, table=True):
    """One OAuth token chain (an app and the user who consented), encrypted with the connector's secret key.

    Refresh tokens rotate: whoever refreshes must hold this row's lock and commit the new pair before using
    it, or the chain is lost and the user must consent again.
    """

    __tablename__ = "oauth_tokens"

    connection: str = Field(primary_key=True, max_length=64)
    platform: str = Field(max_length=32)
    client_id: str = Field(max_length=128)  # the app the chain belongs to (not a secret)
    access_token: str | None = Field(default=None, sa_type=sa.Text)  # encrypted
    refresh_token: str = Field(sa_type=sa.Text)  # encrypted
    issued_at: datetime | None = _utc(default=None)  # of the current access token: no refresh for ~570 s after
    expires_at: datetime | None = _utc(default=None)
    consented_at: datetime = _utc()  # the chain began (consent or an imported refresh token)
    generation: int = 1  # +1 per consent or import: a new chain
    refreshes: int = 0
    failure: str | None = Field(default=None, sa_type=sa.Text)  # why the ledger refused the chain, if it did
    updated_at: datetime = _utc()


class Replica(SQLModel, table=True):
    """A running `connector run` process; alive while `expires_at` is ahead (it renews with its leases)."""

    __tablename__ = "replicas"

    name: str = Field(primary_key=True, max_length=128)
    host: str = Field(max_length=255)
    pid: int
    started_at: datetime = _utc()
    heartbeat_at: datetime = _utc()
    expires_at: datetime = _utc()


class Lease(SQLModel, table=True):
    """Which replica works on an administration. `epoch` goes up with every new owner: a replica acts only
    while the row still names it with the epoch it claimed (a fence, so one that hung and lost the lease
    cannot act on it after it wakes up)."""

    __tablename__ = "leases"

    administration: str = Field(primary_key=True, max_length=64)  # the configured name
    owner: str | None = Field(default=None, max_length=128)
    epoch: int = 0
    acquired_at: datetime | None = _utc(default=None)
    renewed_at: datetime | None = _utc(default=None)
    expires_at: datetime | None = _utc(default=None, index=True)
    takeovers: int = 0  # claims of a lease whose owner had not let it go (died or hung)
    previous_owner: str | None = Field(default=None, max_length=128)


# --- proof of what was sent ------------------------------------------------------------------------------------


class Evidence(SQLModel, table=True):
    """One customer-facing message (or case file) as it was handed to its channel: recorded with its exact bytes
    before it leaves, then what the channel answered (the SMTP server's reply with its queue id, the print
    service's letter id), then what became of it (`DeliveryEvent`). One row per time it was handed over."""

    __tablename__ = "evidence"
    __table_args__ = (
        sa.UniqueConstraint("action_id", "attempt"),
        sa.Index("ix_evidence_admin_contact", "administration_id", "contact_ledger_id"),
        sa.Index("ix_evidence_external", "channel", "external_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    administration_id: int = Field(foreign_key="administrations.id", ondelete="CASCADE")
    action_id: int = Field(foreign_key="actions.id", ondelete="CASCADE")
    action_key: str = Field(max_length=64, index=True)
    contact_ledger_id: str = Field(max_length=64)
    attempt: int  # the action's try that made it: a resend after a bounce is another row
    channel: str = Field(max_length=20)  # email | post | handover
    recipient: str = Field(sa_type=sa.Text)  # the e-mail addresses, or the postal address, or the agency
    # prepared (recorded, not yet handed over) | accepted | uncertain (cut off while handing over) | refused |
    # bounced | delivered | posted | returned
    status: str = Field(default="prepared", max_length=16)
    prepared_at: datetime = _utc()
    handed_at: datetime | None = _utc(default=None)
    server_reply: str | None = Field(default=None, sa_type=sa.Text)  # "250 2.0.0 Ok: queued as 4XyZ"
    external_id: str | None = Field(default=None, max_length=255)  # the queue id, the print service's letter id
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDocument)


class EvidenceFile(SQLModel, table=True):
    """The exact bytes of one part of a message: the .eml as handed to the SMTP server, a letter's PDF, a case
    file. `sha256` is of `content`, checked again on export."""

    __tablename__ = "evidence_files"
    __table_args__ = (sa.UniqueConstraint("evidence_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    evidence_id: int = Field(foreign_key="evidence.id", ondelete="CASCADE", index=True)
    name: str = Field(max_length=200)
    media_type: str = Field(max_length=100)
    sha256: str = Field(max_length=64)
    size: int
    content: bytes = Field(sa_type=sa.LargeBinary)


class DeliveryEvent(SQLModel, table=True):
    """What became of a message after it left: a bounce or a delay report, an auto-reply (it arrived), a print
    service's status (printed, posted, returned). `source` names where the report came from, once each."""

    __tablename__ = "delivery_events"
    __table_args__ = (sa.UniqueConstraint("evidence_id", "source"),)

    id: int | None = Field(default=None, primary_key=True)
    evidence_id: int = Field(foreign_key="evidence.id", ondelete="CASCADE", index=True)
    kind: str = Field(max_length=24)  # bounced | delayed | auto_reply | delivered | posted | returned | printed
    at: datetime = _utc()  # when it happened, as the report says (else when it was read)
    recorded_at: datetime = _utc()
    source: str = Field(max_length=255)  # "imap:bounces@mail.example/INBOX:1796477314:17", "post:https:LTR-1:posted"
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDocument)
    raw: bytes | None = Field(default=None, sa_type=sa.LargeBinary)  # the report as received (a DSN, an answer)


class DeliveryProblem(SQLModel, table=True):
    """A message that did not reach the customer: their track stops at that stage until a person has fixed the
    address in the ledger and says so (`connector bounces resolve`)."""

    __tablename__ = "delivery_problems"
    __table_args__ = (
        sa.Index("ix_delivery_problems_admin_contact", "administration_id", "contact_ledger_id"),
        sa.UniqueConstraint("action_id", "evidence_id"),  # once per message, whichever replica reads the report
    )

    id: int | None = Field(default=None, primary_key=True)
    administration_id: int = Field(foreign_key="administrations.id", ondelete="CASCADE")
    contact_ledger_id: str = Field(max_length=64)
    action_id: int = Field(foreign_key="actions.id", ondelete="CASCADE")
    evidence_id: int | None = Field(default=None, foreign_key="evidence.id", ondelete="SET NULL")
    channel: str = Field(max_length=20)
    address: str = Field(sa_type=sa.Text)  # what did not work: the e-mail address or the postal address
    reason: str = Field(sa_type=sa.Text)  # "550 5.1.1 user unknown"
    created_at: datetime = _utc()
    resolved_at: datetime | None = _utc(default=None)
    resolved_by: str | None = Field(default=None, sa_type=sa.Text)
    resolution: str | None = Field(default=None, sa_type=sa.Text)


class InvoiceDocument(SQLModel, table=True):
    """An invoice's PDF as the ledger made it, fetched once to go with its reminders, and again only when what it
    shows changed (`fingerprint`: number, dates and total; a note or a payment changes the ledger's version, not
    the invoice)."""

    __tablename__ = "invoice_documents"

    administration_id: int = Field(foreign_key="administrations.id", primary_key=True, ondelete="CASCADE")
    invoice_ledger_id: str = Field(primary_key=True, max_length=64)
    fingerprint: str = Field(default="", max_length=64)  # of what the invoice shows, when it was fetched
    sha256: str = Field(max_length=64)
    content: bytes = Field(sa_type=sa.LargeBinary)
    fetched_at: datetime = _utc()


class MailboxCursor(SQLModel, table=True):
    """How far a bounce mailbox has been read: the folder's UIDVALIDITY and the last UID read."""

    __tablename__ = "mailbox_cursors"

    mailbox: str = Field(primary_key=True, max_length=255)  # "user@host:port/folder"
    uidvalidity: int = Field(sa_type=sa.BigInteger)
    last_uid: int = Field(sa_type=sa.BigInteger)
    updated_at: datetime = _utc()


class User(SQLModel, table=True):
    """A person who signs in to the cockpit. `role`: viewer (reads), controller (acts on customers, invoices and
    actions), admin (also approves administrations, edits templates, manages people). No password: signs in
    through the reverse proxy's header only. A disabled account keeps its row, so the audit log keeps its name."""

    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)  # lower case
    display_name: str = Field(sa_type=sa.Text)
    role: str = Field(max_length=16)
    password_hash: str | None = Field(default=None, sa_type=sa.Text)  # argon2id, with its parameters and salt
    language: str = Field(default="nl", max_length=8)
    created_at: datetime = _utc()
    created_by: str = Field(sa_type=sa.Text)
    password_changed_at: datetime | None = _utc(default=None)
    last_login_at: datetime | None = _utc(default=None)
    disabled_at: datetime | None = _utc(default=None)


class WebSession(SQLModel, table=True):
    """A signed-in browser. The cookie carries a random token; only its SHA-256 is stored, so a copy of the store
    signs nobody in. `csrf` is the token every form of this session must send back."""

    __tablename__ = "web_sessions"
    __table_args__ = (sa.Index("ix_web_sessions_user", "user_id"),)

    id: str = Field(primary_key=True, max_length=64)  # sha256 of the cookie's token
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    csrf: str = Field(max_length=64)
    created_at: datetime = _utc()
    last_seen_at: datetime = _utc()
    expires_at: datetime = _utc()  # however busy: signed in again after this
    ended_at: datetime | None = _utc(default=None)  # signed out, or ended by a change of password or role
    address: str | None = Field(default=None, max_length=64)


class LoginFailure(SQLModel, table=True):
    """A failed sign-in, for the rate limit per name and per address (pruned after a day)."""

    __tablename__ = "login_failures"
    __table_args__ = (
        sa.Index("ix_login_failures_username_at", "username", "at"),
        sa.Index("ix_login_failures_address_at", "address", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64)
    address: str = Field(max_length=64)
    at: datetime = _utc()


class DailyFigure(SQLModel, table=True):
    """An administration's receivables on a business day, written after each of its syncs and by housekeeping (so
    a past day holds what it closed with): what the overview shows and the dashboard draws DSO over time from."""

    __tablename__ = "daily_figures"

    administration_id: int = Field(foreign_key="administrations.id", primary_key=True, ondelete="CASCADE")
    day: date = Field(primary_key=True)
    currency: str = Field(primary_key=True, max_length=3)
    open_amount: Decimal = Field(sa_type=Amount)
    overdue_amount: Decimal = Field(sa_type=Amount)
    invoiced_90_days: Decimal = Field(sa_type=Amount)  # invoiced over the 90 days up to `day`: the DSO's base
    open_invoices: int
    overdue_invoices: int = 0
    recorded_at: datetime = _utc()
