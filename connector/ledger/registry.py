"""The single list of ledgers. A new ledger is one folder under adapters/ that exports `PLATFORM`, and one line
in `BUILT_IN` (or, for a ledger shipped as its own package, an entry point in the `connector.ledgers` group).

Ledgers are named here as module paths and loaded on first use, so the core never imports a ledger package.
"""

from __future__ import annotations

import importlib
import threading
from importlib.metadata import entry_points
from typing import Any

from connector.clock import Clock
from connector.ledger.http import HttpOptions
from connector.ledger.oauth import TokenKeeper
from connector.ledger.port import LedgerAdapter, LedgerSettings, Platform

BUILT_IN: tuple[str, ...] = (
    "adapters.moneybird",
    "adapters.exact_online",
    "adapters.eboekhouden",
)
ENTRY_POINT_GROUP = "connector.ledgers"

_platforms: dict[str, Platform[Any]] = {}
_loaded = False
_lock = threading.Lock()


class PlatformNotAvailable(Exception):
    pass


def register(platform: Platform[Any]) -> Platform[Any]:
    """Add a ledger (a plugin outside BUILT_IN, or a test's); a second ledger under a taken name is refused."""
    _load()
    with _lock:
        taken = _platforms.get(platform.name)
        if taken is not None and taken is not platform:
            raise ValueError(f"a ledger named {platform.name!r} is registered already")
        _platforms[platform.name] = platform
    return platform


def unregister(name: str) -> None:
    with _lock:
        _platforms.pop(name, None)


def platforms() -> list[Platform[Any]]:
    _load()
    return list(_platforms.values())


def names() -> list[str]:
    return [platform.name for platform in platforms()]


def platform(name: str) -> Platform[Any]:
    """The ledger by its configured name or one of its aliases."""
    for candidate in platforms():
        if name == candidate.name or name in candidate.aliases:
            return candidate
    raise PlatformNotAvailable(f"no adapter for platform {name!r} in this version (known: {', '.join(names())})")


def settings_models() -> dict[str, type[LedgerSettings]]:
    return {candidate.name: candidate.settings for candidate in platforms()}


def create_adapter(
    config: LedgerSettings, clock: Clock, options: HttpOptions | None = None, tokens: TokenKeeper | None = None
) -> LedgerAdapter:
    """Build the adapter for one configured administration; `tokens` keeps OAuth tokens for ledgers that
    use them."""
    return platform(config.platform).create(config, clock, options or HttpOptions(), tokens)


def load(target: str) -> Any:
    """What a `module:name` reference in a Platform names (a simulator's command or class)."""
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def end_sessions() -> None:
    """Close what the ledgers this process used keep open across adapters, for a clean stop."""
    for candidate in platforms():
        if candidate.shutdown is not None:
            candidate.shutdown()


def _load() -> None:
    global _loaded
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        for module_name in BUILT_IN:
            _add(importlib.import_module(module_name).PLATFORM)
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            _add(entry.load())
        _loaded = True


def _add(found: Platform[Any]) -> None:
    if not isinstance(found, Platform):
        raise TypeError(f"{found!r} is not a connector.ledger.port.Platform")
    _platforms.setdefault(found.name, found)
