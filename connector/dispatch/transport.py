"""How what we send leaves this machine: files written whole or not at all, and personal data only over HTTPS."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from urllib.parse import urlsplit


def refuse_plain_http(url: str, what: str) -> None:
    """Personal data leaves only over HTTPS; plain HTTP only to this machine (a local relay, a test)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and is_loopback(parts.hostname or ""):
        return
    raise ValueError(f"{what} {url!r} is not HTTPS (plain HTTP only to 127.0.0.1, ::1 or localhost)")


def is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or bool(re.fullmatch(r"127(\.\d{1,3}){3}", host))


def write_atomically(path: Path, content: bytes | str) -> None:
    """Write a file so that a reader (or a crash) sees the old one or the new one, never half of one."""
    data = content.encode() if isinstance(content, str) else content
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("wb", dir=path.parent, delete=False, suffix=".tmp") as tmp:
        tmp.write(data)
        tmp.flush()
        os.fsync(tmp.fileno())
    os.replace(tmp.name, path)
