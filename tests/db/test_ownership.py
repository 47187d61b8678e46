"""Owner locks on every database: a process holding one is seen alive, a process
killed with -9 is seen dead at once, and a dropped lock connection is taken again."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

from glint.db.ownership import FileLock, MariaDbLock, Ownership, PostgresLock, lock_backend
from glint.db.session import Database, open_database
from glint.settings import DatabaseSettings
from tests.conftest import BACKENDS
from tests.servers import database

HOLDER = """
import sys, time
from glint.db.ownership import Ownership, lock_backend
from glint.settings import DatabaseSettings
ownership = Ownership(lock_backend(DatabaseSettings(url=sys.argv[1])), owner=sys.argv[2])
ownership.start()
print("held", flush=True)
time.sleep(600)
"""


@contextmanager
def holder(url: str, owner: str) -> Iterator[subprocess.Popen[str]]:
    """A separate process holding `owner`'s lock until it is killed."""
    process = subprocess.Popen([sys.executable, "-c", HOLDER, url, owner],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "held"
        yield process
    finally:
        process.kill()
        process.wait()


def wait_for(condition: Callable[[], bool], seconds: float) -> float:
    """Seconds until `condition` held; fails after `seconds`."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < seconds, "condition never held"
        time.sleep(0.05)
    return time.monotonic() - start


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    with database(request.param, tmp_path) as url:
        opened = open_database(DatabaseSettings(url=url))
        yield opened
        opened.dispose()


def settings_of(db: Database) -> DatabaseSettings:
    return DatabaseSettings(url=db.engine.url.render_as_string(hide_password=False))


def alive(db: Database, owners: set[str]) -> set[str]:
    with db.reading() as session:
        return lock_backend(settings_of(db)).alive(session, owners)


def test_a_killed_holder_is_seen_dead_at_once(db: Database) -> None:
    url = db.engine.url.render_as_string(hide_password=False)
    with holder(url, "node-a:1:cafe") as first, holder(url, "node-b:2:beef"):
        assert alive(db, {"node-a:1:cafe", "node-b:2:beef", "never:3:0"}) == {
            "node-a:1:cafe", "node-b:2:beef"}
        first.send_signal(signal.SIGKILL)
        first.wait()
        elapsed = wait_for(lambda: alive(db, {"node-a:1:cafe"}) == set(), 5)
        assert elapsed < 5
        assert alive(db, {"node-a:1:cafe", "node-b:2:beef"}) == {"node-b:2:beef"}


def test_this_process_is_alive_and_stopping_releases(db: Database) -> None:
    ownership = Ownership(lock_backend(settings_of(db)))
    ownership.start()
    try:
        with db.reading() as session:
            assert ownership.alive(session, {ownership.owner, "other:1:0"}) == {ownership.owner}
        # Another process's view, through a lock object of its own.
        assert alive(db, {ownership.owner}) == {ownership.owner}
    finally:
        ownership.stop()
    assert alive(db, {ownership.owner}) == set()


def _drop_lock_connection(db: Database, owner: str) -> None:
    """Cut the holder's lock connection from the server side, as a restart would."""
    backend = lock_backend(settings_of(db))
    with db.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        if isinstance(backend, PostgresLock):
            connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                "AND objsubid = 1 AND (classid::bigint << 32) | objid::bigint = :key"),
                {"key": PostgresLock.key(owner)})
        elif isinstance(backend, MariaDbLock):
            holder_id = connection.execute(text("SELECT IS_USED_LOCK(:n)"),
                                           {"n": backend.name(owner)}).scalar()
            assert holder_id is not None
            connection.execute(text(f"KILL {int(holder_id)}"))
        else:
            assert isinstance(backend, FileLock)
            backend.path(owner).unlink()


def test_a_dropped_lock_is_taken_again(db: Database) -> None:
    url = db.engine.url.render_as_string(hide_password=False)
    with holder(url, "node-c:4:f00d") as process:
        _drop_lock_connection(db, "node-c:4:f00d")
        # Within a few keep intervals the holder has its lock back.
        time.sleep(0.5)
        wait_for(lambda: alive(db, {"node-c:4:f00d"}) == {"node-c:4:f00d"}, 10)
        process.kill()
        _, errors = process.communicate()
    assert "taken again" in errors
