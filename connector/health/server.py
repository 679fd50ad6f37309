"""The health endpoint: /healthz, /readyz, /metrics and /status (JSON for tools, HTML for people).

A small threaded HTTP server from the standard library: four read-only routes do not need a web framework.
/healthz, /readyz and /metrics carry no customer data; /status does, and can require a bearer token.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape

from connector.health.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from connector.health.status import money
from connector.log import get_logger

log = get_logger("health")
JSON = "application/json"
HTML = "text/html; charset=utf-8"


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes
    headers: Mapping[str, str] | None = None

    @classmethod
    def json(cls, status: int, document: Any, headers: Mapping[str, str] | None = None) -> Reply:
        return cls(status, JSON, json.dumps(document, indent=2, ensure_ascii=False).encode(), headers)


@dataclass
class HealthEndpoints:
    """The routes, as plain functions of the request: easy to test without a socket."""

    liveness: Callable[[], tuple[bool, dict[str, Any]]]
    readiness: Callable[[], tuple[bool, dict[str, Any]]]
    metrics: Callable[[], bytes]
    status: Callable[[], dict[str, Any]]
    status_token: str | None = None

    def __post_init__(self) -> None:
        self._templates = Environment(
            loader=FileSystemLoader(Path(__file__).parent / "templates"),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._templates.filters["money"] = money

    def handle(self, method: str, target: str, headers: Mapping[str, str]) -> Reply:
        if method not in ("GET", "HEAD"):
            return Reply.json(405, {"error": "method not allowed"}, {"Allow": "GET, HEAD"})
        url = urlsplit(target)
        path = url.path.rstrip("/") or "/"
        try:
            if path == "/healthz":
                alive, document = self.liveness()
                return Reply.json(200 if alive else 503, document)
            if path == "/readyz":
                ready, document = self.readiness()
                return Reply.json(200 if ready else 503, document)
            if path == "/metrics":
                return Reply(200, METRICS_CONTENT_TYPE, self.metrics())
            if path in ("/status", "/status.json", "/"):
                if not self._authorized(headers):
                    return Reply.json(401, {"error": "bearer token required"}, {"WWW-Authenticate": "Bearer"})
                document = self.status()
                if path == "/status.json" or _wants_json(headers, parse_qs(url.query)):
                    return Reply.json(200, document)
                page = self._templates.get_template("status.html").render(status=document)
                return Reply(200, HTML, page.encode())
        except Exception as exc:  # the endpoint must answer even when the store does not
            log.exception("health.request_failed", path=path)
            return Reply.json(503, {"error": f"{type(exc).__name__}"})
        return Reply.json(404, {"error": "not found", "routes": ["/healthz", "/readyz", "/metrics", "/status"]})

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        if not self.status_token:
            return True
        given = headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.status_token.encode())


def _wants_json(headers: Mapping[str, str], query: Mapping[str, list[str]]) -> bool:
    if query.get("format") == ["json"]:
        return True
    accept = headers.get("accept", "")
    return JSON in accept and "text/html" not in accept


class HealthServer:
    """Serves HealthEndpoints on host:port in a background thread."""

    def __init__(self, endpoints: HealthEndpoints, host: str, port: int) -> None:
        self.endpoints = endpoints
        handler = type("Handler", (_Handler,), {"endpoints": endpoints})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="health", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()
        log.info("health.listening", url=self.url)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    endpoints: HealthEndpoints
    server_version = "ledger-connector"
    sys_version = ""

    def do_GET(self) -> None:
        self._answer(head=False)

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def do_POST(self) -> None:
        self._answer(head=False)

    def _answer(self, *, head: bool) -> None:
        headers = {key.lower(): value for key, value in self.headers.items()}
        reply = self.endpoints.handle(self.command, self.path, headers)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (reply.headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("health.request", request=self.requestline, status=args[1] if len(args) > 1 else None)
