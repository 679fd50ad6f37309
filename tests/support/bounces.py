"""Reports as mail servers send them back, built around a message we sent: a Postfix-style delivery status
notification (RFC 3464), an old server's plain bounce, and an out-of-office reply."""

from __future__ import annotations

from datetime import datetime
from email import message_from_bytes, policy
from email.utils import format_datetime


def dsn(original: bytes, recipient: str, *, status: str = "5.1.1", action: str = "failed", at: datetime) -> bytes:
    """A DSN for `original` (its headers returned, as Postfix does), to the sender's bounce mailbox."""
    sent = message_from_bytes(original, policy=policy.default)
    diagnostic = (
        f"smtp; 550 {status} <{recipient}>: Recipient address rejected: User unknown in virtual mailbox table"
        if action == "failed"
        else f"smtp; 451 {status} <{recipient}>: Mailbox temporarily unavailable"
    )
    subject = "Undelivered Mail Returned to Sender" if action == "failed" else "Delayed Mail (still being retried)"
    headers = original.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    body = (
        "--dsn-boundary-1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"I'm sorry to have to inform you that your message could not be delivered to <{recipient}>.\r\n"
        "--dsn-boundary-1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.nl\r\nArrival-Date: " + format_datetime(at) + "\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nOriginal-Recipient: rfc822;{recipient}\r\n"
        f"Action: {action}\r\nStatus: {status}\r\nRemote-MTA: dns; mx.example.nl\r\n"
        f"Diagnostic-Code: {diagnostic}\r\n\r\n"
        "--dsn-boundary-1\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"{headers}\r\n"
        "--dsn-boundary-1--\r\n"
    )
    head = (
        "From: MAILER-DAEMON@mx.example.nl (Mail Delivery System)\r\n"
        f"To: {sent['From']}\r\nSubject: {subject}\r\nDate: {format_datetime(at)}\r\nAuto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="dsn-boundary-1"\r\n'
    )
    return (head + "\r\n" + body).encode()


def plain_bounce(original: bytes, recipient: str, *, at: datetime) -> bytes:
    sent = message_from_bytes(original, policy=policy.default)
    return (
        "From: Mail Delivery Subsystem <mailer-daemon@old.example.nl>\r\n"
        f"To: {sent['From']}\r\nSubject: Mail delivery failed: returning message to sender\r\n"
        f"Date: {format_datetime(at)}\r\n\r\n"
        "This message was created automatically by mail delivery software.\r\n\r\n"
        f"A message that you sent could not be delivered to one or more of its recipients.\r\n\r\n  {recipient}\r\n"
        "    SMTP error from remote mail server after RCPT TO:<" + recipient + ">:\r\n"
        "    550 5.1.1 No such user here\r\n\r\n------ This is a copy of the message's headers. ------\r\n\r\n"
        + original.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
        + "\r\n"
    ).encode()


def out_of_office(original: bytes, *, at: datetime) -> bytes:
    sent = message_from_bytes(original, policy=policy.default)
    return (
        f"From: {sent['To']}\r\nTo: {sent['From']}\r\nSubject: Automatisch antwoord: {sent['Subject']}\r\n"
        f"Date: {format_datetime(at)}\r\nAuto-Submitted: auto-replied\r\nIn-Reply-To: {sent['Message-ID']}\r\n"
        f"References: {sent['Message-ID']}\r\n\r\nIk ben afwezig tot en met maandag.\r\n"
    ).encode()
