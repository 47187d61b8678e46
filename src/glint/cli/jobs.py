"""What the job commands (`glint scrubber`, ...) share: options, and the
database and stores they run on, built from the same config files as `glint serve`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import click

from glint.cli.options import ServeOptions, load_settings
from glint.cli.startup import prepare_database
from glint.config_file import ConfigError
from glint.db.session import Database, open_database
from glint.settings import Settings
from glint.stores.base import StoreError
from glint.stores.options import OptionError
from glint.stores.registry import StoreRegistry, build_registry


class JobSetupError(click.ClickException):
    """The configuration, database or stores are not usable."""

    exit_code = 2


class JobFailed(click.ClickException):
    """The job ran and refused or failed what it was asked (restore of an unknown image, ...)."""

    exit_code = 1


config_file_option = click.option(
    "--config-file", "config_files", multiple=True, type=click.Path(dir_okay=False),
    help="A glance-api.conf-style file (the one `glint serve` reads); repeat to layer several.",
)
data_dir_option = click.option(
    "--data-dir", type=click.Path(file_okay=False),
    help="Folder of the embedded SQLite database and filesystem store (default: ./data).",
)


@dataclass
class JobEnvironment:
    settings: Settings
    db: Database
    stores: StoreRegistry


@asynccontextmanager
async def job_environment(config_files: tuple[str, ...],
                          data_dir: str | None) -> AsyncIterator[JobEnvironment]:
    """Settings, database and stores for a job; closed when the block ends.

    The stores are not checked at start: a job reports the stores that fail
    and goes on with the others. Raises JobSetupError."""
    try:
        settings = load_settings(ServeOptions(config_files=config_files, data_dir=data_dir))
        prepare_database(settings)
        stores = build_registry(settings.store)
    except (ConfigError, StoreError, OptionError) as exc:
        raise JobSetupError(str(exc)) from exc
    db = open_database(settings.database)
    try:
        yield JobEnvironment(settings=settings, db=db, stores=stores)
    finally:
        await stores.close()
        db.dispose()
