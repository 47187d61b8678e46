"""Tasks: asynchronous work such as an image import, as plain data.

States move pending -> processing -> success | failure and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from glint.domain.errors import InvalidTransition

TASK_TIME_TO_LIVE = timedelta(hours=48)


class TaskStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    SUCCESS = "success"
    FAILURE = "failure"


class TaskType(StrEnum):
    IMPORT = "import"
    API_IMAGE_IMPORT = "api_image_import"
    LOCATION_IMPORT = "location_import"


_ALLOWED = {
    TaskStatus.PENDING: frozenset({TaskStatus.PROCESSING, TaskStatus.FAILURE}),
    # processing -> processing: another worker takes over a stalled task.
    TaskStatus.PROCESSING: frozenset({TaskStatus.PROCESSING, TaskStatus.SUCCESS,
                                      TaskStatus.FAILURE}),
    TaskStatus.SUCCESS: frozenset(),
    TaskStatus.FAILURE: frozenset(),
}


def task_transition(current: TaskStatus, target: TaskStatus) -> TaskStatus:
    """Return `target` if a task may move there from `current`; InvalidTransition otherwise."""
    if target not in _ALLOWED[current]:
        raise InvalidTransition(current, target)
    return target


@dataclass
class Task:
    id: str
    type: TaskType
    status: TaskStatus
    owner: str | None
    created_at: datetime
    updated_at: datetime
    image_id: str | None = None
    input: dict[str, object] = field(default_factory=dict)
    result: dict[str, object] | None = None
    message: str = ""
    request_id: str | None = None
    user_id: str | None = None
    # The owner id of the worker process running the task (glint.db.ownership).
    worker: str | None = None
    expires_at: datetime | None = None
