"""The channels an action goes out through: e-mail (SMTP), a letter by post, a call task or the ledger's own
reminder (through the adapter), and the handover case file for a collection agency.

Each raises ChannelError saying whether anything may have left: `retry` (nothing left; try again later),
`unknown` (it may have gone: a person must look before anything is resent), or neither (it cannot succeed).
`down` says the channel itself is unavailable (the SMTP server unreachable or refusing our login, the agency's
intake down): nothing about this message is wrong, so it costs the action no try, and the run leaves that channel
alone until the next one.
"""

from __future__ import annotations

import contextlib
import email.policy
import json
import re
import smtplib
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from pathlib import Path
from typing import Any, TypeVar

from connector.config import EmailSection
from connector.dispatch.dossier import CaseFile
from connector.dispatch.letters import Attachment
from connector.dispatch.messages import RenderedMessage, header_safe
from connector.dispatch.post import PostError, PostLetter, PostProvider
from connector.dispatch.transport import ServiceError, call_service, write_atomically
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
    """One action, ready to go: the fresh invoices, the customer, the rendered message and what goes with it."""

    key: str
    administration: str
    stage: str
    invoices: Sequence[Invoice]
    contact_name: str
    contact_email: str | None
    message: RenderedMessage
    planned: Mapping[str, Any]
    sent_at: datetime
    attachments: Sequence[Attachment] = ()  # the letter's PDF, the original invoices
    postal_address: Sequence[str] = ()  # the customer's, as lines for an envelope's window


@dataclass(frozen=True)
class Outgoing:
    """An e-mail as it will be handed to the SMTP server, byte for byte: what the evidence keeps."""

    content: bytes
    sender: str
    envelope: list[str]
    customer: list[str]
    message_id: str


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
        for attachment in delivery.attachments:
            maintype, _, subtype = attachment.media_type.partition("/")
            message.add_attachment(attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename)
        envelope = recipients + _addresses(s.bcc)
        return message, envelope

    def outgoing(self, delivery: Delivery) -> Outgoing:
        """The message as the bytes the server will get (CRLF line ends, as on the wire)."""
        message, envelope = self.build(delivery)
        return Outgoing(
            content=message.as_bytes(policy=email.policy.SMTP),
            sender=self.settings.from_address,
            envelope=envelope,
            customer=_addresses(delivery.contact_email),
            message_id=str(message["Message-ID"]),
        )

    def send(self, delivery: Delivery) -> dict[str, Any]:
        return self.transmit(self.outgoing(delivery))

    def transmit(self, outgoing: Outgoing) -> dict[str, Any]:
        """Hand the bytes to the SMTP server; the outcome carries the server's reply to them (its queue id)."""
        s = self.settings
        envelope = outgoing.envelope
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
            refused, reply = _hand_over(smtp, outgoing)
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
        customer = [address for address in outgoing.customer if address not in refused]
        if not customer:  # accepted for the copy only: the customer did not get it, yet something left
            raise ChannelError(f"the customer's address was refused: {sorted(refused)}", unknown=True)
        return {
            "channel": "email",
            "message_id": outgoing.message_id,
            "to": envelope,
            "refused": sorted(refused),
            "server_reply": reply,
            "queue_id": queue_id(reply),
        }


def _hand_over(smtp: smtplib.SMTP, outgoing: Outgoing) -> tuple[dict[str, tuple[int, bytes]], str]:
    """MAIL, RCPT and DATA as `smtplib.SMTP.sendmail` does them, keeping the server's answer to DATA: the proof
    that it took the message, with the id it queued it under. Returns the refused recipients and that answer."""
    smtp.ehlo_or_helo_if_needed()
    options = ["SMTPUTF8"] if smtp.has_extn("smtputf8") and not outgoing.content.isascii() else []
    if smtp.has_extn("size"):
        options.append(f"size={len(outgoing.content)}")
    if smtp.has_extn("8bitmime") and not outgoing.content.isascii():
        options.append("BODY=8BITMIME")
    code, answer = smtp.mail(outgoing.sender, options)
    if code != 250:
        smtp._rset()  # type: ignore[attr-defined]  # as sendmail does
        raise smtplib.SMTPSenderRefused(code, answer, outgoing.sender)
    refused: dict[str, tuple[int, bytes]] = {}
    for recipient in outgoing.envelope:
        code, answer = smtp.rcpt(recipient)
        if code not in (250, 251):
            refused[recipient] = (code, answer)
    if len(refused) == len(outgoing.envelope):
        smtp._rset()  # type: ignore[attr-defined]
        raise smtplib.SMTPRecipientsRefused(refused)
    code, answer = smtp.data(outgoing.content)
    if code != 250:
        smtp._rset()  # type: ignore[attr-defined]
        raise smtplib.SMTPDataError(code, answer)
    return refused, f"{code} {answer.decode('utf-8', 'replace')}"


_QUEUED = re.compile(r"(?:queued as|id=|\bid\s)\s*([A-Za-z0-9._@<>-]{4,})", re.IGNORECASE)


def queue_id(reply: str | None) -> str | None:
    """The id the server queued a message under, as most servers say it ("250 2.0.0 Ok: queued as 4XyZ")."""
    match = _QUEUED.search(reply or "")
    return match.group(1).strip("<>") if match else None


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


class PostChannel:
    """A printed letter handed to the post service (or the print batch)."""

    def __init__(self, provider: PostProvider) -> None:
        self.provider = provider

    def send(self, letter: PostLetter) -> dict[str, Any]:
        try:
            submitted = self.provider.submit(letter)
        except PostError as exc:
            raise ChannelError(str(exc), retry=exc.retry, down=exc.down) from exc
        return {
            "channel": "post",
            "provider": self.provider.name,
            "letter_id": submitted.external_id,
            "server_reply": submitted.reply,
            "post_status": submitted.status,
            "address": list(letter.address),
        }


class HandoverChannel:
    """A case file per customer (JSON and CSV, with the legal letter's PDF and e-mail beside them) for the
    collection agency; the invoices are then marked dubious and the ledger's own reminders paused, where the
    ledger can."""

    def __init__(self, adapter: LedgerAdapter, folder: Path, url: str | None = None) -> None:
        self.adapter = adapter
        self.folder = folder
        self.url = url

    def paths(self, delivery: Delivery, case: CaseFile) -> list[Path]:
        """Where the case's files go: known before they are written, so the evidence can name them."""
        target = self.folder / delivery.administration
        stem = case_stem(delivery)
        return [target / f"{stem}.json", target / f"{stem}.csv", *(target / part.name for part in case.files)]

    def send(self, delivery: Delivery, case: CaseFile) -> dict[str, Any]:
        json_path, csv_path, *document_paths = self.paths(delivery, case)
        try:
            write_atomically(json_path, case.json())
            write_atomically(csv_path, case.csv())
            for path, part in zip(document_paths, case.files, strict=True):
                write_atomically(path, part.content)
        except OSError as exc:
            raise ChannelError(f"cannot write the case file in {json_path.parent}: {exc}", down=True) from exc
        if self.url:
            self._post(case.for_upload(), delivery.key)
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
        return {"channel": "handover", "case_file": str(json_path), "ledger_marks": marked}

    def _post(self, case: Mapping[str, Any], key: str) -> None:
        """POST the case file; the action's key travels as Idempotency-Key, so a retry after a lost answer is
        recognisable on the other side."""
        assert self.url is not None
        try:
            call_service(
                "POST",
                self.url,
                what="the handover URL",
                timeout=30,
                content=json.dumps(case, ensure_ascii=False, default=str).encode(),
                headers={"Content-Type": "application/json", "Idempotency-Key": key},
            )
        except ServiceError as exc:
            raise ChannelError(str(exc), down=exc.down) from exc


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


def case_stem(delivery: Delivery) -> str:
    return f"{delivery.administration}-{delivery.planned.get('contact_id')}-{delivery.key[:12]}"
