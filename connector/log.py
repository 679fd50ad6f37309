"""Structured logging: JSON when not on a terminal, readable on a terminal; secrets never leave the process.

Redaction works two ways: values under sensitive key names are masked, and every secret value the
configuration resolved is registered here and masked wherever it appears in a log line.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import structlog

MASK = "***"
_SENSITIVE_KEY = re.compile(
    r"(authorization|token|secret|password|passwd|api[_-]?key|apikey|session|cookie|credential)", re.I
)
_secret_values: set[str] = set()
_secret_lock = threading.Lock()
_secret_pattern: re.Pattern[str] | None = None


def register_secret(value: str | None) -> None:
    """Mask this exact value wherever it appears in a log line from now on."""
    global _secret_pattern
    if not value or len(value) < 4:
        return
    escaped = value.encode("unicode_escape").decode("ascii")  # as it appears inside a repr() in an error message
    with _secret_lock:
        if value in _secret_values and escaped in _secret_values:
            return
        _secret_values.update({value, escaped})
        _secret_pattern = None  # compiled again on the next use: registering a thousand tokens stays linear


def _pattern() -> re.Pattern[str] | None:
    global _secret_pattern
    pattern = _secret_pattern
    if pattern is not None or not _secret_values:
        return pattern
    with _secret_lock:
        if _secret_pattern is None:
            ordered = sorted(_secret_values, key=len, reverse=True)  # the longest first: no partial masks
            _secret_pattern = re.compile("|".join(re.escape(v) for v in ordered))
        return _secret_pattern


def is_sensitive_key(key: str) -> bool:
    return bool(_SENSITIVE_KEY.search(key))


def redact_text(text: str) -> str:
    pattern = _pattern()
    return pattern.sub(MASK, text) if pattern else text


def redact_url(url: str) -> str:
    """Mask credentials in a URL: user:password@ and sensitive query parameters."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{host}" if ":" in userinfo else f"{user}@{host}"
    query = parts.query
    if query:
        pairs = [(k, MASK if is_sensitive_key(k) else v) for k, v in parse_qsl(query, keep_blank_values=True)]
        query = urlencode(pairs, safe=":|,*")
    return redact_text(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


def redact(value: Any, key: str = "") -> Any:
    if key and is_sensitive_key(key) and value not in (None, "", 0, False):
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def _redact_processor(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        event_dict[key] = redact(event_dict[key], key if key != "event" else "")
    return event_dict


LogFormat = Literal["auto", "json", "console"]


class _Stderr:
    """Whatever sys.stderr is at the moment of writing (it can be swapped, e.g. by a test runner)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure_logging(level: str = "info", fmt: LogFormat = "auto", stream: Any = None) -> None:
    stream = stream or _Stderr()
    use_json = fmt == "json" or (fmt == "auto" and not getattr(stream, "isatty", lambda: False)())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=getattr(stream, "isatty", lambda: False)())
    )
    processors: Iterable[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _redact_processor,
        renderer,
    ]
    structlog.configure(
        processors=list(processors),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    _route_library_logs()


class _LibraryLogs(logging.Handler):
    """Libraries that log through the standard library (the scheduler) end up in the same structured stream."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            level = record.levelno
            if "maximum number of running instances" in message:
                level = logging.INFO  # the previous cycle is still running: by design, cycles never overlap
            get_logger(record.name).log(level, message)
        except Exception:  # a log line must never take the process down
            self.handleError(record)


def _route_library_logs() -> None:
    for name in ("apscheduler",):
        library = logging.getLogger(name)
        library.handlers = [_LibraryLogs()]
        library.setLevel(logging.WARNING)  # its INFO lines ("Running job ...") repeat every cycle
        library.propagate = False


def get_logger(name: str, **context: Any) -> Any:
    """A lazy logger: it picks up the configuration in force when it first logs, not at import."""
    return structlog.get_logger(name, logger_name=name, **context)
