"""A print-and-mail service on loopback, shaped like the generic API the `https` post provider speaks:
`POST /letters` (an `Idempotency-Key` makes a repeat the same letter) and `GET /letters/{id}`."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class PrintService:
    url: str = ""
    letters: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> letter
    by_key: dict[str, str] = field(default_factory=dict)  # Idempotency-Key -> id
    posts: int = 0
    token: str = "print-token-0123456789"

    def post(self, letter_id: str, on: str, status: str = "posted") -> None:
        """The service prints and posts a letter (or it comes back: status "returned")."""
        self.letters[letter_id].update(status=status, posted_on=on)


@contextmanager
def print_service() -> Iterator[PrintService]:
    service = PrintService()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, document: dict[str, Any]) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") != f"Bearer {service.token}":
                self._answer(401, {"error": "unauthorised"})
                return False
            return True

        def do_POST(self) -> None:
            if not self._authorised():
                return
            document = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            pdf = base64.b64decode(document["pdf"])
            if not pdf.startswith(b"%PDF-") or len(document["address"]) < 3:
                self._answer(422, {"error": "not a printable letter"})
                return
            key = self.headers.get("Idempotency-Key", "")
            with lock:
                service.posts += 1
                letter_id = service.by_key.get(key)
                if letter_id is None:
                    letter_id = f"LTR-{len(service.letters) + 1:04d}"
                    service.by_key[key] = letter_id
                    service.letters[letter_id] = {"id": letter_id, "status": "queued", **document, "pdf": pdf}
            self._answer(201, {"id": letter_id, "status": service.letters[letter_id]["status"]})

        def do_GET(self) -> None:
            if not self._authorised():
                return
            letter = service.letters.get(self.path.rsplit("/", 1)[-1])
            if letter is None:
                self._answer(404, {"error": "no such letter"})
                return
            self._answer(200, {k: v for k, v in letter.items() if k in ("id", "status", "posted_on", "reason")})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    service.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield service
    finally:
        server.shutdown()
        server.server_close()
