"""Letters by post: the printed letter's PDF handed to a print-and-mail service, or put in a print-ready batch.

A provider takes a letter (`submit`) and later says what became of it (`status`): printed, posted (on which day:
a posted legal letter's term runs from then), returned. Two come with the connector:

- `https`: a print-and-mail service's HTTP API. `POST {url}/letters` with the PDF, the address and the action's
  key as `Idempotency-Key` (a retry after a lost answer is the same letter to the service), then
  `GET {url}/letters/{id}` for its status.
- `folder`: a batch per day in a folder (each letter's PDF and a manifest, CSV and JSON) for an office that prints
  and posts itself; a person reports the day it went (`connector post posted`), which is what a term runs from.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import httpx

from connector.dispatch.transport import ServiceError, call_service, refuse_plain_http, write_atomically

POSTED = "posted"
FINAL = ("posted", "delivered", "returned", "cancelled")


class PostError(Exception):
    """The provider refused the letter (`retry`: nothing was taken, try later; `down`: the service is down)."""

    def __init__(self, message: str, *, retry: bool = False, down: bool = False) -> None:
        super().__init__(message)
        self.retry = retry or down
        self.down = down


@dataclass(frozen=True)
class PostLetter:
    key: str  # the action's idempotency key
    administration: str
    reference: str  # as printed on the letter and in the ledger's notes
    address: Sequence[str]  # the recipient's lines, as in the envelope's window
    pdf: bytes
    filename: str


@dataclass(frozen=True)
class Submitted:
    external_id: str
    reply: str  # what the provider answered, for the evidence
    status: str = "queued"


@dataclass(frozen=True)
class PostStatus:
    status: str  # queued | printed | posted | delivered | returned | cancelled
    posted_on: date | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class PostProvider(Protocol):
    name: str

    def submit(self, letter: PostLetter) -> Submitted: ...

    def status(self, external_id: str) -> PostStatus | None:
        """What the provider says now; None: nothing it can tell (a person reports it)."""
        ...


def address_problem(address: Sequence[str]) -> str | None:
    """Why an address cannot go on an envelope, or None: a name, a street line and a postcode with a place."""
    lines = [line for line in address if line.strip()]
    if len(lines) < 3:
        return "a postal address needs a name, a street and a postcode with a place"
    return None


class FolderPost:
    """Print-ready batches for an office that posts its own letters: `{folder}/{day}/` holds each letter's PDF and
    `manifest.csv` / `manifest.json` (reference, administration, address, file, SHA-256)."""

    name = "folder"
    _lock = threading.Lock()  # the manifest is rewritten whole; one writer at a time in this process

    def __init__(self, folder: Path, today: Any) -> None:
        self.folder = folder
        self.today = today  # () -> date: the business day the batch is for

    def submit(self, letter: PostLetter) -> Submitted:
        day = self.today().isoformat()
        batch = self.folder / day
        try:
            with self._lock:
                batch.mkdir(parents=True, exist_ok=True)
                write_atomically(batch / letter.filename, letter.pdf)
                manifest = _read_manifest(batch)
                manifest[letter.key] = {
                    "reference": letter.reference,
                    "administration": letter.administration,
                    "file": letter.filename,
                    "sha256": hashlib.sha256(letter.pdf).hexdigest(),
                    "address": list(letter.address),
                }
                write_atomically(
                    batch / "manifest.json",
                    json.dumps({"batch": day, "letters": manifest}, indent=2, ensure_ascii=False).encode(),
                )
                write_atomically(batch / "manifest.csv", _manifest_csv(manifest).encode())
        except OSError as exc:
            raise PostError(f"cannot write the print batch in {batch}: {exc}", down=True) from exc
        return Submitted(f"{day}/{letter.filename}", f"written to the print batch {batch}", "queued")

    def status(self, external_id: str) -> PostStatus | None:
        return None  # a person says when the batch went: `connector post posted`

    def batch_letters(self, day: date) -> dict[str, dict[str, Any]]:
        return _read_manifest(self.folder / day.isoformat())


class HttpsPost:
    """A print-and-mail service's API: letters go up as PDF with the address; its status says when it posted."""

    name = "https"

    def __init__(self, url: str, token: str | None, *, timeout: float = 30.0, options: dict[str, Any] | None = None):
        refuse_plain_http(url, "the print service URL")
        self.url = url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout = timeout
        self.options = options or {}

    def submit(self, letter: PostLetter) -> Submitted:
        body = {
            "reference": letter.reference,
            "address": list(letter.address),
            "filename": letter.filename,
            "pdf": base64.b64encode(letter.pdf).decode(),
            **self.options,
        }
        response = self._call("POST", "/letters", json=body, headers={"Idempotency-Key": letter.key})
        document = _json(response)
        letter_id = str(document.get("id") or "")
        if not letter_id:
            raise PostError(f"the print service answered {response.status_code} without a letter id")
        return Submitted(letter_id, f"{response.status_code} {response.text[:500]}", str(document.get("status", "")))

    def status(self, external_id: str) -> PostStatus | None:
        response = self._call("GET", f"/letters/{external_id}")
        document = _json(response)
        posted = document.get("posted_on")
        return PostStatus(
            status=str(document.get("status", "")),
            posted_on=date.fromisoformat(str(posted)[:10]) if posted else None,
            detail={k: v for k, v in document.items() if k in ("status", "posted_on", "tracking", "reason")},
        )

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """With the idempotency key a repeat is the same letter to the service: a lost answer is safe to retry."""
        headers = {**self.headers, **kwargs.pop("headers", {})}
        try:
            return call_service(
                method, self.url + path, what="print service", headers=headers, timeout=self.timeout, **kwargs
            )
        except ServiceError as exc:
            raise PostError(str(exc), down=exc.down) from exc


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError:
        raise PostError(f"the print service answered {response.status_code} with no JSON") from None
    if not isinstance(document, dict):
        raise PostError("the print service answered with something other than a JSON object")
    return document


def _read_manifest(batch: Path) -> dict[str, dict[str, Any]]:
    try:
        return dict(json.loads((batch / "manifest.json").read_text(encoding="utf-8"))["letters"])
    except FileNotFoundError:
        return {}


def _manifest_csv(letters: dict[str, dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["reference", "administration", "file", "sha256", "name", "address"])
    for letter in letters.values():
        name, *lines = letter["address"]
        writer.writerow(
            [letter["reference"], letter["administration"], letter["file"], letter["sha256"], name, " / ".join(lines)]
        )
    return out.getvalue()
