"""The environment for a `connector` child process: the caller's shell minus its CONNECTOR_* settings."""

from __future__ import annotations

import os


def child_environ(**extra: str) -> dict[str, str]:
    """What a test's subprocess runs with: PATH, the preloaded fake clock and the like pass through, but a
    CONNECTOR_* variable in the shell that runs the suite (CI plants one on purpose) never reaches the child."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("CONNECTOR_")}
    environ.update(extra)
    return environ
