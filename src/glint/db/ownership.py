"""Process ownership that the database releases when the process dies.

Every worker process has an owner id (host, pid and a random part: unique
across nodes and never reused) and, for its whole life, holds a lock named
after it that the database itself drops when the process's connection
closes, so a process killed with -9, or a node that dies, loses it at once:

- PostgreSQL: `pg_advisory_lock` on a dedicated connection (advisory locks
  belong to one database); liveness of many owners in one read of `pg_locks`.
- MariaDB/MySQL: `GET_LOCK(name, 0)` on a dedicated connection; lock names are
  server-wide, so the name hashes the database name with the owner id;
  liveness by `IS_USED_LOCK`.
- SQLite: flock(2) on a file per owner in a folder beside the database file;
  a non-blocking flock probe tells liveness (flock, not fcntl locks: a probe
  from the holding process itself must see the lock too).

The dedicated connection sits outside the request pool and is pinged every
`KEEP_EVERY` by a thread of its own; when it drops (the database restarted),
the thread connects again and takes the lock back. Every call on it is
bounded in time like any other (glint.db.engines), so a frozen server never
holds the thread. Server-side idle and
keepalive limits make the database drop the connection of a node that
vanished without closing it (power loss, network cut) within about a minute.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import os
import secrets
import socket
import threading
from collections.abc import Collection
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from glint.db.session import create_database_engine
from glint.settings import DatabaseSettings

log = logging.getLogger(__name__)

KEEP_EVERY = 1.0
# The database closes a lock connection silent this long (its holder pings it
# every KEEP_EVERY): the lock of a node that vanished is freed after that.
IDLE_LIMIT_SECONDS = 60


def new_owner_id() -> str:
    """An owner id for this process: host, pid and 64 random bits."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{secrets.token_hex(8)}"


class LockBackend(Protocol):
    """One database's kind of lock that dies with its holder's connection."""

    def acquire(self, owner: str) -> None:
        """Take `owner`'s lock (again); raise on failure (the caller retries)."""
        ...

    def held(self) -> bool:
        """Whether the lock taken last is still held (a round trip for a server)."""
        ...

    def close(self) -> None:
        """Release the lock and its connection or file."""
        ...

    def alive(self, session: Session, owners: Collection[str]) -> set[str]:
        """Which of `owners` hold their lock now (read on `session` where needed)."""
        ...


class Ownership:
    """This process's owner id and the lock that proves it is alive.

    `start` takes the lock (raising if the database cannot be reached); a
    thread then keeps it, taking it again after the connection dropped.
    """

    def __init__(self, backend: LockBackend, owner: str | None = None) -> None:
        self.owner = owner or new_owner_id()
        self._backend = backend
        self._stopping = threading.Event()
        self._keeper: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            self._backend.acquire(self.owner)
        self._keeper = threading.Thread(target=self._keep, name="glint-ownership", daemon=True)
        self._keeper.start()

    def _keep(self) -> None:
        lost = False
        while not self._stopping.wait(KEEP_EVERY):
            try:
                with self._lock:
                    if self._stopping.is_set():
                        return
                    if not self._backend.held():
                        self._backend.acquire(self.owner)
                        log.warning("owner lock of %s taken again after its connection dropped",
                                    self.owner)
                lost = False
            except Exception as exc:  # noqa: BLE001 - the database may be down: retry
                if not lost:
                    log.error("owner lock of %s lost, retrying: %s", self.owner, exc)
                lost = True

    def alive(self, session: Session, owners: Collection[str]) -> set[str]:
        """Which of `owners` are alive: this process, and those holding their lock."""
        others = {owner for owner in owners if owner != self.owner}
        found = self._backend.alive(session, others) if others else set()
        return found | ({self.owner} & set(owners))

    def stop(self) -> None:
        self._stopping.set()
        if self._keeper is not None:
            self._keeper.join(timeout=10)
        with self._lock:
            self._backend.close()


def lock_backend(database: DatabaseSettings) -> LockBackend:
    """The lock kind for the configured database."""
    parsed = make_url(database.url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = parsed.database
        if path in (None, "", ":memory:"):
            return ProcessLocalLock()
        return FileLock(Path(f"{path}.owners"))
    if backend == "postgresql":
        return PostgresLock(database)
    if backend in ("mysql", "mariadb"):
        return MariaDbLock(database)
    raise ValueError(f"no owner locks for {backend} databases")


def _digest(text_value: str, size: int) -> bytes:
    return hashlib.blake2b(text_value.encode(), digest_size=size).digest()


class _ServerLock:
    """A lock held on a dedicated connection: an engine of its own whose one
    connection lives as long as the lock, every call bounded in time as the
    request engine's are (glint.db.engines)."""

    def __init__(self, database: DatabaseSettings) -> None:
        self._engine = create_database_engine(
            replace(database, max_pool_size=1, max_overflow=0, pool_timeout=1))
        self._connection: Connection | None = None

    def _connect(self) -> Connection:
        self._drop()
        self._connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._connection

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:  # noqa: BLE001 - the connection is already broken
                self._connection.invalidate()
            self._connection = None

    def held(self) -> bool:
        if self._connection is None:
            return False
        try:
            self._connection.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 - any failure means the connection is gone
            self._drop()
            return False
        return True

    def close(self) -> None:
        self._drop()
        self._engine.dispose()


class PostgresLock(_ServerLock):
    """`pg_advisory_lock(key)`, key = 63 bits of a hash of the owner id."""

    @staticmethod
    def key(owner: str) -> int:
        return int.from_bytes(_digest(owner, 8), "big") >> 1

    def acquire(self, owner: str) -> None:
        connection = self._connect()
        # The server drops this connection if its holder goes quiet (it pings every
        # second) or its host stops answering; idle_session_timeout needs PostgreSQL 14.
        for setting in (f"idle_session_timeout = '{IDLE_LIMIT_SECONDS}s'",
                        "tcp_keepalives_idle = 10", "tcp_keepalives_interval = 5",
                        "tcp_keepalives_count = 3"):
            try:
                connection.execute(text(f"SET {setting}"))
            except Exception as exc:  # noqa: BLE001 - an older server: the lock still works
                log.info("owner lock connection: SET %s refused: %s", setting, exc)
        taken = connection.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                   {"key": self.key(owner)}).scalar()
        if not taken:
            self._drop()
            raise RuntimeError(f"the advisory lock of owner {owner} is held by another session")

    def alive(self, session: Session, owners: Collection[str]) -> set[str]:
        keys = {self.key(owner): owner for owner in owners}
        held = session.execute(text(
            "SELECT (classid::bigint << 32) | objid::bigint FROM pg_locks "
            "WHERE locktype = 'advisory' AND objsubid = 1 AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )).scalars()
        return {keys[key] for key in held if key in keys}


class MariaDbLock(_ServerLock):
    """`GET_LOCK(name, 0)`, name = a hash of the database name and owner id."""

    def __init__(self, database: DatabaseSettings) -> None:
        super().__init__(database)
        self._database = make_url(database.url).database or ""

    def name(self, owner: str) -> str:
        return "glint:" + _digest(f"{self._database}\0{owner}", 20).hex()

    def acquire(self, owner: str) -> None:
        connection = self._connect()
        # The server drops this connection if its holder goes quiet (ping every second).
        connection.execute(text(f"SET SESSION wait_timeout = {IDLE_LIMIT_SECONDS}"))
        taken = connection.execute(text("SELECT GET_LOCK(:name, 0)"),
                                   {"name": self.name(owner)}).scalar()
        if taken != 1:
            self._drop()
            raise RuntimeError(f"the lock of owner {owner} is held by another session")

    def alive(self, session: Session, owners: Collection[str]) -> set[str]:
        ordered = list(owners)
        if not ordered:
            return set()
        probes = ", ".join(f"IS_USED_LOCK(:n{index})" for index in range(len(ordered)))
        row = session.execute(text(f"SELECT {probes}"),
                              {f"n{index}": self.name(owner)
                               for index, owner in enumerate(ordered)}).one()
        return {owner for owner, holder in zip(ordered, row, strict=True) if holder is not None}


class FileLock:
    """flock(2) on `<folder>/<hash of owner>.lock`, a folder beside the SQLite file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._fd: int | None = None
        self._path: Path | None = None

    def path(self, owner: str) -> Path:
        return self.folder / f"{_digest(owner, 16).hex()}.lock"

    def acquire(self, owner: str) -> None:
        self.close()
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(owner)
        # CLOEXEC: a program this process runs must not keep the lock after it dies.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._path = fd, path

    def held(self) -> bool:
        """Still locked through a file at the owner's path (not removed by hand)."""
        if self._fd is None or self._path is None:
            return False
        try:
            return os.stat(self._path).st_ino == os.fstat(self._fd).st_ino
        except FileNotFoundError:
            return False

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            if self._path is not None:
                self._path.unlink(missing_ok=True)
            self._fd = self._path = None

    def alive(self, session: Session, owners: Collection[str]) -> set[str]:
        return {owner for owner in owners if self._locked(self.path(owner))}

    @staticmethod
    def _locked(path: Path) -> bool:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return True
            raise
        finally:
            os.close(fd)  # also drops the probe's own lock, if it got one
        # Dead: nobody will ever take this owner's lock again.
        path.unlink(missing_ok=True)
        return False


class ProcessLocalLock:
    """An in-memory SQLite database lives in one process: every other owner is dead."""

    def acquire(self, owner: str) -> None:
        return None

    def held(self) -> bool:
        return True

    def close(self) -> None:
        return None

    def alive(self, session: Session, owners: Collection[str]) -> set[str]:
        return set()
