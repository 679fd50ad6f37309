"""`connector users`: the people who may sign in to the cockpit, with their role. Every change is in the audit
log with who made it (`--by`, else the logged-in user)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Annotated

import typer

from connector.cli import EXIT_CONFIG, ByOption, ConfigOption, JsonOption, _local, _operator, _settings, _store, app
from connector.store.users import MIN_PASSWORD, ROLES, AccountError, UserStore

users_app = typer.Typer(
    help=f"The cockpit's accounts and their roles: {', '.join(ROLES)} (viewer reads; controller acts on "
    "customers, invoices and actions; admin also approves administrations, edits templates and manages people).",
    no_args_is_help=True,
)
app.add_typer(users_app, name="users")

NameArgument = Annotated[str, typer.Argument(help="The account's name, used to sign in (one word).")]
RoleOption = Annotated[str, typer.Option("--role", help=f"One of: {', '.join(ROLES)}.")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of standard input.")
]


@users_app.command("add")
def users_add(
    username: NameArgument,
    role: RoleOption,
    display_name: Annotated[
        str | None, typer.Option("--name", help="The name shown and logged (default: NAME).")
    ] = None,
    language: Annotated[str, typer.Option("--language", help="nl or en.")] = "nl",
    password_stdin: PasswordStdin = False,
    no_password: Annotated[
        bool,
        typer.Option("--no-password", help="Signs in only through the reverse proxy ([cockpit] proxy_user_header)."),
    ] = False,
    by: ByOption = None,
    config: ConfigOption = None,
) -> None:
    """Add an account (the first admin too). Asks for the password twice unless --password-stdin or
    --no-password."""
    if language not in ("nl", "en"):
        _fail(f"--language: nl or en, not {language!r}")
    settings = _settings(config)
    who = _operator(by)
    password = None if no_password else _password(password_stdin)
    with _store(settings) as store:
        try:
            added = UserStore(store).add(
                username, role, by=who, display_name=display_name, password=password, language=language
            )
        except AccountError as exc:
            _fail(str(exc))
    typer.echo(f"added {added.username} ({added.display_name}) as {added.role}")


@users_app.command("list")
def users_list(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Every account, with its role and when it last signed in."""
    settings = _settings(config)
    with _store(settings) as store:
        people = UserStore(store).people()
    rows = [
        {
            "username": user.username,
            "name": user.display_name,
            "role": user.role,
            "language": user.language,
            "password": user.password_hash is not None,
            "created_at": user.created_at.isoformat(),
            "created_by": user.created_by,
            "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
            "disabled": user.disabled_at is not None,
        }
        for user in people
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for user, row in zip(people, rows, strict=True):
        last = _local(settings, user.last_login_at) if user.last_login_at else "never signed in"
        state = " [disabled]" if row["disabled"] else ""
        typer.echo(f"{row['username']:<20} {row['role']:<11} {row['name']:<30} {last}{state}")
    typer.echo(f"{len(rows)} account(s)")


@users_app.command("role")
def users_role(
    username: NameArgument,
    role: Annotated[str, typer.Argument(help=", ".join(ROLES))],
    by: ByOption = None,
    config: ConfigOption = None,
) -> None:
    """Give an account another role (its sessions end: the new role counts from the next sign-in)."""
    _change(config, by, lambda users, who: users.set_role(username, role, by=who), f"{username} is now {role}")


@users_app.command("password")
def users_password(
    username: NameArgument, password_stdin: PasswordStdin = False, by: ByOption = None, config: ConfigOption = None
) -> None:
    """Set a new password (the account's sessions end)."""
    password = _password(password_stdin)
    _change(
        config, by, lambda users, who: users.set_password(username, password, by=who), f"new password for {username}"
    )


@users_app.command("disable")
def users_disable(username: NameArgument, by: ByOption = None, config: ConfigOption = None) -> None:
    """Stop an account signing in (its sessions end; its name stays in the audit log)."""
    _change(config, by, lambda users, who: users.disable(username, by=who), f"{username} is disabled")


@users_app.command("enable")
def users_enable(username: NameArgument, by: ByOption = None, config: ConfigOption = None) -> None:
    """Let a disabled account sign in again."""
    _change(config, by, lambda users, who: users.enable(username, by=who), f"{username} may sign in again")


def _change(config: ConfigOption, by: str | None, change: Callable[[UserStore, str], None], done: str) -> None:
    settings = _settings(config)
    who = _operator(by)
    with _store(settings) as store:
        try:
            change(UserStore(store), who)
        except AccountError as exc:
            _fail(str(exc))
    typer.echo(done)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            _fail("--password-stdin: standard input gave no password")
        return line
    return str(
        typer.prompt(
            f"Password (at least {MIN_PASSWORD} characters)", hide_input=True, confirmation_prompt=True, err=True
        )
    )


def _fail(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(EXIT_CONFIG)
