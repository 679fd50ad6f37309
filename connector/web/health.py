"""The health endpoints: /healthz and /readyz for probes, /metrics for Prometheus, /status for tools and people.

The probes and /metrics carry no customer data and answer anyone. /status does carry it. As JSON (`/status.json`,
`?format=json` or `Accept: application/json`) it is what tools read: open until `status_token` is set, then for the
token's holder or a signed-in person. As a page it wants the token or a signed-in person whenever the cockpit is on
(a browser is sent to sign in)."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, make_asgi_app
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from connector.log import get_logger
from connector.web.gate import NotSignedIn, session_of

log = get_logger("web")
JSON = "application/json"


class JSONDocument(Response):
    """JSON as people read it too: indented, and not ASCII-escaped."""

    media_type = JSON

    def render(self, content: Any) -> bytes:
        return json.dumps(content, indent=2, ensure_ascii=False).encode()


@dataclass
class HealthEndpoints:
    """What the routes answer with, as plain functions of the daemon."""

    liveness: Callable[[], tuple[bool, dict[str, Any]]]
    readiness: Callable[[], tuple[bool, dict[str, Any]]]
    metrics: CollectorRegistry
    status: Callable[[], dict[str, Any]]
    status_token: str | None = None

    def bearer_ok(self, request: Request) -> bool:
        if not self.status_token:
            return False
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.status_token.encode())


class _Metrics:
    """prometheus-client's own ASGI app (content negotiation, gzip), on exactly /metrics."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.app = make_asgi_app(registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def wants_json(request: Request) -> bool:
    if request.url.path.rstrip("/") == "/status.json" or request.query_params.get("format") == "json":
        return True
    accept = request.headers.get("accept", "")
    return JSON in accept and "text/html" not in accept


def health_routes(
    endpoints: HealthEndpoints, *, status_page: Callable[[Request, dict[str, Any]], Response], cockpit: bool
) -> list[BaseRoute]:
    async def healthz(request: Request) -> Response:
        alive, document = await run_in_threadpool(endpoints.liveness)
        return JSONDocument(document, status_code=200 if alive else 503)

    async def readyz(request: Request) -> Response:
        ready, document = await run_in_threadpool(endpoints.readiness)
        return JSONDocument(document, status_code=200 if ready else 503)

    async def status(request: Request) -> Response:
        signed_in = session_of(request) is not None
        if wants_json(request):
            # The tools' contract: open until a status_token is set, then the token's holder (or a signed-in
            # person) only.
            if endpoints.status_token and not (signed_in or endpoints.bearer_ok(request)):
                return JSONDocument(
                    {"error": "bearer token required, or sign in to the cockpit"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
            return JSONDocument(await _status(endpoints))
        if not (signed_in or endpoints.bearer_ok(request)):
            if cockpit:
                raise NotSignedIn()
            if endpoints.status_token:
                return JSONDocument(
                    {"error": "bearer token required"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
                )
        return status_page(request, await _status(endpoints))

    return [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", readyz, methods=["GET", "HEAD"]),
        Route("/metrics", _Metrics(endpoints.metrics), methods=["GET", "HEAD"]),
        Route("/status", status, methods=["GET", "HEAD"]),
        Route("/status.json", status, methods=["GET", "HEAD"]),
    ]


async def _status(endpoints: HealthEndpoints) -> dict[str, Any]:
    return await run_in_threadpool(endpoints.status)
