"""Reading and writing tasks. Status changes are guarded updates."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from glint.db.models import ImagePropertyRow, TaskRow
from glint.domain.input_rules import json_text
from glint.domain.task import Task, TaskStatus, TaskType


def _to_task(row: TaskRow) -> Task:
    return Task(
        id=row.id, type=TaskType(row.type), status=TaskStatus(row.status), owner=row.owner,
        created_at=row.created_at, updated_at=row.updated_at, image_id=row.image_id,
        input=json.loads(row.input or "{}"),
        result=json.loads(row.result) if row.result else None,
        message=row.message or "", request_id=row.request_id, user_id=row.user_id,
        worker=row.worker, expires_at=row.expires_at,
    )


def insert_task(session: Session, task: Task) -> None:
    session.add(TaskRow(
        id=task.id, type=task.type, status=task.status, owner=task.owner,
        image_id=task.image_id, input=json_text("The task's input", task.input),
        result=json.dumps(task.result) if task.result is not None else None,
        message=task.message, request_id=task.request_id, user_id=task.user_id,
        worker=task.worker, expires_at=task.expires_at, created_at=task.created_at,
        updated_at=task.updated_at, deleted=False,
    ))
    session.flush()


def get_task(session: Session, task_id: str) -> Task | None:
    row = session.scalars(
        select(TaskRow).where(TaskRow.id == task_id, TaskRow.deleted.is_(False))
    ).one_or_none()
    return _to_task(row) if row else None


def change_task(
    session: Session, task_id: str, current: TaskStatus | Iterable[TaskStatus],
    target: TaskStatus, when: datetime, *, unchanged_since: datetime | None = None,
    held_by: str | None = None, **values: Any,
) -> bool:
    """Guarded status change (optionally also on updated_at, and on the worker
    running it being `held_by`); False if it lost the race."""
    currents = [current] if isinstance(current, TaskStatus) else list(current)
    statement = update(TaskRow).where(
        TaskRow.id == task_id, TaskRow.deleted.is_(False),
        TaskRow.status.in_([str(c) for c in currents]),
    )
    if unchanged_since is not None:
        statement = statement.where(TaskRow.updated_at == unchanged_since)
    if held_by is not None:
        statement = statement.where(TaskRow.worker == held_by)
    if "result" in values and values["result"] is not None:
        values["result"] = json.dumps(values["result"])
    result = session.execute(statement.values(status=target, updated_at=when, **values))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def list_tasks(
    session: Session, *, owner: str | None = None, image_id: str | None = None,
    status: str | None = None, task_type: str | None = None, sort_key: str = "created_at",
    descending: bool = True, limit: int | None = None, marker: Task | None = None,
) -> list[Task]:
    statement = select(TaskRow).where(TaskRow.deleted.is_(False))
    if owner is not None:
        statement = statement.where(TaskRow.owner == owner)
    if image_id is not None:
        statement = statement.where(TaskRow.image_id == image_id)
    if status is not None:
        statement = statement.where(TaskRow.status == status)
    if task_type is not None:
        statement = statement.where(TaskRow.type == task_type)
    column = getattr(TaskRow, sort_key)
    if marker is not None:
        value = getattr(marker, sort_key)
        if descending:
            statement = statement.where(
                (column < value) | ((column == value) & (TaskRow.id < marker.id)))
        else:
            statement = statement.where(
                (column > value) | ((column == value) & (TaskRow.id > marker.id)))
    order = (column.desc(), TaskRow.id.desc()) if descending else (column.asc(), TaskRow.id.asc())
    statement = statement.order_by(*order)
    if limit is not None:
        statement = statement.limit(limit)
    return [_to_task(row) for row in session.scalars(statement)]


def expiry_due(session: Session, when: datetime) -> bool:
    """Whether `expire_tasks` or the settling of legacy import tasks has work: an ended
    task without `expires_at`, an expired one, or an unfinished `import` task."""
    ended = [str(TaskStatus.SUCCESS), str(TaskStatus.FAILURE)]
    found = session.scalars(select(TaskRow.id).where(
        TaskRow.deleted.is_(False),
        (TaskRow.status.in_(ended) & TaskRow.expires_at.is_(None))
        | (TaskRow.expires_at <= when)
        | ((TaskRow.type == str(TaskType.IMPORT)) & TaskRow.status.not_in(ended)),
    ).limit(1)).first()
    return found is not None


def expire_tasks(session: Session, when: datetime, time_to_live: timedelta) -> int:
    """Give every ended task without one an `expires_at` (the time it ended, its
    last update, plus `time_to_live`), then soft-delete the tasks expired by
    `when`. Returns how many were deleted."""
    ended = session.scalars(select(TaskRow).where(
        TaskRow.deleted.is_(False), TaskRow.expires_at.is_(None),
        TaskRow.status.in_([str(TaskStatus.SUCCESS), str(TaskStatus.FAILURE)]),
    )).all()
    for row in ended:
        row.expires_at = row.updated_at + time_to_live
    session.flush()
    result = session.execute(
        update(TaskRow)
        .where(TaskRow.deleted.is_(False), TaskRow.expires_at <= when)
        .values(deleted=True, deleted_at=when)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def set_task_result(session: Session, task_id: str, result: dict[str, object]) -> bool:
    """Replace the result of a processing task (its progress), leaving updated_at alone
    so progress reports never hide a stalled worker. False if the task is not processing."""
    changed = session.execute(
        update(TaskRow)
        .where(TaskRow.id == task_id, TaskRow.deleted.is_(False),
               TaskRow.status == str(TaskStatus.PROCESSING))
        .values(result=json.dumps(result))
    )
    return bool(changed.rowcount == 1)  # type: ignore[attr-defined]


def unfinished_tasks(session: Session, task_type: TaskType) -> list[Task]:
    """Tasks of `task_type` waiting to run or running."""
    statement = select(TaskRow).where(
        TaskRow.deleted.is_(False), TaskRow.type == task_type,
        TaskRow.status.in_([str(TaskStatus.PENDING), str(TaskStatus.PROCESSING)]),
    ).order_by(TaskRow.created_at)
    return [_to_task(row) for row in session.scalars(statement)]


def set_image_property(session: Session, image_id: str, name: str, value: str) -> None:
    """Set one custom property of an image (internal os_glance_* ones included)."""
    changed = session.execute(
        update(ImagePropertyRow)
        .where(ImagePropertyRow.image_id == image_id, ImagePropertyRow.name == name)
        .values(value=value)
    )
    if not changed.rowcount:  # type: ignore[attr-defined]
        session.add(ImagePropertyRow(image_id=image_id, name=name, value=value))
    session.flush()


def drop_image_properties(session: Session, image_id: str, names: Iterable[str]) -> None:
    session.execute(
        delete(ImagePropertyRow)
        .where(ImagePropertyRow.image_id == image_id, ImagePropertyRow.name.in_(list(names)))
    )
