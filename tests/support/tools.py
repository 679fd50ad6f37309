"""System tools some tests need (chromium, pdftoppm, Dovecot), and where their artifacts go.

Locally a missing tool skips its tests with the package to install; under CI (`CI` set, as `.ci/run` runs) it is an
error, since `.ci/run` installs them all. Artifacts (screenshots, the letters' pages) go to test-artifacts/ in the
checkout, or $TEST_ARTIFACTS_DIR.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def tool(command: str, package: str, *, also: tuple[str, ...] = ()) -> str:
    """The path of a system command, else skip (or fail under CI) naming the Debian package that has it."""
    found = shutil.which(command) or next((path for path in also if Path(path).exists()), None)
    if found is not None:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"CI must run this test: install Debian's {package} (.ci/run does)")
    pytest.skip(f"{command} is not installed: apt-get install {package} to run this test")


def artifacts() -> Path:
    folder = Path(os.environ.get("TEST_ARTIFACTS_DIR", ROOT / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
