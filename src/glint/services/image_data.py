"""Uploading and downloading image data.

An upload moves the image queued -> saving with a guarded update, streams
the body through `HashingStream` into the default store, then saving ->
active with size, hashes and location in one guarded update. Any failure on
the way removes what the store wrote and puts the image back to queued, so
the client can simply retry.

Bare images are format-inspected in the same pass (`glint.formats`): every
chunk is shown to the inspectors on its way to the hashes and the store, and
once the data is stored the verdict decides; data that does not match its
disk_format, or could make qemu-img open host files, is deleted again and
the upload fails with InvalidImageData (415), the image queued.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from starlette.concurrency import run_in_threadpool

from glint.db import repositories as repo
from glint.domain import lifecycle
from glint.domain.context import RequestContext
from glint.domain.errors import (
    Conflict,
    Forbidden,
    InvalidImageData,
    StorageFull,
    StoreUnavailable,
)
from glint.domain.image import Image, ImageStatus, Location
from glint.formats.detect import Detection
from glint.formats.verdict import FormatRejected, FormatRules, judge
from glint.services.images import ImageServices, now
from glint.stores.base import StoredData, StoreError, StoreFull, WritableStore
from glint.stores.hashing import Digests, HashingStream, ImageTooLarge
from glint.stores.registry import StoreRegistry

log = logging.getLogger(__name__)

UPLOAD_HEARTBEAT = timedelta(seconds=30)
STALLED_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class Download:
    image: Image
    location: Location | None
    size: int | None


@dataclass
class ImageDataServices:
    images: ImageServices
    stores: StoreRegistry

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
        cap = self.images.api.image_size_cap
        if expected_size is not None and expected_size > cap:
            raise ImageTooLarge(cap)
        image = await run_in_threadpool(self._begin_upload, ctx, image_id)
        store = target or self.stores.default_store()
        detection = self._detection_for(image)
        stream = HashingStream(
            _inspected(body, detection) if detection else body,
            algorithm=self.images.api.hashing_algorithm, size_cap=cap,
            expected_size=expected_size,
        )
        heartbeat = asyncio.create_task(self._heartbeat(image.id))
        try:
            stored = await store.write(image.id, stream.blocks(), size_hint=expected_size)
        except StoreFull as exc:
            await asyncio.shield(run_in_threadpool(self._abort_upload, image.id))
            raise StorageFull(f"Image storage is full: {exc.message}") from exc
        except StoreError as exc:
            await asyncio.shield(run_in_threadpool(self._abort_upload, image.id))
            log.error("upload of image %s to store %s failed: %s", image.id, exc.store, exc.message)
            raise StoreUnavailable(f"Image storage failed: {exc.message}", exc.store) from exc
        except BaseException:
            await asyncio.shield(run_in_threadpool(self._abort_upload, image.id))
            raise
        finally:
            heartbeat.cancel()
        try:
            virtual_size = self._virtual_size(image, detection)
            return await run_in_threadpool(
                self._finish_upload, image.id, stored, stream.digests(), virtual_size
            )
        except BaseException:
            await asyncio.shield(store.delete(stored.location))
            await asyncio.shield(run_in_threadpool(self._abort_upload, image.id))
            raise

    def _detection_for(self, image: Image) -> Detection | None:
        """Inspectors for the upload; only bare images are inspected, as in Glance."""
        if image.container_format != "bare":
            return None
        return Detection(frozenset(self.images.api.vmdk_allowed_types))

    def _virtual_size(self, image: Image, detection: Detection | None) -> int | None:
        """The verdict on inspected data: its virtual size, or InvalidImageData."""
        if detection is None:
            return None
        api = self.images.api
        rules = FormatRules(
            require_image_format_match=api.require_image_format_match,
            gpt_safety_checks_nonfatal=frozenset(api.gpt_safety_checks_nonfatal),
        )
        try:
            verdict = judge(detection, image.disk_format or "", rules)
        except FormatRejected as exc:
            log.warning("upload to image %s rejected: %s", image.id, exc.message)
            raise InvalidImageData(exc.message) from exc
        return verdict.virtual_size

    async def _heartbeat(self, image_id: str) -> None:
        """Show that this upload is alive, so recovery never mistakes it for a dead one."""
        while True:
            await asyncio.sleep(UPLOAD_HEARTBEAT.total_seconds())
            await run_in_threadpool(self._touch_saving, image_id)

    def _touch_saving(self, image_id: str) -> None:
        with self.images.db.writing() as session:
            repo.change_status(session, image_id, ImageStatus.SAVING, ImageStatus.SAVING, now())

    def recover_stalled_uploads(self) -> int:
        """Put back to queued the images whose upload died with its process.

        An upload in progress touches its image every UPLOAD_HEARTBEAT; one
        silent for STALLED_AFTER is dead (its server crashed or was killed).
        Returns how many images were recovered.
        """
        with self.images.db.writing() as session:
            stalled = repo.stalled_images(session, ImageStatus.SAVING, now() - STALLED_AFTER)
            for image_id in stalled:
                repo.change_status(
                    session, image_id, ImageStatus.SAVING, ImageStatus.QUEUED, now(),
                    size=None, virtual_size=None, checksum=None, os_hash_algo=None,
                    os_hash_value=None,
                )
        for image_id in stalled:
            log.warning("image %s was left saving by a server that stopped; it is queued again",
                        image_id)
        return len(stalled)

    def _begin_upload(self, ctx: RequestContext, image_id: str) -> Image:
        with self.images.db.writing() as session:
            image, target = self.images.load_visible(session, ctx, image_id, details=False)
            self.images.policy.enforce("upload_image", ctx, target)
            if image.status != ImageStatus.QUEUED:
                raise Conflict(
                    f"Image {image.id} is {image.status}; data can only be uploaded to a "
                    "queued image"
                )
            lifecycle.begin_data(image, ImageStatus.SAVING)
            if not repo.change_status(session, image.id, ImageStatus.QUEUED, ImageStatus.SAVING,
                                      now()):
                raise Conflict(f"Image {image.id} is already receiving data")
            return image

    def _finish_upload(
        self, image_id: str, stored: StoredData, digests: Digests, virtual_size: int | None
    ) -> Image:
        with self.images.db.writing() as session:
            activated = repo.change_status(
                session, image_id, ImageStatus.SAVING, ImageStatus.ACTIVE, now(),
                size=digests.size, virtual_size=virtual_size, checksum=digests.checksum,
                os_hash_algo=digests.os_hash_algo, os_hash_value=digests.os_hash_value,
            )
            if not activated:
                raise Conflict(f"Image {image_id} was deleted while its data was uploaded")
            repo.set_locations(session, image_id, [stored.location])
            image = repo.get_image(session, image_id)
            assert image is not None
            return image

    def _abort_upload(self, image_id: str) -> None:
        """Put an image whose upload failed back to queued (a no-op if it moved on)."""
        with self.images.db.writing() as session:
            repo.change_status(
                session, image_id, ImageStatus.SAVING, ImageStatus.QUEUED, now(),
                size=None, virtual_size=None, checksum=None, os_hash_algo=None, os_hash_value=None,
            )

    def prepare_download(self, ctx: RequestContext, image_id: str) -> Download:
        """Check the caller may download; returns where the data is (None: no data)."""
        with self.images.db.reading() as session:
            image, target = self.images.load_visible(session, ctx, image_id, details=False)
            self.images.policy.enforce("download_image", ctx, target)
        if image.status == ImageStatus.DEACTIVATED and not ctx.is_admin:
            raise Forbidden(
                "The requested image has been deactivated. Image data download is forbidden."
            )
        if not image.locations or image.status not in (
            ImageStatus.ACTIVE, ImageStatus.DEACTIVATED
        ):
            return Download(image=image, location=None, size=None)
        return Download(image=image, location=image.locations[0], size=image.size)

    def read(self, location: Location, start: int, length: int | None) -> AsyncIterator[bytes]:
        store = self.stores.for_location(location)
        return store.read(location, start, length)


async def _inspected(chunks: AsyncIterator[bytes], detection: Detection) -> AsyncIterator[bytes]:
    """Pass the chunks on unchanged, showing each to the format inspectors."""
    async for chunk in chunks:
        detection.feed(chunk)
        yield chunk
    detection.finish()
