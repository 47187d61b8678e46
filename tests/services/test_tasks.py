"""TaskServices on a real database: who may use the Tasks API, expiry, and a
legacy import task following its image's import (the tasks are written
directly: no import runs here)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest

from glint.db import task_repositories as tasks_repo
from glint.domain.context import RequestContext
from glint.domain.errors import Forbidden, InvalidInput, NotFound
from glint.domain.task import Task, TaskStatus, TaskType
from glint.services.clock import now
from glint.services.container import Services
from glint.services.tasks import TaskQuery
from tests.services.conftest import caller, new_image


def _task(services: Services, owner: RequestContext, task_type: TaskType, status: TaskStatus,
          *, image_id: str | None = None, age: timedelta = timedelta()) -> Task:
    when = now() - age
    task = Task(id=str(uuid.uuid4()), type=task_type, status=status, owner=owner.project_id,
                created_at=when, updated_at=when, image_id=image_id)
    with services.db.writing() as session:
        tasks_repo.insert_task(session, task)
    return task


def test_the_tasks_api_is_for_admins_by_default(services: Services) -> None:
    with pytest.raises(Forbidden):
        services.tasks.list_tasks(caller(), TaskQuery())
    with pytest.raises(Forbidden):
        services.tasks.refuse_delete(caller())


def test_listing_checks_its_filters(services: Services) -> None:
    admin = caller(None, "admin")
    for query, message in [(TaskQuery(status="done"), "Invalid status value"),
                           (TaskQuery(type="backup"), "Invalid type value"),
                           (TaskQuery(sort_key="owner"), "Invalid sort key"),
                           (TaskQuery(marker="nope"), "Invalid marker format"),
                           (TaskQuery(marker=str(uuid.uuid4())), "task not found")]:
        with pytest.raises(InvalidInput, match=message):
            services.tasks.list_tasks(admin, query)


def test_an_ended_task_expires_after_its_time_to_live(services: Services) -> None:
    admin = caller(None, "admin")
    ttl = services.tasks.time_to_live
    old = _task(services, admin, TaskType.API_IMAGE_IMPORT, TaskStatus.SUCCESS,
                age=ttl + timedelta(minutes=1))
    recent = _task(services, admin, TaskType.API_IMAGE_IMPORT, TaskStatus.FAILURE)
    running = _task(services, admin, TaskType.API_IMAGE_IMPORT, TaskStatus.PROCESSING,
                    age=ttl * 2)
    listed = {task.id for task in services.tasks.list_tasks(admin, TaskQuery(limit=100))}
    assert old.id not in listed and {recent.id, running.id} <= listed
    with pytest.raises(NotFound):
        services.tasks.show_task(admin, old.id)
    assert services.tasks.show_task(admin, recent.id).expires_at == (
        services.tasks.show_task(admin, recent.id).updated_at + ttl)


@pytest.mark.parametrize("inner,outcome", [(TaskStatus.SUCCESS, TaskStatus.SUCCESS),
                                           (TaskStatus.FAILURE, TaskStatus.FAILURE),
                                           (None, TaskStatus.FAILURE)])
def test_a_legacy_import_task_follows_its_image_import(
        services: Services, inner: TaskStatus | None, outcome: TaskStatus) -> None:
    admin = caller(None, "admin")
    image = new_image(services, admin)
    legacy = _task(services, admin, TaskType.IMPORT, TaskStatus.PENDING, image_id=image.id)
    if inner is not None:
        _task(services, admin, TaskType.API_IMAGE_IMPORT, inner, image_id=image.id)
    settled = services.tasks.show_task(admin, legacy.id)
    assert settled.status == outcome
    if outcome == TaskStatus.SUCCESS:
        assert settled.result == {"image_id": image.id}
        assert services.images.show(admin, image.id).id == image.id
    elif inner == TaskStatus.FAILURE:
        # The queued image the failed import left is deleted, as Glance's flow does.
        with pytest.raises(NotFound):
            services.images.show(admin, image.id)


def test_an_image_tasks_are_for_who_sees_the_image(services: Services) -> None:
    owner = caller()
    image = new_image(services, owner, visibility="private")
    task = _task(services, owner, TaskType.API_IMAGE_IMPORT, TaskStatus.PROCESSING,
                 image_id=image.id)
    assert [t.id for t in services.tasks.tasks_of_image(owner, image.id)] == [task.id]
    with pytest.raises(NotFound):
        services.tasks.tasks_of_image(caller(), image.id)


@pytest.mark.parametrize("body,message", [
    ({"input": {}}, "Task 'type' is required"),
    ({"type": "api_image_import", "input": {}}, "POST /v2/images/{image_id}/import"),
    ({"type": "import", "input": []}, "is not of type 'object'"),
    ({"type": "import", "input": {"import_from": "http://x/y"}}, "'import_from_format'"),
    ({"type": "import", "input": {"import_from": "file:///etc/passwd",
                                  "import_from_format": "raw", "image_properties": {}}},
     "File based imports are not allowed"),
])
def test_a_malformed_legacy_task_creates_no_image(services: Services, body: dict[str, Any],
                                                  message: str) -> None:
    admin = caller(None, "admin")
    checked: list[dict[str, Any]] = []
    with pytest.raises(InvalidInput, match=message):
        asyncio.run(services.tasks.create_task(admin, body, checked.append))
    assert checked == []
