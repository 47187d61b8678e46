"""Reading tasks: the (deprecated, admin-only) Tasks API and an image's tasks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from glint.db import task_repositories as tasks_repo
from glint.domain.context import RequestContext
from glint.domain.errors import Forbidden, InvalidInput, NotFound
from glint.domain.task import Task, TaskStatus, TaskType
from glint.services.images import ImageServices

SORT_KEYS = ("created_at", "updated_at", "id", "status", "type", "expires_at")


@dataclass(frozen=True)
class TaskQuery:
    status: str | None = None
    type: str | None = None
    sort_key: str = "created_at"
    descending: bool = True
    limit: int = 25
    marker: str | None = None


@dataclass
class TaskServices:
    images: ImageServices

    def _require_admin(self, ctx: RequestContext) -> None:
        # Glance's tasks_api_access default: admin only.
        if not ctx.is_admin:
            raise Forbidden("You are not authorized to complete tasks_api_access action.")

    def list_tasks(self, ctx: RequestContext, query: TaskQuery) -> list[Task]:
        self._require_admin(ctx)
        if query.status is not None and query.status not in set(TaskStatus):
            raise InvalidInput(f"Invalid status value: {query.status}")
        if query.type is not None and query.type not in set(TaskType):
            raise InvalidInput(f"Invalid type value: {query.type}")
        if query.sort_key not in SORT_KEYS:
            raise InvalidInput(f"Invalid sort key: {query.sort_key}")
        with self.images.db.reading() as session:
            marker = None
            if query.marker is not None:
                try:
                    uuid.UUID(query.marker)
                except ValueError:
                    raise InvalidInput("Invalid marker format") from None
                marker = tasks_repo.get_task(session, query.marker)
                if marker is None:
                    raise InvalidInput(f"Invalid marker {query.marker}: task not found")
            return tasks_repo.list_tasks(
                session, status=query.status, task_type=query.type, sort_key=query.sort_key,
                descending=query.descending, limit=query.limit, marker=marker,
            )

    def show_task(self, ctx: RequestContext, task_id: str) -> Task:
        self._require_admin(ctx)
        with self.images.db.reading() as session:
            task = tasks_repo.get_task(session, task_id)
        if task is None:
            raise NotFound(f"Task with the given ID {task_id} could not be found")
        return task

    def tasks_of_image(self, ctx: RequestContext, image_id: str) -> list[Task]:
        """GET /v2/images/{id}/tasks: anyone who may see the image."""
        with self.images.db.reading() as session:
            image, _ = self.images.load_visible(session, ctx, image_id, details=False)
            return tasks_repo.list_tasks(session, image_id=image.id)
