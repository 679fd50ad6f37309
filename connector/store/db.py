"""Engines: SQLite by default (WAL, foreign keys on), PostgreSQL through psycopg 3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from connector.store.types import DecimalSum


def create_engine(database_url: str, **kwargs: Any) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy drive transactions (see _sqlite_begin_immediate) instead of pysqlite's implicit ones.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
    dbapi_connection.create_aggregate("connector_decimal_sum", 1, DecimalSum)  # exact sums of amounts


def _sqlite_begin_immediate(connection: sa.Connection) -> None:
    # Take the write lock at the start of a transaction, so two writers queue instead of failing midway.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


class StoreInUse(RuntimeError):
    """Another process already runs on this SQLite store."""


class ProcessLock:
    """One `connector run` per SQLite file: an exclusive lock on `<database>.lock`, held for the life of the
    process and released by the operating system even on a kill -9 (so a crash never leaves it stale).
    Several replicas need PostgreSQL, where leases split the work instead."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: Any = None

    def acquire(self) -> None:
        import fcntl
        import os

        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise StoreInUse(
                f"the SQLite store {self.path.with_suffix('')} is in use by {holder}; SQLite allows one "
                "`connector run` at a time. Stop that one, or give every replica the same PostgreSQL "
                "database_url to run several."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the lock; the file stays (removing it would race a newcomer)
            self._file = None


def process_lock(database_url: str) -> ProcessLock | None:
    """The lock a daemon must hold on this store: one for a SQLite file, none for a server database."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    path = Path(url.database).expanduser()
    return ProcessLock(path.with_name(path.name + ".lock"))
