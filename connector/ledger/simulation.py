"""Machinery shared by the ledger API simulators: a threaded HTTP server with routing and the edge behaviour
every simulated ledger needs (request log, fault injection, a per-token fixed-window rate limit).

A ledger simulator subclasses `SimulatorServer`, registers handlers with `route()` and overrides the
`*_response` hooks to shape errors the way its ledger does. Handlers run under `self.lock`, so the
simulated state needs no locking of its own. Control endpoints live under `/_simulator/` at the server
root: they need no token, are not logged, not rate limited and never faulted. Public routes (e.g. an
OAuth token endpoint) need no token either and are never faulted or rate limited, but they are logged.
A simulator that shapes the whole API pipeline differently (its own rate limits, error budgets) overrides
`handle_api` and reuses `stall` and `route_api`.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import re
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Annotated, Any, ClassVar, Self
from urllib.parse import parse_qsl, urlsplit

import typer

__all__ = [
    "CONTROL_PREFIX",
    "FAULT_KINDS",
    "FaultInjector",
    "FixedWindowRateLimiter",
    "HttpError",
    "RateDecision",
    "Request",
    "RequestLog",
    "Response",
    "Router",
    "SimulatorServer",
    "parse_fault_spec",
    "serve_until_signal",
]

CONTROL_PREFIX = "/_simulator/"
FAULT_KINDS = ("500", "502", "503", "5xx", "timeout", "drop", "malformed", "429")
_SERVER_ERRORS = ("500", "502", "503")


# --- requests and responses -------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One parsed HTTP request. `path` is as sent (no query string); `route_path` is below the base path."""

    method: str
    path: str
    route_path: str
    query: dict[str, str]
    headers: Mapping[str, str]  # lower-cased names
    body: bytes
    token: str | None
    params: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body as JSON (an empty body reads as `{}`); invalid JSON answers 400."""
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise HttpError(Response.json({"error": "The request body is not valid JSON"}, 400)) from exc


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        return cls(status, body, "application/json; charset=utf-8", dict(headers or {}))

    @classmethod
    def text(
        cls,
        text: str,
        status: int,
        content_type: str = "text/plain; charset=utf-8",
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        return cls(status, text.encode(), content_type, dict(headers or {}))

    @classmethod
    def empty(cls, status: int = 204) -> Response:
        return cls(status)


class HttpError(Exception):
    """Raised by a handler to answer with `response` instead of a normal result."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


Handler = Callable[[Request], Response]


class Router:
    """Method + full-match regex routing; named groups become `Request.params`."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method.upper(), re.compile(pattern), handler))

    def methods(self, path: str) -> set[str]:
        """The methods some route serves `path` with (to tell 405 from 404)."""
        return {method for method, pattern, _ in self._routes if pattern.fullmatch(path)}

    def resolve(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
        for route_method, pattern, handler in self._routes:
            if route_method == method:
                match = pattern.fullmatch(path)
                if match:
                    return handler, {k: v for k, v in match.groupdict().items() if v is not None}
        return None


# --- request log ------------------------------------------------------------------------------------


class RequestLog:
    """Every API request with the status sent (0 = connection dropped). Never holds headers or tokens."""

    def __init__(self) -> None:
        self._entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def record(self, method: str, path: str, query: Mapping[str, str], status: int, at: float) -> None:
        entry = {"method": method, "path": path, "query": dict(query), "status": status, "time": at}
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{**entry, "query": dict(entry["query"])} for entry in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


# --- fault injection --------------------------------------------------------------------------------


def parse_fault_spec(spec: str | None) -> tuple[tuple[str, float], ...]:
    """Parse `"5xx:0.2,timeout:0.1"` into `(("5xx", 0.2), ("timeout", 0.1))`; raises ValueError."""
    if spec is None or not spec.strip():
        return ()
    rates: list[tuple[str, float]] = []
    for term in spec.split(","):
        kind, sep, rate_text = term.strip().partition(":")
        if not sep or kind not in FAULT_KINDS:
            raise ValueError(f"bad fault term {term.strip()!r}: expected kind:rate, kind one of {FAULT_KINDS}")
        try:
            rate = float(rate_text)
        except ValueError:
            raise ValueError(f"bad fault rate in {term.strip()!r}") from None
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1 in {term.strip()!r}")
        rates.append((kind, rate))
    if sum(rate for _, rate in rates) > 1.0 + 1e-9:
        raise ValueError("fault rates add up to more than 1")
    return tuple(rates)


@dataclass(frozen=True)
class Faults:
    """What a simulator gets wrong on purpose: `spec` as in `"5xx:0.1,timeout:0.05,malformed:0.02,429:0.01"`,
    the `seed` of the dice (a run can be replayed), and how long a 'timeout' fault stalls a request."""

    spec: str | None = None
    seed: int = 0
    timeout_seconds: float = 5.0

    @classmethod
    def of(cls, faults: Faults | str | None) -> Faults:
        """A spec alone means the default seed and stall."""
        return faults if isinstance(faults, Faults) else cls(spec=faults)


class FaultInjector:
    """Draws at most one fault per request from a seeded generator, so a run can be replayed.

    The rates are cumulative slices of one uniform draw: `"5xx:0.2,timeout:0.1"` faults 30% of requests.
    """

    def __init__(self, spec: str | None = None, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rates = parse_fault_spec(spec)
        self._spec = spec if self._rates else None
        self._rng = random.Random(seed)

    @property
    def spec(self) -> str | None:
        return self._spec

    def configure(self, spec: str | None, seed: int | None = None) -> None:
        """Replace the faults; `seed=None` keeps the current random stream."""
        rates = parse_fault_spec(spec)
        with self._lock:
            self._rates = rates
            self._spec = spec if rates else None
            if seed is not None:
                self._rng = random.Random(seed)

    def draw(self) -> str | None:
        """A concrete fault kind (`5xx` resolved to 500/502/503) or None."""
        with self._lock:
            if not self._rates:
                return None
            point = self._rng.random()
            for kind, rate in self._rates:
                if point < rate:
                    return self._rng.choice(_SERVER_ERRORS) if kind == "5xx" else kind
                point -= rate
            return None


# --- rate limiting ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: float  # epoch seconds at which the window (or a forced burst) ends


class FixedWindowRateLimiter:
    """Per-key fixed windows that start at the key's first request; refused requests consume nothing."""

    def __init__(self, limit: int, window_seconds: float, clock: Callable[[], float] = time.time) -> None:
        if limit < 1 or window_seconds <= 0:
            raise ValueError("rate limit and window must be positive")
        self.limit = limit
        self.window_seconds = window_seconds
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}
        self._blocked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> RateDecision:
        with self._lock:
            now = self._clock()
            blocked_until = self._blocked_until.get(key, 0.0)
            if blocked_until > now:
                return RateDecision(False, self.limit, 0, blocked_until)
            start, count = self._windows.get(key, (now, 0))
            if now >= start + self.window_seconds:
                start, count = now, 0
            reset_at = start + self.window_seconds
            if count >= self.limit:
                self._windows[key] = (start, count)
                return RateDecision(False, self.limit, 0, reset_at)
            self._windows[key] = (start, count + 1)
            return RateDecision(True, self.limit, self.limit - count - 1, reset_at)

    def block(self, key: str, seconds: float) -> None:
        """Refuse every request of `key` for the next `seconds` (a throttling burst)."""
        with self._lock:
            self._blocked_until[key] = self._clock() + seconds


# --- the server -------------------------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], simulator: SimulatorServer) -> None:
        self.simulator = simulator
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (e.g. after its own timeout) is normal here; anything else is a bug."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real API behind a proxy
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stalls
    timeout = 60
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def _dispatch(self) -> None:
        length_text = self.headers.get("Content-Length") or "0"
        length = int(length_text) if length_text.isdigit() else 0
        body = self.rfile.read(length) if length > 0 else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        response = self.server.simulator.handle(self.command, self.path, headers, body)
        if response is None:  # a 'drop' fault: no answer at all
            self.close_connection = True
            return
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line; the request log records everything."""


class SimulatorServer:
    """A simulated ledger API on a local port. Subclasses set `base_path` and register routes."""

    base_path: ClassVar[str] = ""
    burst_seconds: ClassVar[float] = 2.0  # how long a '429' fault keeps throttling the token

    def __init__(
        self,
        *,
        valid_tokens: Iterable[str] | None = None,
        rate_limit: int = 150,
        rate_window_seconds: float = 300.0,
        faults: Faults | str | None = None,
    ) -> None:
        self.valid_tokens = frozenset(valid_tokens) if valid_tokens is not None else None
        self.rate_limiter = FixedWindowRateLimiter(rate_limit, rate_window_seconds)
        chosen = Faults.of(faults)
        self.faults = FaultInjector(chosen.spec, chosen.seed)
        self.timeout_seconds = chosen.timeout_seconds
        self.request_log = RequestLog()
        self.lock = threading.RLock()
        self.router = Router()
        self.control_router = Router()
        self.public_router = Router()
        self._host = "127.0.0.1"
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._files: dict[str, tuple[bytes, str, float]] = {}  # token -> content, media type, expires (monotonic)
        self.public_route("GET", r"/_files/(?P<token>[A-Za-z0-9_-]+)(?:/[^/]*)?", self._serve_file)
        self.control_route("GET", r"/_simulator/requests", lambda _: Response.json(self.requests()))
        self.control_route("DELETE", r"/_simulator/requests", self._clear_requests_endpoint)
        self.control_route("POST", r"/_simulator/faults", self._set_faults_endpoint)

    # registration -----------------------------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Register an API route; `pattern` must fully match the path below `base_path`."""
        self.router.add(method, pattern, handler)

    def control_route(self, method: str, pattern: str, handler: Handler) -> None:
        self.control_router.add(method, pattern, handler)

    def public_route(self, method: str, pattern: str, handler: Handler) -> None:
        """Register a route on the full path that needs no token, is logged, never faulted or rate limited."""
        self.public_router.add(method, pattern, handler)

    # lifecycle --------------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0, *, poll_interval: float = 0.02) -> str:
        """Serve in a background thread; returns the base URL. Port 0 picks a free port. `poll_interval`:
        how often the accept loop checks for shutdown (hundreds of idle servers want it slower)."""
        if self._httpd is not None:
            raise RuntimeError("simulator already started")
        self._stopping.clear()
        self._httpd = _HTTPServer((host, port), self)
        self._host = host
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": poll_interval},
            name=type(self).__name__,
            daemon=True,
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stop serving and drop open keep-alive connections. Safe to call twice."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # wakes requests stalled by a 'timeout' fault
        httpd.shutdown()
        with httpd.connections_lock:
            connections = list(httpd.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("simulator not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}{self.base_path}"

    def publish_file(self, content: bytes, media_type: str, *, name: str = "file", valid_seconds: float = 30.0) -> str:
        """A download link that needs no token, as ledgers hand out for a document (Moneybird's PDF link is valid
        for 30 seconds; a shareable link longer); returns its full URL."""
        token = "".join(random.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=24))
        with self.lock:
            self._files[token] = (content, media_type, time.monotonic() + valid_seconds)
        return f"{self.files_url}{token}/{name}"

    @property
    def files_url(self) -> str:
        """Where the links `publish_file` hands out start."""
        return f"http://{self._host}:{self.port}/_files/"

    def _serve_file(self, request: Request) -> Response:
        content, media_type, expires = self._files.get(request.params["token"], (b"", "", 0.0))
        if time.monotonic() > expires:
            return Response.text("This link has expired", 404)
        return Response(200, content, media_type)

    def __enter__(self) -> Self:
        if self._httpd is None:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # request log and faults -------------------------------------------------------------------------

    def requests(self) -> list[dict[str, Any]]:
        """The API requests served so far: method, path, query, status, time (epoch seconds)."""
        return self.request_log.entries()

    def clear_requests(self) -> None:
        self.request_log.clear()

    def set_faults(self, spec: str | None, seed: int | None = None) -> None:
        """Replace the fault spec (None clears); raises ValueError on a bad spec."""
        self.faults.configure(spec, seed)

    # hooks a ledger simulator may override ----------------------------------------------------------

    def extract_token(self, headers: Mapping[str, str]) -> str | None:
        scheme, _, token = headers.get("authorization", "").strip().partition(" ")
        return (token.strip() or None) if scheme.lower() == "bearer" else None

    def is_authorized(self, token: str | None) -> bool:
        return token is not None and (self.valid_tokens is None or token in self.valid_tokens)

    def error_response(self, status: int, message: str) -> Response:
        return Response.json({"error": message}, status)

    def unauthorized_response(self, request: Request) -> Response:
        message = "No bearer token given" if request.token is None else "Invalid bearer token"
        return self.error_response(401, message)

    def not_found_response(self, request: Request) -> Response:
        return self.error_response(404, f"No route for {request.method} {request.path}")

    def rate_limited_response(self, decision: RateDecision) -> Response:
        delay = max(0, math.ceil(decision.reset_at - time.time()))
        return Response.text("Too Many Requests", 429, headers={"Retry-After": str(delay)})

    def server_error_response(self, status: int) -> Response:
        if status == 500:
            return self.error_response(500, "Internal server error")
        reason = {502: "502 Bad Gateway", 503: "503 Service Temporarily Unavailable"}.get(status, str(status))
        page = f"<html><head><title>{reason}</title></head><body><center><h1>{reason}</h1></center></body></html>"
        return Response.text(page, status, "text/html")

    def malformed_response(self) -> Response:
        return Response(200, b'[{"id":"4960815', "application/json; charset=utf-8")

    # the pipeline -----------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response | None:
        """Answer one HTTP request; None means close the connection without answering."""
        received = time.time()
        split = urlsplit(target)
        request = Request(
            method=method.upper(),
            path=split.path,
            route_path=split.path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers=headers,
            body=body,
            token=self.extract_token(headers),
        )
        if request.path.startswith(CONTROL_PREFIX):
            return self._dispatch(self.control_router, request) or self.error_response(404, "Unknown control route")
        response = self._dispatch(self.public_router, request)
        if response is None:
            response = self.handle_api(request)
        status = response.status if response is not None else 0
        self.request_log.record(request.method, request.path, request.query, status, received)
        return response

    def stall(self) -> None:
        """What a 'timeout' fault does: hold the request for `timeout_seconds` (or until the server stops)."""
        self._stopping.wait(self.timeout_seconds)

    def route_api(self, request: Request) -> Response:
        """Route an admitted API request below `base_path` (not found: `not_found_response`)."""
        if not request.path.startswith(self.base_path + "/"):
            return self.not_found_response(request)
        routed = replace(request, route_path=request.path[len(self.base_path) :])
        return self._dispatch(self.router, routed) or self.not_found_response(request)

    def handle_api(self, request: Request) -> Response | None:
        """The API pipeline: faults, rate limit, token check, routing. None drops the connection."""
        fault = self.faults.draw()
        if fault == "drop":
            return None
        key = request.token or ""
        if fault == "429":
            self.rate_limiter.block(key, self.burst_seconds)
        decision = self.rate_limiter.hit(key)
        if not decision.allowed:
            return self.rate_limited_response(decision)
        if fault == "timeout":
            self.stall()
        elif fault in _SERVER_ERRORS:
            return self.server_error_response(int(fault))
        elif fault == "malformed":
            return self.malformed_response()
        if not self.is_authorized(request.token):
            return self.unauthorized_response(request)
        return self.route_api(request)

    def _dispatch(self, router: Router, request: Request) -> Response | None:
        resolved = router.resolve(request.method, request.route_path)
        if resolved is None:
            return None
        handler, params = resolved
        try:
            with self.lock:
                return handler(replace(request, params=params))
        except HttpError as exc:
            return exc.response
        except Exception:
            traceback.print_exc()  # a simulator bug: answer like a crashing server, keep serving
            return self.server_error_response(500)

    # control endpoints ------------------------------------------------------------------------------

    def _clear_requests_endpoint(self, _: Request) -> Response:
        self.clear_requests()
        return Response.empty(204)

    def _set_faults_endpoint(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("spec"), str | None):
            return self.error_response(400, 'expected {"spec": "kind:rate,...", "seed": 0}')
        seed = body.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            return self.error_response(400, "seed must be an integer")
        try:
            self.set_faults(body.get("spec"), seed)
        except ValueError as exc:
            return self.error_response(400, str(exc))
        return Response.json({"spec": self.faults.spec, "seed": seed})


# --- running from the command line ------------------------------------------------------------------


def serve_until_signal(
    simulator: SimulatorServer, *, port: int = 0, lines: Callable[[], Iterable[str]] = tuple
) -> None:
    """Serve on 127.0.0.1 until SIGINT/SIGTERM. Prints `listening on <base url>` first, then `lines()`,
    then `press Ctrl+C to stop`, each line flushed at once."""
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {signum: signal.signal(signum, request_stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(f"listening on {simulator.start(port=port)}", flush=True)
        for line in [*lines(), "press Ctrl+C to stop"]:
            print(line, flush=True)
        while not stop.wait(0.2):
            pass
    finally:
        simulator.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


# --- `connector simulate LEDGER`: the options every simulator takes, under one set of names -------------

PortOption = Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port).")]
GenerateOption = Annotated[int | None, typer.Option(help="Generate this many open invoices.")]
# One name for the customers on every ledger; the ledgers' own words stay as aliases.
ContactsOption = Annotated[
    int | None, typer.Option("--contacts", "--accounts", "--relations", help="...over this many customers.")
]
FaultsOption = Annotated[
    str | None, typer.Option(help="Fault injection, e.g. '5xx:0.1,timeout:0.05,malformed:0.02,429:0.01'.")
]
FaultSeedOption = Annotated[int, typer.Option(help="Seed for the fault dice.")]
FaultTimeoutOption = Annotated[float, typer.Option(help="How long a 'timeout' fault stalls.")]


def seed_file_option(shape: str) -> Any:
    return typer.Option("--seed-file", help=f"Seed JSON: {shape}.")


def one_seed_source(seed_file: Path | None, generate: int | None) -> None:
    if seed_file is not None and generate is not None:
        typer.echo("--seed-file and --generate exclude each other", err=True)
        raise typer.Exit(2)


def serve_from_cli(
    *,
    port: int,
    seed_file: Path | None,
    generate: int | None,
    contacts: int | None,
    from_seed: Callable[[Any], SimulatorServer],
    generated: Callable[[int, int], SimulatorServer],
    invoices_per_customer: int = 5,
    fewest_customers: int = 1,
    lines: Callable[[Any], Iterable[str]] = lambda simulator: simulator.summary_lines(),
) -> None:
    """What every `connector simulate LEDGER` does: a simulator over a seed file, or over generated data (50
    invoices over 20 customers unless told), served on 127.0.0.1 until SIGINT/SIGTERM. Prints `listening on
    URL` first, then `lines(simulator)`."""
    one_seed_source(seed_file, generate)
    if seed_file is not None:
        simulator = from_seed(json.loads(seed_file.read_text(encoding="utf-8")))
    else:
        invoices = 50 if generate is None else generate
        fallback = 20 if generate is None else max(fewest_customers, generate // invoices_per_customer)
        simulator = generated(invoices, contacts if contacts is not None else fallback)
    serve_until_signal(simulator, port=port, lines=lambda: lines(simulator))


def sample_pdf(lines: Iterable[str]) -> bytes:
    """A small, valid one-page PDF showing `lines`: the invoice a simulated ledger hands out as its PDF."""
    text = " ".join(f"({_pdf_string(line)}) Tj 0 -16 Td" for line in lines)
    stream = f"BT /F1 12 Tf 72 760 Td {text} ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _pdf_string(line: str) -> str:
    """A line as a PDF literal string in Latin-1, without the characters that would end or escape it."""
    return (
        line.encode("latin-1", "replace").decode("latin-1").translate({ord("\\"): None, ord("("): "[", ord(")"): "]"})
    )
