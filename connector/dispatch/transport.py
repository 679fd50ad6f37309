"""How what we send leaves this machine: files written whole or not at all, and personal data only over HTTPS."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from connector.ledger.http import is_loopback, refuse_plain_http

__all__ = ["is_loopback", "refuse_plain_http", "write_atomically"]


def write_atomically(path: Path, content: bytes | str) -> None:
    """Write a file so that a reader (or a crash) sees the old one or the new one, never half of one."""
    data = content.encode() if isinstance(content, str) else content
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("wb", dir=path.parent, delete=False, suffix=".tmp") as tmp:
        tmp.write(data)
        tmp.flush()
        os.fsync(tmp.fileno())
    os.replace(tmp.name, path)
