"""The image cache on this node: serving hits, filling on a miss, and the
operations behind /v2/cache and `glint cache`.

A hit is served only when the entry is ready, was verified against the data
the image has now (domain.cache.serves) and the file on disk is the one
verified; it goes out through the same zero-copy path as the filesystem
store's files. A miss of a whole-image download streams the store's bytes to
the client and into an incomplete file at once (one fill per image and node:
a row reserving its size, and a lock on the file); the entry is published
only when every byte arrived and the size and digest match (hashed from
the file once the download is over, not on the client's time). That ending
(verify, rename, mark ready, or discard) is a task of the cache, tracked until
the worker stops, never the request's: a client may leave, and its request
be cancelled, the moment it has the last byte. Admission evicts
least recently used entries first, so the node's cache never holds more than
image_cache_max_size; an image that cannot fit is streamed uncached.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from datetime import timedelta
from io import FileIO

from starlette.concurrency import run_in_threadpool

from glint.db import cache_repositories as cache_repo
from glint.db.session import Database
from glint.domain import cache as rules
from glint.domain.cache import CacheEntry, EntryState, Expected
from glint.domain.image import Image
from glint.services.cache_files import CacheFolder, FillFile
from glint.services.clock import now
from glint.services.stores import OutgoingData
from glint.settings import CacheSettings, Settings
from glint.stores.base import FileSpan
from glint.stores.filesystem import read_span

log = logging.getLogger(__name__)


def node_name(settings: Settings) -> str:
    """This node as the shared database names it: worker_self_reference_url, else the host."""
    return settings.server.worker_self_reference_url or socket.gethostname()


@dataclass
class Fill:
    """A fill under way: its locked file and what the data must match."""

    file: FillFile
    expected: Expected
    size: int
    # Set once the fill was handed over to be published or discarded.
    settled: bool = False
    # Set (in the writing thread) when a write failed: the rest is sent uncached.
    failed: bool = False
    # Set once a failed fill's file and reservation were let go.
    released: bool = False

    def absorb(self, chunk: bytes) -> None:
        """Write `chunk` to the file; a failed write fails the fill."""
        if self.failed:
            return
        try:
            self.file.write(chunk)
        except OSError as exc:
            log.warning("cache: cannot write %s (%s); sent uncached", self.file.image_id, exc)
            self.failed = True

    def verified(self) -> bool:
        """Whether every byte arrived and the file hashes to the image's digest.
        Read back once the download is over (blocking: run it in a thread), so
        hashing costs the client who caused the fill nothing."""
        return (not self.failed and self.file.written == self.size
                and self.file.digest(self.expected.algorithm) == self.expected.value)


@dataclass
class ImageCache:
    """One node's image cache (glint.services.cache_files holds its files)."""

    settings: CacheSettings
    db: Database
    node: str
    folder: CacheFolder
    _pending: set[asyncio.Task[None]] = field(default_factory=set)

    # --- serving ------------------------------------------------------------

    async def open_hit(self, image: Image, start: int, length: int | None) -> OutgoingData | None:
        """The cached bytes of `image` (a span of its file) when the entry may be
        served; None on a miss. Counts the hit in the background."""
        found = await run_in_threadpool(self._lookup, image)
        if found is None:
            return None
        size = image.size or 0
        offset = min(start, size)
        end = size if length is None else min(size, offset + length)
        span = FileSpan(found, offset, end - offset, "cache", f"cache://{image.id}")
        self._background(run_in_threadpool(self._count_hit, image.id))
        return OutgoingData(read_span(span), span)

    def _lookup(self, image: Image) -> FileIO | None:
        with self.db.reading() as session:
            entry = cache_repo.entry(session, self.node, image.id)
        if entry is None or entry.state != EntryState.READY:
            return None
        opened = self.folder.open_entry(image.id)
        if opened is None:
            return None
        handle, signature = opened
        if rules.serves(entry, image, signature):
            return handle
        handle.close()
        return None

    def is_served(self, image: Image) -> bool:
        """Whether a download of `image` would be served from the cache now."""
        handle = self._lookup(image)
        if handle is None:
            return False
        handle.close()
        return True

    def _count_hit(self, image_id: str) -> None:
        with self.db.writing() as session:
            cache_repo.record_hit(session, self.node, image_id, now())

    async def filled_while_sent(self, image: Image, data: OutgoingData) -> OutgoingData:
        """`data` (the whole image, from its store) also written into the cache,
        when the image may be cached and no other fill of it is under way."""
        fill = await run_in_threadpool(self.begin_fill, image)
        if fill is None:
            return data
        return _FillingData(self._tee(fill, data), source=data, fill=fill, cache=self)

    # --- filling ------------------------------------------------------------

    def begin_fill(self, image: Image) -> Fill | None:
        """Admit `image` into the cache (evicting LRU entries) and lock its
        incomplete file; None when it cannot or need not be cached now."""
        expected = rules.cacheable(image, self.settings.image_cache_max_size)
        if expected is None or image.size is None:
            return None
        self.folder.prepare()
        file = self.folder.start_fill(image.id)
        if file is None:
            return None
        try:
            if self.is_served(image):
                # Another fill published it since this request looked: fill once.
                self.folder.abandon(file)
                return None
            evicted = self._admit(image.id, image.size, expected)
        except Exception:
            self.folder.abandon(file)
            raise
        if evicted is None:
            self.folder.abandon(file)
            return None
        for entry in evicted:
            self.folder.remove(entry.image_id)
        return Fill(file, expected, image.size)

    def _admit(self, image_id: str, size: int, expected: Expected) -> list[CacheEntry] | None:
        with self.db.writing() as session:
            moment = now()
            cache_repo.lock_node(session, self.node, moment)
            # Whatever entry is there was not served (stale, corrupt, a dead fill's).
            cache_repo.remove(session, self.node, image_id)
            evicted = rules.evictions(cache_repo.entries(session, self.node), size,
                                      self.settings.image_cache_max_size)
            if evicted is None:
                return None
            for entry in evicted:
                cache_repo.remove(session, self.node, entry.image_id, EntryState.READY)
            cache_repo.add_filling(session, self.node, image_id, size, expected.value, moment)
        self.folder.remove(image_id)
        return evicted

    async def _tee(self, fill: Fill, data: OutgoingData) -> AsyncIterator[bytes]:
        """`data`'s chunks, each written into the fill (in a thread) while it is
        sent and the next one is fetched.

        However the stream ends, a task of the cache then settles the fill:
        published when every byte arrived and matched, discarded otherwise. A
        client that leaves the moment it has the last byte gets its request
        cancelled (Starlette's task group, level-triggered), so no await in
        this generator's cleanup could finish the fill.
        """
        loop = asyncio.get_running_loop()
        writing: asyncio.Future[None] | None = None
        try:
            async for chunk in data.chunks:
                # The previous chunk's write ran while this one was fetched.
                if writing is not None:
                    # Shielded: a cancelled request must not mark a write still
                    # running in its thread as done (see _settle).
                    await asyncio.shield(writing)
                    writing = None
                    if fill.failed and not fill.released:
                        # Sent uncached from here: its file and reservation go now.
                        fill.released = True
                        self._background(self._discard(fill))
                if not fill.failed:
                    writing = loop.run_in_executor(None, fill.absorb, chunk)
                yield chunk
        finally:
            self._settle_later(fill, writing, data)

    def _settle_later(self, fill: Fill, writing: asyncio.Future[None] | None,
                      source: OutgoingData) -> None:
        """Hand `fill` (and the `source` it was filled from) over to a tracked
        task of the cache; never awaits, so a cancelled request can call it."""
        if fill.settled:
            return
        fill.settled = True
        self._background(self._settle(fill, writing, source))

    async def _settle(self, fill: Fill, writing: asyncio.Future[None] | None,
                      source: OutgoingData) -> None:
        try:
            await source.aclose()
        finally:
            if writing is not None:
                # The write under way must end before its file is closed.
                await asyncio.wait([writing])
                if writing.exception() is not None:
                    log.error("cache: writing %s failed", fill.file.image_id,
                              exc_info=writing.exception())
                    fill.failed = True
            if await run_in_threadpool(fill.verified):
                await self._publish(fill)
            elif not fill.released:
                await self._discard(fill)

    async def _publish(self, fill: Fill) -> None:
        image_id = fill.file.image_id
        try:
            signature = await run_in_threadpool(self.folder.publish, fill.file)
        except OSError as exc:
            log.warning("cache: cannot publish %s (%s)", image_id, exc)
            await self._discard(fill, file_closed=True)
            return

        def ready() -> bool:
            with self.db.writing() as session:
                return cache_repo.mark_ready(session, self.node, image_id, signature, now())

        if not await run_in_threadpool(ready):
            # Removed while it filled (deleted, cleared): never served.
            await run_in_threadpool(self.folder.remove, image_id)

    async def _discard(self, fill: Fill, *, file_closed: bool = False) -> None:
        if not file_closed:
            await run_in_threadpool(self.folder.abandon, fill.file)

        def forget() -> None:
            with self.db.writing() as session:
                cache_repo.remove(session, self.node, fill.file.image_id, EntryState.FILLING)

        try:
            await run_in_threadpool(forget)
        except Exception:
            log.exception("cache: cannot forget the failed fill of %s; the cleaner will",
                          fill.file.image_id)

    def unstarted(self, fill: Fill, data: OutgoingData) -> None:
        """Release a fill whose stream was closed before its first chunk (a HEAD
        request, a client gone at once), since the stream's own cleanup never ran."""
        self._settle_later(fill, None, data)

    async def fill_from(self, image: Image, data: OutgoingData) -> bool:
        """Cache `image` from `data` (the prefetcher); True when it is now cached."""
        fill = await run_in_threadpool(self.begin_fill, image)
        if fill is None:
            await data.aclose()
            return False
        async for _ in self._tee(fill, data):
            pass
        await self.settle()
        entry = await run_in_threadpool(self.entry, image.id)
        return entry is not None and entry.state == EntryState.READY

    def entry(self, image_id: str) -> CacheEntry | None:
        with self.db.reading() as session:
            return cache_repo.entry(session, self.node, image_id)

    # --- housekeeping ---------------------------------------------------------

    def _background(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._pending.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if task.cancelled():
            log.warning("cache: background work was cancelled: %s", task.get_coro())
        elif (error := task.exception()) is not None:
            # A hit not counted or a fill not settled: the cleaner tidies up.
            log.error("cache: background work failed", exc_info=error)

    async def settle(self) -> None:
        """Wait for the background work started so far (hits counted, fills
        settled); the worker does before it stops."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def stall_limit(self) -> timedelta:
        return timedelta(seconds=self.settings.image_cache_stall_time)


@dataclass
class _FillingData(OutgoingData):
    """Data sent while it fills the cache; closing it before it was read releases the fill."""

    source: OutgoingData | None = None
    fill: Fill | None = None
    cache: ImageCache | None = None

    async def aclose(self) -> None:
        await super().aclose()
        if self.fill is not None and self.source is not None and self.cache is not None:
            self.cache.unstarted(self.fill, self.source)


def build_cache(settings: Settings, db: Database) -> ImageCache | None:
    """The node's cache when `image_cache_dir` is set."""
    root = settings.cache.image_cache_dir
    if root is None:
        return None
    folder = CacheFolder(root)
    with contextlib.suppress(OSError):
        folder.prepare()
    return ImageCache(settings=settings.cache, db=db, node=node_name(settings), folder=folder)
