"""One kept-alive pool per ledger host, shared by every administration's clients, against a real HTTP server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from connector.ledger.http import close_pools, pooled_transport


class CountingServer(ThreadingHTTPServer):
    daemon_threads = True
    connections = 0

    def process_request(self, request, client_address):  # type: ignore[no-untyped-def]
        self.connections += 1
        super().process_request(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def do_GET(self) -> None:
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[CountingServer]:
    found = CountingServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=found.serve_forever, daemon=True)
    thread.start()
    yield found
    found.shutdown()
    found.server_close()
    close_pools()


def test_clients_of_one_host_share_its_kept_alive_connection_and_closing_one_leaves_the_pool(
    server: CountingServer,
) -> None:
    url = f"http://127.0.0.1:{server.server_address[1]}"
    transport = pooled_transport(url)
    assert pooled_transport(url + "/api/v2") is transport  # one pool per host and port, whatever the path
    for administration in range(5):  # one client per administration and cycle, closed after it
        with httpx.Client(base_url=url, transport=pooled_transport(url)) as client:
            assert client.get(f"/administrations/{administration}").json() == {"ok": True}
    assert server.connections == 1
    close_pools()  # a clean stop closes the pool; the next client opens a new one
    with httpx.Client(base_url=url, transport=pooled_transport(url)) as client:
        assert client.get("/again").status_code == 200
    assert pooled_transport(url) is not transport
    assert server.connections == 2


def test_pools_of_different_hosts_share_one_tls_context() -> None:
    first, second = pooled_transport("https://one.example"), pooled_transport("https://two.example:8443")
    try:
        assert first is not second
        assert first._pool._ssl_context is second._pool._ssl_context
    finally:
        close_pools()
