"""`connector auth LEDGER`: the one interactive step of an OAuth ledger, and importing an existing chain.

The consent URL is the ledger's (its `OAuthSupport.client`); the code comes back on the local redirect URI
(a one-shot listener on 127.0.0.1), by paste, or as `--code`. The new token pair is stored encrypted before
anything else happens, and every administration on that connection is unparked.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from connector.config import Settings
from connector.ledger.oauth import OAuthClient, TokenGrant
from connector.ledger.port import LedgerSettings
from connector.store import Store
from connector.store.overview import OverviewStore
from connector.store.tokens import TokenStatus, TokenVault


class ConsentError(Exception):
    """The consent did not complete (no code, a state that does not match, the user declined)."""


def code_from_redirect(text: str, state: str | None, ledger: str = "the ledger") -> str:
    """The authorization code from a pasted redirect URL (checking `state`) or a pasted bare code."""
    text = text.strip()
    if "://" not in text and "code=" not in text:
        if not text:
            raise ConsentError("no code given")
        return text
    query = parse_qs(urlsplit(text).query or text.split("?", 1)[-1])
    if "error" in query:
        raise ConsentError(f"{ledger} answered: {query['error'][0]} {query.get('error_description', [''])[0]}")
    if state is not None and query.get("state", [None])[0] != state:
        raise ConsentError("the redirect's state does not match this consent: start again")
    codes = query.get("code")
    if not codes:
        raise ConsentError("the redirect carries no code")
    return codes[0]


def wait_for_redirect(redirect_uri: str, state: str, timeout: float) -> str:
    """Serve the redirect URI once on loopback and return the code it brings."""
    parts = urlsplit(redirect_uri)
    if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ConsentError(f"{redirect_uri} is not a local http address: use --paste")
    received: dict[str, str] = {}
    done = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if urlsplit(self.path).path != (parts.path or "/"):
                self.send_error(404)
                return
            try:
                received["code"] = code_from_redirect(self.path, state)
                status, page = 200, "Consent received. You can close this window and return to the terminal."
            except ConsentError as exc:
                received["error"] = str(exc)
                status, page = 400, f"Consent failed: {exc}"
            body = f"<!doctype html><meta charset=utf-8><title>Connector</title><p>{page}</p>".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            done.set()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer((parts.hostname or "127.0.0.1", parts.port or 80), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        if not done.wait(timeout):
            raise ConsentError(f"no consent arrived on {redirect_uri} within {timeout:.0f} s")
    finally:
        server.shutdown()
        server.server_close()
    if "error" in received:
        raise ConsentError(received["error"])
    return received["code"]


@dataclass
class ConsentResult:
    status: TokenStatus
    unparked: list[str]


def store_grant(
    settings: Settings, store: Store, config: LedgerSettings, vault: TokenVault, oauth: OAuthClient, grant: TokenGrant
) -> ConsentResult:
    connection = _connection(config)
    status = vault.save_grant(connection, config.platform, oauth.client_id, grant)
    return ConsentResult(status, _unpark_connection(settings, store, config.platform, connection))


def import_refresh_token(
    settings: Settings, store: Store, config: LedgerSettings, vault: TokenVault, refresh_token: str, oauth: OAuthClient
) -> ConsentResult:
    """Take over a chain and prove it works: the refresh ends the other integration's hold. The token is
    refreshed before anything is stored, so a mistyped or dead one never replaces a working chain; the new
    pair is committed before its access token is used."""
    grant = oauth.refresh(refresh_token.strip())
    return store_grant(settings, store, config, vault, oauth, grant)


def _connection(config: LedgerSettings) -> str:
    if config.token_connection is None:
        raise ConsentError(f"{config.name}: {config.platform} keeps no OAuth tokens")
    return config.token_connection


def _unpark_connection(settings: Settings, store: Store, platform: str, connection: str) -> list[str]:
    overview = OverviewStore(store)
    names = [
        admin.name
        for admin in settings.administrations
        if admin.platform == platform and admin.token_connection == connection
    ]
    return [name for name in names if overview.unpark(name, by=f"connector: a new {platform} consent")]


def consent_flow(
    oauth: OAuthClient,
    *,
    ledger: str,
    code: str | None,
    paste: bool,
    prompt: Callable[[str], str],
    say: Callable[[str], None],
    timeout: float,
) -> TokenGrant:
    """Print the consent URL, get the code (given, pasted or on the redirect URI) and exchange it."""
    url, state = oauth.consent_url()
    if code is None:
        say(f"Open this URL in a browser, sign in to {ledger} and allow access:")
        say(url)
        if paste:
            answer = prompt("Paste the address the browser was sent to (or the code)")
            code = code_from_redirect(answer, state, ledger)
        else:
            say(f"Waiting for the redirect on {oauth.redirect_uri} (up to {timeout:.0f} s) ...")
            code = wait_for_redirect(oauth.redirect_uri, state, timeout)
    return oauth.exchange_code(code)
