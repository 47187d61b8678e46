"""glance-download: import an image from another region's Glance (or Glint).

The caller's Keystone token, kept in memory for the task only (never
written to the database, so such a task cannot be resumed after a restart),
finds the other region's image endpoint in the Keystone catalog. The remote
image must be active; its disk and container formats and the properties
named by `[glance_download_properties] extra_properties` (prefixes) are
copied (and put back as they were if the import fails), then its data is
downloaded into the staging area (through the web-download URI filter,
resolved once and pinned) and must have the remote's size. The import then
goes on as for the other methods.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any

import httpx
from starlette.concurrency import run_in_threadpool

from glint.db import repositories as repo
from glint.db import task_repositories as tasks_repo
from glint.domain.image import Image, ImageStatus
from glint.services.clock import now
from glint.services.imports.deps import ImportDeps
from glint.services.imports.request import RemoteImage
from glint.services.ingest import QuotaMeter
from glint.services.web_download import DownloadFailed, fetch, fetch_json


@dataclass(frozen=True)
class Previous:
    """The local image's metadata before the remote's was copied over it
    (None: the property was not set)."""

    disk_format: str | None
    container_format: str | None
    properties: dict[str, str | None]


@dataclass(frozen=True)
class RemoteAuth:
    """What a glance-download task needs from its request: the token and Keystone."""

    token: str
    keystone_url: str


async def image_endpoint(auth: RemoteAuth, region: str, interface: str) -> str:
    """The image service's URL for `region` and `interface` in the caller's catalog."""
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
        try:
            response = await client.get(f"{auth.keystone_url.rstrip('/')}/v3/auth/catalog",
                                        headers={"X-Auth-Token": auth.token})
        except httpx.HTTPError as exc:
            raise DownloadFailed(f"The Keystone catalog could not be read: {exc}") from exc
    if response.status_code != 200:
        raise DownloadFailed(f"The Keystone catalog could not be read ({response.status_code})")
    for service in response.json().get("catalog", []):
        if service.get("type") != "image":
            continue
        for endpoint in service.get("endpoints", []):
            if endpoint.get("interface") == interface and \
                    region in (endpoint.get("region_id"), endpoint.get("region")):
                return str(endpoint["url"]).rstrip("/")
    raise DownloadFailed(f"{interface} glance endpoint not found for region {region}")


async def pull(deps: ImportDeps, image: Image, source: RemoteImage,
               auth: RemoteAuth | None, quota: QuotaMeter | None = None) -> Previous:
    """Copy the remote image's formats and properties, then its data into staging
    (held to the `quota` reservation, if any); returns what to `restore` if the
    import fails later."""
    if auth is None:
        raise DownloadFailed("glance-download needs the caller's token, which is not kept "
                             "across a restart; import the image again")
    endpoint = await image_endpoint(auth, source.region, source.interface)
    url = f"{endpoint}/v2/images/{source.image_id}"
    headers = {"X-Auth-Token": auth.token}
    remote = await fetch_json(url, rules=deps.uri_filter, resolve=deps.resolve,
                              headers=headers)
    if not isinstance(remote, dict):
        raise DownloadFailed(f"{url} did not describe an image")
    if remote.get("status") != "active":
        raise DownloadFailed(f"Source image status should be active instead of "
                             f"{remote.get('status')}")
    if not isinstance(remote.get("size"), int):
        raise DownloadFailed(f"Size attribute of remote image {source.image_id} "
                             "could not be determined.")
    previous = await run_in_threadpool(_copy_metadata, deps, image, remote)
    try:
        copied = replace(image, disk_format=remote.get("disk_format"),
                         container_format=remote.get("container_format"))
        size = (await fetch(f"{url}/file", rules=deps.uri_filter, resolve=deps.resolve,
                            staging=deps.staging, image_id=image.id,
                            data=deps.staged_data_rules(copied, quota), headers=headers)).size
        if size != remote["size"]:
            deps.staging.remove(image.id)
            raise DownloadFailed(f"Downloaded data size {size} is different from expected "
                                 f"{remote['size']}")
    except BaseException:
        await asyncio.shield(run_in_threadpool(restore, deps, image.id, previous))
        raise
    return previous


def _copy_metadata(deps: ImportDeps, image: Image, remote: dict[str, Any]) -> Previous:
    prefixes = deps.settings.glance_download_properties
    copied = {key: value for key, value in remote.items()
              if key.startswith(prefixes) and isinstance(value, str)}
    with deps.db.writing() as session:
        if not repo.set_formats(session, image.id, ImageStatus.IMPORTING, now(),
                                disk_format=remote.get("disk_format"),
                                container_format=remote.get("container_format")):
            raise DownloadFailed("The image was deleted or changed during the import")
        for key, value in copied.items():
            tasks_repo.set_image_property(session, image.id, key, value)
    return Previous(image.disk_format, image.container_format,
                    {key: image.properties.get(key) for key in copied})


def restore(deps: ImportDeps, image_id: str, previous: Previous) -> None:
    """Put back the image's formats and properties as they were before `pull`."""
    with deps.db.writing() as session:
        repo.set_formats(session, image_id, ImageStatus.IMPORTING, now(),
                         disk_format=previous.disk_format,
                         container_format=previous.container_format)
        tasks_repo.drop_image_properties(
            session, image_id, [k for k, v in previous.properties.items() if v is None])
        for key, value in previous.properties.items():
            if value is not None:
                tasks_repo.set_image_property(session, image_id, key, value)
