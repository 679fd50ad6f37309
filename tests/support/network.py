"""Loopback ports for tests."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on right now: for a server about to start, or a service that is down."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
