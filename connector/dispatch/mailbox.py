"""Reading a bounce mailbox over IMAP (IMAPClient): every message not read before, oldest first, without changing
the mailbox (the folder is opened read-only and bodies are fetched with PEEK, so flags stay as they were).

How far a folder was read is its UIDVALIDITY and last UID, kept in the store after each batch: a crash reads at
most one batch again, and reports are recorded once each (per mailbox, folder and UID), so that is harmless.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable

from connector.administration import Mailbox
from connector.store.evidence import EvidenceStore

BATCH = 50


class MailboxError(Exception):
    """The mailbox could not be read (unreachable, login refused): nothing was lost, the next poll tries again."""


def read_new(box: Mailbox, evidence: EvidenceStore, handle: Callable[[bytes, str], object]) -> int:
    """Hand each message not read before to `handle(raw, source)`; returns how many were read."""
    import imaplib

    from imapclient import IMAPClient
    from imapclient.exceptions import IMAPClientError

    port = box.port or (993 if box.security == "ssl" else 143)
    try:
        client = IMAPClient(
            box.host,
            port=port,
            ssl=box.security == "ssl",
            ssl_context=ssl.create_default_context(),
            timeout=box.timeout_seconds,
        )
    except (OSError, IMAPClientError, imaplib.IMAP4.error) as exc:
        raise MailboxError(f"{box.address}: not reachable: {type(exc).__name__}: {exc}") from exc
    read = 0
    try:
        if box.security == "starttls":
            client.starttls(ssl.create_default_context())
        client.login(box.username, box.password.get_secret_value() if box.password else "")
        selected = client.select_folder(box.folder, readonly=True)
        uidvalidity = int(selected[b"UIDVALIDITY"])
        cursor = evidence.mailbox_cursor(box.address)
        last = cursor[1] if cursor is not None and cursor[0] == uidvalidity else 0
        uids = sorted(uid for uid in client.search(["UID", f"{last + 1}:*"]) if uid > last)
        for start in range(0, len(uids), BATCH):
            batch = uids[start : start + BATCH]
            fetched = client.fetch(batch, ["BODY.PEEK[]"])
            for uid in batch:
                raw = fetched.get(uid, {}).get(b"BODY[]")
                if raw:
                    handle(bytes(raw), f"imap:{box.address}:{uidvalidity}:{uid}")
                    read += 1
            evidence.move_mailbox_cursor(box.address, uidvalidity, batch[-1])
    except (OSError, IMAPClientError, imaplib.IMAP4.error) as exc:
        raise MailboxError(f"{box.address}: {type(exc).__name__}: {exc}") from exc
    finally:
        with contextlib.suppress(OSError, IMAPClientError, imaplib.IMAP4.error):
            client.logout()
    return read
