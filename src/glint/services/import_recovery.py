"""What `ImportServices.resume_stalled` looks for: tasks whose worker died,
images importing with no task, and staged data nothing will import."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from glint.db import repositories as repo
from glint.db import task_repositories as tasks_repo
from glint.domain.image import ImageStatus
from glint.domain.task import Task, TaskStatus, TaskType
from glint.services.images import now

if TYPE_CHECKING:
    from glint.services.imports import ImportServices

log = logging.getLogger(__name__)

STALLED_AFTER = timedelta(minutes=2)
# A pending task its worker never started (it died first).
UNCLAIMED_AFTER = timedelta(seconds=30)


def stalled_tasks(imports: ImportServices) -> list[Task]:
    """Import tasks silent for STALLED_AFTER, or pending and never claimed."""
    with imports.images.db.reading() as session:
        candidates = tasks_repo.runnable_tasks(session, TaskType.API_IMAGE_IMPORT,
                                               now() - STALLED_AFTER)
    unclaimed = now() - UNCLAIMED_AFTER
    return [t for t in candidates
            if t.status == TaskStatus.PROCESSING or t.updated_at < unclaimed]


def release_orphans(imports: ImportServices) -> None:
    """Images importing with no live task (e.g. created by a crashed older
    version, or whose task row was lost) go back to queued."""
    with imports.images.db.writing() as session:
        for image_id in repo.stalled_images(session, ImageStatus.IMPORTING,
                                            now() - STALLED_AFTER):
            live = tasks_repo.list_tasks(session, image_id=image_id, status="processing") \
                + tasks_repo.list_tasks(session, image_id=image_id, status="pending")
            if not live:
                log.warning("image %s was importing with no task; it is queued again",
                            image_id)
                imports._unlock_failed(session, image_id)


def clean_staging(imports: ImportServices) -> None:
    """Remove staged data (and leftovers of plugins or writes) of images that are
    neither uploading nor importing: deleted, reverted, or unknown."""
    folder = imports.staging.folder
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        try:
            image_id = str(uuid.UUID(path.name.lstrip(".").split(".", 1)[0]))
        except ValueError:
            continue
        with imports.images.db.reading() as session:
            image = repo.get_image(session, image_id, details=False)
        if image is None or image.status not in (ImageStatus.UPLOADING, ImageStatus.IMPORTING):
            log.info("removing staged data %s of image %s, which is %s", path.name,
                     image_id, image.status if image else "gone")
            path.unlink(missing_ok=True)
