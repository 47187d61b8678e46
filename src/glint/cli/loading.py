"""Turning command-line options into Settings, and checking they can run."""

from __future__ import annotations

import logging
import socket
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from glint.config_file import ConfigError, settings_from_files
from glint.db import schema
from glint.db.session import create_database_engine
from glint.settings import Settings

DEFAULT_DATA_DIR = Path("data")


@dataclass(frozen=True)
class ServeOptions:
    config_files: tuple[str, ...] = ()
    data_dir: str | None = None
    host: str | None = None
    port: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServeOptions:
        return cls(
            config_files=tuple(data["config_files"]), data_dir=data["data_dir"],
            host=data["host"], port=data["port"],
        )


def load_settings(options: ServeOptions, *, warn: bool = True) -> Settings:
    """Settings from the config files with command-line overrides applied.

    `--data-dir` moves the embedded database and the filesystem store unless
    the config files name their own. Raises ConfigError.
    """
    logger = logging.getLogger("glint.config_file")
    previous = logger.level
    if not warn:
        logger.setLevel(logging.ERROR)
    try:
        data_dir = Path(options.data_dir) if options.data_dir else DEFAULT_DATA_DIR
        settings = settings_from_files([Path(p) for p in options.config_files], data_dir)
    finally:
        logger.setLevel(previous)
    server = settings.server
    if options.host is not None:
        server = replace(server, bind_host=options.host)
    if options.port is not None:
        server = replace(server, bind_port=options.port)
    return replace(settings, server=server)


def prepare_database(settings: Settings) -> None:
    """Migrate the embedded database; require any other to be migrated already.

    Raises ConfigError with one line an operator can act on.
    """
    ensure_sqlite_directory(settings.database.url)
    engine = create_database_engine(settings.database.url)
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
    except SQLAlchemyError as exc:
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
