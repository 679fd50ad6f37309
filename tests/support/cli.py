"""`connector` commands run in the test's own process: the same Typer app a user's shell starts, without paying
for a new interpreter on every call. The caller's CONNECTOR_* variables are hidden from the command, as they are
from a child process (`child_environ`); the working directory is the one given, as a shell's would be.
`tests/connector/test_cli.py` keeps running the real entry point (`python -m connector`) as a child process."""

from __future__ import annotations

import os
import subprocess
from contextlib import chdir
from pathlib import Path

from typer.testing import CliRunner

from connector.cli import CommandContext, app
from connector.clock import Clock, SystemClock


def run_connector(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    clock: Clock | None = None,
    operator: str | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """What `connector ARGS` in `cwd` exits with and prints, as `subprocess.run(..., text=True)` reports it."""
    hidden: dict[str, str | None] = {key: None for key in os.environ if key.startswith("CONNECTOR_")}
    context = CommandContext(clock=clock or SystemClock(), operator=operator)
    with chdir(cwd):
        result = CliRunner().invoke(app, list(args), input=stdin, env={**hidden, **(env or {})}, obj=context)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(["connector", *args], result.exit_code, result.stdout, result.stderr)
