"""copy-image: copy an active image's data into more stores.

The image stays active throughout. The data is streamed from one of its
locations (the default store's first, as Glance does) straight into each
target store with `ingest`, hashed on the way and compared with the image's
os_hash_value, checksum and size before it is published, so a copy is never
published unless it is the same data. Each copy becomes a location once every target is done;
with `all_stores_must_succeed` (the default) one failure removes the copies
this task made and fails the task, otherwise failed stores are listed in
`os_glance_failed_import` and the others kept.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from starlette.concurrency import run_in_threadpool

from glint.db import audit_repositories as audit_repo
from glint.db import quota_repositories as quota_repo
from glint.db import repositories as repo
from glint.db import task_repositories as tasks_repo
from glint.domain.copy_checks import Verdict, servable
from glint.domain.errors import Conflict, NoGoodCopy, StorageFull, StoreUnavailable
from glint.domain.image import Image, ImageStatus, Location
from glint.domain.task import Task, TaskStatus
from glint.events import payloads
from glint.services.clock import now
from glint.services.import_progress import ImportProgress
from glint.services.imports.deps import ImportDeps
from glint.services.imports.request import FAILED, IMPORTING_TO, LOCK
from glint.services.imports.task_rows import ImportFailed, locked_image, succeed
from glint.services.imports.written import remove_written, show_progress, unlock_done
from glint.services.ingest import DataMismatch, Expected, IngestRules, ingest
from glint.services.quotas import Quotas
from glint.stores.base import StoreError, WritableStore

log = logging.getLogger(__name__)


class CopyFailed(ImportFailed):
    """The copy cannot go on; the message is recorded on the task."""


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


async def copy_to_stores(deps: ImportDeps, task: Task, targets: list[str], *,
                         must_all: bool, progress: ImportProgress) -> None:
    """Run a copy-image task, reporting each store's copy as a step of `progress`;
    raises (the task then fails) when it cannot complete."""
    image = await run_in_threadpool(locked_image, deps.db, task, ImageStatus.ACTIVE)
    source = _source(deps, image, await run_in_threadpool(_bad_copies, deps, image.id))
    written: list[tuple[WritableStore, Location]] = []
    failed: list[str] = []
    try:
        for name in targets:
            try:
                store = deps.stores.writable(name)
                progress.begin(f"store:{name}", image.size)
                written.append((store, await _copy(deps, image, source, store, progress)))
            except (StoreError, StoreUnavailable, StorageFull, DataMismatch) as exc:
                log.warning("copy of image %s to store %s failed: %s", image.id, name,
                            exc.message)
                if must_all:
                    raise CopyFailed(f"Copying to store {name} failed: {exc.message}") from exc
                failed.append(name)
            await run_in_threadpool(show_progress, deps, image.id, targets, written, failed)
        await run_in_threadpool(_succeed, deps, task, image,
                                [location for _, location in written], failed)
        deps.quotas.forget(Quotas.task_token(task.id))
    except BaseException:
        await asyncio.shield(remove_written(deps, task, written))
        if deps.quotas.enabled:
            await asyncio.shield(run_in_threadpool(deps.quotas.release_token,
                                                   Quotas.task_token(task.id)))
        raise


async def _copy(deps: ImportDeps, image: Image, source: Location,
                store: WritableStore, progress: ImportProgress) -> Location:
    """Stream the image's data from `source` into `store`; DataMismatch (nothing
    published) if it is not the image's data."""
    upload = deps.upload
    rules = IngestRules(size_cap=upload.image_size_cap,
                        algorithm=image.os_hash_algo or upload.hashing_algorithm,
                        expected=Expected(image.size, image.checksum, image.os_hash_value))
    chunks = progress.counted(deps.stores.for_location(source).read(source))
    return (await ingest(image.id, chunks, store, rules)).location


def _bad_copies(deps: ImportDeps, image_id: str) -> dict[str, Verdict]:
    with deps.db.reading() as session:
        return audit_repo.bad_copies(session, image_id)


def _source(deps: ImportDeps, image: Image, bad: dict[str, Verdict]) -> Location:
    """The location to copy from: the default store's if it has one, else any
    readable; copies the integrity auditor recorded bad only as download does
    (glint.domain.copy_checks.servable)."""
    try:
        usable = servable(image.id, image.locations, bad)
    except NoGoodCopy as exc:
        raise CopyFailed(exc.message) from exc
    readable = [loc for loc in usable if loc.store in deps.stores.stores]
    default = [loc for loc in readable if loc.store == deps.stores.default]
    if not (default or readable):
        raise CopyFailed("Image not found in any configured store")
    return (default or readable)[0]


def _succeed(deps: ImportDeps, task: Task, image: Image, copies: list[Location],
             failed: list[str]) -> None:
    """Add the copies to the image's locations, release the lock, end the task."""
    with deps.db.writing() as session:
        repo.touch(session, image.id, now())
        current = repo.get_image(session, image.id)
        if current is None or current.status != ImageStatus.ACTIVE \
                or current.properties.get(LOCK) != task.id:
            raise CopyFailed("The image was deleted or changed during the copy")
        repo.set_locations(session, image.id, [*current.locations, *copies])
        if deps.quotas.enabled:
            # The copies now count as the image's locations, not as the reservation.
            quota_repo.drop_reservation(session, Quotas.task_token(task.id))
        earlier = [s for s in (current.properties.get(FAILED) or "").split(",") if s]
        unlock_done(session, image.id, failed, earlier)
        if not succeed(session, deps.owner, task):
            raise CopyFailed("Another worker took the copy task over")
    deps.events.emit("task.success", lambda: payloads.task(
        replace(task, status=TaskStatus.SUCCESS, updated_at=now())))
