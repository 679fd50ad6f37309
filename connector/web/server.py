"""Serving the web application with uvicorn on a background thread of the daemon (or of `connector cockpit`)."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from starlette.types import ASGIApp

from connector.clock import pause
from connector.log import get_logger

log = get_logger("web")


class WebServer:
    """Serves an ASGI application on host:port (0: a free port) until `stop`."""

    def __init__(self, app: ASGIApp, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))  # bound here, so that a port in use fails `start` at once, by name
        self._server = uvicorn.Server(
            uvicorn.Config(
                app,
                log_config=None,  # our own logging; uvicorn's access log stays off
                access_log=False,
                proxy_headers=False,  # the gate reads X-Forwarded-For, and only from a trusted proxy
                server_header=False,
                timeout_graceful_shutdown=2,
            )
        )
        self._thread = threading.Thread(target=self._serve, name="web", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._socket.getsockname()[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def _serve(self) -> None:
        self._server.run(sockets=[self._socket])

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the web server on {self.url} did not start")
            pause(0.01)
        log.info("web.listening", url=self.url)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._socket.close()
