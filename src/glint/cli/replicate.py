"""`glint replicate`: glance-replicator's commands (size, compare, dump, load, livecopy).

Arguments and options keep glance-replicator's names and meaning; each command
parses them, builds the clients and calls src/glint/replication. Exit status: 0 on
success (compare too, whatever it found, as upstream), 1 when an argument is wrong
("ERROR: ..."), a server refuses the token, or any image failed.
"""

from __future__ import annotations

import functools
import logging
import logging.handlers
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from glint.client.endpoints import (
    Credentials,
    EndpointError,
    KeystoneError,
    endpoint_url,
    keystone_token,
)
from glint.client.images import ImageClient, ImageServiceError
from glint.replication import dumps, live, records
from glint.replication.sync import Outcome, SyncOptions

F = TypeVar("F", bound=Callable[..., Any])


class ReplicationFailed(click.ClickException):
    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"ERROR: {self.message}", err=True)


@dataclass(frozen=True)
class Common:
    """The options every replicate command takes."""

    chunksize: int
    dontreplicate: frozenset[str]
    metaonly: bool
    token: str
    sourcetoken: str
    targettoken: str
    credentials: Credentials | None
    workers: int

    def token_for(self, side_token: str) -> str | None:
        """`side_token`, else --token, else one from Keystone, else None (no auth)."""
        if side_token or self.token:
            return side_token or self.token
        if self.credentials is None:
            return None
        try:
            return keystone_token(self.credentials)
        except KeystoneError as exc:
            raise ReplicationFailed(str(exc)) from exc

    def source(self, text: str) -> ImageClient:
        return ImageClient(_endpoint(text), self.token_for(self.sourcetoken))

    def target(self, text: str) -> ImageClient:
        return ImageClient(_endpoint(text), self.token_for(self.targettoken))

    def sync_options(self) -> SyncOptions:
        return SyncOptions(skipped=self.dontreplicate, metaonly=self.metaonly)


def _endpoint(text: str) -> str:
    try:
        return endpoint_url(text)
    except EndpointError as exc:
        raise ReplicationFailed(
            f"{exc} Please specify a host:port pair, where host is an IPv4 address, IPv6 "
            "address (in brackets), hostname, or FQDN; or an http(s) URL.") from exc


OPTIONS: list[Callable[[F], F]] = [
    click.option("-c", "--chunksize", type=click.IntRange(1), default=65536, show_default=True,
                 help="Bytes per read and write of image data."),
    click.option("-d", "--debug", is_flag=True, help="Print debugging information."),
    click.option("-v", "--verbose", is_flag=True, help="Print more verbose output."),
    click.option("-D", "--dontreplicate", default=records.DEFAULT_DONT_REPLICATE,
                 show_default=True, help="Space-separated fields never compared nor copied."),
    click.option("-m", "--metaonly", is_flag=True,
                 help="Only replicate metadata, not image data (missing images are not created)."),
    click.option("-t", "--token", default="", help="Token for both the source and the target."),
    click.option("--sourcetoken", "-M", "--mastertoken", "sourcetoken", default="",
                 help="Token for the source (master)."),
    click.option("--targettoken", "-S", "--slavetoken", "targettoken", default="",
                 help="Token for the target (slave)."),
    click.option("--os-auth-url", envvar="OS_AUTH_URL", default="",
                 help="Keystone URL: get a token for each side without one [OS_AUTH_URL]."),
    click.option("--os-username", envvar="OS_USERNAME", default=""),
    click.option("--os-password", envvar="OS_PASSWORD", default=""),
    click.option("--os-project-name", envvar="OS_PROJECT_NAME", default=""),
    click.option("--os-user-domain-name", envvar="OS_USER_DOMAIN_NAME", default="Default"),
    click.option("--os-project-domain-name", envvar="OS_PROJECT_DOMAIN_NAME", default="Default"),
    click.option("-w", "--workers", type=click.IntRange(1, 64), default=1, show_default=True,
                 help="Images copied at the same time (livecopy, load)."),
    click.option("-l", "--logfile", default="", help="Log to this file."),
    click.option("-s", "--syslog", is_flag=True, help="Log to syslog instead of a file."),
]


def _setup_logging(debug: bool, verbose: bool, logfile: str, syslog: bool) -> None:
    handler: logging.Handler
    if syslog:
        handler = logging.handlers.SysLogHandler(address="/dev/log")
    elif logfile:
        handler = logging.handlers.WatchedFileHandler(logfile)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING)
    # httpx logs every request at INFO: only with --debug.
    logging.getLogger("httpx").setLevel(logging.DEBUG if debug else logging.WARNING)


def common_options(command: F) -> F:
    """Add the shared options; the command receives them as one `Common`."""
    @functools.wraps(command)
    def wrapper(**values: Any) -> Any:
        _setup_logging(values.pop("debug"), values.pop("verbose"), values.pop("logfile"),
                       values.pop("syslog"))
        auth_url = values.pop("os_auth_url")
        credentials_values = {name: values.pop(f"os_{name}") for name in (
            "username", "password", "project_name", "user_domain_name", "project_domain_name")}
        credentials = Credentials(auth_url, **credentials_values) if auth_url else None
        common = Common(
            chunksize=values.pop("chunksize"),
            dontreplicate=records.dont_replicate(values.pop("dontreplicate")),
            metaonly=values.pop("metaonly"), token=values.pop("token"),
            sourcetoken=values.pop("sourcetoken"), targettoken=values.pop("targettoken"),
            credentials=credentials, workers=values.pop("workers"))
        try:
            return command(common, **values)
        except ImageServiceError as exc:
            raise ReplicationFailed(str(exc)) from exc
    decorated: Any = wrapper
    for option in reversed(OPTIONS):
        decorated = option(decorated)
    result: F = decorated
    return result


def _arguments(arguments: tuple[str, ...], needed: int) -> tuple[str, ...]:
    if len(arguments) < needed:
        raise ReplicationFailed("Too few arguments.")
    return arguments


def _copy_summary(report: live.CopyReport) -> None:
    rate = report.bytes_copied / report.seconds / 1e6 if report.seconds else 0.0
    for image_id, reason in sorted(report.failures.items()):
        click.echo(f"{image_id}: FAILED: {reason}")
    for image_id in report.extra:
        verb = "deleted from the target" if image_id in report.deleted else \
            "on the target but not on the source"
        click.echo(f"{image_id}: {verb}")
    click.echo(
        f"{len(report.ids(Outcome.CREATED))} created, "
        f"{len(report.ids(Outcome.RESUMED))} resumed, "
        f"{len(report.ids(Outcome.UPDATED))} updated, "
        f"{len(report.ids(Outcome.UNCHANGED))} unchanged, "
        f"{len(report.ids(Outcome.SKIPPED))} skipped, {len(report.failures)} failed; "
        f"{report.bytes_copied} bytes copied in {report.seconds:.1f} s ({rate:.1f} MB/s)")
    if report.failures:
        raise ReplicationFailed(f"{len(report.failures)} image(s) failed.")


def human_size(size: float) -> str:
    for unit in ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi"):
        if abs(size) < 1024:
            return f"{size:3.1f} {unit}B"
        size /= 1024
    return f"{size:.1f} YiB"


@click.group()
def replicate() -> None:
    """Replicate images between image services (glance-replicator's commands).

    Servers are given as host:port, [ipv6]:port or an http(s) URL; any Glance v2 or
    Glint works on either side.
    """


@replicate.command("size")
@common_options
@click.argument("arguments", nargs=-1, metavar="<server:port>")
def size_command(common: Common, arguments: tuple[str, ...]) -> None:
    """Determine the size of an image service if dumped to disk (active images)."""
    server = _arguments(arguments, 1)[-1]
    token = common.targettoken or common.sourcetoken
    with ImageClient(_endpoint(server), common.token_for(token)) as client:
        report = live.size(client)
    click.echo(f"Total size is {report.total_bytes} bytes ({human_size(report.total_bytes)}) "
               f"across {report.images} images")


@replicate.command("compare")
@common_options
@click.argument("arguments", nargs=-1, metavar="<fromserver:port> <toserver:port>")
def compare_command(common: Common, arguments: tuple[str, ...]) -> None:
    """What is missing from the target, and what differs there."""
    source_text, target_text = _arguments(arguments, 2)[-2:]
    with common.source(source_text) as source, common.target(target_text) as target:
        report = live.compare(source, target, common.dontreplicate)
    for line in report.lines:
        click.echo(line)
    click.echo(f"{report.count} differences: {len(report.missing)} missing, "
               f"{len(report.differing)} differing, {len(report.extra)} on the destination only")


@replicate.command("livecopy")
@common_options
@click.option("--delete-missing", is_flag=True,
              help="Delete target images that the source does not have.")
@click.argument("arguments", nargs=-1, metavar="<fromserver:port> <toserver:port>")
def livecopy_command(common: Common, delete_missing: bool, arguments: tuple[str, ...]) -> None:
    """Load the contents of one image service into another."""
    source_text, target_text = _arguments(arguments, 2)[-2:]
    with common.source(source_text) as source, common.target(target_text) as target:
        report = live.livecopy(source, target, common.sync_options(), chunk_size=common.chunksize,
                               workers=common.workers, delete_extra=delete_missing)
    _copy_summary(report)


@replicate.command("dump")
@common_options
@click.argument("arguments", nargs=-1, metavar="<server:port> <path>")
def dump_command(common: Common, arguments: tuple[str, ...]) -> None:
    """Dump the contents of an image service to a local folder."""
    server, path = _arguments(arguments, 2)[-2:]
    with common.source(server) as source:
        report = dumps.dump(source, Path(path), metaonly=common.metaonly,
                            chunk_size=common.chunksize)
    for image_id, reason in sorted(report.failures.items()):
        click.echo(f"{image_id}: FAILED: {reason}")
    click.echo(f"{len(report.dumped)} dumped, {len(report.already)} already there, "
               f"{len(report.failures)} failed; {report.bytes_written} bytes written")
    if report.failures:
        raise ReplicationFailed(f"{len(report.failures)} image(s) failed.")


@replicate.command("load")
@common_options
@click.argument("arguments", nargs=-1, metavar="<server:port> <path>")
def load_command(common: Common, arguments: tuple[str, ...]) -> None:
    """Load the contents of a local folder (made by dump) into an image service."""
    server, path = _arguments(arguments, 2)[-2:]
    if not Path(path).is_dir():
        raise ReplicationFailed(f"{path} is not a folder.")
    with common.target(server) as target:
        report = dumps.load(target, Path(path), common.sync_options(),
                            chunk_size=common.chunksize, workers=common.workers)
    _copy_summary(report)


@replicate.command("help")
@click.argument("command", required=False)
@click.pass_context
def help_command(context: click.Context, command: str | None) -> None:
    """Output help for one of the commands."""
    group = context.parent.command if context.parent else replicate
    assert isinstance(group, click.Group)
    found = group.get_command(context, command) if command else None
    if found is None:
        click.echo(group.get_help(context.parent or context))
        if command:
            raise ReplicationFailed(f"Unknown command: {command}")
        return
    with click.Context(found, info_name=command, parent=context.parent) as sub:
        click.echo(found.get_help(sub))
