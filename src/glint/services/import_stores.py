"""The last step of an import: the staged data into each target store, then
the image active with those locations.

The first store's copy is format-inspected and hashed; each later copy is
hashed again as it is written. With `all_stores_must_succeed` (the default)
a failing store fails the task and every copy written is removed; otherwise
failed stores are listed in `os_glance_failed_import` and the image becomes
active in the others (if any).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool

from glint.db import repositories as repo
from glint.db import task_repositories as tasks_repo
from glint.domain.image import Image, ImageStatus, Location
from glint.domain.task import Task, TaskStatus
from glint.services.image_data import _inspected
from glint.services.images import now
from glint.services.import_progress import ImportProgress
from glint.services.import_requests import FAILED, IMPORTING_TO, LOCK
from glint.stores.base import StoreError, WritableStore
from glint.stores.hashing import Digests, HashingStream

if TYPE_CHECKING:
    from glint.services.imports import ImportServices

log = logging.getLogger(__name__)


class StoringFailed(Exception):
    """No store took the data, or the image changed meanwhile; recorded on the task."""


async def store_staged(imports: ImportServices, task: Task, image: Image, targets: list[str], *,
                       must_all: bool, progress: ImportProgress) -> None:
    """Write the staged data to every target store and make the image active."""
    staging = imports.staging
    written: list[tuple[WritableStore, Location]] = []
    failed: list[str] = []
    digests: Digests | None = None
    virtual_size: int | None = None
    try:
        for name in targets:
            store = imports.stores.writable(name)
            detection = imports.data._detection_for(image) if digests is None else None
            progress.begin_file(f"store:{name}", staging.path(image.id))
            staged = progress.counted(staging.read(image.id))
            stream = HashingStream(
                _inspected(staged, detection) if detection else staged,
                algorithm=imports.images.api.hashing_algorithm,
                size_cap=imports.images.api.image_size_cap,
            )
            try:
                stored = await store.write(image.id, stream.blocks())
            except StoreError as exc:
                if must_all or len(targets) == 1:
                    raise
                log.warning("import of image %s to store %s failed: %s", image.id, name,
                            exc.message)
                failed.append(name)
                await run_in_threadpool(show_progress, imports, image.id, targets, written,
                                        failed)
                continue
            written.append((store, stored.location))
            if digests is None:
                virtual_size = imports.data._virtual_size(image, detection)
                digests = stream.digests()
            await run_in_threadpool(show_progress, imports, image.id, targets, written, failed)
        if digests is None:
            raise StoringFailed(f"The import failed in every store: {', '.join(failed)}")
        await run_in_threadpool(_activate, imports, task, image,
                                [location for _, location in written], digests,
                                virtual_size, failed)
    except BaseException:
        for store, location in written:
            await asyncio.shield(store.delete(location))
        raise
    staging.remove(image.id)


def show_progress(imports: ImportServices, image_id: str, targets: list[str],
                  written: list[tuple[WritableStore, Location]], failed: list[str]) -> None:
    """Show on the image which stores are still to do and which failed."""
    done = {location.store for _, location in written} | set(failed)
    with imports.images.db.writing() as session:
        tasks_repo.set_image_property(session, image_id, IMPORTING_TO,
                                      ",".join(t for t in targets if t not in done))
        if failed:
            tasks_repo.set_image_property(session, image_id, FAILED, ",".join(failed))


def _activate(imports: ImportServices, task: Task, image: Image, locations: list[Location],
              digests: Digests, virtual_size: int | None, failed: list[str]) -> None:
    with imports.images.db.writing() as session:
        if not repo.change_status(
            session, image.id, ImageStatus.IMPORTING, ImageStatus.ACTIVE, now(),
            size=digests.size, virtual_size=virtual_size, checksum=digests.checksum,
            os_hash_algo=digests.os_hash_algo, os_hash_value=digests.os_hash_value,
        ):
            raise StoringFailed("The image was deleted or changed during the import")
        repo.set_locations(session, image.id, locations)
        tasks_repo.drop_image_properties(session, image.id, (LOCK, IMPORTING_TO))
        if failed:
            tasks_repo.set_image_property(session, image.id, FAILED, ",".join(failed))
        tasks_repo.change_task(session, task.id, TaskStatus.PROCESSING, TaskStatus.SUCCESS,
                               now(), result={"image_id": image.id}, message="")
