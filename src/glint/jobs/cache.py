"""The image cache's passes on this node: prefetcher, pruner and cleaner.

`glint serve` runs `maintain` every cache_prefetcher_interval seconds (queued
images fetched, entries of deleted, deactivated or changed images and dead
fills removed, the cache pruned to its maximum) and `clean` (which also
re-hashes every entry) every image_cache_stall_time seconds; the API and
`glint cache` run them on demand. Every pass is idempotent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from glint.db import cache_repositories as cache_repo
from glint.db import repositories as repo
from glint.domain import cache as rules
from glint.domain.cache import CacheEntry, EntryState
from glint.domain.errors import GlintError
from glint.domain.image import Image, ImageStatus
from glint.services.clock import now
from glint.services.image_cache import ImageCache
from glint.services.stores import StoreServices
from glint.stores.base import StoreError

log = logging.getLogger(__name__)


@dataclass
class CleanReport:
    """What a cleaner or pruner pass removed."""

    files: int = 0
    bytes: int = 0

    def add(self, size: int) -> None:
        self.files += 1
        self.bytes += size


@dataclass
class CachePasses:
    cache: ImageCache
    placement: StoreServices
    _started: bool = False

    async def prefetch(self) -> int:
        """Cache every image queued for this node; how many were cached."""
        queued = await run_in_threadpool(self._queued)
        cached = 0
        for image_id in queued:
            try:
                cached += await self._prefetch_one(image_id)
            except (GlintError, StoreError) as exc:
                log.warning("cache prefetcher: %s not cached: %s", image_id, exc)
            await run_in_threadpool(self._dequeue, image_id)
        return cached

    def _queued(self) -> list[str]:
        with self.cache.db.reading() as session:
            return cache_repo.queued(session, self.cache.node)

    def _dequeue(self, image_id: str) -> None:
        with self.cache.db.writing() as session:
            cache_repo.dequeue(session, self.cache.node, image_id)

    async def _prefetch_one(self, image_id: str) -> bool:
        def load() -> Image | None:
            with self.cache.db.reading() as session:
                return repo.get_image(session, image_id, details=False)

        image = await run_in_threadpool(load)
        if image is None or image.status != ImageStatus.ACTIVE:
            return False
        if await run_in_threadpool(self.cache.is_served, image):
            return False
        data = await self.placement.open(self.placement.ordered(image.locations, None), 0, None)
        return await self.cache.fill_from(image, data)

    def drop_stale(self) -> CleanReport:
        """Remove this node's entries of images deleted, deactivated or changed since."""
        with self.cache.db.writing() as session:
            stale = cache_repo.stale_entries(session, self.cache.node)
            for entry in stale:
                cache_repo.remove(session, self.cache.node, entry.image_id)
        return self._remove_files(stale)

    def drop_dead_fills(self) -> CleanReport:
        """Remove fills whose process died or that stalled past image_cache_stall_time
        (a dead fill may have left its complete file unmarked), and files no entry names."""
        report = CleanReport()
        limit = now() - self.cache.stall_limit()
        with self.cache.db.reading() as session:
            known = {e.image_id: e for e in cache_repo.entries(session, self.cache.node)}
        folder = self.cache.folder
        for entry in known.values():
            if entry.state != EntryState.FILLING:
                continue
            dead = folder.remove_dead_fill(entry.image_id)
            if not dead and entry.last_modified >= limit:
                continue
            with self.cache.db.writing() as session:
                removed = cache_repo.remove(session, self.cache.node, entry.image_id,
                                            EntryState.FILLING)
            if removed:
                report.add(folder.remove(entry.image_id))
        for image_id in folder.incomplete_ids():
            if image_id not in known and folder.remove_dead_fill(image_id):
                report.add(0)
        for image_id in folder.complete_ids():
            if image_id not in known:
                report.add(folder.remove(image_id))
        return report

    def verify(self) -> CleanReport:
        """Re-hash every ready entry; remove those whose file changed or is corrupt."""
        report = CleanReport()
        with self.cache.db.reading() as session:
            ready = cache_repo.entries(session, self.cache.node, EntryState.READY)
            images = {e.image_id: repo.get_image(session, e.image_id, details=False)
                      for e in ready}
        for entry in ready:
            image = images[entry.image_id]
            expected = rules.expected_digest(image) if image is not None else None
            if expected is not None and self.cache.folder.verify(
                    entry.image_id, expected.algorithm, entry.checksum, entry.size,
                    entry.signature):
                continue
            log.warning("cache cleaner: entry %s is invalid; removed", entry.image_id)
            with self.cache.db.writing() as session:
                cache_repo.remove(session, self.cache.node, entry.image_id, EntryState.READY)
            report.add(self.cache.folder.remove(entry.image_id))
        return report

    def prune(self) -> CleanReport:
        """Remove least recently used entries until the cache fits image_cache_max_size."""
        with self.cache.db.writing() as session:
            cache_repo.lock_node(session, self.cache.node, now())
            removed = rules.prune_order(cache_repo.entries(session, self.cache.node),
                                        self.cache.settings.image_cache_max_size)
            for entry in removed:
                cache_repo.remove(session, self.cache.node, entry.image_id, EntryState.READY)
        return self._remove_files(removed)

    def clean(self) -> CleanReport:
        """The cleaner: stale entries, dead or stalled fills, stray files, corrupt entries."""
        report = CleanReport()
        for part in (self.drop_stale(), self.drop_dead_fills(), self.verify()):
            report.files += part.files
            report.bytes += part.bytes
        return report

    async def maintain(self) -> None:
        """One periodic pass: prefetch, then drop stale entries and dead fills, then prune."""
        await self.prefetch()
        await run_in_threadpool(self.drop_stale)
        await run_in_threadpool(self.drop_dead_fills)
        await run_in_threadpool(self.prune)

    async def clean_periodically(self) -> None:
        """The cleaner as `glint serve` schedules it: the first call (at start) leaves
        the re-hashing of every entry to the next ones, a stall time later."""
        if not self._started:
            self._started = True
            await run_in_threadpool(self.drop_dead_fills)
            return
        await run_in_threadpool(self.clean)

    def _remove_files(self, entries: list[CacheEntry]) -> CleanReport:
        report = CleanReport()
        for entry in entries:
            if entry.state == EntryState.READY:
                report.add(self.cache.folder.remove(entry.image_id))
        return report

