"""How what we send leaves this machine: files written whole or not at all, and personal data only over HTTPS to
a service that answers as services do (down, refused, or taken)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import httpx

from connector.ledger.http import is_loopback, refuse_plain_http

__all__ = ["ServiceError", "call_service", "is_loopback", "refuse_plain_http", "write_atomically"]


class ServiceError(Exception):
    """A service did not take what was sent: refused it, or is `down` (unreachable, 5xx, 429; try later)."""

    def __init__(self, message: str, *, down: bool = False) -> None:
        super().__init__(message)
        self.down = down


def call_service(method: str, url: str, *, what: str, timeout: float, **kwargs: Any) -> httpx.Response:
    """One request to an outside service (an agency's intake, a print service), over HTTPS only."""
    try:
        refuse_plain_http(url, what)
    except ValueError as exc:
        raise ServiceError(str(exc)) from None
    try:
        response = httpx.request(method, url, timeout=timeout, **kwargs)
    except httpx.TransportError as exc:
        raise ServiceError(f"{what} not reachable: {type(exc).__name__}", down=True) from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise ServiceError(f"{what} answered {response.status_code}", down=True)
    if response.status_code >= 400:
        raise ServiceError(f"{what} refused: {response.status_code} {response.text[:200]}")
    return response


def write_atomically(path: Path, content: bytes | str) -> None:
    """Write a file so that a reader (or a crash) sees the old one or the new one, never half of one."""
    data = content.encode() if isinstance(content, str) else content
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("wb", dir=path.parent, delete=False, suffix=".tmp") as tmp:
        tmp.write(data)
        tmp.flush()
        os.fsync(tmp.fileno())
    os.replace(tmp.name, path)
