"""Which database errors mean "the database is unavailable", and the one error they become.

A connection that cannot be made, breaks, or waits past its deadline, a pool
with no connection free in time, a server shutting down or out of
connections, a statement timed out (waiting for a lock included), SQLite's
lock held past the busy timeout: all are the database's state, not a bug in
the statement, and become `DatabaseUnavailable` (503 with Retry-After).
Deadlocks, serialization failures and lock timeouts of a writing unit of
work are collisions with another one instead (ConcurrentChange, see
glint.db.session.is_collision). Anything else — a syntax error, a constraint
violated, a missing table — stays what it is (a logged 500).
"""

from __future__ import annotations

from sqlalchemy import exc as sa

from glint.domain.errors import DatabaseUnavailable

# SQLite primary result codes (the low byte of extended ones): busy or locked
# past the busy timeout, the file unopenable, unreadable, read-only or full.
SQLITE_UNAVAILABLE = frozenset({
    3,   # SQLITE_PERM
    5,   # SQLITE_BUSY
    6,   # SQLITE_LOCKED
    8,   # SQLITE_READONLY
    10,  # SQLITE_IOERR
    13,  # SQLITE_FULL
    14,  # SQLITE_CANTOPEN
    15,  # SQLITE_PROTOCOL
})

# MariaDB/MySQL client (2xxx) and server error numbers.
MYSQL_UNAVAILABLE = frozenset({
    2002, 2003, 2005,  # cannot connect (socket, TCP, unknown host)
    2006, 2013, 2055,  # server gone away, connection lost
    1040,              # too many connections
    1047,              # Galera node not ready ("unknown command")
    1053,              # server shutdown in progress
    1152, 1158, 1159, 1160, 1161,  # connection aborted, network read/write error or timeout
    1290,              # server running with --read-only (failover in progress)
    1317,              # query interrupted
    1927,              # connection killed
    1969,              # max_statement_time exceeded (MariaDB)
    3024,              # max_execution_time exceeded (MySQL)
    4031,              # disconnected by the server for inactivity
})

# PostgreSQL SQLSTATEs and classes (the first two characters).
POSTGRES_UNAVAILABLE_CLASSES = frozenset({
    "08",  # connection exception
    "53",  # insufficient resources: too many connections, disk full, out of memory
})
POSTGRES_UNAVAILABLE = frozenset({
    "57P01", "57P02", "57P03",  # admin shutdown, crash shutdown, cannot connect now
    "57014",                    # query canceled: statement_timeout
    "25006",                    # read-only transaction: a standby after failover
})


def unavailable(exc: BaseException) -> DatabaseUnavailable | None:
    """The DatabaseUnavailable `exc` amounts to, or None when it is another error."""
    if isinstance(exc, DatabaseUnavailable):
        return exc
    if isinstance(exc, sa.TimeoutError):
        return DatabaseUnavailable(f"no pooled connection free in time: {exc}")
    if isinstance(exc, sa.DisconnectionError):
        return DatabaseUnavailable(f"connection lost: {exc}")
    if not isinstance(exc, sa.DBAPIError) or exc.orig is None:
        return None
    if exc.connection_invalidated or _driver_says_unavailable(exc.orig):
        return DatabaseUnavailable(_first_line(exc.orig))
    return None


def _driver_says_unavailable(error: BaseException) -> bool:
    driver = type(error).__module__.split(".", 1)[0]
    if driver == "sqlite3":
        code = getattr(error, "sqlite_errorcode", None)
        return isinstance(code, int) and code & 0xFF in SQLITE_UNAVAILABLE
    if driver == "pymysql":
        if type(error).__name__ == "InterfaceError":  # the connection is already closed
            return True
        number = error.args[0] if error.args else None
        return number in MYSQL_UNAVAILABLE
    if driver == "psycopg":
        state = getattr(error, "sqlstate", None)
        if state is None:
            import psycopg  # loaded already: the error came from it

            # Raised by libpq itself, never by the server: refused, closed, timed out.
            return isinstance(error, psycopg.OperationalError)
        return state in POSTGRES_UNAVAILABLE or state[:2] in POSTGRES_UNAVAILABLE_CLASSES
    return False


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else '(no message)'}"
