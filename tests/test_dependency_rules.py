"""The dependency rules in pyproject.toml catch what they are meant to: on a copy of the code with one forbidden
import planted per rule, `lint-imports` fails and names each broken rule and the import that broke it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.processes import child_environ

ROOT = Path(__file__).resolve().parent.parent
PLANTED = {
    # file: (a line to put before its first `from connector.` import, the rule it breaks)
    "connector/daemon.py": (
        "from adapters.moneybird.settings import MoneybirdAdministration",
        "The core never imports a ledger",
    ),
    "adapters/eboekhouden/mapping.py": (
        "from connector.store import Store",
        "A ledger imports only the port and the core's domain, clock and log",
    ),
    "adapters/moneybird/mapping.py": (
        "from adapters.exact_online.mapping import Term",
        "Ledgers are independent of each other",
    ),
    "connector/workflow/planner.py": (
        "import httpx",
        "The workflow is pure",
    ),
}


def test_each_rule_fails_on_a_planted_forbidden_import(tmp_path: Path) -> None:
    for package in ("connector", "adapters"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for relative, (line, _) in PLANTED.items():
        path = tmp_path / relative
        text = path.read_text()
        first = re.search(r"^from connector\.", text, flags=re.MULTILINE)
        assert first, relative
        path.write_text(f"{text[: first.start()]}{line}  # noqa: F401\n{text[first.start() :]}")

    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=tmp_path,
        env=child_environ(PYTHONPATH=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Contracts: 0 kept, 4 broken." in result.stdout, result.stdout
    for relative, (line, rule) in PLANTED.items():
        assert f"{rule}" in result.stdout.split("Broken contracts", 1)[1], rule
        imported = line.split()[1]
        importer = relative.removesuffix(".py").replace("/", ".")
        assert f"{importer} -> {imported}" in result.stdout, (importer, imported, result.stdout)
