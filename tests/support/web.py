"""The web application in a test: a client over HTTPS (as a reverse proxy would give it), and people signed in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.testclient import TestClient

from connector.daemon import Daemon
from connector.store.users import UserStore
from connector.web.app import Site, create_app

PASSWORD = "correct horse battery staple"


@contextmanager
def web_client(daemon: Daemon) -> Iterator[TestClient]:
    """The application the daemon serves, health endpoints and cockpit, without a socket."""
    app = create_app(Site(daemon.settings, daemon.store, daemon.clock), daemon.endpoints())
    with TestClient(app, base_url="https://connector.example", raise_server_exceptions=False) as client:
        yield client


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: TestClient, daemon: Daemon, username: str = "petra", role: str = "controller") -> None:
    """An account with `role` (added once), signed in through the sign-in form as a person would."""
    users = UserStore(daemon.store)
    if users.find(username) is None:
        users.add(username, role, by="test", display_name=username.title(), password=PASSWORD)
    form = client.get("/login")
    answer = client.post(
        "/login",
        data={"csrf": csrf_of(form.text), "username": username, "password": PASSWORD, "next": "/"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


def status_page(daemon: Daemon) -> str:
    """The operations page (/status) as a signed-in viewer sees it."""
    with web_client(daemon) as client:
        sign_in(client, daemon, "viewer", "viewer")
        answer = client.get("/status", headers={"accept": "text/html"})
        assert answer.status_code == 200, answer.text
        return answer.text
