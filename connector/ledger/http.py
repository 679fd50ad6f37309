"""One HTTP layer for every adapter: timeouts, retries, rate limits, error mapping, redaction, call counts.

- Retries (tenacity, jittered exponential backoff) on connection errors, timeouts, 5xx and malformed
  answers — but a request that is not idempotent is only retried when it surely never reached the ledger.
- 429: wait until the platform's reset time (headers parsed as epoch seconds, epoch milliseconds or a
  delay, whichever the value is), then retry; a reset further away than `max_rate_limit_wait` (a daily
  budget spent) ends the request with RateLimited instead of blocking for hours.
- An endpoint that keeps answering 4xx is held back for a while (`ErrorBudget`): some ledgers block an
  endpoint for an hour after ten errors, and repeating a refused request never helps.
- A client-side sliding-window limiter keeps each credential under the platform's published limit, so
  429s stay rare. Limiters are shared per (platform, credential): two administrations reached with one
  token share one budget, because that is how the ledger counts.
- Every wait (the limiter, a 429, a retry's backoff) goes through `idle_sleep`, which lends the thread's work
  slot to another cycle meanwhile when the caller registered one (`lending_while_idle`): a thread that only
  waits on a ledger's budget does not keep work for other ledgers waiting.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json as jsonlib
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from connector.clock import pause
from connector.ledger.port import (
    AuthError,
    LedgerError,
    NotFound,
    RateLimited,
    RequestRejected,
    TransientError,
)
from connector.log import get_logger, redact_url

USER_AGENT = "ledger-connector/0.1"
T = TypeVar("T")
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


LEND_AFTER_SECONDS = 0.05  # shorter waits keep the slot: lending costs more than it frees
_idle = threading.local()


@contextlib.contextmanager
def lending_while_idle(lend: Callable[[], AbstractContextManager[None]]) -> Iterator[None]:
    """While inside, `idle_sleep` on this thread waits inside `lend()` (which gives the thread's work slot
    to another cycle and takes it back before returning)."""
    previous = getattr(_idle, "lend", None)
    _idle.lend = lend
    try:
        yield
    finally:
        _idle.lend = previous


def idle_sleep(seconds: float) -> None:
    """A pause for waits on a ledger: the thread's work slot is lent out meanwhile, if it has one."""
    lend = getattr(_idle, "lend", None)
    if lend is None or seconds < LEND_AFTER_SECONDS:
        pause(seconds)
        return
    with lend():
        pause(seconds)


@dataclass(frozen=True)
class RateLimit:
    requests: int
    per_seconds: float

    def with_headroom(self, fraction: float) -> RateLimit:
        """Keep `fraction` of the budget free for other tools and for retries."""
        return RateLimit(max(1, int(self.requests * (1 - fraction))), self.per_seconds)


class RateLimiter:
    """At most `limit.requests` calls in any window of `limit.per_seconds` (a sliding log)."""

    def __init__(
        self,
        limit: RateLimit,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = idle_sleep,
        learns_from_store: bool = True,
        key: str = "",
    ) -> None:
        self.limit = limit
        self.key = key  # names the budget in the store (platform and credential fingerprint, no secret)
        self._monotonic = monotonic
        self._sleep = sleep
        self._calls: collections.deque[float] = collections.deque()
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self.waited_seconds = 0.0
        self.used = False
        # Until it makes its first call, a limiter may be told what earlier processes spent.
        self.learns_from_store = learns_from_store

    def _window(self) -> float:
        # A small guard so that clock jitter between us and the ledger never puts one call too many
        # into the ledger's window.
        return self.limit.per_seconds + max(0.05, self.limit.per_seconds * 0.01)

    def acquire(self) -> float:
        """Block until a call may be made; returns how long it waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._monotonic()
                window = self._window()
                while self._calls and self._calls[0] <= now - window:
                    self._calls.popleft()
                delay = self._paused_until - now
                if delay <= 0 and len(self._calls) < self.limit.requests:
                    self._calls.append(now)
                    self.used = True
                    self.waited_seconds += waited
                    return waited
                if delay <= 0:
                    delay = self._calls[0] + window - now
            delay = max(delay, 0.001)
            self._sleep(delay)
            waited += delay

    def pause_for(self, seconds: float) -> None:
        """The ledger said to stop (a 429): nobody on this credential calls until then."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._monotonic() + seconds)

    def calls_in_window(self) -> int:
        """Calls counted in the current window (this process's, and earlier ones' it was told of)."""
        with self._lock:
            start = self._monotonic() - self._window()
            return sum(1 for at in self._calls if at > start)

    def record_past_calls(self, count: int, seconds_ago: float) -> None:
        """Count calls an earlier process made, so a restart does not overrun the ledger's window."""
        with self._lock:
            self.learns_from_store = False
            at = self._monotonic() - max(0.0, seconds_ago)
            for _ in range(min(count, self.limit.requests)):
                self._calls.appendleft(at)
            self._calls = collections.deque(sorted(self._calls))


_limiters: dict[str, RateLimiter] = {}
_limiters_lock = threading.Lock()


def rate_key(platform: str, credential: str) -> str:
    """A budget's name: the platform and a fingerprint of the credential (not reversible to it)."""
    return f"{platform}:{hashlib.sha256(credential.encode()).hexdigest()[:16]}"


def shared_limiter(platform: str, credential: str, limit: RateLimit) -> RateLimiter:
    """The limiter for one credential of one platform, shared by every client that uses it.

    The ledger counts per credential, so administrations reached with one token share one budget; when
    they ask for different limits, the strictest holds.
    """
    key = rate_key(platform, credential)
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            limiter = _limiters[key] = RateLimiter(limit, key=key)
        elif limit.requests / limit.per_seconds < limiter.limit.requests / limiter.limit.per_seconds:
            limiter.limit = limit
        return limiter


class ErrorBudget:
    """At most `max_errors` 4xx answers per endpoint in `per_seconds`; after that the endpoint is not called
    until the oldest error ages out. Shared per credential like the rate limiter, since the ledger counts so."""

    def __init__(self, max_errors: int, per_seconds: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.max_errors = max_errors
        self.per_seconds = per_seconds
        self._monotonic = monotonic
        self._errors: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, endpoint: str) -> collections.deque[float]:
        errors = self._errors.setdefault(endpoint, collections.deque())
        while errors and errors[0] <= self._monotonic() - self.per_seconds:
            errors.popleft()
        return errors

    def record(self, endpoint: str) -> None:
        with self._lock:
            self._recent(endpoint).append(self._monotonic())

    def blocked_for(self, endpoint: str) -> float:
        """Seconds until the endpoint may be called again (0: now)."""
        with self._lock:
            errors = self._recent(endpoint)
            if len(errors) < self.max_errors:
                return 0.0
            return errors[0] + self.per_seconds - self._monotonic()


_shared: dict[tuple[type, str], Any] = {}


def shared(kind: type[T], key: str, make: Callable[[], T]) -> T:
    """The one object of `kind` for a rate budget's `key` in this process (made on first use): the ledger
    counts per credential, so every client on that credential must share what it knows."""
    with _limiters_lock:
        found = _shared.get((kind, key))
        if found is None:
            found = _shared[(kind, key)] = make()
        assert isinstance(found, kind)
        return found


def shared_objects(kind: type[T]) -> list[T]:
    """Every shared object of `kind` made so far (to release them at shutdown)."""
    with _limiters_lock:
        return [found for (made, _), found in _shared.items() if made is kind]


def shared_error_budget(key: str, max_errors: int, per_seconds: float) -> ErrorBudget:
    return shared(ErrorBudget, key, lambda: ErrorBudget(max_errors, per_seconds))


class PooledTransport(httpx.HTTPTransport):
    """One connection pool per ledger host for the whole process: a thousand administrations on one
    platform reuse a few kept-alive connections (and one TLS context) instead of each cycle opening its
    own. Clients come and go per cycle; the pool stays until `close_pools` at shutdown."""

    def close(self) -> None:
        pass  # a client closing must not close the pool its neighbours use

    def __enter__(self) -> PooledTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass  # nor a client used as a context manager (httpx closes the transport's pool on exit)

    def close_pool(self) -> None:
        super().close()


def pooled_transport(base_url: str) -> PooledTransport:
    url = httpx.URL(base_url)
    origin = f"{url.scheme}://{url.host}:{url.port or ''}"
    tls = _tls_context()  # not inside the lambda: `shared` holds its lock while making
    return shared(
        PooledTransport, origin, lambda: PooledTransport(verify=tls, limits=httpx.Limits(max_keepalive_connections=32))
    )


def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every pool (loading the CA bundle costs about a megabyte each time)."""
    return shared(ssl.SSLContext, "tls", lambda: httpx.create_ssl_context())


def close_pools() -> None:
    """Close every pooled connection (a clean stop, when no cycle uses them any more)."""
    with _limiters_lock:
        pools = [key for key in _shared if key[0] is PooledTransport]
        transports = [_shared.pop(key) for key in pools]
    for transport in transports:
        transport.close_pool()


def reset_delay(value: str | None, now: datetime) -> float | None:
    """Seconds until a reset given as epoch milliseconds, epoch seconds or a plain delay in seconds."""
    if not value:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if number > 1e12:  # epoch milliseconds (Exact Online)
        return number / 1000 - now.timestamp()
    if number > 1e9:  # epoch seconds (Moneybird)
        return number - now.timestamp()
    return number


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    initial_wait: float = 0.5
    max_wait: float = 30.0
    max_rate_limit_wait: float = 900.0


@dataclass(frozen=True)
class HttpOptions:
    """How adapters reach the network: the defaults in production; tests and tools may swap parts."""

    retry: RetryPolicy = RetryPolicy()
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = idle_sleep
    private_limiters: bool = False  # a fresh limiter per client instead of the process-wide shared one

    def limiter_for(self, platform: str, credential: str, limit: RateLimit) -> RateLimiter:
        if self.private_limiters:
            return RateLimiter(limit, sleep=self.sleep, learns_from_store=False, key=rate_key(platform, credential))
        return shared_limiter(platform, credential, limit)


class _RetryableResponse(Exception):
    def __init__(self, message: str, *, wait: float | None = None, status: int = 0) -> None:
        super().__init__(message)
        self.wait = wait
        self.status = status


class _Throttled(_RetryableResponse):
    pass


class _ServerError(_RetryableResponse):
    pass


class _Malformed(_RetryableResponse):
    pass


def default_error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict):
        for key in ("error", "message", "title", "detail"):
            if key in body:
                return str(body[key])
    return str(body)[:200]


class ApiClient:
    """An httpx client for one administration, with the shared policies applied."""

    def __init__(
        self,
        *,
        platform: str,
        administration: str,
        base_url: str,
        rate_limiter: RateLimiter,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = idle_sleep,
        error_message: Callable[[httpx.Response], str] = default_error_message,
        reset_headers: tuple[str, ...] = ("Retry-After",),
        on_response: Callable[[httpx.Response], None] | None = None,
        error_budget: ErrorBudget | None = None,
        decimal_json: bool = False,
        classify_error: Callable[[str, httpx.Response], LedgerError | None] | None = None,
    ) -> None:
        """`on_response` sees every answer (to read rate-limit headers); `decimal_json` parses JSON numbers
        as Decimal, for ledgers that send amounts as numbers; `classify_error` may map a 4xx to the contract's
        error by its body (a ledger that says "administration blocked" in a 400), given the message."""
        self.platform = platform
        self.administration = administration
        self.timeout = timeout
        self.limiter = rate_limiter
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._error_message = error_message
        self._reset_headers = reset_headers
        self._on_response = on_response
        self.error_budget = error_budget
        self._decimal_json = decimal_json
        self._classify_error = classify_error
        self._counts: collections.Counter[str] = collections.Counter()
        self._throttled = 0  # 429 responses received
        self._counts_lock = threading.Lock()
        self.log = get_logger("http", platform=platform, administration=administration)
        self._client = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
            auth=auth,
            timeout=httpx.Timeout(timeout),
            transport=transport or pooled_transport(base_url),
            follow_redirects=False,
        )

    # --- public ---------------------------------------------------------------------------------------

    def get_json(self, path: str, *, endpoint: str, params: Mapping[str, str] | None = None) -> Any:
        return self.request("GET", path, endpoint=endpoint, params=params, expect_json=True)

    def post_json(self, path: str, *, endpoint: str, body: Any, idempotent: bool = False) -> Any:
        return self.request("POST", path, endpoint=endpoint, json=body, idempotent=idempotent, expect_json=True)

    def request(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
        expect_json: bool = False,
    ) -> Any:
        """Send one logical request (maybe several attempts) and return the parsed JSON or the response.

        Raises the contract's errors: AuthError, NotFound, RequestRejected, RateLimited, TransientError.
        """
        method = method.upper()
        safe_to_repeat = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        retrying = Retrying(
            stop=stop_after_attempt(self.retry.attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda e: self._retryable(e, safe_to_repeat)),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return retrying(self._attempt, method, path, endpoint, params, json, expect_json)
        except _Throttled as exc:
            retry_at = datetime.now(UTC) + timedelta(seconds=exc.wait or 0)
            raise RateLimited(
                f"{endpoint}: rate limited by {self.platform} until {retry_at:%H:%M} UTC", retry_at
            ) from exc
        except _RetryableResponse as exc:
            raise TransientError(f"{endpoint}: {exc}", outcome_unknown=not safe_to_repeat) from exc
        except httpx.LocalProtocolError as exc:
            # We could not even form the request (an illegal header value, say): a configuration problem.
            raise RequestRejected(f"{endpoint}: the request could not be sent ({type(exc).__name__})", 0) from exc
        except httpx.TransportError as exc:
            unknown = not safe_to_repeat and not _never_sent(exc)
            raise TransientError(f"{endpoint}: {type(exc).__name__}: {exc}", outcome_unknown=unknown) from exc

    def api_calls(self) -> dict[str, int]:
        with self._counts_lock:
            return {endpoint: count for endpoint, count in self._counts.items() if count}

    def throttled_responses(self) -> int:
        """How many 429s the ledger answered (each also counts as a call)."""
        with self._counts_lock:
            return self._throttled

    def close(self) -> None:
        self._client.close()

    # --- one attempt ------------------------------------------------------------------------------------

    def _attempt(
        self,
        method: str,
        path: str,
        endpoint: str,
        params: Mapping[str, str] | None,
        json: Any,
        expect_json: bool,
    ) -> Any:
        if self.error_budget is not None:
            blocked = self.error_budget.blocked_for(endpoint)
            if blocked > 0:
                raise RequestRejected(
                    f"{endpoint}: held back for {blocked / 60:.0f} more minutes after "
                    f"{self.error_budget.max_errors} refused requests within the hour",
                    0,
                )
        self.limiter.acquire()
        with self._counts_lock:
            self._counts[endpoint] += 1
        started = time.perf_counter()
        try:
            response = self._client.request(method, path.lstrip("/"), params=params, json=json)
        except httpx.LocalProtocolError:
            with self._counts_lock:
                self._counts[endpoint] -= 1  # it never left this process
            raise
        except httpx.TransportError as exc:
            self.log.debug("http.error", method=method, endpoint=endpoint, error=type(exc).__name__)
            raise
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        self.log.debug(
            "http.response",
            method=method,
            endpoint=endpoint,
            url=redact_url(str(response.request.url)),
            status=response.status_code,
            ms=elapsed_ms,
        )
        status = response.status_code
        if self._on_response is not None:
            self._on_response(response)
        if status == 429:
            with self._counts_lock:
                self._throttled += 1
            wait = self._throttle_wait(response)
            self.limiter.pause_for(wait)
            raise _Throttled("429 Too Many Requests", wait=wait, status=status)
        if status >= 500:
            raise _ServerError(f"{status} {response.reason_phrase}", status=status)
        if status >= 400:
            if self.error_budget is not None:
                self.error_budget.record(endpoint)
            raise self._client_error(endpoint, response)
        if not expect_json:
            return response
        if status == 204 or not response.content:
            return None
        try:
            if self._decimal_json:
                return jsonlib.loads(response.content, parse_float=Decimal)
            return response.json()
        except ValueError as exc:
            raise _Malformed(f"malformed JSON in a {status} answer", status=status) from exc

    def _client_error(self, endpoint: str, response: httpx.Response) -> LedgerError:
        status = response.status_code
        message = f"{endpoint}: {status} {self._error_message(response)}"
        if self._classify_error is not None:
            classified = self._classify_error(message, response)
            if classified is not None:
                return classified
        if status in (401, 403):
            return AuthError(message)
        if status == 404:
            return NotFound(message)
        return RequestRejected(message, status)

    def _throttle_wait(self, response: httpx.Response) -> float:
        now = datetime.now(UTC)
        for header in self._reset_headers:
            delay = reset_delay(response.headers.get(header), now)
            if delay is not None:
                return max(delay, 0.5)
        return self.retry.initial_wait * 4

    # --- retry policy ---------------------------------------------------------------------------------

    def _retryable(self, exc: BaseException, safe_to_repeat: bool) -> bool:
        if isinstance(exc, _Throttled):
            # The ledger refused it, so it was not carried out; but a reset hours away (a daily budget
            # spent) is for the scheduler to wait out, not this request.
            return exc.wait is None or exc.wait <= self.retry.max_rate_limit_wait
        if isinstance(exc, httpx.LocalProtocolError):
            return False
        if isinstance(exc, httpx.TransportError):
            return safe_to_repeat or _never_sent(exc)
        if isinstance(exc, _RetryableResponse):
            return safe_to_repeat
        return False

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Throttled) and exc.wait is not None:
            return exc.wait
        backoff = wait_random_exponential(multiplier=self.retry.initial_wait, max=self.retry.max_wait)
        return float(backoff(state))

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0
        self.log.info("http.retry", attempt=state.attempt_number, reason=str(exc), wait_s=round(wait, 2))


def _never_sent(exc: httpx.TransportError) -> bool:
    """True when the request cannot have reached the ledger, so even a POST may be repeated."""
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


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


def download(url: str, *, max_bytes: int, timeout: float, headers: Mapping[str, str] | None = None) -> bytes | None:
    """A document from a link a ledger handed out (a PDF on a storage service): at most `max_bytes`, read no
    further; None when it is not there, larger, or no PDF. Over HTTPS only (plain HTTP to this machine)."""
    try:
        refuse_plain_http(url, "a document link")
    except ValueError as exc:
        raise RequestRejected(str(exc), 0) from None
    try:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=True, headers=headers) as response:
            if response.status_code >= 500 or response.status_code == 429:
                raise TransientError(f"download: {response.status_code} {response.reason_phrase}")
            if response.status_code != 200 or int(response.headers.get("Content-Length") or 0) > max_bytes:
                return None
            content = bytearray()
            for chunk in response.iter_bytes():
                content += chunk
                if len(content) > max_bytes:
                    return None
    except httpx.TransportError as exc:
        raise TransientError(f"download: {type(exc).__name__}: {exc}") from exc
    return bytes(content) if content.startswith(b"%PDF-") else None
