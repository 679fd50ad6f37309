"""Reading what comes back after a message left: delivery status notifications (RFC 3464) and auto-replies.

Pure: bytes in, a `DeliveryReport` out. A report is ours when it names one of our messages: by the Message-ID we
give every message (`<KEY@domain>`), or its `X-Connector-Action` header, in the returned headers of a DSN or in
the `In-Reply-To`/`References` of an auto-reply. Bounces that are not RFC 3464 (a plain "Mail delivery failed"
from an old server) are read by their sender and subject, and count as hard only with a 5.x.x status in them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import Message
from email.utils import parsedate_to_datetime

_KEY = r"[0-9a-f]{32}"
_MESSAGE_ID = re.compile(rf"<({_KEY})@[^>\s]+>")
_ACTION_HEADER = re.compile(rf"X-Connector-Action:\s*({_KEY})", re.IGNORECASE)
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_DAEMON = re.compile(r"mailer-daemon|postmaster|mail delivery (sub)?system", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery (status notification|failure|has failed)|mail delivery failed|returned mail|"
    r"onbestelbaar|niet afgeleverd|kan niet worden bezorgd",
    re.IGNORECASE,
)
_AUTO_SUBJECT = re.compile(
    r"^(automatic reply|auto(matisch)?[ -]?(antwoord|reply|response)|out of (the )?office|afwezig|absent)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class RecipientStatus:
    address: str
    action: str  # failed | delayed | delivered | relayed | expanded
    status: str  # "5.1.1"
    diagnostic: str = ""

    @property
    def hard(self) -> bool:
        return self.action == "failed" and self.status.startswith("5")


@dataclass(frozen=True)
class DeliveryReport:
    kind: str  # bounced | delayed | delivered | auto_reply
    keys: tuple[str, ...]  # the actions it is about
    recipients: tuple[RecipientStatus, ...] = ()
    at: datetime | None = None
    subject: str = ""
    detail: dict[str, str] = field(default_factory=dict)

    @property
    def hard(self) -> bool:
        return self.kind == "bounced" and any(r.hard for r in self.recipients)


def read_report(raw: bytes) -> DeliveryReport | None:
    """What a message in the bounce mailbox says about one of ours; None when it is about none of ours, or is no
    report (a customer's own answer is for a person, not for this)."""
    message = message_from_bytes(raw, policy=policy.compat32)
    subject = _text(message.get("Subject"))
    at = _date(message.get("Date"))
    if message.get_content_type() == "multipart/report":
        statuses, returned = _dsn_parts(message)
        keys = _keys(returned) or _keys(raw.decode("utf-8", "replace"))
        if not keys or not statuses:
            return None
        actions = {s.action for s in statuses}
        kind = "bounced" if "failed" in actions else "delayed" if "delayed" in actions else "delivered"
        return DeliveryReport(kind, keys, tuple(statuses), at, subject)
    if _is_auto_reply(message, subject):
        keys = _keys(" ".join(_text(message.get(h)) for h in ("In-Reply-To", "References")))
        return DeliveryReport("auto_reply", keys, (), at, subject) if keys else None
    sender = _text(message.get("From"))
    if _DAEMON.search(sender) and _BOUNCE_SUBJECT.search(subject):
        body = re.split(r"\r?\n\r?\n", raw.decode("utf-8", "replace"), maxsplit=1)[-1]  # not the headers
        keys = _keys(body)
        if not keys:
            return None
        status = _STATUS.search(body)
        code = ".".join(status.groups()) if status else "5.0.0"
        address = _failed_address(body)
        diagnostic = _first_line_with(body, code) if status else subject
        return DeliveryReport(
            "bounced", keys, (RecipientStatus(address, "failed", code, diagnostic),), at, subject, {"format": "plain"}
        )
    return None


def _dsn_parts(message: Message) -> tuple[list[RecipientStatus], str]:
    statuses: list[RecipientStatus] = []
    returned = ""
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type == "message/delivery-status":
            blocks = part.get_payload()
            for block in blocks[1:] if isinstance(blocks, list) else []:
                if not isinstance(block, Message):
                    continue
                recipient = _address(_text(block.get("Final-Recipient")) or _text(block.get("Original-Recipient")))
                statuses.append(
                    RecipientStatus(
                        recipient,
                        _text(block.get("Action")).lower(),
                        _text(block.get("Status")),
                        " ".join(_text(block.get("Diagnostic-Code")).split())[:500],
                    )
                )
        elif content_type in ("message/rfc822", "text/rfc822-headers"):
            payload = part.get_payload()
            if isinstance(payload, list):
                returned += "".join(str(item) for item in payload)
            else:
                content = part.get_payload(decode=True)
                returned += content.decode("utf-8", "replace") if isinstance(content, bytes) else str(payload)
    return statuses, returned


def _keys(text: str) -> tuple[str, ...]:
    found = _ACTION_HEADER.findall(text) + _MESSAGE_ID.findall(text)
    return tuple(dict.fromkeys(found))


def _is_auto_reply(message: Message, subject: str) -> bool:
    if _text(message.get("Auto-Submitted")).lower().startswith("auto-replied"):
        return True
    if message.get("X-Autoreply") or message.get("X-Autorespond"):
        return True
    return _text(message.get("Precedence")).lower() == "auto_reply" or bool(_AUTO_SUBJECT.search(subject))


def _address(value: str) -> str:
    """`rfc822; jan@example.nl` -> `jan@example.nl`."""
    return value.split(";", 1)[-1].strip().strip("<>")


def _failed_address(body: str) -> str:
    match = re.search(r"RCPT TO:\s*<([^<>@\s]+@[^<>@\s]+)>", body, re.IGNORECASE) or re.search(
        r"^\s+([\w.+-]+@[\w-]+(\.[\w-]+)+)\s*$", body, re.MULTILINE
    )
    return match.group(1) if match else ""


def _first_line_with(body: str, needle: str) -> str:
    return next((" ".join(line.split())[:500] for line in body.splitlines() if needle in line), "")


def _text(value: object) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def _date(value: object) -> datetime | None:
    try:
        at = parsedate_to_datetime(str(value)) if value else None
    except (TypeError, ValueError):
        return None
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at
