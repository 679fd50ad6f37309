"""The people who use the cockpit, their signed-in browsers and failed sign-ins.

Passwords are hashed with Argon2id (argon2-cffi's defaults, RFC 9106's second recommended setting); a hash made
with older parameters is replaced at the next sign-in. A session is a random token in an HttpOnly cookie; the store
keeps its SHA-256 only. Every change to an account is in the audit log with who made it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import col, delete, func, select, update

from connector.store.models import AuditEntry, LoginFailure, User, WebSession
from connector.store.repository import Store

ROLES = ("viewer", "controller", "admin")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
MIN_PASSWORD = 12
_HASHER = PasswordHasher()
# Verified against when the name is unknown, so that an unknown name takes as long as a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """An account change that cannot be made, with the reason in words for the person who asked."""


@dataclass(frozen=True)
class Person:
    """Who is signed in, as the pages and the audit log see them."""

    id: int
    username: str
    display_name: str
    role: str
    language: str

    def may(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]

    @property
    def signature(self) -> str:
        """How the audit log names them: their name and their login."""
        return f"{self.display_name} ({self.username})" if self.display_name != self.username else self.username


@dataclass(frozen=True)
class Session:
    person: Person
    csrf: str
    token_hash: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalised(username: str) -> str:
    return username.strip().lower()


def check_password(password: str, username: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password has at least {MIN_PASSWORD} characters")
    if normalised(password) == normalised(username):
        raise AccountError("a password is not the account's name")


class UserStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.clock = store.clock

    # --- accounts -------------------------------------------------------------------------------------

    def add(
        self,
        username: str,
        role: str,
        *,
        by: str,
        display_name: str | None = None,
        password: str | None = None,
        language: str = "nl",
    ) -> Person:
        name = normalised(username)
        if not name or len(name) > 64 or any(c.isspace() for c in name):
            raise AccountError("a username is one word of at most 64 characters")
        if role not in ROLES:
            raise AccountError(f"role: one of {', '.join(ROLES)}, not {role!r}")
        if password is not None:
            check_password(password, name)
        now = self.clock.now()
        with self.store.session() as session:
            if session.exec(select(User).where(User.username == name)).first() is not None:
                raise AccountError(f"there is already an account {name!r}")
            user = User(
                username=name,
                display_name=(display_name or name).strip(),
                role=role,
                password_hash=_HASHER.hash(password) if password is not None else None,
                language=language,
                created_at=now,
                created_by=by,
                password_changed_at=now if password is not None else None,
            )
            session.add(user)
            session.flush()
            _audit(session, now, "user_added", by, user, role=role)
            session.commit()
            return _person(user)

    def people(self) -> list[User]:
        with self.store.session() as session:
            return list(session.exec(select(User).order_by(col(User.username))))

    def find(self, username: str) -> User | None:
        with self.store.session() as session:
            return session.exec(select(User).where(User.username == normalised(username))).first()

    def set_role(self, username: str, role: str, *, by: str) -> None:
        if role not in ROLES:
            raise AccountError(f"role: one of {', '.join(ROLES)}, not {role!r}")
        self._change(username, by, "user_role_changed", {"role": role}, role=role)

    def set_password(self, username: str, password: str, *, by: str) -> None:
        check_password(password, normalised(username))
        now = self.clock.now()
        self._change(
            username,
            by,
            "user_password_changed",
            {"password_hash": _HASHER.hash(password), "password_changed_at": now},
        )

    def set_language(self, username: str, language: str) -> None:
        """A person's own choice of language for the cockpit (in the audit log like any change to an account)."""
        self._change(
            username, username, "user_language_changed", {"language": language}, ends_sessions=False, language=language
        )

    def disable(self, username: str, *, by: str) -> None:
        self._change(username, by, "user_disabled", {"disabled_at": self.clock.now()})

    def enable(self, username: str, *, by: str) -> None:
        self._change(username, by, "user_enabled", {"disabled_at": None}, ends_sessions=False)

    def _change(
        self,
        username: str,
        by: str,
        event: str,
        values: dict[str, Any],
        *,
        ends_sessions: bool = True,
        **detail: Any,
    ) -> None:
        """Change an account, in the audit log; its sessions end (a new role or password counts from now)."""
        now = self.clock.now()
        with self.store.session() as session:
            user = session.exec(select(User).where(User.username == normalised(username))).first()
            if user is None:
                raise AccountError(f"no account {normalised(username)!r}")
            for key, value in values.items():
                setattr(user, key, value)
            session.add(user)
            if ends_sessions:
                session.exec(
                    update(WebSession)
                    .where(col(WebSession.user_id) == user.id, col(WebSession.ended_at).is_(None))
                    .values(ended_at=now)
                )
            _audit(session, now, event, by, user, **detail)
            session.commit()

    # --- signing in -----------------------------------------------------------------------------------

    def verify(self, username: str, password: str) -> Person | None:
        """The person, when the name and password are right and the account is enabled; else None (and the
        same work was done, so the time taken tells nothing)."""
        with self.store.session() as session:
            user = session.exec(select(User).where(User.username == normalised(username))).first()
            stored = user.password_hash if user is not None and user.disabled_at is None else None
            try:
                _HASHER.verify(stored or _DUMMY_HASH, password)
            except (VerificationError, InvalidHashError):
                return None
            if user is None or stored is None:
                return None
            if _HASHER.check_needs_rehash(stored):
                user.password_hash = _HASHER.hash(password)
            user.last_login_at = self.clock.now()
            session.add(user)
            session.commit()
            return _person(user)

    def person(self, username: str) -> Person | None:
        """An enabled account by name (the reverse proxy's header names who signed in there)."""
        user = self.find(username)
        return _person(user) if user is not None and user.disabled_at is None else None

    def failures(self, username: str, address: str, since: datetime) -> tuple[int, int, datetime | None]:
        """Failed sign-ins since `since`: for this name, from this address, and the latest of them."""
        with self.store.session() as session:
            recent = select(LoginFailure).where(col(LoginFailure.at) >= since)
            by_name = session.exec(
                select(func.count(), func.max(LoginFailure.at)).where(
                    col(LoginFailure.at) >= since, LoginFailure.username == normalised(username)
                )
            ).one()
            by_address = session.exec(
                select(func.count()).select_from(recent.where(LoginFailure.address == address).subquery())
            ).one()
        return int(by_name[0]), int(by_address), by_name[1]

    def failed(self, username: str, address: str) -> int:
        """A sign-in attempt counted as failed (until `forget_failure` says it was not); its id."""
        with self.store.session() as session:
            row = LoginFailure(username=normalised(username)[:64], address=address[:64], at=self.clock.now())
            session.add(row)
            session.commit()
            assert row.id is not None
            return row.id

    def forget_failure(self, attempt: int) -> None:
        """The attempt succeeded after all."""
        with self.store.session() as session:
            session.exec(delete(LoginFailure).where(col(LoginFailure.id) == attempt))
            session.commit()

    def prune(self, older_than: datetime) -> None:
        """Failed sign-ins and ended or expired sessions older than `older_than` go."""
        with self.store.session() as session:
            session.exec(delete(LoginFailure).where(col(LoginFailure.at) < older_than))
            session.exec(delete(WebSession).where(col(WebSession.expires_at) < older_than))
            session.commit()

    # --- sessions -------------------------------------------------------------------------------------

    def start_session(self, person: Person, lifetime: timedelta, address: str | None) -> tuple[str, Session]:
        """A new session: the token for the cookie, and the session as the store keeps it."""
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        row = WebSession(
            id=token_hash(token),
            user_id=person.id,
            csrf=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
            address=(address or "")[:64] or None,
        )
        with self.store.session() as session:
            session.add(row)
            session.commit()
        return token, Session(person, row.csrf, row.id)

    def session(self, token: str, idle: timedelta) -> Session | None:
        """The live session a cookie's token names: not ended, not expired, not idle longer than `idle`, its
        account enabled. Its last use is written at most once a minute."""
        now = self.clock.now()
        with self.store.session() as session:
            found = session.exec(
                select(WebSession, User)
                .join(User, col(User.id) == WebSession.user_id)
                .where(WebSession.id == token_hash(token))
            ).first()
            if found is None:
                return None
            row, user = found
            if row.ended_at is not None or row.expires_at <= now or row.last_seen_at + idle <= now:
                return None
            if user.disabled_at is not None:
                return None
            if now - row.last_seen_at >= timedelta(minutes=1):
                row.last_seen_at = now
                session.add(row)
                session.commit()
            return Session(_person(user), row.csrf, row.id)

    def end_session(self, token_hash_: str) -> None:
        with self.store.session() as session:
            session.exec(update(WebSession).where(col(WebSession.id) == token_hash_).values(ended_at=self.clock.now()))
            session.commit()


def _person(user: User) -> Person:
    assert user.id is not None
    return Person(user.id, user.username, user.display_name, user.role, user.language)


def _audit(session: Any, at: datetime, event: str, by: str, user: User, **detail: Any) -> None:
    session.add(
        AuditEntry(
            administration_id=None,
            at=at,
            event=event,
            detail={"by": by, "account": user.username, **detail},
        )
    )
