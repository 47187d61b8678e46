"""An import task's row and its image's import lock, as the worker running the
task changes them. Every change is guarded by the worker's owner id, so a
worker that lost its task (another took it over) changes nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy.orm import Session

from glint.db import repositories as repo
from glint.db import task_repositories as tasks_repo
from glint.db.session import Database
from glint.domain.image import Image, ImageStatus
from glint.domain.task import Task, TaskStatus
from glint.services.clock import now
from glint.services.imports.request import FAILED, IMPORTING_TO, LOCK
from glint.services.staging import Staging

# Long ago: a task marked with it counts as stalled at once.
EPOCH = datetime(2000, 1, 1)


class ImportFailed(Exception):
    """An import step failed; the message is recorded on the task."""


def locked_image(db: Database, task: Task, status: ImageStatus) -> Image:
    """The task's image, `status` and locked by the task; ImportFailed otherwise."""
    with db.reading() as session:
        image = repo.get_image(session, task.image_id or "")
    if image is None:
        raise ImportFailed("The image was deleted")
    if image.status != status or image.properties.get(LOCK) != task.id:
        raise ImportFailed(f"Image {image.id} is {image.status} and no longer held by "
                           "this task")
    return image


def claim(db: Database, owner: str, task_id: str, previous: Task | None) -> Task | None:
    """Make `owner` the task's runner: a new task (pending, recorded by this
    worker), or one taken over, still as `previous` was read. None: not ours to run."""
    with db.writing() as session:
        task = tasks_repo.get_task(session, task_id)
        if task is None or task.status not in (TaskStatus.PENDING, TaskStatus.PROCESSING):
            return None
        if previous is None and task.worker not in (None, owner):
            return None
        if previous is not None and (task.worker, task.updated_at) != \
                (previous.worker, previous.updated_at):
            return None
        if not tasks_repo.change_task(session, task.id, task.status, TaskStatus.PROCESSING,
                                      now(), unchanged_since=task.updated_at, worker=owner):
            return None
        task.status, task.worker = TaskStatus.PROCESSING, owner
        return task


def holds(db: Database, owner: str, task_id: str) -> bool:
    """Whether `owner` still runs the task (and mark it alive)."""
    with db.writing() as session:
        return tasks_repo.change_task(session, task_id, TaskStatus.PROCESSING,
                                      TaskStatus.PROCESSING, now(), held_by=owner)


def release(db: Database, owner: str, task_id: str) -> None:
    """Let another worker take the task over at once (this one is stopping)."""
    with db.writing() as session:
        tasks_repo.change_task(session, task_id, TaskStatus.PROCESSING, TaskStatus.PROCESSING,
                               EPOCH, held_by=owner)


def succeed(session: Session, owner: str, task: Task) -> bool:
    """End the task as a success, in the caller's transaction; False if not ours."""
    return tasks_repo.change_task(session, task.id, TaskStatus.PROCESSING, TaskStatus.SUCCESS,
                                  now(), held_by=owner, result={"image_id": task.image_id},
                                  message="")


def fail(db: Database, staging: Staging, owner: str, task: Task, message: str,
         default_store: str) -> Task | None:
    """End the task as failed and the image queued again, unless another worker
    took the task over (then nothing here is this worker's to change); returns
    the failed task, None when it was not this worker's."""
    image_id = task.image_id or ""
    if not holds(db, owner, task.id):
        return None
    staging.remove(image_id)
    ended = replace(task, status=TaskStatus.FAILURE, updated_at=now(), message=message[:2000])
    with db.writing() as session:
        if not tasks_repo.change_task(session, task.id, TaskStatus.PROCESSING,
                                      TaskStatus.FAILURE, ended.updated_at, held_by=owner,
                                      message=ended.message):
            return None
        image = repo.get_image(session, image_id)
        if image is not None and image.properties.get(LOCK) == task.id:
            unlock_failed(session, image_id, default_store)
    return ended


def unlock_failed(session: Session, image_id: str, default_store: str,
                  stores: list[str] | None = None) -> None:
    """An importing image queued again with its lock released, `os_glance_failed_import`
    naming `stores` (else the stores it was still importing to, else the default)."""
    repo.reset_to_queued(session, image_id, ImageStatus.IMPORTING, now())
    image = repo.get_image(session, image_id)
    pending = (image.properties.get(IMPORTING_TO) if image else None) or ""
    tasks_repo.drop_image_properties(session, image_id, (LOCK, IMPORTING_TO))
    failed = stores or [s for s in pending.split(",") if s] or [default_store]
    tasks_repo.set_image_property(session, image_id, FAILED, ",".join(failed))
