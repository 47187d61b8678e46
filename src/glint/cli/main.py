"""The `glint` command: serve the API and manage the database."""

from __future__ import annotations

import json
import logging
import os
import sys

import click

from glint.cli.audit import audit
from glint.cli.cache import cache
from glint.cli.metadefs import METADEF_COMMANDS
from glint.cli.options import ServeOptions, load_settings
from glint.cli.reap import reap
from glint.cli.replicate import replicate
from glint.cli.scrubber import scrubber
from glint.cli.startup import (
    check_authorization,
    check_port_free,
    ensure_sqlite_directory,
    prepare_database,
)
from glint.cli.supervisor import LOG_FORMAT
from glint.config_file import ConfigError
from glint.db import schema
from glint.db.session import create_database_engine
from glint.settings import DatabaseSettings
from glint.stores.base import StoreError
from glint.stores.options import OptionError
from glint.stores.registry import check_registry

# glibc malloc: a few arenas instead of one per thread (the server has dozens
# of threads), which keeps worker memory flat while large blocks stream.
MALLOC_TUNING = {"MALLOC_ARENA_MAX": "2"}


class StartupError(click.ClickException):
    exit_code = 2


config_file_option = click.option(
    "--config-file", "config_files", multiple=True, type=click.Path(dir_okay=False),
    help="A glance-api.conf-style file; repeat to layer several (later ones win).",
)
data_dir_option = click.option(
    "--data-dir", type=click.Path(file_okay=False),
    help="Folder for the embedded SQLite database and filesystem store (default: ./data).",
)


@click.group()
# The installed distribution's version (its metadata), never a copy kept in the code.
@click.version_option(package_name="glint", message="%(prog)s %(version)s")
def main() -> None:
    """Glint, an image service that speaks the OpenStack Image (Glance) v2 API."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)


@main.command()
@config_file_option
@data_dir_option
@click.option("--host", help="Address to listen on (overrides [DEFAULT] bind_host).")
@click.option("--port", type=int, help="Port to listen on (overrides [DEFAULT] bind_port).")
def serve(config_files: tuple[str, ...], data_dir: str | None, host: str | None,
          port: int | None) -> None:
    """Serve the Images API."""
    from glint.cli import supervisor

    options = ServeOptions(config_files=config_files, data_dir=data_dir, host=host, port=port)
    try:
        settings = load_settings(options)
        prepare_database(settings)
        check_registry(settings.store)
        check_authorization(settings)
        check_port_free(settings.server.bind_host, settings.server.bind_port)
    except (ConfigError, StoreError, OptionError) as exc:
        raise StartupError(str(exc)) from exc
    server = settings.server
    environment = {**MALLOC_TUNING, **os.environ, supervisor.SETTINGS_ENVIRONMENT_VARIABLE: json.dumps({
        **options.to_json(),
        "server": {"bind_host": server.bind_host, "bind_port": server.bind_port,
                   "workers": server.workers, "max_header_line": server.max_header_line},
    })}
    logging.getLogger(__name__).info(
        "Glint serving on http://%s:%d with %d worker(s)",
        server.bind_host, server.bind_port, server.workers,
    )
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "glint.cli.supervisor"], environment)


main.add_command(scrubber)
main.add_command(reap)
main.add_command(audit)


@main.group()
def db() -> None:
    """Manage the database schema."""


for metadef_command in METADEF_COMMANDS:
    db.add_command(metadef_command)


def _database_settings(config_files: tuple[str, ...], data_dir: str | None) -> DatabaseSettings:
    try:
        settings = load_settings(ServeOptions(config_files=config_files, data_dir=data_dir))
    except ConfigError as exc:
        raise StartupError(str(exc)) from exc
    return settings.database


@db.command("sync")
@config_file_option
@data_dir_option
def db_sync(config_files: tuple[str, ...], data_dir: str | None) -> None:
    """Create or upgrade the schema to the newest revision."""
    database = _database_settings(config_files, data_dir)
    ensure_sqlite_directory(database.url)
    # Migrations may rewrite whole tables: no statement limit.
    engine = create_database_engine(database, maintenance=True)
    try:
        schema.upgrade(engine)
        click.echo(f"Database is at revision {schema.current_revision(engine)}")
    except Exception as exc:
        raise StartupError(f"[database] connection: cannot migrate: {exc}") from exc
    finally:
        engine.dispose()


@db.command("version")
@config_file_option
@data_dir_option
def db_version(config_files: tuple[str, ...], data_dir: str | None) -> None:
    """Print the schema revision the database is at."""
    engine = create_database_engine(_database_settings(config_files, data_dir), maintenance=True)
    try:
        click.echo(schema.current_revision(engine) or "None")
    except Exception as exc:
        raise StartupError(f"[database] connection: cannot read the database: {exc}") from exc
    finally:
        engine.dispose()


main.add_command(replicate)
main.add_command(cache)
