"""PUT /v2/images/{id}/stage: the body into the staging area, the image
queued -> uploading, the write recorded (glint.services.data_writes) like an
upload's. The data is hashed, capped and (bare images) format-inspected here,
once, by `Staging.take`, which keeps what that found with the staged file for
the import to reuse."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from functools import partial

from starlette.concurrency import run_in_threadpool

from glint.db import repositories as repo
from glint.db import task_repositories as tasks_repo
from glint.db.session import Database
from glint.domain import lifecycle
from glint.domain.context import RequestContext
from glint.domain.errors import Conflict, NotFound
from glint.domain.image import Image, ImageStatus
from glint.domain.writes import DataWrite, WriteKind
from glint.events import payloads
from glint.events.publisher import Publisher
from glint.services.clock import now
from glint.services.data_writes import DataWrites
from glint.services.image_access import ImageAccess
from glint.services.imports.request import ImportMethod
from glint.services.ingest import IngestRules, format_check
from glint.services.quotas import Quotas, Reservation, ReservationKind
from glint.services.stage_host import STAGE_HOST
from glint.services.staging import Staging
from glint.settings import FormatSettings, ImportSettings, UploadSettings
from glint.stores.hashing import ImageTooLarge


@dataclass(frozen=True)
class Stager:
    db: Database
    access: ImageAccess
    upload: UploadSettings
    formats: FormatSettings
    writes: DataWrites
    staging: Staging
    settings: ImportSettings
    # Notifications, emitted after each change is committed (glint.events).
    events: Publisher
    quotas: Quotas

    async def stage(self, ctx: RequestContext, image_id: str, body: AsyncIterator[bytes],
                    *, expected_size: int | None, stage_host: str | None = None) -> None:
        """PUT /stage: keep the body in the staging area; image queued -> uploading.
        The data is hashed (and inspected) here, once; what that found is kept with it.

        `stage_host`, this node's URL, is recorded as os_glance_stage_host.
        """
        if ImportMethod.GLANCE_DIRECT not in self.settings.enabled_import_methods:
            raise NotFound("'glance-direct' method is not available at this site.")
        cap = self.upload.image_size_cap
        if expected_size is not None and expected_size > cap:
            raise ImageTooLarge(cap)
        reservation = await self._reserve(ctx, image_id, expected_size)
        try:
            image, write = await run_in_threadpool(self._begin_stage, ctx, image_id)
        except BaseException:
            if reservation is not None:
                await asyncio.shield(reservation.release())
            raise
        events = self.events
        # As Glance: the image saved uploading, then saved again once staged.
        events.emit("image.update", partial(
            payloads.image, replace(image, status=ImageStatus.UPLOADING)))
        writes = self.writes
        rules = IngestRules(size_cap=cap, algorithm=self.upload.hashing_algorithm,
                            declared_size=expected_size,
                            formats=format_check(image, self.formats),
                            before_publish=partial(writes.confirm, write), quota=reservation)
        heartbeat = asyncio.create_task(writes.heartbeat(write))
        try:
            ingested = await self.staging.take(image.id, body, rules)
            staged = await run_in_threadpool(self._end_stage, write, ingested.size, stage_host,
                                             reservation)
        except BaseException:
            if reservation is not None:
                await asyncio.shield(reservation.release())
            await asyncio.shield(run_in_threadpool(self._undo_stage, write))
            raise
        finally:
            heartbeat.cancel()
        if staged is not None:
            events.emit("image.update", partial(payloads.image, staged))

    async def _reserve(self, ctx: RequestContext, image_id: str,
                       declared: int | None) -> Reservation | None:
        """The stage's quota reservation, for the image's owner (None: no quota)."""
        if not self.quotas.enabled:
            return None
        owner = await run_in_threadpool(self._owner_of, ctx, image_id)
        return await self.quotas.reserve(owner, image_id, ReservationKind.STAGE, declared)

    def _owner_of(self, ctx: RequestContext, image_id: str) -> str | None:
        with self.db.reading() as session:
            image, _ = self.access.load_visible(session, ctx, image_id, details=False)
            return image.owner

    def _begin_stage(self, ctx: RequestContext, image_id: str) -> tuple[Image, DataWrite]:
        with self.db.writing() as session:
            image, target = self.access.load_visible(
                session, ctx, image_id, details=self.events.wants("image.update"))
            self.access.policy.enforce("modify_image", ctx, target)
            if image.status != ImageStatus.QUEUED:
                raise Conflict(f"Image {image.id} is {image.status}; only a queued image can "
                               "be staged")
            lifecycle.transition(image.status, ImageStatus.UPLOADING)
            if not repo.change_status(session, image.id, ImageStatus.QUEUED,
                                      ImageStatus.UPLOADING, now()):
                raise Conflict(f"Image {image.id} is already receiving data")
            return image, self.writes.begin(session, image.id, WriteKind.STAGE, None)

    def _end_stage(self, write: DataWrite, size: int, stage_host: str | None,
                   reservation: Reservation | None) -> Image | None:
        """The stage is done: the image stays uploading (staged) until imported; the
        staged size now counts instead of the reservation. Returns the staged image
        when image.update is sent."""
        with self.db.writing() as session:
            self.writes.end(session, write)
            if reservation is not None:
                reservation.settle(session)
            repo.set_staged_size(session, write.image_id, size, now())
            if stage_host:
                tasks_repo.set_image_property(session, write.image_id, STAGE_HOST, stage_host)
            if not self.events.wants("image.update"):
                return None
            return repo.get_image(session, write.image_id)

    def _undo_stage(self, write: DataWrite) -> None:
        """A stage failed: its data removed and the image queued again, unless another
        process took the write over (that one removes the data)."""
        if self.writes.still_ours(write):
            self.staging.remove(write.image_id)
            self.writes.give_up(write, ImageStatus.UPLOADING)

