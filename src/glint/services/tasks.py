"""The (deprecated) Tasks API and an image's tasks.

Access goes through Glance's policy rules: `tasks_api_access` (admin by
default) for every call of the Tasks API, then `get_tasks`, `get_task` or
`add_task`. A caller that is not an admin (a policy.yaml may let one in)
only sees the tasks of its own project, as in Glance.

A task that has ended expires `[task] task_time_to_live` hours after it
ended: it is given its `expires_at` and, once that has passed, soft-deleted.
Both happen at the start of every read (`_expire`), so an expired task is
never listed or shown.

`POST /v2/tasks` with type `import` (Glance's legacy import) creates the image
from `image_properties` and starts a web-download import of `import_from`
through ImportServices, so the URI passes exactly the checks of web-download
(`[import_filtering_opts]`, redirects, resolved addresses; Glance bug
2152110). The legacy task follows its image's `api_image_import` task: reads
settle it (`_settle_legacy`) to success, with `{"image_id": …}` as its
result, or to failure with that task's message, deleting the image the
failed import left queued (as Glance's legacy flow does).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from glint.db import repositories as repo
from glint.db import task_repositories as tasks_repo
from glint.db.session import Database
from glint.domain.context import RequestContext
from glint.domain.errors import GlintError, InvalidInput, NotFound
from glint.domain.image import ImageStatus
from glint.domain.import_filter import ImportFilter, Resolver, check_uri
from glint.domain.new_image import NewImage
from glint.domain.policy import Policy, Target
from glint.domain.task import Task, TaskStatus, TaskType
from glint.events import payloads
from glint.services.clock import now
from glint.services.image_access import ImageAccess
from glint.services.images import ImageServices
from glint.services.imports import ImportServices

SORT_KEYS = ("created_at", "updated_at", "id", "status", "type", "expires_at")
TASK_TYPES = ("import", "api_image_import")
LEGACY_INPUT_KEYS = ("import_from", "import_from_format", "image_properties")


@dataclass(frozen=True)
class LegacyImport:
    """A checked legacy import task: where the data is and the image to create."""

    uri: str
    image_body: dict[str, Any]


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
    db: Database
    access: ImageAccess
    policy: Policy
    # A legacy import task creates its image and starts its import through these.
    images: ImageServices
    imports: ImportServices
    # `[import_filtering_opts]` and the host resolver a legacy task's URI is checked with.
    uri_filter: ImportFilter
    resolve: Resolver
    # `[task] task_time_to_live`: how long an ended task is kept.
    time_to_live: timedelta

    def _authorize(self, ctx: RequestContext, action: str) -> None:
        """Forbidden unless the policy grants tasks_api_access and then `action`."""
        self.policy.enforce("tasks_api_access", ctx, Target())
        self.policy.enforce(action, ctx, Target())

    def _owner_filter(self, ctx: RequestContext) -> str | None:
        return None if ctx.is_admin else ctx.project_id

    def _expire(self) -> None:
        """Settle legacy import tasks, stamp ended tasks' expiry, drop expired ones
        (a quick read first, so reads take the write lock only when there is work)."""
        with self.db.reading() as session:
            if not tasks_repo.expiry_due(session, now()):
                return
        with self.db.writing() as session:
            settled = _settle_legacy(session)
            tasks_repo.expire_tasks(session, now(), self.time_to_live)
        for event_type, task in settled:
            self.images.events.emit(event_type, partial(payloads.task, task))

    # Reading -----------------------------------------------------------------

    def list_tasks(self, ctx: RequestContext, query: TaskQuery) -> list[Task]:
        """GET /v2/tasks. InvalidInput for a bad filter, sort key or marker."""
        self._authorize(ctx, "get_tasks")
        if query.status is not None and query.status not in set(TaskStatus):
            raise InvalidInput(f"Invalid status value: {query.status}")
        if query.type is not None and query.type not in set(TaskType):
            raise InvalidInput(f"Invalid type value: {query.type}")
        if query.sort_key not in SORT_KEYS:
            raise InvalidInput(f"Invalid sort key: {query.sort_key}")
        if query.marker is not None:
            try:
                uuid.UUID(query.marker)
            except ValueError:
                raise InvalidInput("Invalid marker format") from None
        self._expire()
        owner = self._owner_filter(ctx)
        with self.db.reading() as session:
            marker = None
            if query.marker is not None:
                marker = tasks_repo.get_task(session, query.marker)
                if marker is None or (owner is not None and marker.owner != owner):
                    raise InvalidInput(f"Invalid marker {query.marker}: task not found")
            return tasks_repo.list_tasks(
                session, owner=owner, status=query.status, task_type=query.type,
                sort_key=query.sort_key, descending=query.descending, limit=query.limit,
                marker=marker,
            )

    def show_task(self, ctx: RequestContext, task_id: str) -> Task:
        """GET /v2/tasks/{id}. NotFound for an unknown, expired or other project's task."""
        self._authorize(ctx, "get_task")
        self._expire()
        with self.db.reading() as session:
            task = tasks_repo.get_task(session, task_id)
        owner = self._owner_filter(ctx)
        if task is None or (owner is not None and task.owner != owner):
            raise NotFound(f"Task with the given ID {task_id} could not be found")
        return task

    def refuse_delete(self, ctx: RequestContext) -> None:
        """DELETE /v2/tasks/{id}: checked like any Tasks API call, then never allowed."""
        self.policy.enforce("tasks_api_access", ctx, Target())

    def tasks_of_image(self, ctx: RequestContext, image_id: str) -> list[Task]:
        """GET /v2/images/{id}/tasks: anyone who may see the image."""
        self._expire()
        with self.db.reading() as session:
            image, _ = self.access.load_visible(session, ctx, image_id, details=False)
            return tasks_repo.list_tasks(session, image_id=image.id)

    # Legacy import -------------------------------------------------------------

    async def create_task(self, ctx: RequestContext, body: dict[str, Any],
                          check_image: Callable[[dict[str, Any]], None]) -> Task:
        """POST /v2/tasks: create the image, start its web-download import, record
        the `import` task (pending; it follows the import).

        `check_image` checks the image body as POST /v2/images would (InvalidInput,
        Forbidden). Raises Forbidden without tasks_api_access or add_task,
        InvalidInput for a malformed task or a refused URI.
        """
        self._authorize(ctx, "add_task")
        legacy = self._legacy_input(body)
        check_image(legacy.image_body)
        new = NewImage.from_body(legacy.image_body, ctx.project_id)
        image = await run_in_threadpool(self.images.create, ctx, new)
        try:
            request = self.imports.parse({"method": {"name": "web-download", "uri": legacy.uri}})
            started = await run_in_threadpool(self.imports.start_import, ctx, image.id, request)
        except BaseException:
            with suppress(GlintError):
                await run_in_threadpool(self.images.delete, ctx, image.id)
            raise
        task = Task(
            id=str(uuid.uuid4()), type=TaskType.IMPORT, status=TaskStatus.PENDING,
            owner=ctx.project_id, created_at=now(), updated_at=now(), image_id=image.id,
            input=dict(body["input"]), request_id=ctx.request_id, user_id=ctx.user_id,
        )
        await run_in_threadpool(self._insert, task)
        if started is not None:
            self.imports.launch(started.id)
        return task

    def _insert(self, task: Task) -> None:
        with self.db.writing() as session:
            tasks_repo.insert_task(session, task)
        self.images.events.emit("task.create", lambda: payloads.task(task))

    def _legacy_input(self, body: dict[str, Any]) -> LegacyImport:
        """The URI and image body of a legacy import task; InvalidInput with Glance's
        messages when the task is malformed or the URI breaks the import rules."""
        for key in ("type", "input"):
            if key not in body:
                raise InvalidInput(f"Task '{key}' is required")
        if body["type"] not in TASK_TYPES:
            raise InvalidInput(f"Provided object does not match schema 'task': "
                               f"{body['type']!r} is not one of {list(TASK_TYPES)}")
        if body["type"] != "import":
            raise InvalidInput("Tasks of type api_image_import are created by "
                               "POST /v2/images/{image_id}/import, not the Tasks API")
        task_input = body["input"]
        if not isinstance(task_input, dict):
            raise InvalidInput("Provided object does not match schema 'task': "
                               f"{task_input!r} is not of type 'object'")
        for key in LEGACY_INPUT_KEYS:
            if key not in task_input:
                raise InvalidInput(f"Input does not contain '{key}' field")
        uri, source_format = task_input["import_from"], task_input["import_from_format"]
        properties = task_input["image_properties"]
        if not isinstance(uri, str) or not uri:
            raise InvalidInput(f"Invalid location: {uri}")
        if uri.lower().startswith("file:"):
            raise InvalidInput("File based imports are not allowed. Please use a non-local "
                               "source of image data.")
        if not isinstance(source_format, str) or not source_format:
            raise InvalidInput("Input 'import_from_format' must be a disk format name")
        if not isinstance(properties, dict):
            raise InvalidInput("Input 'image_properties' must be an object")
        if "web-download" not in self.imports.methods():
            raise InvalidInput("Import method 'web-download' is not enabled at this site, "
                               "and the legacy import task needs it.")
        check_uri(uri, self.uri_filter, self.resolve)
        image_body = {"disk_format": source_format, "container_format": "bare", **properties}
        return LegacyImport(uri, image_body)


def _drop_failed_image(session: Session, image_id: str) -> None:
    """Delete the image of a failed legacy import, as Glance's flow does on revert,
    unless it is no longer the queued image the import left (someone used it since)."""
    image = repo.get_image(session, image_id)
    if image is not None and image.status == ImageStatus.QUEUED:
        repo.mark_deleted(session, image.id, now(), unchanged_since=image.updated_at)


def _settle_legacy(session: Session) -> list[tuple[str, Task]]:
    """Move each unfinished `import` task along with its image's import: processing
    once the import runs (its progress as the result), then success or failure.
    Returns the notifications of the moves (event type and task as moved)."""
    unfinished = [task for status in (TaskStatus.PENDING, TaskStatus.PROCESSING)
                  for task in tasks_repo.list_tasks(session, status=status,
                                                    task_type=TaskType.IMPORT)]
    moves: list[tuple[str, Task]] = []
    for task in unfinished:
        found = tasks_repo.list_tasks(session, image_id=task.image_id,
                                      task_type=TaskType.API_IMAGE_IMPORT, limit=1)
        if not found:
            if tasks_repo.change_task(session, task.id, (TaskStatus.PENDING,
                                                         TaskStatus.PROCESSING),
                                      TaskStatus.FAILURE, now(),
                                      message=f"The import of image {task.image_id} is gone"):
                moves.append(("task.failure", replace(task, status=TaskStatus.FAILURE)))
            continue
        inner = found[0]
        if task.status == TaskStatus.PENDING and inner.status != TaskStatus.PENDING:
            moved = now()
            if tasks_repo.change_task(session, task.id, TaskStatus.PENDING,
                                      TaskStatus.PROCESSING, moved):
                task = replace(task, status=TaskStatus.PROCESSING, updated_at=moved)
                moves.append(("task.processing", task))
        if inner.status == TaskStatus.SUCCESS:
            if tasks_repo.change_task(session, task.id, TaskStatus.PROCESSING, TaskStatus.SUCCESS,
                                      inner.updated_at, result={"image_id": task.image_id}):
                moves.append(("task.success", replace(task, status=TaskStatus.SUCCESS,
                                                      updated_at=inner.updated_at)))
        elif inner.status == TaskStatus.FAILURE:
            if tasks_repo.change_task(session, task.id, TaskStatus.PROCESSING, TaskStatus.FAILURE,
                                      inner.updated_at, message=inner.message):
                moves.append(("task.failure", replace(task, status=TaskStatus.FAILURE,
                                                      updated_at=inner.updated_at)))
            _drop_failed_image(session, task.image_id or "")
        elif inner.result is not None and inner.result != task.result:
            tasks_repo.set_task_result(session, task.id, inner.result)
    return moves
