"""The vendor material the suite tests against is in the repository, each file named in SOURCES.md with the
checksum of the copy taken from its source."""

from __future__ import annotations

import hashlib
import re

from tests.support.fixtures import FIXTURES

ROW = re.compile(r"^\| `(?P<file>[^`]+)` \|.*\| `(?P<sha256>[0-9a-f]{64})` \|$")


def _documented() -> dict[str, str]:
    """{path under tests/fixtures: sha256}, from the tables of SOURCES.md (each under a `## folder/` heading)."""
    found: dict[str, str] = {}
    folder = ""
    for line in (FIXTURES / "SOURCES.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            folder = line.removeprefix("## ").strip()
        elif match := ROW.match(line):
            found[folder + match["file"]] = match["sha256"]
    return found


def test_every_fixture_is_named_in_sources_with_the_checksum_of_its_copy() -> None:
    documented = _documented()
    present = {
        path.relative_to(FIXTURES).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in FIXTURES.rglob("*")
        if path.is_file() and path.name != "SOURCES.md"
    }
    assert present, "no fixtures found"
    assert set(present) == set(documented), set(present) ^ set(documented)
    changed = {name for name, digest in present.items() if documented[name] != digest}
    assert not changed, f"changed since they were copied (update SOURCES.md with their source): {sorted(changed)}"
