"""Uploading and downloading image data.

An upload moves the image queued -> saving with a guarded update, recording
the write (glint.services.data_writes), streams the body into the default
store with `ingest` (hashed, capped, bare images format-inspected in the
same pass), then saving -> active with size, hashes and location in one
guarded update that ends the write. Data that does not match its
disk_format, or could make qemu-img open host files, is never published and
the upload fails with InvalidImageData (415). Any failure on the way removes
what the store wrote and puts the image back to queued, so the client can
simply retry; if the server dies instead, crash recovery does the same
(glint.services.recovery).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from functools import partial

from starlette.concurrency import run_in_threadpool

from glint.db import audit_repositories as audit_repo
from glint.db import repositories as repo
from glint.domain import lifecycle
from glint.domain.context import RequestContext
from glint.domain.copy_checks import servable
from glint.domain.errors import Conflict, Forbidden
from glint.domain.image import Image, ImageStatus, Location
from glint.domain.writes import DataWrite, WriteKind
from glint.events import payloads
from glint.events.publisher import Priority
from glint.services.clock import now
from glint.services.data_writes import DataWrites
from glint.services.images import ImageServices
from glint.services.ingest import Ingested, IngestRules, discard, format_check, ingest
from glint.services.quotas import Quotas, Reservation, ReservationKind
from glint.settings import FormatSettings, UploadSettings
from glint.stores.base import WritableStore
from glint.stores.hashing import ImageTooLarge
from glint.stores.registry import StoreRegistry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Download:
    image: Image
    location: Location | None
    size: int | None
    # The copies to read, in order: the image's locations less those the
    # integrity auditor recorded bad (glint.domain.copy_checks.servable).
    locations: list[Location] = field(default_factory=list)
    # Whether the auditor's verdicts set copies aside (NoGoodCopy if the rest fail).
    set_aside: bool = False


@dataclass
class ImageDataServices:
    images: ImageServices
    stores: StoreRegistry
    writes: DataWrites
    quotas: Quotas
    # image_size_cap and hashing_algorithm (`upload` is the use case below).
    upload_settings: UploadSettings
    formats: FormatSettings

    async def upload(
        self,
        ctx: RequestContext,
        image_id: str,
        body: AsyncIterator[bytes],
        *,
        expected_size: int | None,
        target: WritableStore | None = None,
    ) -> Image:
        """Store the request body as the image's data and activate the image.

        The data goes to `target`, or to the default store when None."""
        cap = self.upload_settings.image_size_cap
        if expected_size is not None and expected_size > cap:
            raise ImageTooLarge(cap)
        store = target or self.stores.default_store()
        reservation = await self._reserve(ctx, image_id, expected_size)
        try:
            image, write = await run_in_threadpool(self._begin_upload, ctx, image_id,
                                                   store.name)
        except BaseException:
            if reservation is not None:
                await asyncio.shield(reservation.release())
            raise
        rules = IngestRules(size_cap=cap, algorithm=self.upload_settings.hashing_algorithm,
                            declared_size=expected_size,
                            formats=format_check(image, self.formats),
                            before_publish=partial(self.writes.confirm, write),
                            quota=reservation)
        events = self.images.events
        saving = replace(image, status=ImageStatus.SAVING)
        events.emit("image.update", lambda: payloads.image(saving))
        backend = store.name if self.stores.multistore else None
        events.emit("image.prepare", lambda: payloads.image_with_imports(saving, backend))
        heartbeat = asyncio.create_task(self.writes.heartbeat(write))
        try:
            ingested = await ingest(image.id, body, store, rules)
        except BaseException as exc:
            await asyncio.shield(self._abort_upload(write, reservation=reservation))
            self._upload_failed(image, exc)
            raise
        finally:
            heartbeat.cancel()
        try:
            active = await run_in_threadpool(self._finish_upload, write, ingested, reservation)
        except BaseException as exc:
            await asyncio.shield(self._abort_upload(write, store, ingested.location,
                                                    reservation))
            self._upload_failed(image, exc)
            raise
        events.emit("image.upload", lambda: payloads.image_with_imports(active))
        events.emit("image.activate", lambda: payloads.image(active))
        events.emit("image.update", lambda: payloads.image(active))
        return active

    def _upload_failed(self, image: Image, exc: BaseException) -> None:
        """Glance's image.upload error notification: its payload is a message."""
        if isinstance(exc, Exception):
            self.images.events.emit("image.upload", partial(payloads.upload_failure, image.id, exc),
                                    Priority.ERROR)

    async def _reserve(self, ctx: RequestContext, image_id: str,
                       declared: int | None) -> Reservation | None:
        """The upload's quota reservation, for the image's owner (None: no quota)."""
        if not self.quotas.enabled:
            return None
        owner = await run_in_threadpool(self._owner_of, ctx, image_id)
        return await self.quotas.reserve(owner, image_id, ReservationKind.UPLOAD, declared)

    def _owner_of(self, ctx: RequestContext, image_id: str) -> str | None:
        with self.images.db.reading() as session:
            image, _ = self.images.load_visible(session, ctx, image_id, details=False)
            return image.owner

    def _begin_upload(self, ctx: RequestContext, image_id: str,
                      store: str) -> tuple[Image, DataWrite]:
        with self.images.db.writing() as session:
            image, target = self.images.load_visible(
                session, ctx, image_id, details=self.images.events.wants("image.prepare"))
            self.images.policy.enforce("upload_image", ctx, target)
            if image.status != ImageStatus.QUEUED:
                raise Conflict(
                    f"Image {image.id} is {image.status}; data can only be uploaded to a "
                    "queued image"
                )
            lifecycle.begin_data(image, ImageStatus.SAVING)
            image.updated_at = now()
            if not repo.change_status(session, image.id, ImageStatus.QUEUED, ImageStatus.SAVING,
                                      image.updated_at):
                raise Conflict(f"Image {image.id} is already receiving data")
            return image, self.writes.begin(session, image.id, WriteKind.UPLOAD, store)

    def _finish_upload(self, write: DataWrite, ingested: Ingested,
                       reservation: Reservation | None) -> Image:
        assert ingested.digests is not None
        with self.images.db.writing() as session:
            self.writes.end(session, write)
            if reservation is not None:
                reservation.settle(session)
            if not repo.activate(session, write.image_id, ImageStatus.SAVING, now(),
                                 ingested.digests, ingested.virtual_size):
                raise Conflict(f"Image {write.image_id} was deleted while its data was uploaded")
            repo.set_locations(session, write.image_id, [ingested.location])
            image = repo.get_image(session, write.image_id)
            assert image is not None
            return image

    async def _abort_upload(self, write: DataWrite, store: WritableStore | None = None,
                            published: Location | None = None,
                            reservation: Reservation | None = None) -> None:
        """End a failed upload: the image back to queued, its quota reservation
        released, and the data the store `published` (if any) removed first. Nothing
        else is done if another process took the write over: that one removes the data."""
        if reservation is not None:
            await reservation.release()
        if published is not None and store is not None:
            if not await run_in_threadpool(self.writes.still_ours, write):
                return
            await discard(store, published, write.image_id)
        await run_in_threadpool(self.writes.give_up, write, ImageStatus.SAVING)

    def prepare_download(self, ctx: RequestContext, image_id: str) -> Download:
        """Check the caller may download; returns where the data is (None: no data).

        Raises NoGoodCopy when every copy is recorded as not matching the image."""
        with self.images.db.reading() as session:
            image, target = self.images.load_visible(session, ctx, image_id, details=False)
            self.images.policy.enforce("download_image", ctx, target)
            has_data = bool(image.locations) and image.status in (
                ImageStatus.ACTIVE, ImageStatus.DEACTIVATED)
            bad = audit_repo.bad_copies(session, image.id) if has_data else {}
        if image.status == ImageStatus.DEACTIVATED and not ctx.is_admin:
            raise Forbidden(
                "The requested image has been deactivated. Image data download is forbidden."
            )
        if not has_data:
            return Download(image=image, location=None, size=None)
        locations = servable(image.id, image.locations, bad)
        return Download(image=image, location=locations[0], size=image.size,
                        locations=locations, set_aside=bool(bad))

    def sent(self, ctx: RequestContext, image: Image, expected: int, bytes_sent: int) -> None:
        """A download ended: Glance's image.send, as an error when fewer bytes
        than `expected` went out."""
        priority = Priority.INFO if bytes_sent == expected else Priority.ERROR
        self.images.events.emit("image.send", lambda: payloads.image_send(
            image, bytes_sent, receiver_project=ctx.project_id, receiver_user=ctx.user_id),
            priority)

    def read(self, location: Location, start: int, length: int | None) -> AsyncIterator[bytes]:
        store = self.stores.for_location(location)
        return store.read(location, start, length)

