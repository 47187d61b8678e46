"""`glint db load-metadefs / unload-metadefs / export-metadefs`.

The same jobs, options and JSON files as `glance-manage db load_metadefs`,
`unload_metadefs` and `export_metadefs`. Without a folder, load-metadefs
loads the definitions Glint ships.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from glint.cli.options import ServeOptions, load_settings
from glint.cli.startup import prepare_database
from glint.config_file import ConfigError
from glint.db.session import Database, open_database
from glint.services import metadef_files
from glint.services.metadef_files import Existing


class MetadefCommandError(click.ClickException):
    exit_code = 2


config_file_option = click.option(
    "--config-file", "config_files", multiple=True, type=click.Path(dir_okay=False),
    help="A glance-api.conf-style file naming the database; repeat to layer several.",
)
data_dir_option = click.option(
    "--data-dir", type=click.Path(file_okay=False),
    help="Folder of the embedded SQLite database (default: ./data).",
)


@contextmanager
def _database(config_files: tuple[str, ...], data_dir: str | None) -> Iterator[Database]:
    """The configured database, migrated (embedded) or checked to be migrated."""
    try:
        settings = load_settings(ServeOptions(config_files=config_files, data_dir=data_dir))
        prepare_database(settings)
    except ConfigError as exc:
        raise MetadefCommandError(str(exc)) from exc
    # Loading a large set of definitions may take longer than a request's statement limit.
    database = open_database(settings.database, maintenance=True)
    try:
        yield database
    finally:
        database.dispose()


def _existing(merge: bool, prefer_new: bool, overwrite: bool) -> Existing:
    if (prefer_new or overwrite) and not merge:
        raise click.UsageError("--prefer-new and --overwrite only work together with --merge.")
    if prefer_new and overwrite:
        raise click.UsageError("Give at most one of --prefer-new and --overwrite.")
    if overwrite:
        return Existing.OVERWRITE
    if prefer_new:
        return Existing.PREFER_NEW
    return Existing.MERGE if merge else Existing.SKIP


@click.command("load-metadefs")
@click.argument("folder", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--path", "path_option", type=click.Path(exists=True, path_type=Path),
              help="Same as FOLDER (glance-manage's spelling).")
@click.option("--merge", is_flag=True,
              help="Also load into namespaces that exist: add what they lack.")
@click.option("--prefer-new", "--prefer_new", "prefer_new", is_flag=True,
              help="With --merge: replace existing definitions with the files' ones.")
@click.option("--overwrite", is_flag=True,
              help="With --merge: drop existing namespaces and load them from the files.")
@config_file_option
@data_dir_option
def load_metadefs(folder: Path | None, path_option: Path | None, merge: bool, prefer_new: bool,
                  overwrite: bool, config_files: tuple[str, ...], data_dir: str | None) -> None:
    """Load metadata definition files (a folder of .json files, or one file).

    Without FOLDER, load the definitions that come with Glint. Namespaces
    already in the database are skipped unless --merge is given.
    """
    existing = _existing(merge, prefer_new, overwrite)
    source = folder or path_option or metadef_files.default_definitions()
    with _database(config_files, data_dir) as database:
        report = metadef_files.load_definitions(database, source, existing)
    for name in report.skipped:
        click.echo(f"Skipped {name}: it exists (use --merge to load into it)")
    click.echo(f"Loaded {len(report.loaded)} namespace(s), skipped {len(report.skipped)}, "
               f"failed {len(report.failed)}")
    if report.failed:
        raise MetadefCommandError("could not load: " + ", ".join(report.failed))


@click.command("unload-metadefs")
@config_file_option
@data_dir_option
def unload_metadefs(config_files: tuple[str, ...], data_dir: str | None) -> None:
    """Remove every metadata definition namespace and resource type."""
    with _database(config_files, data_dir) as database:
        metadef_files.unload_definitions(database)
    click.echo("Removed all metadata definitions")


@click.command("export-metadefs")
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--path", "path_option", type=click.Path(file_okay=False, path_type=Path),
              help="Same as FOLDER (glance-manage's spelling).")
@config_file_option
@data_dir_option
def export_metadefs(folder: Path | None, path_option: Path | None, config_files: tuple[str, ...],
                    data_dir: str | None) -> None:
    """Write every namespace to FOLDER, one Glance-format .json file each."""
    target = folder or path_option
    if target is None:
        raise click.UsageError("Name the folder to export to.")
    with _database(config_files, data_dir) as database:
        written = metadef_files.export_definitions(database, target)
    click.echo(f"Exported {len(written)} namespace(s) to {target}")

