"""Which adapter serves which platform. A new ledger is one folder under adapters/ and one line here."""

from __future__ import annotations

import importlib
import sys
from typing import Any

from adapters.base import LedgerAdapter
from adapters.http import HttpOptions
from adapters.oauth import TokenKeeper
from connector.clock import Clock

ADAPTERS: dict[str, str] = {
    "moneybird": "adapters.moneybird.adapter:MoneybirdAdapter",
    "exact_online": "adapters.exact_online.adapter:ExactOnlineAdapter",
    "eboekhouden": "adapters.eboekhouden.adapter:EboekhoudenAdapter",
}


class PlatformNotAvailable(Exception):
    pass


def adapter_class(platform: str) -> type[LedgerAdapter]:
    target = ADAPTERS.get(platform)
    if target is None:
        raise PlatformNotAvailable(f"no adapter for platform {platform!r} in this version")
    module_name, _, class_name = target.partition(":")
    cls: type[LedgerAdapter] = getattr(importlib.import_module(module_name), class_name)
    return cls


def create_adapter(
    config: Any, clock: Clock, options: HttpOptions | None = None, tokens: TokenKeeper | None = None
) -> LedgerAdapter:
    """Build the adapter for one configured administration; `tokens` keeps OAuth tokens for ledgers that
    use them (Exact Online)."""
    cls = adapter_class(config.platform)
    adapter: LedgerAdapter = cls.from_config(config, clock, options or HttpOptions(), tokens)  # type: ignore[attr-defined]
    return adapter


def end_sessions() -> None:
    """Close the ledger sessions this process opened (e-Boekhouden's); for a clean stop. An adapter module
    that keeps sessions offers `end_sessions()`; modules never loaded have none open."""
    for target in ADAPTERS.values():
        module = sys.modules.get(target.partition(":")[0])
        closer = getattr(module, "end_sessions", None)
        if callable(closer):
            closer()
