"""`glint cache`: list, queue, delete, clear, clean and prune a node's image cache,
either this node's (from the config files `glint serve` reads, acting as an
administrator) or any node's through its API (`--url`, with `--token` where
the node validates tokens)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from glint.cli.jobs import (
    JobFailed,
    JobSetupError,
    config_file_option,
    data_dir_option,
    job_environment,
)
from glint.client.cache import CacheClient
from glint.client.images import ImageServiceError
from glint.domain.context import RequestContext
from glint.domain.errors import GlintError
from glint.jobs.cache import CachePasses, CleanReport
from glint.services.authorization import build_policy
from glint.services.cache_admin import CacheAdmin
from glint.services.image_access import ImageAccess
from glint.services.image_cache import build_cache
from glint.services.stores import StoreServices

R = TypeVar("R")
# The local node acts as Glance's cache tools did: an administrator.
OPERATOR = RequestContext(request_id="glint-cache", is_admin=True, roles=frozenset({"admin"}))

url_option = click.option("--url", help="A node's API (http://host:port); default: this node.")
token_option = click.option("--token", envvar="OS_AUTH_TOKEN",
                            help="A Keystone token for --url (or $OS_AUTH_TOKEN).")


def _report(report: CleanReport, kind: str) -> dict[str, int]:
    return {f"total_files_{kind}": report.files, f"total_bytes_{kind}": report.bytes}


def _run(config_files: tuple[str, ...], data_dir: str | None, url: str | None,
         token: str | None, remote: Callable[[CacheClient], R],
         local: Callable[[CacheAdmin], R]) -> R:
    """`remote` against --url, else `local` against this node's configuration."""
    if url is not None:
        client = CacheClient(url, token)
        try:
            return remote(client)
        except ImageServiceError as exc:
            raise JobFailed(str(exc)) from exc
        finally:
            client.close()

    async def on_this_node() -> R:
        async with job_environment(config_files, data_dir) as job:
            cache = build_cache(job.settings, job.db)
            if cache is None:
                raise JobSetupError("[DEFAULT] image_cache_dir: not set, the cache is off")
            policy = build_policy(job.settings.policy)
            access = ImageAccess(policy)
            placement = StoreServices(db=job.db, access=access, policy=policy, stores=job.stores)
            admin = CacheAdmin(cache=cache, passes=CachePasses(cache, placement),
                               access=access, policy=policy)
            try:
                return local(admin)
            except GlintError as exc:
                raise JobFailed(str(exc)) from exc

    return asyncio.run(on_this_node())


def _options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in (token_option, url_option, data_dir_option, config_file_option):
        command = option(command)
    return command


@click.group()
def cache() -> None:
    """Manage a node's image cache."""


@cache.command("list")
@_options
def list_cache(config_files: tuple[str, ...], data_dir: str | None, url: str | None,
               token: str | None) -> None:
    """Print the cached and queued images as JSON."""
    body = _run(config_files, data_dir, url, token, lambda c: c.listing(),
                lambda a: a.listing(OPERATOR))
    click.echo(json.dumps(body, indent=2, sort_keys=True))


@cache.command("queue")
@click.argument("image_id")
@_options
def queue(image_id: str, config_files: tuple[str, ...], data_dir: str | None, url: str | None,
          token: str | None) -> None:
    """Queue an active image for the node's prefetcher."""
    _run(config_files, data_dir, url, token, lambda c: c.queue(image_id),
         lambda a: a.queue(OPERATOR, image_id))
    click.echo(f"Image {image_id} queued for caching")


@cache.command("delete")
@click.argument("image_id")
@_options
def delete(image_id: str, config_files: tuple[str, ...], data_dir: str | None, url: str | None,
           token: str | None) -> None:
    """Remove an image from the node's cache and queue."""
    _run(config_files, data_dir, url, token, lambda c: c.delete(image_id),
         lambda a: a.delete(OPERATOR, image_id))
    click.echo(f"Image {image_id} removed from the cache")


@cache.command("clear")
@click.option("--target", type=click.Choice(["cache", "queue", "all"]), default="all",
              show_default=True, help="What to clear.")
@_options
def clear(target: str, config_files: tuple[str, ...], data_dir: str | None, url: str | None,
          token: str | None) -> None:
    """Remove every cached image, the queue, or both."""
    header = "" if target == "all" else target
    _run(config_files, data_dir, url, token, lambda c: c.clear(header),
         lambda a: a.clear(OPERATOR, header))
    click.echo(f"Cleared: {target}")


@cache.command("clean")
@_options
def clean(config_files: tuple[str, ...], data_dir: str | None, url: str | None,
          token: str | None) -> None:
    """Remove stale, incomplete, stalled and corrupt entries (re-hashing every entry);
    prints what was removed on this node (the API, as Glance's, does not say)."""
    body = _run(config_files, data_dir, url, token, lambda c: c.clean(),
                lambda a: _report(a.clean(OPERATOR), "cleaned"))
    click.echo("Cache cleaned" if body is None else json.dumps(body, sort_keys=True))


@cache.command("prune")
@_options
def prune(config_files: tuple[str, ...], data_dir: str | None, url: str | None,
          token: str | None) -> None:
    """Remove least recently used entries until the cache fits image_cache_max_size."""
    body = _run(config_files, data_dir, url, token, lambda c: c.prune(),
                lambda a: _report(a.prune(OPERATOR), "pruned"))
    click.echo(json.dumps(body, sort_keys=True))
