"""What the store steps of an import (glance-direct and the downloads, and
copy-image) share: the copies written so far, shown on the image while the
task runs, removed if it fails, and the image's import lock released at the end."""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from glint.db import task_repositories as tasks_repo
from glint.domain.image import Location
from glint.domain.task import Task
from glint.services.imports.deps import ImportDeps
from glint.services.imports.request import FAILED, IMPORTING_TO, LOCK
from glint.services.imports.task_rows import holds
from glint.stores.base import WritableStore


async def remove_written(deps: ImportDeps, task: Task,
                         written: list[tuple[WritableStore, Location]]) -> None:
    """Delete the copies a failed task wrote, unless another worker took the task
    over meanwhile (it may have written the same names again: they are its own)."""
    if not written or not await run_in_threadpool(holds, deps.db, deps.owner, task.id):
        return
    for store, location in written:
        await store.delete(location)


def show_progress(deps: ImportDeps, image_id: str, targets: list[str],
                  written: list[tuple[WritableStore, Location]], failed: list[str]) -> None:
    """Show on the image which stores are still to do and which failed."""
    done = {location.store for _, location in written} | set(failed)
    with deps.db.writing() as session:
        tasks_repo.set_image_property(session, image_id, IMPORTING_TO,
                                      ",".join(t for t in targets if t not in done))
        if failed:
            tasks_repo.set_image_property(session, image_id, FAILED, ",".join(failed))


def unlock_done(session: Session, image_id: str, failed: list[str],
                earlier: list[str] | None = None) -> None:
    """Release the image's import lock; `os_glance_failed_import` names the stores that
    `failed` (after the `earlier` failures still listed), or is left as it is."""
    tasks_repo.drop_image_properties(session, image_id, (LOCK, IMPORTING_TO))
    if failed:
        tasks_repo.set_image_property(session, image_id, FAILED,
                                      ",".join(dict.fromkeys([*(earlier or []), *failed])))
