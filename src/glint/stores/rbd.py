"""The rbd store: one Ceph RBD image per Glance image, with a protected snapshot `snap`
that Nova and Cinder clone from (glance_store's `rbd` driver and location format
`rbd://<fsid>/<pool>/<image>/snap`).

Data is written to an RBD image under a temporary name, grown as it arrives
(the size is often unknown), then renamed, snapshotted and the snapshot
protected; a failed write removes the temporary image. Blocks of zeros are
not written (`rbd_thin_provisioning`, on by default here, unlike
glance_store): the image keeps holes there, which read back as zeros. The `rados` and `rbd`
Python bindings come from Ceph (Debian: python3-rados, python3-rbd); they
block, so every call runs on the store's own threads.
"""

from __future__ import annotations

import asyncio
import functools
import re
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

from glint.domain.image import Location
from glint.stores.base import (
    READ_CHUNK_SIZE,
    DataBusy,
    DataNotFound,
    InUse,
    StoredData,
    StoredImage,
    StoreError,
    StoreUnreachable,
)
from glint.stores.listing import StoredImages, image_id_of
from glint.stores.options import BackendConfig, OptionError

T = TypeVar("T")
MIB = 1024 * 1024
SNAPSHOT = "snap"
_PARTIAL = re.compile(r"^\.(?P<image>[0-9a-f-]{36})\.[0-9a-f]{32}\.partial$")
# Blocks read ahead of the one being sent, and writes of received blocks in flight at
# once (blocks are about 2 MiB): librbd waits for each synchronous call, so overlapping
# them with the HTTP side is what keeps Ceph busy. Both bound the memory per transfer.
READS_AHEAD = 4
WRITES_IN_FLIGHT = 4


class RbdStore:
    """Image data as RBD images in `pool`."""

    def __init__(self, name: str, *, pool: str = "images", user: str | None = None,
                 conf: str = "/etc/ceph/ceph.conf", chunk_size: int = 8 * MIB,
                 connect_timeout: int = 0, thin_provisioning: bool = True,
                 threads: int = 8) -> None:
        self.name = name
        self.pool = pool
        self.user = user
        self.conf = conf
        self.chunk_size = chunk_size
        self.connect_timeout = connect_timeout
        self.thin_provisioning = thin_provisioning
        self._threads = ThreadPoolExecutor(threads, f"glint-rbd-{name}")
        self._cluster: Any = None
        self._ioctx: Any = None
        self._fsid = ""

    @classmethod
    def from_config(cls, config: BackendConfig) -> RbdStore:
        chunk_mib = config.integer("rbd_store_chunk_size", 8, minimum=1)
        if chunk_mib & (chunk_mib - 1):
            raise OptionError(config.section, "rbd_store_chunk_size",
                              f"must be a power of two, got {chunk_mib}")
        return cls(config.name, pool=config.text("rbd_store_pool", "images") or "images",
                   user=config.text("rbd_store_user"),
                   conf=config.text("rbd_store_ceph_conf", "/etc/ceph/ceph.conf") or "",
                   chunk_size=chunk_mib * MIB,
                   connect_timeout=config.integer("rados_connect_timeout", 0),
                   thin_provisioning=config.boolean("rbd_thin_provisioning", True))

    def properties(self) -> dict[str, object]:
        return {"chunk_size": self.chunk_size, "pool": self.pool, "thin_provisioning": self.thin_provisioning}

    # Connection ----------------------------------------------------------

    def _connect(self) -> Any:
        if self._ioctx is None:
            import rados

            cluster = rados.Rados(conffile=self.conf, rados_id=self.user)
            try:
                cluster.connect(timeout=self.connect_timeout or -1)
            except rados.PermissionDeniedError as exc:
                # cephx refused the key: a configuration error, not an outage.
                raise StoreError(self.name, f"Ceph refused client.{self.user or 'admin'} "
                                 f"(rbd_store_user, and its keyring named by "
                                 f"{self.conf}): {exc}") from exc
            self._fsid = cluster.get_fsid()
            self._ioctx = cluster.open_ioctx(self.pool)
            self._cluster = cluster
        return self._ioctx

    async def _call(self, function: Callable[..., T], /, *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._threads, functools.partial(function, *args))
        except StoreError:
            raise
        except Exception as exc:
            raise self._error(exc) from exc

    def _guarded(self, function: Callable[..., T], /, *args: Any) -> T:
        """`function(*args)` with Ceph's errors turned into store errors; for threads."""
        try:
            return function(*args)
        except StoreError:
            raise
        except Exception as exc:
            raise self._error(exc) from exc

    def _error(self, exc: Exception) -> StoreError:
        kind = type(exc).__name__
        if kind in ("ImageNotFound", "ObjectNotFound"):
            return DataNotFound(self.name, f"{kind}: {exc}")
        if kind == "ImageBusy":
            # A client has it open; a dead one's watch lasts osd_client_watch_timeout (30 s).
            return DataBusy(self.name, f"{kind}: {exc}")
        if kind in ("TimedOut", "ConnectionShutdown", "PermissionError", "Error",
                    "InterruptedOrTimeoutError") or isinstance(exc, OSError):
            return StoreUnreachable(self.name, f"{kind}: {exc}")
        return StoreError(self.name, f"{kind}: {exc}")

    async def check(self) -> None:
        await self._call(self._connect)

    async def aclose(self) -> None:
        def close() -> None:
            if self._ioctx is not None:
                self._ioctx.close()
                self._cluster.shutdown()
                self._ioctx = self._cluster = None
        await self._call(close)
        self._threads.shutdown(wait=False)

    # Locations -----------------------------------------------------------

    def accepts(self, url: str) -> bool:
        try:
            self._image_of(url)
        except DataNotFound:
            return False
        return True

    def _image_of(self, url: str) -> str:
        parsed = urlparse(url)
        parts = [unquote(p) for p in f"{parsed.netloc}{parsed.path}".split("/") if p]
        if parsed.scheme != "rbd":
            raise DataNotFound(self.name, f"location {url!r} is not an rbd location")
        if len(parts) == 1:
            return parts[0]  # glance_store's legacy rbd://<image>
        if len(parts) == 4 and parts[1] == self.pool and (not self._fsid or parts[0] == self._fsid):
            return parts[2]
        raise DataNotFound(self.name, f"location {url!r} is not in pool {self.pool}")

    # Reading -------------------------------------------------------------

    def _open(self, name: str, snapshot: str | None = SNAPSHOT) -> Any:
        import rbd

        return rbd.Image(self._connect(), name, snapshot=snapshot, read_only=True)

    async def size(self, location: Location) -> int:
        name = self._image_of(location.url)

        def measure() -> int:
            with self._open(name) as image:
                return int(image.size())

        return await self._call(measure)

    async def read(
        self, location: Location, start: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        name = self._image_of(location.url)
        image = await self._call(self._open, name)
        loop = asyncio.get_running_loop()
        # Read-ahead: the next blocks come from Ceph while this one is being sent.
        ahead: deque[asyncio.Future[bytes]] = deque()
        try:
            total = await self._call(image.size)
            end = total if length is None else min(total, start + length)
            asked = start

            def read_ahead() -> None:
                nonlocal asked
                while asked < end and len(ahead) < READS_AHEAD:
                    want = min(READ_CHUNK_SIZE, end - asked)
                    ahead.append(loop.run_in_executor(
                        self._threads, self._guarded, image.read, asked, want))
                    asked += want

            read_ahead()
            while ahead:
                block = await ahead.popleft()
                if not block:
                    raise StoreError(self.name, f"{name} ended before its size")
                read_ahead()
                yield block
        finally:
            # Reads still running must finish before the image is closed under them.
            await asyncio.gather(*ahead, return_exceptions=True)
            await asyncio.shield(self._call(image.close))

    # Writing -------------------------------------------------------------

    async def write(self, image_id: str, chunks: AsyncIterator[bytes],
                    size_hint: int | None = None) -> StoredData:
        name = str(uuid.UUID(image_id))
        temporary = f".{name}.{uuid.uuid4().hex}.partial"
        await self._call(self._create, temporary, size_hint or 0)
        # Where the next block goes: RBD writes at offsets, and the image is
        # resized to what was written (the stream's size is counted by ingest).
        offset = 0
        try:
            image = await self._call(self._open_writable, temporary)
            writes = _Writes(self, image)
            try:
                capacity = size_hint or 0
                async for block in chunks:
                    if offset + len(block) > capacity:
                        # Doubling keeps resizes (which wait for writes) rare; unused
                        # room costs nothing and goes with the last resize.
                        capacity = max(offset + len(block), 2 * capacity, self.chunk_size)
                        await writes.settle(0)
                        await self._call(image.resize, capacity)
                    if not (self.thin_provisioning and _all_zero(block)):
                        await writes.start(block, offset)
                    offset += len(block)
                await writes.settle(0)
                if capacity != offset:
                    await self._call(image.resize, offset)
                await self._call(image.flush)
            finally:
                await writes.finish()
                await asyncio.shield(self._call(image.close))
            await self._call(self._publish, temporary, name)
        except BaseException:
            await asyncio.shield(self._remove_quietly(temporary))
            raise
        fsid = self._fsid
        url = f"rbd://{fsid}/{self.pool}/{name}/{SNAPSHOT}"
        return StoredData(location=Location(url=url, store=self.name))

    def _create(self, name: str, size: int) -> None:
        import rbd

        order = self.chunk_size.bit_length() - 1
        rbd.RBD().create(self._connect(), name, size, order=order, old_format=False,
                         features=rbd.RBD_FEATURE_LAYERING)

    def _open_writable(self, name: str) -> Any:
        import rbd

        return rbd.Image(self._connect(), name)

    def _publish(self, temporary: str, name: str) -> None:
        import rbd

        ioctx = self._connect()
        rbd.RBD().rename(ioctx, temporary, name)
        with rbd.Image(ioctx, name) as image:
            image.create_snap(SNAPSHOT)
            image.protect_snap(SNAPSHOT)

    async def _remove_quietly(self, name: str) -> None:
        try:
            await self._call(self._remove, name)
        except StoreError:
            pass

    def _remove(self, name: str) -> None:
        import rbd

        ioctx = self._connect()
        try:
            with rbd.Image(ioctx, name) as image:
                for snapshot in list(image.list_snaps()):
                    if image.is_protected_snap(snapshot["name"]):
                        image.unprotect_snap(snapshot["name"])
                    image.remove_snap(snapshot["name"])
        except rbd.ImageNotFound:
            return
        rbd.RBD().remove(ioctx, name)

    async def delete(self, location: Location) -> None:
        name = self._image_of(location.url)
        try:
            await self._call(self._remove, name)
        except DataNotFound:
            pass

    async def remove_unfinished(self, image_id: str, in_use: InUse) -> list[str]:
        """Remove the image's temporary RBD images, and its RBD image unless a live
        image names it."""
        name = str(uuid.UUID(image_id))
        removed = []
        for found in await self._call(self._images_of, name):
            if found == name:
                location = Location(url=f"rbd://{self._fsid}/{self.pool}/{name}/{SNAPSHOT}",
                                    store=self.name)
                if await in_use(location):
                    continue
            await self._call(self._remove, found)
            removed.append(f"{self.pool}/{found}")
        return removed

    async def stored_images(self) -> AsyncIterator[StoredImage]:
        """The pool's RBD images named by an image id, and temporary ones of writes."""
        for stored in (await self._call(self._list_pool)).images():
            yield stored

    def _list_pool(self) -> StoredImages:
        import rbd

        ioctx = self._connect()
        found = StoredImages()
        for name in rbd.RBD().list(ioctx):
            partial = _PARTIAL.match(name)
            image_id = partial["image"] if partial else image_id_of(name)
            if image_id is None:
                continue
            try:
                with rbd.Image(ioctx, name, read_only=True) as image:
                    modified = image.modify_timestamp()
            except rbd.ImageNotFound:
                continue  # removed meanwhile
            if partial:
                found.leftover(image_id, f"{self.pool}/{name}", modified)
            else:
                url = f"rbd://{self._fsid}/{self.pool}/{name}/{SNAPSHOT}"
                found.data(image_id, Location(url=url, store=self.name), modified)
        return found

    def _images_of(self, name: str) -> list[str]:
        """The RBD images written for image `name`: its own and temporary ones."""
        import rbd

        prefix = f".{name}."
        return [found for found in rbd.RBD().list(self._connect())
                if found == name or (found.startswith(prefix) and found.endswith(".partial"))]



def _all_zero(block: bytes) -> bool:
    """Whether `block` holds only zero bytes (bytes(n) comes from calloc: cheap)."""
    return not block or (block[0] == 0 and block == bytes(len(block)))


class _Writes:
    """Writes of blocks to an open RBD image running on the store's threads, at most
    WRITES_IN_FLIGHT at once; the blocks are at different offsets, so order is free."""

    def __init__(self, store: RbdStore, image: Any) -> None:
        self._store = store
        self._image = image
        self._running: set[asyncio.Future[None]] = set()

    async def start(self, block: bytes, offset: int) -> None:
        """Start writing `block` at `offset`, once fewer than the limit are running."""
        await self.settle(WRITES_IN_FLIGHT - 1)
        loop = asyncio.get_running_loop()
        self._running.add(loop.run_in_executor(
            self._store._threads, self._store._guarded, self._image.write, block, offset))

    async def settle(self, allowed: int) -> None:
        """Wait until at most `allowed` writes run; raise the first failure."""
        while len(self._running) > allowed:
            done, self._running = await asyncio.wait(
                self._running, return_when=asyncio.FIRST_COMPLETED)
            for write in done:
                write.result()

    async def finish(self) -> None:
        """Wait for every write still running, failed or not (before closing the image)."""
        running, self._running = self._running, set()
        await asyncio.gather(*running, return_exceptions=True)
