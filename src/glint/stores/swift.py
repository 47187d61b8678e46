"""The swift store: one object per image in a container of an OpenStack Swift cluster.

glance_store's single-tenant options: tempauth (auth version 1) or Keystone
(2, 3), with the account from the swift_store_* options or from a reference
of `swift_store_config_file` (see swift_accounts.py). Data of a declared size below
`swift_store_large_object_size` MiB is streamed in one PUT; anything else
(or of unknown size) as segments of `swift_store_large_object_chunk_size`
MiB in `<container>_segments` (named `<image id>/<write>/<number>`), joined by
a static large object manifest.
Every PUT streams (chunked transfer); one that is cut short is abandoned by
Swift, and segments of a failed upload are deleted, so nothing is left.

python-swiftclient is synchronous and a connection serves one thread at a
time: each of the store's threads keeps its own.
"""

from __future__ import annotations

import asyncio
import functools
import json
import queue
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

import swiftclient.client
import swiftclient.exceptions

from glint.domain.image import Location
from glint.stores.base import (
    READ_CHUNK_SIZE,
    DataNotFound,
    InUse,
    StoredData,
    StoredImage,
    StoreError,
    StoreUnreachable,
)
from glint.stores.listing import StoredImages, image_id_of
from glint.stores.options import BackendConfig, OptionError
from glint.stores.swift_accounts import ConfiguredAccount, SwiftAccount, configured_account

MIB = 1024 * 1024
READ_BLOCK = 1 * MIB
_END = object()
_ABORT = object()


class _Abandoned(Exception):
    """Raised inside a request body to make the HTTP client give up the request."""


class SwiftStore:
    """Image data as objects `<container>/<image id>`."""

    def __init__(
        self, name: str, *, account: SwiftAccount | ConfiguredAccount,
        container: str = "glance", create_container_on_put: bool = False,
        large_object_size: int = 5120 * MIB, chunk_size: int = 200 * MIB,
        insecure: bool = False, cacert: str | None = None, region: str | None = None,
        endpoint: str | None = None, endpoint_type: str = "publicURL",
        service_type: str = "object-store", threads: int = 8,
    ) -> None:
        self.name = name
        self.container = container
        self.create_container_on_put = create_container_on_put
        self.large_object_size = large_object_size
        self.chunk_size = chunk_size
        configured = (account if isinstance(account, ConfiguredAccount)
                      else ConfiguredAccount(account))
        self._reference = configured.reference
        self._aliases = configured.aliases
        credentials = configured.account
        self._auth = credentials.auth_address.rstrip("/")
        parsed = urlparse(self._auth)
        self._scheme = "swift+https" if parsed.scheme == "https" else "swift+http"
        self._prefix = f"{parsed.netloc}{parsed.path}"
        self._connect = functools.partial(
            swiftclient.client.Connection, authurl=self._auth, **_login(credentials, region,
                                                                         endpoint_type,
                                                                         service_type),
            preauthurl=endpoint, insecure=insecure, cacert=cacert, retries=1, timeout=60,
        )
        self._local = threading.local()
        self._threads = ThreadPoolExecutor(threads, f"glint-swift-{name}")

    @classmethod
    def from_config(cls, config: BackendConfig) -> SwiftStore:
        """The store glance_store's swift_store_* options describe; raises OptionError."""
        if config.boolean("swift_store_multi_tenant", False):
            raise OptionError(config.section, "swift_store_multi_tenant",
                              "multi-tenant Swift (data in each user's own account) is not "
                              "supported by Glint; use one account (swift_store_user, or a "
                              "reference of swift_store_config_file)")
        endpoint_type = config.text("swift_store_endpoint_type", "publicURL") or "publicURL"
        if endpoint_type not in ("publicURL", "adminURL", "internalURL"):
            raise OptionError(config.section, "swift_store_endpoint_type",
                              f"must be publicURL, adminURL or internalURL, got {endpoint_type!r}")
        return cls(
            config.name, account=configured_account(config),
            container=config.text("swift_store_container", "glance") or "glance",
            create_container_on_put=config.boolean("swift_store_create_container_on_put", False),
            large_object_size=config.integer("swift_store_large_object_size", 5120,
                                             minimum=1) * MIB,
            chunk_size=config.integer("swift_store_large_object_chunk_size", 200,
                                      minimum=1) * MIB,
            insecure=config.boolean("swift_store_auth_insecure", False),
            cacert=config.text("swift_store_cacert"), region=config.text("swift_store_region"),
            endpoint=config.text("swift_store_endpoint"), endpoint_type=endpoint_type,
            service_type=config.text("swift_store_service_type", "object-store")
            or "object-store",
        )

    def properties(self) -> dict[str, object]:
        return {"container": self.container,
                "large_object_size": self.large_object_size // MIB,
                "large_object_chunk_size": self.chunk_size // MIB}

    async def aclose(self) -> None:
        self._threads.shutdown(wait=False)

    # Locations -----------------------------------------------------------

    def _url(self, key: str) -> str:
        if self._reference is not None:
            return f"swift+config://{self._reference}/{self.container}/{key}"
        return f"{self._scheme}://{self._prefix}/{self.container}/{key}"

    def accepts(self, url: str) -> bool:
        try:
            self._key_of(url)
        except DataNotFound:
            return False
        return True

    def _key_of(self, url: str) -> str:
        """The object name of one of this store's URLs; credentials glance_store put
        into its URLs (swift+http://user:key@host/...) are ignored, and
        swift+config://<reference>/... must name a reference for this account."""
        parsed = urlparse(url)
        if parsed.scheme == "swift+config":
            container, _, key = parsed.path.lstrip("/").partition("/")
            if (parsed.netloc not in self._aliases or container != self.container
                    or not key or "/" in key):
                raise DataNotFound(self.name, f"location {url!r} is not in this store")
            return key
        rest = f"{parsed.netloc.rpartition('@')[2]}{parsed.path}"
        container, _, key = rest.removeprefix(self._prefix + "/").partition("/")
        if (parsed.scheme not in ("swift", "swift+http", "swift+https")
                or not rest.startswith(self._prefix + "/") or container != self.container
                or not key or "/" in key):
            raise DataNotFound(self.name, f"location {url!r} is not in this store")
        return key

    # Calls ---------------------------------------------------------------

    def _connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._connect()
        return connection

    def _run(self, method: str, /, *args: Any, **kwargs: Any) -> Any:
        return getattr(self._connection(), method)(*args, **kwargs)

    async def _call(self, method: str, /, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._threads, functools.partial(self._run, method, *args, **kwargs))
        except swiftclient.exceptions.ClientException as exc:
            raise self._error(exc) from exc
        except _Abandoned:
            raise
        except Exception as exc:
            raise StoreUnreachable(self.name, f"cannot reach {self._auth}: {exc}") from exc

    def _error(self, exc: swiftclient.exceptions.ClientException) -> StoreError:
        status = exc.http_status or 0
        message = f"{status or ''} {exc.msg} {exc.http_reason or ''}".strip()
        if status == 404:
            return DataNotFound(self.name, message)
        if status >= 500 or _from_network(exc):
            return StoreUnreachable(self.name, message)
        # No status: swiftclient's own verdict on a Keystone login (refused credentials,
        # no object-store endpoint), unless a network error lies under it.
        return StoreError(self.name, message)

    async def check(self) -> None:
        try:
            await self._call("head_container", self.container)
        except DataNotFound as exc:
            if not self.create_container_on_put:
                raise StoreError(self.name, f"container {self.container!r} does not exist and "
                                 "swift_store_create_container_on_put is off") from exc

    # Reading -------------------------------------------------------------

    async def size(self, location: Location) -> int:
        head = await self._call("head_object", self.container, self._key_of(location.url))
        return int(head["content-length"])

    async def read(
        self, location: Location, start: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        key = self._key_of(location.url)
        if length == 0:
            return
        headers = {}
        if start or length is not None:
            end = "" if length is None else str(start + length - 1)
            headers["Range"] = f"bytes={start}-{end}"
        _, body = await self._call("get_object", self.container, key,
                                   resp_chunk_size=READ_BLOCK, headers=headers)
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    block = await loop.run_in_executor(self._threads, next, body, b"")
                except Exception as exc:
                    raise StoreUnreachable(self.name, f"reading {key} failed: {exc}") from exc
                if not block:
                    break
                for offset in range(0, len(block), READ_CHUNK_SIZE):
                    yield block[offset:offset + READ_CHUNK_SIZE]
        finally:
            closer = getattr(body, "close", None)
            if closer is not None:
                closer()

    # Writing -------------------------------------------------------------

    async def write(self, image_id: str, chunks: AsyncIterator[bytes],
                    size_hint: int | None = None) -> StoredData:
        key = str(uuid.UUID(image_id))
        if self.create_container_on_put:
            await self._call("put_container", self.container)
        source = _Source(chunks)
        if size_hint is not None and size_hint < self.large_object_size:
            await self._stream_put(self.container, key, source, None)
        else:
            await self._write_segments(key, source)
        return StoredData(location=Location(url=self._url(key), store=self.name))

    async def _write_segments(self, key: str, source: _Source) -> None:
        segments_container = f"{self.container}_segments"
        await self._call("put_container", segments_container)
        segments: list[dict[str, object]] = []
        # Each write has segment names of its own: a write given up by a process
        # thought dead can never delete or overwrite a later write's segments.
        prefix = f"{key}/{uuid.uuid4().hex[:16]}"
        try:
            while not segments or not await source.at_end():
                name = f"{prefix}/{len(segments) + 1:05d}"
                part, etag = await self._stream_put(segments_container, name, source,
                                                    self.chunk_size)
                segments.append({"path": f"{segments_container}/{name}", "etag": etag,
                                 "size_bytes": part})
            # No data: a plain empty object, not a manifest of one empty segment.
            empty = segments[0]["size_bytes"] == 0
            if empty:
                await self._stream_put(self.container, key, _Source(_nothing()), None)
            else:
                await self._call("put_object", self.container, key,
                                 contents=json.dumps(segments),
                                 query_string="multipart-manifest=put")
        except BaseException:
            await asyncio.shield(self._remove_segments(segments))
            raise
        if empty:
            await self._remove_segments(segments)

    async def _remove_segments(self, segments: list[dict[str, object]]) -> None:
        for segment in segments:
            container, _, name = str(segment["path"]).partition("/")
            try:
                await self._call("delete_object", container, name)
            except StoreError:
                pass

    async def _stream_put(self, container: str, name: str, source: _Source,
                          limit: int | None) -> tuple[int, str]:
        """PUT at most `limit` bytes of `source` (all with None) as one streamed request."""
        handoff: queue.Queue[object] = queue.Queue(maxsize=2)

        def body() -> Iterator[bytes]:
            while True:
                item = handoff.get()
                if item is _END:
                    return
                if item is _ABORT:
                    raise _Abandoned()
                assert isinstance(item, bytes)
                yield item

        put = asyncio.ensure_future(self._call("put_object", container, name, contents=body()))
        size = 0
        try:
            while limit is None or size < limit:
                block = await source.take(None if limit is None else limit - size)
                if block is None:
                    break
                await _hand_over(handoff, block, put, self.name)
                size += len(block)
            await _hand_over(handoff, _END, put, self.name)
            etag = await put
        except BaseException:
            if not put.done():
                handoff.put(_ABORT)
            await asyncio.gather(put, return_exceptions=True)
            raise
        return size, str(etag)

    async def delete(self, location: Location) -> None:
        key = self._key_of(location.url)
        try:
            await self._call("delete_object", self.container, key,
                             query_string="multipart-manifest=delete")
        except DataNotFound:
            pass

    async def stored_images(self) -> AsyncIterator[StoredImage]:
        """The container's image objects, and segments of images with no object
        (a segment of an existing object is part of its data)."""
        found = StoredImages()
        for entry in await self._listing(self.container):
            image_id = image_id_of(str(entry["name"]))
            if image_id is not None:
                found.data(image_id, Location(url=self._url(image_id), store=self.name),
                           datetime.fromisoformat(str(entry["last_modified"])))
        segments = f"{self.container}_segments"
        published = {stored.image_id for stored in found.images()}
        for entry in await self._listing(segments):
            image_id = image_id_of(str(entry["name"]).split("/", 1)[0])
            if image_id is not None and image_id not in published:
                found.leftover(image_id, f"{segments}/{entry['name']}",
                               datetime.fromisoformat(str(entry["last_modified"])))
        for stored in found.images():
            yield stored

    async def _listing(self, container: str) -> list[dict[str, Any]]:
        try:
            _, listed = await self._call("get_container", container, full_listing=True)
        except DataNotFound:
            return []
        return list(listed)

    async def remove_unfinished(self, image_id: str, in_use: InUse) -> list[str]:
        """Delete the image's object unless a live image names it (with its segments),
        and every segment of the image that no kept manifest lists. A streamed PUT
        cut short leaves nothing: Swift drops it."""
        key = str(uuid.UUID(image_id))
        location = Location(url=self._url(key), store=self.name)
        removed: list[str] = []
        kept: set[str] = set()
        try:
            headers = await self._call("head_object", self.container, key)
        except DataNotFound:
            headers = None
        if headers is not None and await in_use(location):
            if str(headers.get("x-static-large-object", "")).lower() == "true":
                _, manifest = await self._call("get_object", self.container, key,
                                               query_string="multipart-manifest=get")
                kept = {str(entry["name"]).lstrip("/") for entry in json.loads(manifest)}
        elif headers is not None:
            await self.delete(location)
            removed.append(f"{self.container}/{key}")
        segments = f"{self.container}_segments"
        try:
            _, listed = await self._call("get_container", segments, prefix=f"{key}/",
                                         full_listing=True)
        except DataNotFound:
            return removed
        for entry in listed:
            path = f"{segments}/{entry['name']}"
            if path not in kept:
                try:
                    await self._call("delete_object", segments, entry["name"])
                except DataNotFound:
                    pass
                removed.append(path)
        return removed


def _from_network(exc: BaseException) -> bool:
    """Whether a network error (requests' errors are OSErrors) lies under `exc`: swiftclient
    reports an unreachable Keystone as a ClientException raised while handling one."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, OSError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _login(account: SwiftAccount, region: str | None, endpoint_type: str,
           service_type: str) -> dict[str, Any]:
    """swiftclient's arguments for logging in as `account`: tempauth takes the user as
    given, Keystone the project and user apart (and, for v3, their domains)."""
    project, _, user = account.user.rpartition(":")
    options: dict[str, Any] = {"region_name": region} if region else {}
    if account.auth_version == "1" or not project:
        return {"user": account.user, "key": account.key, "auth_version": account.auth_version,
                "os_options": options}
    options.update(tenant_name=project, project_name=project, endpoint_type=endpoint_type,
                   service_type=service_type)
    if account.auth_version == "3":
        for field in ("user_domain_id", "user_domain_name", "project_domain_id",
                      "project_domain_name"):
            value = getattr(account, field)
            if value:
                options[field] = value
    return {"user": user, "key": account.key, "auth_version": account.auth_version,
            "os_options": options}


async def _hand_over(handoff: queue.Queue[object], item: object, put: asyncio.Future[Any],
                     store: str) -> None:
    """Give `item` to the thread sending the request, unless the request already ended."""
    while True:
        try:
            handoff.put_nowait(item)
            return
        except queue.Full:
            if put.done():
                put.result()
                raise StoreError(store, "the upload ended before all data was sent") from None
            await asyncio.sleep(0.002)


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""


class _Source:
    """The incoming blocks, cut where a segment ends."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = aiter(chunks)
        self._rest = b""
        self._ended = False

    async def _fill(self) -> None:
        while not self._rest and not self._ended:
            block = await anext(self._chunks, None)
            if block is None:
                self._ended = True
            else:
                self._rest = block

    async def at_end(self) -> bool:
        await self._fill()
        return not self._rest

    async def take(self, most: int | None) -> bytes | None:
        await self._fill()
        if not self._rest:
            return None
        if most is None or len(self._rest) <= most:
            block, self._rest = self._rest, b""
        else:
            block, self._rest = self._rest[:most], self._rest[most:]
        return block

