"""The channels an action goes out through: e-mail (SMTP), a call task or the ledger's own reminder (through the
adapter), and the handover case file for a collection agency.

Each raises ChannelError saying whether anything may have left: `retry` (nothing left; try again later),
`unknown` (it may have gone: a person must look before anything is resent), or neither (it cannot succeed).
`down` says the channel itself is unavailable (the SMTP server unreachable or refusing our login, the agency's
intake down): nothing about this message is wrong, so it costs the action no try, and the run leaves that channel
alone until the next one.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import smtplib
import ssl
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from pathlib import Path
from typing import Any, TypeVar

import httpx

from connector.config import EmailSection
from connector.dispatch.messages import RenderedMessage, header_safe
from connector.ledger.port import Capability, Invoice, LedgerAdapter, LedgerError, TransientError

T = TypeVar("T")


class ChannelError(Exception):
    def __init__(self, message: str, *, retry: bool = False, unknown: bool = False, down: bool = False) -> None:
        super().__init__(message)
        self.retry = retry or down
        self.unknown = unknown
        self.down = down


@dataclass(frozen=True)
class Delivery:
    """One action, ready to go: the fresh invoices, the customer, the rendered message."""

    key: str
    administration: str
    stage: str
    invoices: Sequence[Invoice]
    contact_name: str
    contact_email: str | None
    message: RenderedMessage
    planned: Mapping[str, Any]
    sent_at: datetime


class EmailChannel:
    def __init__(self, settings: EmailSection) -> None:
        self.settings = settings

    def build(self, delivery: Delivery) -> tuple[EmailMessage, list[str]]:
        recipients = _addresses(delivery.contact_email)
        if not recipients:
            raise ChannelError(f"no e-mail address for {delivery.contact_name!r}: add one in the ledger")
        s = self.settings
        message = EmailMessage()
        message["From"] = Address(header_safe(s.from_name or ""), addr_spec=s.from_address)
        message["To"] = ", ".join(recipients)
        if s.reply_to:
            message["Reply-To"] = s.reply_to
        message["Subject"] = delivery.message.subject
        message["Date"] = format_datetime(delivery.sent_at)
        # Stable per action: a resend by any route is recognisable as the same message.
        message["Message-ID"] = f"<{delivery.key}@{s.message_id_domain}>"
        message["X-Connector-Action"] = delivery.key
        message.set_content(delivery.message.text)
        message.add_alternative(delivery.message.html, subtype="html")
        envelope = recipients + _addresses(s.bcc)
        return message, envelope

    def send(self, delivery: Delivery) -> dict[str, Any]:
        message, envelope = self.build(delivery)
        s = self.settings
        try:  # nothing has left yet in this block: any failure may be retried
            if s.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout_seconds, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
            if s.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if s.username:
                smtp.login(s.username, s.password.get_secret_value() if s.password else "")
        except (OSError, smtplib.SMTPException) as exc:
            raise ChannelError(f"SMTP server not reachable: {type(exc).__name__}: {exc}", down=True) from exc
        try:
            refused = smtp.send_message(message, from_addr=s.from_address, to_addrs=envelope)
        except smtplib.SMTPRecipientsRefused as exc:
            raise ChannelError(f"every recipient refused: {list(exc.recipients)}") from exc
        except smtplib.SMTPSenderRefused as exc:
            # The From address, not this message: every message would be refused until the configuration changes.
            raise ChannelError(f"sender refused: {exc.smtp_code} {exc.smtp_error!r}", down=True) from exc
        except smtplib.SMTPDataError as exc:  # the server answered the message with an error: not accepted
            raise ChannelError(
                f"message refused: {exc.smtp_code} {exc.smtp_error!r}",
                retry=exc.smtp_code < 500,
                down=exc.smtp_code == 421,  # the server is closing: it says nothing about this message
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:  # cut off while sending: it may have been accepted
            raise ChannelError(f"interrupted while sending: {type(exc).__name__}: {exc}", unknown=True) from exc
        finally:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                smtp.quit()
        customer = [address for address in _addresses(delivery.contact_email) if address not in refused]
        if not customer:  # accepted for the copy only: the customer did not get it, yet something left
            raise ChannelError(f"the customer's address was refused: {sorted(refused)}", unknown=True)
        return {"channel": "email", "message_id": message["Message-ID"], "to": envelope, "refused": sorted(refused)}


class TaskChannel:
    """A call task for a person: in Moneybird a note with `todo` on the oldest invoice, naming them all."""

    def __init__(self, adapter: LedgerAdapter) -> None:
        self.adapter = adapter

    def send(self, delivery: Delivery) -> dict[str, Any]:
        if not self.adapter.supports(Capability.CALL_TASKS):
            raise ChannelError(f"{self.adapter.platform} has no call tasks: use another action for this stage")
        carrier = delivery.invoices[0]
        text = f"{delivery.message.note} [ref {delivery.key[:12]}]"
        note_id = _ledger_call(lambda: self.adapter.add_note(carrier, text, todo=True))
        return {"channel": "task", "task_note": note_id, "task_invoice": carrier.ledger_id}


class LedgerReminderChannel:
    """The ledger's own reminder (Moneybird's send_reminders), for users who prefer its layout."""

    def __init__(self, adapter: LedgerAdapter) -> None:
        self.adapter = adapter

    def send(self, delivery: Delivery) -> dict[str, Any]:
        if not self.adapter.supports(Capability.SEND_LEDGER_REMINDER):
            raise ChannelError(f"{self.adapter.platform} cannot send its own reminders")
        _ledger_call(lambda: self.adapter.send_ledger_reminder(list(delivery.invoices)))
        return {"channel": "ledger_reminder", "invoices": [i.ledger_id for i in delivery.invoices]}


class HandoverChannel:
    """A case file per customer (JSON and CSV) for the collection agency; the invoices are then marked dubious
    and the ledger's own reminders paused, where the ledger can."""

    def __init__(self, adapter: LedgerAdapter, folder: Path, url: str | None = None) -> None:
        self.adapter = adapter
        self.folder = folder
        self.url = url

    def send(
        self, delivery: Delivery, history: Sequence[Mapping[str, Any]] = (), contact: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        case = {
            "administration": delivery.administration,
            "reference": delivery.key,
            "created_at": delivery.sent_at.isoformat(),
            "debtor": {"name": delivery.contact_name, "email": delivery.contact_email, **(contact or {})},
            "invoices": [
                {
                    "ledger_id": i.ledger_id,
                    "number": i.number,
                    "invoice_date": i.invoice_date.isoformat() if i.invoice_date else None,
                    "due_date": i.due_date.isoformat(),
                    "currency": i.open_amount.currency,
                    "total": str(i.total.amount),
                    "open_amount": str(i.open_amount.amount),
                }
                for i in delivery.invoices
            ],
            "principal": delivery.planned.get("principal"),
            "collection_costs": delivery.planned.get("collection_costs"),
            "interest": delivery.planned.get("interest"),
            "history": list(history),
        }
        stem = f"{delivery.administration}-{delivery.planned.get('contact_id')}-{delivery.key[:12]}"
        target = self.folder / delivery.administration
        try:
            _write_atomically(target / f"{stem}.json", json.dumps(case, indent=2, ensure_ascii=False, default=str))
            _write_atomically(target / f"{stem}.csv", _case_csv(case))
        except OSError as exc:
            raise ChannelError(f"cannot write the case file in {target}: {exc}", down=True) from exc
        if self.url:
            self._post(case, delivery.key)
        marked = []
        on = delivery.sent_at.date()
        for invoice in delivery.invoices:
            # The case file is what counts; marking the invoices in the ledger is a courtesy, noted in the outcome.
            if self.adapter.supports(Capability.MARK_DUBIOUS):
                with contextlib.suppress(LedgerError):
                    self.adapter.mark_dubious(invoice, on)
                    marked.append(f"{invoice.ledger_id}:dubious")
            if self.adapter.supports(Capability.PAUSE_LEDGER_REMINDERS) and not invoice.ledger_reminders_paused:
                with contextlib.suppress(LedgerError):
                    self.adapter.pause_ledger_reminders(invoice)
                    marked.append(f"{invoice.ledger_id}:paused")
        return {"channel": "handover", "case_file": str(target / f"{stem}.json"), "ledger_marks": marked}

    def _post(self, case: Mapping[str, Any], key: str) -> None:
        """POST the case file; the action's key travels as Idempotency-Key, so a retry after a lost answer is
        recognisable on the other side."""
        assert self.url is not None
        try:
            response = httpx.post(
                self.url,
                content=json.dumps(case, ensure_ascii=False, default=str).encode(),
                headers={"Content-Type": "application/json", "Idempotency-Key": key},
                timeout=30,
            )
        except httpx.TransportError as exc:
            raise ChannelError(f"handover URL not reachable: {type(exc).__name__}", down=True) from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise ChannelError(f"handover URL answered {response.status_code}", down=True)
        if response.status_code >= 400:
            raise ChannelError(f"handover URL refused the case file: {response.status_code} {response.text[:200]}")


def _ledger_call(call: Callable[[], T]) -> T:
    try:
        return call()
    except TransientError as exc:
        # Not answered after the adapter's own retries: the ledger is down, unless the call may have landed.
        raise ChannelError(str(exc), down=not exc.outcome_unknown, unknown=exc.outcome_unknown) from exc
    except LedgerError as exc:
        raise ChannelError(f"{type(exc).__name__}: {exc}") from exc


def _addresses(value: str | None) -> list[str]:
    return [address for _, address in getaddresses([value or ""]) if "@" in address]


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, encoding="utf-8", suffix=".tmp") as tmp:
        tmp.write(text)
        tmp.flush()
        os.fsync(tmp.fileno())
    os.replace(tmp.name, path)


def _case_csv(case: Mapping[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["reference", "debtor", "invoice", "invoice_date", "due_date", "currency", "open_amount"])
    for invoice in case["invoices"]:
        writer.writerow(
            [
                case["reference"],
                case["debtor"]["name"],
                invoice["number"],
                invoice["invoice_date"],
                invoice["due_date"],
                invoice["currency"],
                invoice["open_amount"],
            ]
        )
    return out.getvalue()
