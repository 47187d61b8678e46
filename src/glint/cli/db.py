"""`glint db`: create, upgrade and inspect the schema; the metadata definition
commands (glint/cli/metadefs.py) are imported only when used."""

from __future__ import annotations

import click

from glint.cli.lazy import LazyCommand, LazyGroup
from glint.cli.options import (
    ServeOptions,
    StartupError,
    config_file_option,
    data_dir_option,
    load_settings,
)
from glint.cli.startup import ensure_sqlite_directory
from glint.config_file import ConfigError
from glint.db import schema
from glint.db.session import create_database_engine
from glint.settings import DatabaseSettings

METADEF_COMMANDS = {
    "load-metadefs": LazyCommand(
        "glint.cli.metadefs:load_metadefs",
        "Load metadata definition files (a folder of .json files, or one file)."),
    "unload-metadefs": LazyCommand(
        "glint.cli.metadefs:unload_metadefs",
        "Remove every metadata definition namespace and resource type."),
    "export-metadefs": LazyCommand(
        "glint.cli.metadefs:export_metadefs",
        "Write every namespace to FOLDER, one Glance-format .json file each."),
}


@click.group(cls=LazyGroup, lazy=METADEF_COMMANDS)
def db() -> None:
    """Manage the database schema."""


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
