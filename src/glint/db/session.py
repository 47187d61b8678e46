"""Engines and sessions. The request or job owns a session; repositories receive it."""

from __future__ import annotations

import fcntl
import functools
import math
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy import exc as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from glint.db.engines import (
    MAINTENANCE_LOCK_WAIT_SECONDS,
    Limits,
    limits_of,
    pool_options,
    server_engine,
    url_of,
)
from glint.db.failures import unavailable
from glint.db.watchdog import SocketWatchdog
from glint.domain.errors import ConcurrentChange, DatabaseUnavailable
from glint.settings import DatabaseSettings

P = ParamSpec("P")
R = TypeVar("R")

# How often a writer waiting for another process's turn looks again.
WRITER_POLL_SECONDS = 0.001
# A statement that needs the database file, not just the connection.
PROBES = {"sqlite": "SELECT count(*) FROM sqlite_master"}
# `session.info` key marking a writing unit of work (see Database.writing).
WRITING = "glint_writing"
# How often a unit of work that collided with another is run again (see retried).
ATTEMPTS = 6
# Collisions the database reports, after which the transaction can simply be
# run again: MariaDB's lock wait timeout and deadlock; PostgreSQL's
# serialization failure, deadlock and lock not available. (A lock waited for
# past statement_timeout is an outage instead: see glint.db.failures.)
_MYSQL_COLLISIONS = frozenset({1205, 1213})
_POSTGRES_COLLISIONS = frozenset({"40001", "40P01", "55P03"})


def create_database_engine(database: DatabaseSettings, *, maintenance: bool = False) -> Engine:
    """An engine tuned for Glint's access pattern on each supported database.

    Every call is bounded in time (see glint.db.engines); `maintenance`
    engines (migrations, metadata definition loading) have no statement limit.
    """
    limits = limits_of(database, maintenance=maintenance)
    if make_url(database.url).get_backend_name() == "sqlite":
        return _sqlite_engine(database, limits)
    watchdog = SocketWatchdog()
    engine = server_engine(database, limits, watchdog)
    event.listen(engine, "engine_disposed", lambda _engine: watchdog.stop())
    return engine


def open_database(database: DatabaseSettings, *, maintenance: bool = False) -> Database:
    """The configured database with its engine (see create_database_engine)."""
    engine = create_database_engine(database, maintenance=maintenance)
    return Database(engine, writer_wait=limits_of(database, maintenance=maintenance).lock_wait)


def _sqlite_engine(database: DatabaseSettings, limits: Limits) -> Engine:
    """SQLite in WAL mode where writers queue instead of failing.

    Every write transaction starts with BEGIN IMMEDIATE, so it takes the write
    lock up front and waits (busy_timeout) for it; a deferred transaction that
    tries to upgrade a read lock would fail at once with "database is locked".
    A lock held past the wait (`statement_timeout`) makes the database unavailable.
    """
    busy_timeout_ms = math.ceil(limits.lock_wait * 1000)
    engine = create_engine(
        url_of(database),
        connect_args={"timeout": limits.lock_wait, "check_same_thread": False},
        **pool_options(database),
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
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
    database, hands the write lock over the moment it is free within a
    process, and within a millisecond between processes. A writer waits at
    most `wait` seconds, then the database counts as unavailable.
    """

    def __init__(self, lock_path: Path, wait: float) -> None:
        self._thread_lock = threading.Lock()
        self._fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._wait = wait

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold the write turn; DatabaseUnavailable if it does not come within the wait."""
        deadline = time.monotonic() + self._wait
        if not self._thread_lock.acquire(timeout=self._wait):
            raise self._timed_out()
        try:
            self._lock_file(deadline)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def _lock_file(self, deadline: float) -> None:
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise self._timed_out() from None
                time.sleep(WRITER_POLL_SECONDS)

    def _timed_out(self) -> DatabaseUnavailable:
        return DatabaseUnavailable(f"no turn to write within {self._wait:g} s: "
                                   "another writer holds the database")

    def close(self) -> None:
        os.close(self._fd)


def _writer_queue(engine: Engine, wait: float) -> WriterQueue | None:
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return WriterQueue(Path(f"{url.database}.write-lock"), wait)


def is_collision(exc: sa.DBAPIError) -> bool:
    """Whether the database refused a transaction because of another one.

    SQLite's "database is locked" is not one: Glint's writers take turns
    (WriterQueue), so it means the lock stayed taken for the whole busy
    timeout, and running the transaction again would only wait as long again.
    """
    original = exc.orig
    if getattr(original, "sqlstate", None) in _POSTGRES_COLLISIONS:
        return True
    code = original.args[0] if original is not None and original.args else None
    return isinstance(code, int) and code in _MYSQL_COLLISIONS


def retried(unit_of_work: Callable[P, R]) -> Callable[P, R]:
    """Run `unit_of_work` again, after a short random pause, when it raises
    ConcurrentChange; the last attempt's ConcurrentChange (409) propagates.

    Only for functions whose effects are all in the database: a retry must be
    able to start from scratch.
    """
    @functools.wraps(unit_of_work)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, ATTEMPTS):
            try:
                return unit_of_work(*args, **kwargs)
            except ConcurrentChange:
                time.sleep(random.uniform(0.005, 0.02) * attempt)
        return unit_of_work(*args, **kwargs)

    return run


@contextmanager
def _unavailable_as_domain_error() -> Iterator[None]:
    """Database errors that mean an outage become DatabaseUnavailable; others pass."""
    try:
        yield
    except (sa.DBAPIError, sa.TimeoutError, sa.DisconnectionError) as exc:
        error = unavailable(exc)
        if error is None:
            raise
        raise error from exc


class Database:
    """The engine and the two kinds of unit of work Glint uses.

    Both raise DatabaseUnavailable when the database cannot be reached or
    does not answer in time; any other database error passes unchanged.
    """

    def __init__(self, engine: Engine, writer_wait: float = MAINTENANCE_LOCK_WAIT_SECONDS) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self._writers = _writer_queue(engine, writer_wait)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only unit of work."""
        with _unavailable_as_domain_error(), self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A unit of work that commits on success and rolls back on any error.

        Images read in it are locked until it ends (see repositories.get_image),
        so concurrent read-modify-write cycles of one image run one after the
        other. Raises ConcurrentChange when the database gave up on it because
        of another transaction (deadlock, lock timeout); `retried` runs such a
        unit of work again.
        """
        with _unavailable_as_domain_error():
            try:
                with self._turn(), self._sessions() as session, session.begin():
                    session.info[WRITING] = True
                    # Set before the transaction starts, so SQLite's begins as BEGIN IMMEDIATE.
                    session.connection(execution_options={"glint_write": True})
                    yield session
            except sa.DBAPIError as exc:
                if is_collision(exc):
                    raise ConcurrentChange(
                        "Another request changed the same data at the same time; try again."
                    ) from exc
                raise

    def check(self) -> None:
        """Ask the database a trivial question; DatabaseUnavailable if it cannot answer."""
        with self.reading() as session:
            session.execute(text(PROBES.get(self.engine.dialect.name, "SELECT 1")))

    def _turn(self) -> AbstractContextManager[None]:
        return self._writers.turn() if self._writers is not None else nullcontext()

    def dispose(self) -> None:
        self.engine.dispose()
        if self._writers is not None:
            self._writers.close()
