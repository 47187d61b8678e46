"""Which driver errors are an outage: the drivers' own exception classes, as
SQLAlchemy wraps them (pure code, no database needed)."""

from __future__ import annotations

import sqlite3

import psycopg
import pymysql
import pytest
from psycopg import errors as pg
from sqlalchemy import exc as sa

from glint.db.failures import unavailable
from glint.domain.errors import DatabaseUnavailable


def _wrapped(error: Exception) -> sa.DBAPIError:
    return sa.DBAPIError.instance("SELECT 1", {}, error, Exception)


def _sqlite_error(message: str, code: int) -> sqlite3.Error:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode = code  # type: ignore[attr-defined]
    return error


@pytest.mark.parametrize("error", [
    pymysql.err.OperationalError(2003, "Can't connect to MySQL server on '127.0.0.1'"),
    pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query"),
    pymysql.err.OperationalError(1969, "Query execution was interrupted (max_statement_time)"),
    pymysql.err.OperationalError(1040, "Too many connections"),
    pymysql.err.InterfaceError(0, ""),
    psycopg.OperationalError("connection failed: Connection refused"),
    pg.ConnectionTimeout("connection timeout expired"),
    pg.QueryCanceled("canceling statement due to statement timeout"),
    pg.AdminShutdown("terminating connection due to administrator command"),
    pg.TooManyConnections("sorry, too many clients already"),
    _sqlite_error("database is locked", 5),
    _sqlite_error("disk I/O error", 10 | (1 << 8)),  # SQLITE_IOERR_READ
], ids=repr)
def test_outages(error: Exception) -> None:
    found = unavailable(_wrapped(error))
    assert isinstance(found, DatabaseUnavailable)
    assert type(error).__name__ in found.reason


@pytest.mark.parametrize("error", [
    pymysql.err.ProgrammingError(1064, "You have an error in your SQL syntax"),
    pymysql.err.IntegrityError(1062, "Duplicate entry"),
    pymysql.err.OperationalError(1054, "Unknown column 'x'"),
    pg.UndefinedTable('relation "x" does not exist'),
    pg.UniqueViolation("duplicate key value violates unique constraint"),
    psycopg.ProgrammingError("the query has 1 placeholder but 2 parameters were passed"),
    _sqlite_error("no such table: x", 1),
], ids=repr)
def test_bugs_are_not_outages(error: Exception) -> None:
    assert unavailable(_wrapped(error)) is None


def test_pool_and_other_errors() -> None:
    assert isinstance(unavailable(sa.TimeoutError("QueuePool limit reached")), DatabaseUnavailable)
    assert unavailable(ValueError("x")) is None
    invalidated = _wrapped(pymysql.err.OperationalError(9999, "whatever"))
    invalidated.connection_invalidated = True
    assert isinstance(unavailable(invalidated), DatabaseUnavailable)
