"""Engines and sessions. The request or job owns a session; repositories receive it."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 60_000


def create_database_engine(url: str) -> Engine:
    """An engine tuned for Glint's access pattern on each supported database."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    # Every unit of work ends in COMMIT or ROLLBACK (Database.reading/writing),
    # so the pool's own rollback when a connection comes back would only cost
    # one more round trip per request.
    options: dict[str, Any] = {
        "pool_pre_ping": True, "pool_recycle": 3600, "pool_reset_on_return": None,
    }
    if parsed.get_backend_name() == "mysql":
        options["connect_args"] = {"charset": "utf8mb4"}
    return create_engine(url, pool_size=10, max_overflow=20, **options)


def _sqlite_engine(url: str) -> Engine:
    """SQLite in WAL mode where writers queue instead of failing.

    Every write transaction starts with BEGIN IMMEDIATE, so it takes the write
    lock up front and waits (busy_timeout) for it; a deferred transaction that
    tries to upgrade a read lock would fail at once with "database is locked".
    """
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        pool_size=8,
        max_overflow=16,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get("glint_write"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")

    return engine


class WriterQueue:
    """Lets one SQLite writer at a time in, across threads and processes.

    SQLite's own busy handler makes a waiting writer sleep and poll (1, 2, 5 …
    100 ms), which leaves the CPU idle under concurrent writes. Waiting here
    instead, on a thread lock and then an flock(2) on a file beside the
    database, hands the write lock over the moment it is free.
    """

    def __init__(self, lock_path: Path) -> None:
        self._thread_lock = threading.Lock()
        self._fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self._thread_lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)


def _writer_queue(engine: Engine) -> WriterQueue | None:
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return WriterQueue(Path(f"{url.database}.write-lock"))


class Database:
    """The engine and the two kinds of unit of work Glint uses."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self._writers = _writer_queue(engine)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only unit of work."""
        with self._sessions() as session:
            with session.begin():
                yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A unit of work that commits on success and rolls back on any error."""
        with self._turn(), self._sessions() as session, session.begin():
            # Set before the transaction starts, so SQLite's begins as BEGIN IMMEDIATE.
            session.connection(execution_options={"glint_write": True})
            yield session

    def _turn(self) -> AbstractContextManager[None]:
        return self._writers.turn() if self._writers is not None else nullcontext()

    def dispose(self) -> None:
        self.engine.dispose()
        if self._writers is not None:
            self._writers.close()
