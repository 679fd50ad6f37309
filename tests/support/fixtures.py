"""The vendors' API descriptions and example payloads the tests check against, kept in `tests/fixtures/`
(`tests/fixtures/SOURCES.md` names where each came from)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def payload_path(ledger: str, name: str) -> Path:
    return FIXTURES / "payloads" / ledger / name


def vendor_payload(ledger: str, name: str) -> Any:
    """An example payload as the vendor published it (`ledger`: moneybird, eboekhouden or exact_online)."""
    return json.loads(payload_path(ledger, name).read_text(encoding="utf-8"))


def spec_path(name: str) -> Path:
    return FIXTURES / "specs" / name
