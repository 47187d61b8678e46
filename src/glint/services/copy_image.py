"""copy-image: copy an active image's data into more stores.

The image stays active throughout. The data is streamed from one of its
locations (the default store's first, as Glance does) straight into each
target store, hashed on the way and compared with the image's
os_hash_value, checksum and size, so a copy is never published unless it is
the same data. Each copy becomes a location once every target is done;
with `all_stores_must_succeed` (the default) one failure removes the copies
this task made and fails the task, otherwise failed stores are listed in
`os_glance_failed_import` and the others kept.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool

from glint.db import repositories as repo
from glint.db import task_repositories as tasks_repo
from glint.domain.errors import Conflict
from glint.domain.image import Image, ImageStatus, Location
from glint.domain.task import Task, TaskStatus
from glint.services.images import now
from glint.services.import_progress import ImportProgress
from glint.services.import_requests import FAILED, IMPORTING_TO, LOCK
from glint.services.import_stores import show_progress
from glint.stores.base import StoreError, WritableStore
from glint.stores.hashing import HashingStream

if TYPE_CHECKING:
    from glint.services.imports import ImportServices

log = logging.getLogger(__name__)


class CopyFailed(Exception):
    """The copy cannot go on; the message is recorded on the task."""


class CopyMismatch(StoreError):
    """The copied data differs from the image's (size or hashes)."""


def lock_for_copy(session: Any, image_id: str, task_id: str, targets: list[str]) -> None:
    """Take the image's import lock for a copy task; Conflict while another task holds it."""
    # The update locks the image's row, so two requests cannot both see it unlocked.
    repo.touch(session, image_id, now())
    image = repo.get_image(session, image_id)
    if image is None or image.status != ImageStatus.ACTIVE:
        raise Conflict("Only images with status active can be targeted for copying")
    holder = image.properties.get(LOCK)
    if holder:
        task = tasks_repo.get_task(session, holder)
        if task is not None and task.status in (TaskStatus.PENDING, TaskStatus.PROCESSING):
            raise Conflict(f"New operation on image '{image_id}' is not permitted as prior "
                           "operation is still in progress")
    failed = [s for s in (image.properties.get(FAILED) or "").split(",")
              if s and s not in targets]
    tasks_repo.set_image_property(session, image_id, LOCK, task_id)
    tasks_repo.set_image_property(session, image_id, IMPORTING_TO, ",".join(targets))
    if failed:
        tasks_repo.set_image_property(session, image_id, FAILED, ",".join(failed))
    else:
        tasks_repo.drop_image_properties(session, image_id, (FAILED,))


async def copy_to_stores(imports: ImportServices, task: Task, targets: list[str], *,
                         must_all: bool, progress: ImportProgress) -> None:
    """Run a copy-image task, reporting each store's copy as a step of `progress`;
    raises (the task then fails) when it cannot complete."""
    image = await run_in_threadpool(_copying_image, imports, task)
    source = _source(imports, image)
    written: list[tuple[WritableStore, Location]] = []
    failed: list[str] = []
    try:
        for name in targets:
            try:
                store = imports.stores.writable(name)
                progress.begin(f"store:{name}", image.size)
                written.append((store, await _copy(imports, image, source, store, progress)))
            except StoreError as exc:
                log.warning("copy of image %s to store %s failed: %s", image.id, name,
                            exc.message)
                if must_all:
                    raise CopyFailed(f"Copying to store {name} failed: {exc.message}") from exc
                failed.append(name)
            await run_in_threadpool(show_progress, imports, image.id, targets, written, failed)
        await run_in_threadpool(_succeed, imports, task, image,
                                [location for _, location in written], failed)
    except BaseException:
        for store, location in written:
            await asyncio.shield(store.delete(location))
        raise


async def _copy(imports: ImportServices, image: Image, source: Location,
                store: WritableStore, progress: ImportProgress) -> Location:
    """Stream the image's data from `source` into `store`; CopyMismatch if it differs."""
    stream = HashingStream(
        progress.counted(imports.stores.for_location(source).read(source)),
        algorithm=image.os_hash_algo or imports.images.api.hashing_algorithm,
        size_cap=imports.images.api.image_size_cap,
    )
    stored = await store.write(image.id, stream.blocks(), size_hint=image.size)
    digests = stream.digests()
    expected = (image.size, image.checksum, image.os_hash_value)
    found = (digests.size, digests.checksum, digests.os_hash_value)
    if any(want is not None and want != got for want, got in zip(expected, found, strict=True)):
        await store.delete(stored.location)
        raise CopyMismatch(store.name, f"the data read from store {source.store} does not "
                           "match the image's size and hashes")
    return stored.location


def _source(imports: ImportServices, image: Image) -> Location:
    """The location to copy from: the default store's if it has one, else any readable."""
    readable = [loc for loc in image.locations if loc.store in imports.stores.stores]
    default = [loc for loc in readable if loc.store == imports.stores.default]
    if not (default or readable):
        raise CopyFailed("Image not found in any configured store")
    return (default or readable)[0]


def _copying_image(imports: ImportServices, task: Task) -> Image:
    with imports.images.db.reading() as session:
        image = repo.get_image(session, task.image_id or "")
    if image is None:
        raise CopyFailed("The image was deleted")
    if image.status != ImageStatus.ACTIVE or image.properties.get(LOCK) != task.id:
        raise CopyFailed(f"Image {image.id} is {image.status}, not being copied by this task")
    return image


def _succeed(imports: ImportServices, task: Task, image: Image, copies: list[Location],
             failed: list[str]) -> None:
    """Add the copies to the image's locations, release the lock, end the task."""
    with imports.images.db.writing() as session:
        repo.touch(session, image.id, now())
        current = repo.get_image(session, image.id)
        if current is None or current.status != ImageStatus.ACTIVE \
                or current.properties.get(LOCK) != task.id:
            raise CopyFailed("The image was deleted or changed during the copy")
        repo.set_locations(session, image.id, [*current.locations, *copies])
        tasks_repo.drop_image_properties(session, image.id, (LOCK, IMPORTING_TO))
        if failed:
            earlier = [s for s in (current.properties.get(FAILED) or "").split(",") if s]
            tasks_repo.set_image_property(session, image.id, FAILED,
                                          ",".join(dict.fromkeys([*earlier, *failed])))
        tasks_repo.change_task(session, task.id, TaskStatus.PROCESSING, TaskStatus.SUCCESS,
                               now(), result={"image_id": image.id}, message="")
