"""Checks `glint serve` makes before it starts: database schema, port."""

from __future__ import annotations

import socket
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from glint.config_file import ConfigError
from glint.db import schema
from glint.db.session import create_database_engine
from glint.domain.errors import DatabaseUnavailable
from glint.settings import Settings


def prepare_database(settings: Settings) -> None:
    """Migrate the embedded database; require any other to be migrated already.

    Raises ConfigError with one line an operator can act on.
    """
    ensure_sqlite_directory(settings.database.url)
    engine = create_database_engine(settings.database, maintenance=True)
    try:
        if settings.database.embedded:
            schema.upgrade(engine)
            return
        current = schema.current_revision(engine)
        if current != schema.head_revision():
            state = "has no Glint schema" if current is None else f"is at revision {current}"
            raise ConfigError(
                "database", "connection",
                f"the database {state}; run `glint db sync` (or `glint-manage db_sync`) first",
            )
    except (SQLAlchemyError, DatabaseUnavailable) as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0]
        raise ConfigError("database", "connection", f"cannot use the database: {reason}") from exc
    finally:
        engine.dispose()


def ensure_sqlite_directory(url: str) -> None:
    """SQLite creates the file but not its folder; create the folder."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                "DEFAULT", "bind_port", f"cannot listen on {host}:{port}: {exc.strerror}"
            ) from exc


def check_authorization(settings: Settings) -> None:
    """Load the policy, the property protections and the Keystone settings
    once, so a bad file stops the start. Raises ConfigError."""
    from glint.api.keystone import KeystoneAuthenticator
    from glint.services.authorization import build_policy

    build_policy(settings.policy)
    if settings.auth.uses_keystone:
        try:
            KeystoneAuthenticator(settings.auth)
        except Exception as exc:
            raise ConfigError("keystone_authtoken", "*", "cannot configure keystonemiddleware: "
                              f"{type(exc).__name__}: {exc}") from exc
