"""Every database call gives up in time, outages become DatabaseUnavailable and
nothing else does: Database against private PostgreSQL and MariaDB servers
(frozen, killed, restarted) and against SQLite files."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from glint.db import schema
from glint.db.engines import url_of
from glint.db.ownership import Ownership, lock_backend
from glint.db.session import Database, create_database_engine, open_database
from glint.domain.errors import DatabaseUnavailable
from glint.services import recovery as recovery_module
from glint.services.authorization import build_policy
from glint.services.container import build_services
from glint.services.recovery import Recovery
from glint.settings import DatabaseSettings, PolicySettings, Settings, StoreSettings
from glint.stores.registry import build_registry
from tests.private_databases import PrivateServer

SLEEP = {"postgresql": "SELECT pg_sleep({})", "mariadb": "SELECT SLEEP({})"}


def _settings(server: PrivateServer, *, connect_timeout: float = 3,
              statement_timeout: float = 5) -> DatabaseSettings:
    return DatabaseSettings(url=server.url, connect_timeout=connect_timeout,
                            statement_timeout=statement_timeout)


def test_connection_parameters_join_the_url() -> None:
    url = url_of(DatabaseSettings(url="mysql+pymysql://u@h/db?charset=utf8mb4",
                                  connection_parameters="program_name=glint&ssl_disabled=1"))
    assert dict(url.query) == {"charset": "utf8mb4", "program_name": "glint", "ssl_disabled": "1"}


def _elapsed_failure(database: Database, statement: str) -> float:
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable):
        with database.reading() as session:
            session.execute(text(statement))
    return time.monotonic() - started


def test_statement_cut_when_the_server_freezes(private_database: PrivateServer) -> None:
    database = open_database(_settings(private_database, connect_timeout=2, statement_timeout=1))
    try:
        database.check()
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable):
            with database.reading() as session:
                session.execute(text("SELECT 1"))
                private_database.freeze()
                session.execute(text("SELECT 1"))
        # The statement limit plus the client's grace, not forever.
        assert time.monotonic() - started < 3
        private_database.thaw()
        database.check()
    finally:
        database.dispose()


def test_killed_server_then_restarted(private_database: PrivateServer) -> None:
    database = open_database(_settings(private_database))
    try:
        database.check()
        private_database.kill()
        assert _elapsed_failure(database, "SELECT 1") < 1
        private_database.start()
        database.check()  # at once: the dead pooled connection is replaced
    finally:
        database.dispose()


def test_statement_limit_is_the_servers(private_database: PrivateServer) -> None:
    """A slow statement is cancelled by the server after statement_timeout; the
    connection stays usable. Maintenance engines have no such limit."""
    settings = _settings(private_database, statement_timeout=1)
    database = open_database(settings)
    try:
        elapsed = _elapsed_failure(database, SLEEP[private_database.backend].format(3))
        assert 0.9 < elapsed < 2.5
        database.check()
    finally:
        database.dispose()
    maintenance = create_database_engine(settings, maintenance=True)
    try:
        with maintenance.connect() as connection:
            connection.execute(text(SLEEP[private_database.backend].format(1.5)))
    finally:
        maintenance.dispose()


def test_a_bad_statement_is_not_an_outage(private_database: PrivateServer, tmp_path: Path) -> None:
    for url in (private_database.url, f"sqlite:///{tmp_path / 'glint.db'}"):
        database = open_database(DatabaseSettings(url=url))
        try:
            with pytest.raises(DBAPIError) as raised:
                with database.reading() as session:
                    session.execute(text("SELECT * FROM no_such_table"))
            assert not isinstance(raised.value, DatabaseUnavailable)
        finally:
            database.dispose()


def test_no_pooled_connection_in_time(tmp_path: Path) -> None:
    database = open_database(DatabaseSettings(
        url=f"sqlite:///{tmp_path / 'glint.db'}", max_pool_size=1, max_overflow=0,
        pool_timeout=0.5))
    outcome: list[BaseException] = []

    def second_reader() -> None:
        try:
            database.check()
        except BaseException as exc:
            outcome.append(exc)

    try:
        with database.reading() as session:
            session.execute(text("SELECT 1"))  # the pool's one connection, taken
            started = time.monotonic()
            reader = threading.Thread(target=second_reader)
            reader.start()
            reader.join(5)
            assert time.monotonic() - started < 2
        assert len(outcome) == 1 and isinstance(outcome[0], DatabaseUnavailable)
        database.check()
    finally:
        database.dispose()


async def test_recovery_loop_survives_an_outage(private_database: PrivateServer, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    """The crash-recovery loop logs the outage, goes on, and works once the database is
    back; the worker's owner lock is taken again on a new connection."""
    settings = Settings(database=_settings(private_database),
                        store=StoreSettings(filesystem_store_datadir=tmp_path / "images"))
    engine = create_database_engine(settings.database, maintenance=True)
    schema.upgrade(engine)
    engine.dispose()
    database = open_database(settings.database)
    registry = build_registry(settings.store)
    ownership = Ownership(lock_backend(settings.database))
    ownership.start()
    services = build_services(settings, database, registry, build_policy(PolicySettings()),
                              ownership.owner)
    recovery = Recovery(db=database, ownership=ownership, stores=registry,
                        imports=services.imports)
    monkeypatch.setattr(recovery_module, "RECOVER_EVERY", timedelta(seconds=0.2))
    caplog.set_level(logging.WARNING, logger="glint.services.recovery")
    loop = asyncio.create_task(recovery.keep_running())

    def lock_held() -> bool:
        with database.reading() as session:
            return lock_backend(settings.database).alive(session, {ownership.owner}) != set()

    try:
        private_database.kill()
        await asyncio.sleep(1)
        outage = [r for r in caplog.records if "database is unavailable" in r.getMessage()]
        assert len(outage) >= 2 and not loop.done()
        private_database.start()
        deadline = time.monotonic() + 15
        while not await asyncio.to_thread(lock_held):
            assert time.monotonic() < deadline, "the owner lock was not taken again"
            await asyncio.sleep(0.2)
        caplog.clear()
        await asyncio.sleep(1)
        assert not loop.done()
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert await recovery.run_once() == 0
    finally:
        loop.cancel()
        await registry.close()
        ownership.stop()
        database.dispose()
