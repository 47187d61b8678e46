"""Import tasks whose worker died, and what they leave: when a task is taken
over (`abandoned_task`), what its dead runner wrote is removed first
(`remove_leftovers`); images importing with no task are released and staged
data nothing will import is removed (`release_orphans`, `clean_staging`)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import datetime, timedelta

from starlette.concurrency import run_in_threadpool

from glint.db import repositories as repo
from glint.db import task_repositories as tasks_repo
from glint.domain.image import ImageStatus
from glint.domain.task import Task, TaskStatus
from glint.domain.writes import OWNER_DEAD_FOR
from glint.services.clock import now
from glint.services.imports.deps import ImportDeps
from glint.services.imports.task_rows import unlock_failed
from glint.services.leftovers import remove_unfinished
from glint.stores.base import DataBusy

log = logging.getLogger(__name__)

# A running task touches its row every service.HEARTBEAT; silent this long, its
# worker hangs (or is an older Glint that records no owner id).
STALLED_AFTER = timedelta(minutes=2)
# A pending task its worker never started.
UNCLAIMED_AFTER = timedelta(seconds=30)
# How long a store may still see the dead runner's session on its data (RBD: Ceph's
# osd_client_watch_timeout, 30 s), and how often removal is tried meanwhile.
BUSY_FOR = timedelta(minutes=2)
BUSY_RETRY = timedelta(seconds=5)


def abandoned_task(task: Task, *, worker_dead_since: datetime | None, when: datetime) -> bool:
    """Whether another worker should take `task` (pending or processing) over: its
    worker has been dead for OWNER_DEAD_FOR (`worker_dead_since`: first seen
    without its lock, None if alive), or it is silent past the limits above."""
    if task.worker is not None and worker_dead_since is not None \
            and worker_dead_since <= when - OWNER_DEAD_FOR:
        return True
    limit = STALLED_AFTER if task.status == TaskStatus.PROCESSING else UNCLAIMED_AFTER
    return task.updated_at < when - limit


async def remove_leftovers(deps: ImportDeps, task: Task, targets: list[str]) -> None:
    """Before a taken-over task runs again: remove what its earlier runner wrote
    to the target stores and the staging area's temporary files (the staged
    data itself is the import's source and stays)."""
    image_id = task.image_id or ""
    await run_in_threadpool(deps.staging.remove_partials, image_id)
    for name in targets:
        store = deps.stores.stores.get(name)
        deadline = time.monotonic() + BUSY_FOR.total_seconds()
        while store is not None:
            try:
                await remove_unfinished(deps.db, store, image_id)
                break
            except DataBusy as exc:
                if time.monotonic() > deadline:
                    log.warning("leaving unfinished data of image %s in store %s: %s",
                                image_id, name, exc.message)
                    break
                await asyncio.sleep(BUSY_RETRY.total_seconds())


def tidy(deps: ImportDeps) -> None:
    """Release images importing with no task; remove staged data nothing will import."""
    release_orphans(deps)
    clean_staging(deps)


def release_orphans(deps: ImportDeps) -> None:
    """Images importing with no live task (e.g. created by a crashed older
    version, or whose task row was lost) go back to queued."""
    with deps.db.writing() as session:
        for image_id in repo.stalled_images(session, ImageStatus.IMPORTING,
                                            now() - STALLED_AFTER):
            live = tasks_repo.list_tasks(session, image_id=image_id, status="processing") \
                + tasks_repo.list_tasks(session, image_id=image_id, status="pending")
            if not live:
                log.warning("image %s was importing with no task; it is queued again",
                            image_id)
                unlock_failed(session, image_id, deps.stores.default)


def clean_staging(deps: ImportDeps) -> None:
    """Remove staged data (and leftovers of plugins or writes) of images that are
    neither uploading nor importing: deleted, reverted, or unknown."""
    folder = deps.staging.folder
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        try:
            image_id = str(uuid.UUID(path.name.lstrip(".").split(".", 1)[0]))
        except ValueError:
            continue
        with deps.db.reading() as session:
            image = repo.get_image(session, image_id, details=False)
        if image is None or image.status not in (ImageStatus.UPLOADING, ImageStatus.IMPORTING):
            log.info("removing staged data %s of image %s, which is %s", path.name,
                     image_id, image.status if image else "gone")
            path.unlink(missing_ok=True)
