"""`glint audit`: check the stored copies of active images against their
records, once or as a daemon; `--report` lists the copies recorded bad."""

from __future__ import annotations

import asyncio
import json

import click

from glint.cli.jobs import JobFailed, config_file_option, data_dir_option, job_environment
from glint.db.session import Database
from glint.domain.errors import DatabaseUnavailable
from glint.jobs.audit import Auditor, AuditReport
from glint.jobs.reap import shown
from glint.jobs.runner import every
from glint.services.audit_findings import findings_json, recorded_findings

MEGABYTE = 1_000_000
DEFAULT_INTERVAL = 24 * 3600.0


@click.command()
@config_file_option
@data_dir_option
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), metavar="MB/S",
              help="Read at most this many megabytes (10^6 bytes) per second.")
@click.option("--image", "image_id", metavar="ID", help="Check only this image.")
@click.option("--store", metavar="ID", help="Check only the copies in this store.")
@click.option("--daemon", "-D", is_flag=True, help="Run a pass every --interval seconds.")
@click.option("--interval", type=click.FloatRange(min=0, min_open=True),
              default=DEFAULT_INTERVAL, show_default=True,
              help="Seconds from the start of one pass to the next (with --daemon).")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--report", is_flag=True, help="List the copies recorded bad, and exit.")
def audit(config_files: tuple[str, ...], data_dir: str | None, rate: float | None,
          image_id: str | None, store: str | None, daemon: bool, interval: float,
          as_json: bool, report: bool) -> None:
    """Re-read the stored data of active images and compare it with their records."""
    if report and daemon:
        raise click.UsageError("--report and --daemon cannot be used together.")
    asyncio.run(_run(config_files, data_dir, rate, image_id, store, daemon, interval,
                     as_json, report))


async def _run(config_files: tuple[str, ...], data_dir: str | None, rate: float | None,
               image_id: str | None, store: str | None, daemon: bool, interval: float,
               as_json: bool, report: bool) -> None:
    async with job_environment(config_files, data_dir) as job:
        if store is not None and store not in job.stores.stores:
            raise JobFailed(f"Unknown store {store!r}: the configured stores are "
                            + ", ".join(sorted(job.stores.stores)))
        auditor = Auditor(db=job.db, stores=job.stores,
                          rate=None if rate is None else rate * MEGABYTE)
        try:
            if report:
                await _print_bad_copies(job.db, as_json)
            elif daemon:
                await every(interval, "audit",
                            lambda: auditor.run_once(image_id=image_id, store=store))
            else:
                _print_report(await auditor.run_once(image_id=image_id, store=store), as_json)
        except DatabaseUnavailable as exc:
            raise JobFailed(f"the database is unavailable: {exc.reason}") from exc


def _print_report(found: AuditReport, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(found.to_json()))
        return
    for check in found.bad:
        click.echo(f"{check.verdict}\t{check.image_id}\t{check.store}\t{shown(check.url)}\t"
                   + "; ".join(check.differences))
    click.echo(found.summary())


async def _print_bad_copies(db: Database, as_json: bool) -> None:
    findings = await asyncio.to_thread(recorded_findings, db)
    if as_json:
        click.echo(json.dumps(findings_json(findings, with_urls=True)))
        return
    for check in findings.bad:
        click.echo(f"{check.checked_at.isoformat()}\t{check.verdict}\t{check.image_id}\t"
                   f"{check.store}\t{shown(check.url)}\t" + "; ".join(check.differences))
    for run in findings.passes:
        click.echo(f"pass {run.scope} unfinished: started {run.started_at.isoformat()}, "
                   f"past image {run.last_image_id} at {run.updated_at.isoformat()}")
    click.echo(f"{len(findings.bad)} bad copy(ies) recorded")
