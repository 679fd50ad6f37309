"""Who gets in, and what they may change: no page without a session, no change without the page's CSRF token,
a viewer changes nothing, sign-in failures counted and then refused, sessions that end."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import select
from starlette.routing import Route
from starlette.testclient import TestClient

from connector.clock import ManualClock
from connector.daemon import Daemon
from connector.store.models import AuditEntry
from connector.store.users import UserStore
from connector.web.gate import SESSION_COOKIE
from tests.support.web import PASSWORD, csrf_of, sign_in, web_client

OPEN = {"/healthz", "/readyz", "/metrics", "/login", "/status.json"}  # probes, and the sign-in itself
PERSONAL = {"/login", "/logout", "/language"}  # what anyone may do for themselves


def routes(client: TestClient, method: str) -> list[str]:
    """Every route for `method`, with its parameters filled in (the administration is "shop")."""
    return sorted(
        re.sub(
            r"\{(\w+)(:int)?\}", lambda found: "1" if found[2] else "shop" if found[1] == "name" else "x", route.path
        )
        for route in client.app.routes  # type: ignore[attr-defined]
        if isinstance(route, Route) and method in (route.methods or ())
    )


def test_no_page_without_a_session(client: TestClient) -> None:
    pages = [path for path in routes(client, "GET") if path not in OPEN]
    assert {"/", "/status", "/a/shop"} <= set(pages)
    for path in pages:
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next="), path
    assert client.get("/status.json").status_code == 200  # the tools' JSON: open until a status_token is set


def test_a_post_without_the_pages_csrf_token_is_refused(client: TestClient, daemon: Daemon) -> None:
    sign_in(client, daemon, "anna", "admin")
    page = client.get("/").text
    for path in routes(client, "POST"):
        assert client.post(path, data={}).status_code == 403, path
        assert client.post(path, data={"csrf": "forged"}).status_code == 403, path
    # From another site, even with the token: refused.
    token = csrf_of(page)
    answer = client.post(
        "/language", data={"csrf": token, "language": "en"}, headers={"origin": "https://evil.example"}
    )
    assert answer.status_code == 403
    assert client.post("/language", data={"csrf": token, "language": "en"}, follow_redirects=False).status_code == 303


def test_a_viewer_changes_nothing(client: TestClient, daemon: Daemon) -> None:
    sign_in(client, daemon, "vera", "viewer")
    token = csrf_of(client.get("/").text)
    changing = [path for path in routes(client, "POST") if path not in PERSONAL]
    assert "/a/shop/approve" in changing
    for path in changing:
        assert client.post(path, data={"csrf": token}).status_code == 403, path


def test_the_session_cookie_is_httponly_secure_and_same_site(client: TestClient, daemon: Daemon) -> None:
    UserStore(daemon.store).add("petra", "controller", by="test", password=PASSWORD)
    form = client.get("/login")
    answer = client.post(
        "/login",
        data={"csrf": csrf_of(form.text), "username": "Petra", "password": PASSWORD, "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/"  # never on to another site
    cookie = next(v for k, v in answer.headers.multi_items() if k == "set-cookie" and v.startswith(SESSION_COOKIE))
    assert {"HttpOnly", "Secure", "SameSite=Lax", "Path=/"} <= {part.strip() for part in cookie.split(";")}
    assert client.get("/", follow_redirects=False).status_code == 200


def test_failed_sign_ins_are_counted_and_then_refused_until_the_wait_is_over(
    client: TestClient, daemon: Daemon, clock: ManualClock
) -> None:
    UserStore(daemon.store).add("petra", "controller", by="test", password=PASSWORD)
    token = csrf_of(client.get("/login").text)

    def attempt(password: str) -> int:
        return client.post(
            "/login", data={"csrf": token, "username": "petra", "password": password}, follow_redirects=False
        ).status_code

    assert [attempt("wrong") for _ in range(5)] == [401] * 5
    assert attempt(PASSWORD) == 429  # locked: even the right password waits
    assert (
        "Probeer het na" in client.post("/login", data={"csrf": token, "username": "petra", "password": PASSWORD}).text
    )
    clock.advance(timedelta(minutes=16))
    assert attempt(PASSWORD) == 303


def test_an_unknown_name_is_answered_as_a_wrong_password(client: TestClient) -> None:
    token = csrf_of(client.get("/login").text)
    answer = client.post("/login", data={"csrf": token, "username": "nobody", "password": PASSWORD})
    assert answer.status_code == 401 and "De gebruikersnaam of het wachtwoord klopt niet." in answer.text


def test_a_session_ends_when_idle_signed_out_or_the_role_changes(
    client: TestClient, daemon: Daemon, clock: ManualClock
) -> None:
    sign_in(client, daemon, "petra", "controller")
    assert client.get("/", follow_redirects=False).status_code == 200
    clock.advance(timedelta(minutes=61))
    assert client.get("/", follow_redirects=False).status_code == 303  # idle for longer than an hour
    sign_in(client, daemon, "petra")
    UserStore(daemon.store).set_role("petra", "viewer", by="Anna (anna)")
    assert client.get("/", follow_redirects=False).status_code == 303  # the new role counts from a new sign-in
    sign_in(client, daemon, "petra")
    token = csrf_of(client.get("/").text)
    assert client.post("/logout", data={"csrf": token}, follow_redirects=False).status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 303
    with daemon.store.session() as session:
        events = [
            (e.event, e.detail.get("by")) for e in session.exec(select(AuditEntry)) if e.event.startswith("user_")
        ]
    assert ("user_role_changed", "Anna (anna)") in events


@pytest.mark.parametrize("peer_trusted", [True, False])
def test_the_reverse_proxys_header_signs_in_only_when_it_comes_from_the_proxy(
    database_url: str, clock: ManualClock, simulator: object, peer_trusted: bool
) -> None:
    from tests.connector.web.conftest import synced_daemon

    proxies = ["testclient"] if peer_trusted else ["10.0.0.1"]  # the test client's own address is "testclient"
    daemon = synced_daemon(database_url, clock, simulator, proxy_user_header="X-Remote-User", trusted_proxies=proxies)  # type: ignore[arg-type]
    try:
        UserStore(daemon.store).add("petra", "controller", by="test", password=None)
        with web_client(daemon) as client:
            answer = client.get("/", headers={"X-Remote-User": "petra"}, follow_redirects=False)
            assert answer.status_code == (200 if peer_trusted else 303)
            if peer_trusted:
                assert client.get("/", headers={"X-Remote-User": "mallory"}).status_code == 403  # no such account
    finally:
        daemon.close()


def test_the_proxy_header_wants_its_proxies_named() -> None:
    from connector.config import ConfigError, settings_from_dict

    with pytest.raises(ConfigError) as caught:
        settings_from_dict({"cockpit": {"proxy_user_header": "X-Remote-User"}}, environ={})
    assert any(problem.startswith("cockpit:") and "trusted_proxies" in problem for problem in caught.value.problems)


def test_a_form_larger_than_any_of_ours_is_refused_not_cut_short(client: TestClient, daemon: Daemon) -> None:
    sign_in(client, daemon, "anna", "admin")
    token = csrf_of(client.get("/").text)
    answer = client.post("/language", data={"csrf": token, "language": "en", "pad": "x" * (1024 * 1024 + 1)})
    assert answer.status_code == 413


def test_query_values_are_never_formatted_or_shown_unless_the_page_knows_them(
    client: TestClient, daemon: Daemon
) -> None:
    sign_in(client, daemon, "vera", "viewer")
    page = client.get("/a/shop/attention", params={"done": "{count:>99999999}", "count": "x", "refused": "<b>hi</b>"})
    assert page.status_code == 200 and len(page.text) < 100_000 and "<b>hi</b>" not in page.text
