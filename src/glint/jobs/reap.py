"""The orphan reaper: data in the stores, and files in the staging area, that
nothing needs any more.

Left by a crash, a delete whose store failed or an import that failed: per
store that can list what it holds (ListableStore), an image's data that no
image location names (of a live image or one in pending_delete), and what
writes left behind (partial files, unfinished uploads, segments) while no
write of the image runs (a write record untouched for the age given, and at
least SILENT_FOR, is one whose process died); in the staging area, files of images neither
uploading nor importing. Only what is older than the age given counts, so a
write in flight is never touched; nothing is deleted unless asked, and then
through the store's own removal of an image's unfinished data
(RecoverableStore), which keeps data a live image names.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from glint.db import reap_repositories as reap_repo
from glint.db.session import Database
from glint.domain.image import ImageStatus, Location
from glint.domain.writes import SILENT_FOR
from glint.services.clock import now
from glint.stores.base import ListableStore, RecoverableStore, Store, StoredImage, StoreError
from glint.stores.registry import StoreRegistry

log = logging.getLogger(__name__)

R = TypeVar("R")
STAGING = "staging"
IMPORTING = (ImageStatus.UPLOADING, ImageStatus.IMPORTING)


@dataclass(frozen=True)
class Orphan:
    """What one store (or the staging area) holds of one image that nothing needs."""

    store: str
    image_id: str
    items: tuple[str, ...]
    modified: datetime
    removed: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReapFailure:
    store: str
    message: str


@dataclass
class ReapReport:
    deleting: bool
    orphans: list[Orphan] = field(default_factory=list)
    # Orphan candidates left alone because they changed within the age given.
    too_recent: int = 0
    failures: list[ReapFailure] = field(default_factory=list)

    def summary(self) -> str:
        found = sum(len(orphan.items) for orphan in self.orphans)
        removed = sum(len(orphan.removed) for orphan in self.orphans)
        action = f"{removed} removed" if self.deleting else "dry run, nothing removed"
        return (f"{found} orphaned item(s) of {len(self.orphans)} image(s) found ({action}); "
                f"{self.too_recent} too recent to touch; {len(self.failures)} store(s) failed")

    def to_json(self) -> dict[str, Any]:
        return {
            "deleting": self.deleting, "too_recent": self.too_recent,
            "orphans": [{"store": o.store, "image_id": o.image_id, "items": list(o.items),
                         "modified": o.modified.isoformat(), "removed": list(o.removed)}
                        for o in self.orphans],
            "failures": [vars(failure) for failure in self.failures],
        }


def shown(url: str) -> str:
    """A URL without any credentials in it, for reports and logs."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


@dataclass
class Reaper:
    db: Database
    stores: StoreRegistry
    staging: Path

    async def run_once(self, older_than: timedelta, *, delete: bool) -> ReapReport:
        """One sweep of every listable store and the staging area. Store failures
        are reported, not raised; safe to run beside `glint serve`."""
        report = ReapReport(deleting=delete)
        moment = now()
        cutoff = moment - older_than
        # A write silent for less than SILENT_FOR may still run, whatever the age asked.
        writes_cutoff = min(cutoff, moment - SILENT_FOR)
        for name, store in self.stores.stores.items():
            if isinstance(store, ListableStore):
                try:
                    await self._sweep_store(name, store, (cutoff, writes_cutoff), delete,
                                            report)
                except StoreError as exc:
                    report.failures.append(ReapFailure(exc.store, exc.message))
                    log.error("reaper: store %s failed: %s", exc.store, exc.message)
        await self._sweep_staging(cutoff, delete, report)
        return report

    async def _sweep_store(self, name: str, store: ListableStore,
                           cutoffs: tuple[datetime, datetime], delete: bool,
                           report: ReapReport) -> None:
        cutoff, writes_cutoff = cutoffs
        async for stored in store.stored_images():
            items = await self._orphaned_items(store, stored, writes_cutoff)
            if not items:
                continue
            if stored.modified > cutoff:
                report.too_recent += 1
                continue
            orphan = Orphan(name, stored.image_id, items, stored.modified)
            if delete:
                try:
                    orphan = await self._remove(store, orphan, writes_cutoff)
                except StoreError as exc:
                    # DataBusy (a dead writer's session not yet expired) and the like:
                    # the next run tries again; the others go on.
                    report.failures.append(ReapFailure(exc.store, exc.message))
                    log.warning("reaper: could not remove %s of image %s from store %s: %s",
                                ", ".join(items), stored.image_id, name, exc.message)
            log.info("reaper: %s of image %s in store %s: %s", "removed" if delete else "found",
                     stored.image_id, name, ", ".join(orphan.removed or orphan.items))
            report.orphans.append(orphan)

    async def _orphaned_items(self, store: ListableStore, stored: StoredImage,
                              cutoff: datetime) -> tuple[str, ...]:
        if await self._read(reap_repo.being_written, stored.image_id, cutoff):
            return ()
        items = list(stored.leftovers)
        if stored.data is not None and not await self._named(store, stored.image_id,
                                                              stored.data):
            items.insert(0, shown(stored.data.url))
        return tuple(items)

    async def _named(self, store: object, image_id: str, location: Location) -> bool:
        """Whether an image not deleted names the data: the same URL, or any URL of
        the same store mentioning the image id (spelled differently, it may still
        be the same data; keeping it is the safe side)."""
        urls = await self._read(reap_repo.naming_urls, image_id)
        if location.url in urls:
            return True
        return isinstance(store, Store) and any(store.accepts(url) for url in urls)

    async def _remove(self, store: ListableStore, orphan: Orphan, cutoff: datetime) -> Orphan:
        if not isinstance(store, RecoverableStore):
            return orphan
        # A write that started since the listing keeps everything.
        if await self._read(reap_repo.being_written, orphan.image_id, cutoff):
            return orphan

        async def in_use(location: Location) -> bool:
            return await self._named(store, orphan.image_id, location)

        removed = await store.remove_unfinished(orphan.image_id, in_use)
        return Orphan(orphan.store, orphan.image_id, orphan.items, orphan.modified,
                      tuple(shown(item) for item in removed))

    async def _sweep_staging(self, cutoff: datetime, delete: bool, report: ReapReport) -> None:
        for path, modified in await asyncio.to_thread(_staged_files, self.staging):
            image_id = str(uuid.UUID(path.name.lstrip(".").split(".", 1)[0]))
            if await self._read(reap_repo.live_status, image_id) in IMPORTING:
                continue
            if modified > cutoff:
                report.too_recent += 1
                continue
            removed: tuple[str, ...] = ()
            if delete:
                await asyncio.to_thread(path.unlink, missing_ok=True)
                removed = (str(path),)
            report.orphans.append(Orphan(STAGING, image_id, (str(path),), modified, removed))

    async def _read(self, query: Callable[..., R], *args: Any) -> R:
        def run() -> R:
            with self.db.reading() as session:
                return query(session, *args)
        return await asyncio.to_thread(run)


def _staged_files(folder: Path) -> list[tuple[Path, datetime]]:
    """Files of the staging area named after an image id (staged data, temporary
    files of writes and of plugins), with their modification time."""
    if not folder.is_dir():
        return []
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            try:
                uuid.UUID(entry.name.lstrip(".").split(".", 1)[0])
            except ValueError:
                continue
            if entry.is_file(follow_symlinks=False):
                modified = datetime.fromtimestamp(entry.stat().st_mtime, UTC).replace(tzinfo=None)
                found.append((Path(entry.path), modified))
    return found
