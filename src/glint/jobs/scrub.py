"""The scrubber: deletes the data of images in pending_delete (delayed delete).

An image deleted with `[DEFAULT] delayed_delete` keeps its locations; once
`scrub_time` seconds have passed since its deletion, a pass deletes the data
of every location from its store, up to `scrub_pool_size` at once, and marks
the image `deleted` when none is left. A location whose store fails stays on
the image (the image stays pending_delete) and is tried again on the next
pass; data another live image still names is kept. `restore` puts an image
back to active, as `glance-scrubber --restore` does.

Each location row is detached (its own transaction) before its data is
deleted and put back if the delete fails: a restore that races a pass leaves
the image with only the copies not yet deleted, never a location naming
missing data. A process killed between the detach and the delete leaves data
no location names, which `glint reap` finds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from glint.db import repositories as repo
from glint.db import scrub_repositories as scrub_repo
from glint.db.scrub_repositories import PendingLocation
from glint.db.session import Database
from glint.domain.errors import Conflict, NotFound
from glint.domain.image import ImageStatus
from glint.services.clock import now
from glint.settings import ScrubSettings
from glint.stores.base import StoreError, WritableStore
from glint.stores.registry import StoreRegistry

log = logging.getLogger(__name__)

R = TypeVar("R")


@dataclass(frozen=True)
class ScrubFailure:
    """A location whose data a pass could not delete (it stays on the image)."""

    image_id: str
    store: str
    message: str


@dataclass
class ScrubReport:
    """What one pass did."""

    images_due: int = 0
    images_deleted: int = 0
    locations_deleted: int = 0
    # Locations detached without deleting their data: another live image names it.
    locations_shared: int = 0
    failures: list[ScrubFailure] = field(default_factory=list)

    @property
    def images_pending(self) -> int:
        """Due images left in pending_delete (a copy failed, or a restore raced the pass)."""
        return self.images_due - self.images_deleted

    def summary(self) -> str:
        return (f"{self.images_due} image(s) due, {self.images_deleted} scrubbed, "
                f"{self.images_pending} left pending_delete; {self.locations_deleted} "
                f"location(s) deleted, {self.locations_shared} kept (in use by another "
                f"image), {len(self.failures)} failed")

    def to_json(self) -> dict[str, Any]:
        return {
            "images_due": self.images_due, "images_deleted": self.images_deleted,
            "images_pending": self.images_pending, "locations_deleted": self.locations_deleted,
            "locations_shared": self.locations_shared,
            "failures": [vars(failure) for failure in self.failures],
        }


@dataclass
class Scrubber:
    db: Database
    stores: StoreRegistry
    settings: ScrubSettings

    async def run_once(self) -> ScrubReport:
        """One pass over the images due; idempotent, and safe beside other passes
        (every change is a guarded update). Store failures are reported, not raised."""
        report = ScrubReport()
        cutoff = now() - timedelta(seconds=self.settings.scrub_time)
        due = await self._read(scrub_repo.due_images, cutoff)
        report.images_due = len(due)
        limit = asyncio.Semaphore(self.settings.scrub_pool_size)
        await asyncio.gather(*(self._scrub_image(image_id, limit, report) for image_id in due))
        if due:
            log.info("scrubber: %s", report.summary())
        return report

    async def restore(self, image_id: str) -> None:
        """pending_delete -> active. Raises NotFound when no image has this id and
        Conflict when it is not in pending_delete (or has no copy left)."""
        restored = await asyncio.to_thread(self._restore, image_id)
        log.info("scrubber: image %s restored to active (%s location(s) kept)",
                 image_id, restored)

    def _restore(self, image_id: str) -> int:
        with self.db.writing() as session:
            status = scrub_repo.status_of(session, image_id)
            if status is None:
                raise NotFound(f"No image found with ID {image_id}")
            if status != ImageStatus.PENDING_DELETE:
                raise Conflict(f"Cannot restore image {image_id} from {status} to active "
                               "(it must be pending_delete)")
            kept = len(scrub_repo.pending_locations(session, image_id))
            if not scrub_repo.restore(session, image_id, now()):
                raise Conflict(f"Cannot restore image {image_id}: all its data is deleted")
        return kept

    async def _scrub_image(self, image_id: str, limit: asyncio.Semaphore,
                           report: ScrubReport) -> None:
        pending = await self._read(scrub_repo.pending_locations, image_id)
        log.info("scrubber: scrubbing image %s from %d location(s)", image_id, len(pending))
        await asyncio.gather(*(self._scrub_location(each, limit, report) for each in pending))
        if await self._write(scrub_repo.finish, image_id, now()):
            report.images_deleted += 1
            log.info("scrubber: image %s scrubbed, now deleted", image_id)
        else:
            log.warning("scrubber: image %s keeps copies that could not be deleted; it stays "
                        "pending_delete until a later pass deletes them", image_id)

    async def _scrub_location(self, pending: PendingLocation, limit: asyncio.Semaphore,
                              report: ScrubReport) -> None:
        async with limit:
            if not await self._write(scrub_repo.detach, pending):
                return
            if await self._read(repo.images_using, pending.location.url):
                report.locations_shared += 1
                return
            try:
                store = self.stores.for_location(pending.location)
                # Data in a read-only store (an http location) is not Glint's to delete.
                if isinstance(store, WritableStore):
                    await store.delete(pending.location)
            except StoreError as exc:
                await self._put_back(pending, exc, report)
                return
            except Exception as exc:
                # A driver's bug must not lose the detached row either.
                log.exception("scrubber: deleting a copy of image %s failed", pending.image_id)
                await self._put_back(pending, StoreError(pending.location.store, repr(exc)),
                                     report)
                return
            report.locations_deleted += 1

    async def _put_back(self, pending: PendingLocation, exc: StoreError,
                        report: ScrubReport) -> None:
        report.failures.append(ScrubFailure(pending.image_id, exc.store, exc.message))
        if await self._write(scrub_repo.reattach, pending):
            log.warning("scrubber: could not delete a copy of image %s from store %s (%s); "
                        "trying again on the next pass", pending.image_id, exc.store, exc.message)
        else:
            log.error("scrubber: could not delete a copy of image %s from store %s (%s), and the "
                      "image was restored meanwhile: `glint reap` finds the data left",
                      pending.image_id, exc.store, exc.message)

    async def _read(self, query: Callable[..., R], *args: Any) -> R:
        def run() -> R:
            with self.db.reading() as session:
                return query(session, *args)
        return await asyncio.to_thread(run)

    async def _write(self, change: Callable[..., R], *args: Any) -> R:
        def run() -> R:
            with self.db.writing() as session:
                return change(session, *args)
        return await asyncio.to_thread(run)
