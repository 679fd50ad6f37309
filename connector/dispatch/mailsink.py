"""A local SMTP server that accepts every message and keeps it: for `connector demo` and the tests.

Each message can also be written to a folder as an `.eml` file, which any mail program opens.
"""

from __future__ import annotations

import re
import socket
import threading
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any


class MailSink:
    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self.messages: list[EmailMessage] = []
        self.envelopes: list[list[str]] = []
        self.files: list[Path] = []
        self.raw: list[bytes] = []  # each message exactly as received
        self.queue_ids: list[str] = []
        self._lock = threading.Lock()
        self._controller: Any = None
        self.port = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = BytesParser(policy=policy.default).parsebytes(envelope.content)
        with self._lock:
            self.messages.append(message)
            self.raw.append(bytes(envelope.content))
            self.envelopes.append(list(envelope.rcpt_tos))
            # A queue id, as a real server gives one (Postfix's wording): the sender keeps it as proof.
            queue_id = f"{len(self.messages):05X}{abs(hash(envelope.content)) % 0xFFFFFF:06X}"
            self.queue_ids.append(queue_id)
            if self.folder is not None:
                recipient = re.sub(r"[^A-Za-z0-9@._-]+", "_", ",".join(envelope.rcpt_tos))[:60]
                path = self.folder / f"{len(self.messages):05d}-{recipient}.eml"
                path.write_bytes(envelope.content)
                self.files.append(path)
        return f"250 2.0.0 Ok: queued as {queue_id}"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on host:port (0: a free port); returns the port."""
        try:
            from aiosmtpd.controller import Controller
        except ImportError:  # pragma: no cover - depends on the installation
            raise RuntimeError("the SMTP sink needs aiosmtpd: pip install 'ledger-connector[demo]'") from None
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
        if port == 0:
            with socket.socket() as probe:
                probe.bind((host, 0))
                port = probe.getsockname()[1]
        self._controller = Controller(self, hostname=host, port=port)
        self._controller.start()
        self.port = port
        return port

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> MailSink:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
