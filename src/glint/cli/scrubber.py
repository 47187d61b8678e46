"""`glint scrubber`: glance-scrubber's command (one pass, `--daemon`, `--restore`)."""

from __future__ import annotations

import asyncio
import json

import click

from glint.cli.jobs import JobFailed, config_file_option, data_dir_option, job_environment
from glint.domain.errors import Conflict, DatabaseUnavailable, NotFound
from glint.jobs.runner import every
from glint.jobs.scrub import Scrubber


@click.command()
@config_file_option
@data_dir_option
@click.option("--daemon", "-D", is_flag=True,
              help="Run a pass every [DEFAULT] wakeup_time seconds until stopped.")
@click.option("--restore", "restore_id", metavar="IMAGE_ID",
              help="Put this pending_delete image back to active, and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the pass's report as JSON.")
def scrubber(config_files: tuple[str, ...], data_dir: str | None, daemon: bool,
             restore_id: str | None, as_json: bool) -> None:
    """Delete the data of images in pending_delete (delayed delete)."""
    if daemon and restore_id:
        raise click.UsageError("--restore and --daemon cannot be used together.")
    asyncio.run(_run(config_files, data_dir, daemon, restore_id, as_json))


async def _run(config_files: tuple[str, ...], data_dir: str | None, daemon: bool,
               restore_id: str | None, as_json: bool) -> None:
    async with job_environment(config_files, data_dir) as job:
        scrubbing = Scrubber(db=job.db, stores=job.stores, settings=job.settings.scrub)
        try:
            if restore_id is not None:
                await scrubbing.restore(restore_id)
                click.echo(f"Image {restore_id} restored to active")
            elif daemon:
                await every(job.settings.scrub.wakeup_time, "scrubber", scrubbing.run_once)
            else:
                report = await scrubbing.run_once()
                click.echo(json.dumps(report.to_json()) if as_json else report.summary())
        except (NotFound, Conflict) as exc:
            raise JobFailed(str(exc)) from exc
        except DatabaseUnavailable as exc:
            raise JobFailed(f"the database is unavailable: {exc.reason}") from exc
