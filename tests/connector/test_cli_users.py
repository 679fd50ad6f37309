"""`connector users`: the first admin, roles, passwords and disabled accounts, each change in the audit log."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import select

from connector.clock import ManualClock
from connector.store import Store
from connector.store.models import AuditEntry
from connector.store.users import UserStore
from tests.support.cli import run_connector

PASSWORD = "a long enough password"


def test_the_first_admin_then_roles_passwords_and_disabling(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[connector]\ndatabase_url = "sqlite:///c.db"\n')

    def connector(*args: str, stdin: str | None = None) -> tuple[int, str]:
        result = run_connector(*args, cwd=tmp_path, operator="Anna (anna)", stdin=stdin)
        return result.returncode, result.stdout + result.stderr

    added = connector(
        "users", "add", "Anna", "--role", "admin", "--name", "Anna de Boer", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert added == (0, "added anna (Anna de Boer) as admin\n")
    code, said = connector("users", "add", "piet", "--role", "boss", "--password-stdin", stdin=PASSWORD + "\n")
    assert code == 2 and "role: one of viewer, controller, admin" in said
    code, said = connector("users", "add", "piet", "--role", "viewer", "--password-stdin", stdin="short\n")
    assert code == 2 and "at least 12 characters" in said
    assert connector("users", "add", "anna", "--role", "viewer", "--no-password")[0] == 2  # taken
    assert connector("users", "add", "piet", "--role", "viewer", "--no-password")[0] == 0
    assert connector("users", "role", "piet", "controller") == (0, "piet is now controller\n")
    assert connector("users", "password", "piet", "--password-stdin", stdin=PASSWORD + "\n")[0] == 0
    assert connector("users", "disable", "piet")[0] == 0
    code, listed = connector("users", "list", "--json")
    people = {row["username"]: row for row in json.loads(listed)}
    assert people["anna"]["role"] == "admin" and people["anna"]["created_by"] == "Anna (anna)"
    assert people["piet"] == {**people["piet"], "role": "controller", "password": True, "disabled": True}
    assert connector("users", "role", "nobody", "viewer") == (2, "no account 'nobody'\n")

    store = Store.open(f"sqlite:///{tmp_path / 'c.db'}", ManualClock(datetime(2026, 12, 5, tzinfo=UTC)))
    try:
        with store.session() as session:
            entries = [(e.event, e.detail["account"], e.detail["by"]) for e in session.exec(select(AuditEntry))]
        assert entries == [
            ("user_added", "anna", "Anna (anna)"),
            ("user_added", "piet", "Anna (anna)"),
            ("user_role_changed", "piet", "Anna (anna)"),
            ("user_password_changed", "piet", "Anna (anna)"),
            ("user_disabled", "piet", "Anna (anna)"),
        ]
        users = UserStore(store)
        assert users.verify("ANNA", PASSWORD) is not None  # names are not case-sensitive
        assert users.verify("piet", PASSWORD) is None  # disabled
        stored = users.find("anna")
        assert stored is not None and stored.password_hash and stored.password_hash.startswith("$argon2id$")
        assert PASSWORD not in (stored.password_hash or "")
    finally:
        store.close()
