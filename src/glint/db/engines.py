"""Engines for each supported database, with every call bounded in time.

A database that is down, frozen or overloaded must cost a request a few
seconds, not a hang: connecting waits at most `connect_timeout`, a pooled
connection must answer a ping within it too, a statement runs at most
`statement_timeout` (the server cancels it; the client gives up shortly
after, in case the server cannot even do that), and waiting for a free
pooled connection takes at most `pool_timeout`. Maintenance work (schema
migrations, loading metadata definitions) runs without the statement limit.
"""

from __future__ import annotations

import math
import socket
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import InvalidatePoolError

from glint.db.watchdog import Expiry, SocketWatchdog
from glint.domain.errors import DatabaseUnavailable
from glint.settings import DatabaseSettings

# How much longer than the server's statement limit the client waits for an
# answer: the server's own cancellation should arrive first.
CLIENT_GRACE_SECONDS = 0.5
# Without a statement limit (maintenance), still never wait forever on SQLite's lock.
MAINTENANCE_LOCK_WAIT_SECONDS = 60.0
# Idle pooled connections probe a silent server this often (PostgreSQL).
KEEPALIVE_IDLE_SECONDS = 30


@dataclass(frozen=True)
class Limits:
    """How long database calls may take; `statement_timeout` None means unlimited."""

    connect_timeout: float
    statement_timeout: float | None

    @property
    def answer_timeout(self) -> float | None:
        """How long the client waits for any one answer of the server."""
        if self.statement_timeout is None:
            return None
        return self.statement_timeout + CLIENT_GRACE_SECONDS

    @property
    def lock_wait(self) -> float:
        return self.statement_timeout or MAINTENANCE_LOCK_WAIT_SECONDS


def limits_of(database: DatabaseSettings, *, maintenance: bool) -> Limits:
    return Limits(database.connect_timeout,
                  None if maintenance else database.statement_timeout)


def url_of(database: DatabaseSettings) -> URL:
    """The connection URL with oslo.db's `connection_parameters` added to its query."""
    url = make_url(database.url)
    if database.connection_parameters:
        url = url.update_query_string(database.connection_parameters, append=True)
    return url


def pool_options(database: DatabaseSettings) -> dict[str, Any]:
    return {
        "pool_size": database.max_pool_size, "max_overflow": database.max_overflow,
        "pool_timeout": database.pool_timeout, "pool_recycle": database.connection_recycle_time,
    }


def server_engine(database: DatabaseSettings, limits: Limits,
                  watchdog: SocketWatchdog) -> Engine:
    """An engine for MariaDB/MySQL or PostgreSQL whose every call has a deadline."""
    url = url_of(database)
    # Every unit of work ends in COMMIT or ROLLBACK (Database.reading/writing),
    # so the pool's own rollback when a connection comes back would only cost
    # one more round trip per request.
    options = {**pool_options(database), "pool_reset_on_return": None}
    if url.get_backend_name() == "mysql":
        # As PostgreSQL does by default: each statement sees what is committed,
        # so a unit of work that waited for an image's row lock then reads the
        # image's properties and tags as the previous writer left them (and
        # InnoDB takes no gap locks, the usual source of its deadlocks).
        engine = create_engine(url, connect_args=_mysql_connect_args(limits),
                               isolation_level="READ COMMITTED", **options)
        _bound_mysql_handshake(engine, limits, watchdog)
        _limit_mysql_statements(engine, limits)
    else:
        engine = create_engine(url, connect_args=_postgres_connect_args(url, limits), **options)
        _watch_postgres_calls(engine, limits, watchdog)
    _ping_on_checkout(engine, limits, watchdog)
    return engine


def _mysql_connect_args(limits: Limits) -> dict[str, Any]:
    # The connection itself is bounded by _bound_mysql_handshake.
    args: dict[str, Any] = {"charset": "utf8mb4"}
    if limits.answer_timeout is not None:
        # PyMySQL bounds every read and write on the connection by these.
        args["read_timeout"] = args["write_timeout"] = limits.answer_timeout
    return args


def _bound_mysql_handshake(engine: Engine, limits: Limits, watchdog: SocketWatchdog) -> None:
    """Connect to MariaDB/MySQL within `connect_timeout`, handshake included.

    PyMySQL bounds the TCP connection by its connect_timeout but the
    handshake that follows by read_timeout, the statement limit; a frozen
    server would hold every new connection that long. Here the socket is
    opened first and the handshake watched.
    """

    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        connection = dialect.loaded_dbapi.connect(*cargs, **cparams, defer_connect=True)
        sock = _open_mysql_socket(connection, limits.connect_timeout, dialect.loaded_dbapi)
        with watchdog.watching(connection, sock.fileno(), limits.connect_timeout):
            connection.connect(sock)
        return connection


def _open_mysql_socket(connection: Any, timeout: float, pymysql: Any) -> socket.socket:
    """A socket connected to the server, as PyMySQL would open it; its
    OperationalError 2003 if the server cannot be reached."""
    try:
        if connection.unix_socket:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(timeout)
                sock.connect(connection.unix_socket)
            except OSError:
                sock.close()
                raise
            return sock
        source = (connection.bind_address, 0) if connection.bind_address else None
        sock = socket.create_connection((connection.host, connection.port), timeout,
                                        source_address=source)
    except OSError as exc:
        where = connection.unix_socket or connection.host
        raise pymysql.OperationalError(2003, f"Can't connect to MySQL server on {where!r} ({exc})") from exc
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    return sock


def _limit_mysql_statements(engine: Engine, limits: Limits) -> None:
    if limits.statement_timeout is None:
        return
    seconds = limits.statement_timeout

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if "mariadb" in dbapi_connection.get_server_info().lower():
            cursor.execute(f"SET SESSION max_statement_time = {seconds:.3f}")
        else:  # MySQL: read-only statements only, in milliseconds
            cursor.execute(f"SET SESSION max_execution_time = {math.ceil(seconds * 1000)}")
        cursor.close()


def _postgres_connect_args(url: URL, limits: Limits) -> dict[str, Any]:
    args: dict[str, Any] = {
        "connect_timeout": max(2, math.ceil(limits.connect_timeout)),  # libpq's minimum is 2
        "keepalives": 1, "keepalives_idle": KEEPALIVE_IDLE_SECONDS,
        "keepalives_interval": 5, "keepalives_count": 3,
    }
    if limits.statement_timeout is not None:
        milliseconds = math.ceil(limits.statement_timeout * 1000)
        options = str(url.query.get("options", ""))
        args["options"] = f"{options} -c statement_timeout={milliseconds}".strip()
        if limits.answer_timeout is not None:
            args["tcp_user_timeout"] = math.ceil(limits.answer_timeout * 1000)
    return args


def _postgres_socket(dbapi_connection: Any) -> int:
    return int(dbapi_connection.pgconn.socket)


def _watch_postgres_calls(engine: Engine, limits: Limits, watchdog: SocketWatchdog) -> None:
    """Give each statement, COMMIT and ROLLBACK on PostgreSQL a client-side deadline.

    The deadline is armed as a call starts and disarmed once its answer is
    in, or when the connection returns to the pool (after a COMMIT or
    ROLLBACK, which no event follows).
    """
    seconds = limits.answer_timeout
    if seconds is None:
        return

    def arm(connection: Any, *_: Any) -> None:
        if connection.invalidated:  # a broken connection's ROLLBACK never reaches the server
            return
        dbapi_connection = connection.connection.dbapi_connection
        watchdog.arm(dbapi_connection, _postgres_socket(dbapi_connection), seconds)

    def disarm(connection: Any, *_: Any) -> None:
        watchdog.disarm(connection.connection.dbapi_connection)

    event.listen(engine, "before_cursor_execute", arm)
    event.listen(engine, "after_cursor_execute", disarm)
    event.listen(engine, "commit", arm)
    event.listen(engine, "rollback", arm)
    # A connection that broke is invalidated; one that is done goes back to the pool.
    event.listen(engine, "invalidate", lambda dbapi_connection, *_: watchdog.disarm(
        dbapi_connection))
    event.listen(engine, "checkin", lambda dbapi_connection, *_: watchdog.disarm(
        dbapi_connection))


def _ping_on_checkout(engine: Engine, limits: Limits, watchdog: SocketWatchdog) -> None:
    """Ping a pooled connection before it is used, within `connect_timeout`.

    SQLAlchemy's pool_pre_ping would wait as long as the driver does; a
    frozen server would hold the request that long, and then as long again
    for the reconnection it starts. Here a ping that gets no answer in time
    fails the checkout at once (the connection is discarded); one that fails
    outright means the server went away, so every pooled connection is
    replaced, starting with this one.
    """
    socket_of = _postgres_socket if engine.dialect.name == "postgresql" else _pymysql_socket

    @event.listens_for(engine, "connect")
    def _fresh(_dbapi_connection: Any, record: Any) -> None:
        record.info["glint_fresh"] = True

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if record.info.pop("glint_fresh", False):
            return
        expiry: Expiry | None = None
        try:
            with watchdog.watching(dbapi_connection, socket_of(dbapi_connection),
                                   limits.connect_timeout) as expiry:
                engine.dialect.do_ping(dbapi_connection)
        except (engine.dialect.loaded_dbapi.Error, OSError) as exc:
            if expiry is not None and expiry.fired:
                raise DatabaseUnavailable(
                    f"no answer to a ping within {limits.connect_timeout:g} s") from exc
            raise InvalidatePoolError(f"ping failed: {exc}") from exc


def _pymysql_socket(dbapi_connection: Any) -> int:
    # PyMySQL has no public accessor for its socket.
    sock = dbapi_connection._sock
    if sock is None:
        raise OSError("the connection is closed")
    return int(sock.fileno())
