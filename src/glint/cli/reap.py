"""`glint reap`: find (and with --delete remove) orphaned data in the stores and staging."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import click

from glint.cli.jobs import JobFailed, config_file_option, data_dir_option, job_environment
from glint.domain.errors import DatabaseUnavailable
from glint.jobs.reap import Reaper, ReapReport
from glint.services.staging import staging_folder


@click.command()
@config_file_option
@data_dir_option
@click.option("--older-than", "hours", type=click.FloatRange(min=0), default=24.0,
              show_default=True, help="Only data unchanged for this many hours counts.")
@click.option("--delete", is_flag=True, help="Remove what is found (default: only list it).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def reap(config_files: tuple[str, ...], data_dir: str | None, hours: float, delete: bool,
         as_json: bool) -> None:
    """List data in the stores and the staging area that no image needs any more."""
    report = asyncio.run(_run(config_files, data_dir, timedelta(hours=hours), delete))
    if as_json:
        click.echo(json.dumps(report.to_json()))
        return
    for orphan in report.orphans:
        click.echo(f"{orphan.store}\t{orphan.image_id}\t{orphan.modified.isoformat()}\t"
                   + ", ".join(orphan.removed if delete else orphan.items))
    for failure in report.failures:
        click.echo(f"store {failure.store} failed: {failure.message}", err=True)
    click.echo(report.summary())


async def _run(config_files: tuple[str, ...], data_dir: str | None, older_than: timedelta,
               delete: bool) -> ReapReport:
    async with job_environment(config_files, data_dir) as job:
        reaper = Reaper(db=job.db, stores=job.stores, staging=staging_folder(job.settings))
        try:
            return await reaper.run_once(older_than, delete=delete)
        except DatabaseUnavailable as exc:
            raise JobFailed(f"the database is unavailable: {exc.reason}") from exc
