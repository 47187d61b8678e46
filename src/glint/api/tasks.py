"""Routes for tasks: GET /v2/tasks, GET /v2/tasks/{id}, GET /v2/images/{id}/tasks."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from glint.api.deps import context_of, run_in_threadpool, services_of
from glint.api.routing import resource
from glint.api.serialization import timestamp
from glint.domain.errors import InvalidInput
from glint.domain.task import Task
from glint.services.tasks import TaskQuery


def task_body(task: Task, *, details: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": task.id, "type": str(task.type), "status": str(task.status), "owner": task.owner,
        "expires_at": timestamp(task.expires_at) if task.expires_at else None,
        "created_at": timestamp(task.created_at), "updated_at": timestamp(task.updated_at),
        "self": f"/v2/tasks/{task.id}", "schema": "/v2/schemas/task",
    }
    if details:
        body.update({"input": task.input, "result": task.result, "message": task.message,
                     "image_id": task.image_id, "request_id": task.request_id,
                     "user_id": task.user_id})
    return body


def _query(request: Request) -> TaskQuery:
    params = request.query_params
    limit_text = params.get("limit", "25")
    try:
        limit = int(limit_text)
    except ValueError:
        raise InvalidInput(f"limit param must be an integer, got {limit_text!r}") from None
    if limit < 0:
        raise InvalidInput("limit param must be positive")
    api = services_of(request).settings.api
    sort_dir = params.get("sort_dir", "desc")
    if sort_dir not in ("asc", "desc"):
        raise InvalidInput(f"Invalid sort direction: {sort_dir}")
    return TaskQuery(status=params.get("status"), type=params.get("type"),
                     sort_key=params.get("sort_key", "created_at"),
                     descending=sort_dir == "desc", limit=min(limit, api.api_limit_max),
                     marker=params.get("marker"))


async def list_tasks(request: Request) -> Response:
    query = _query(request)
    tasks = await run_in_threadpool(services_of(request).tasks.list_tasks, context_of(request),
                                    query)
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
    body: dict[str, Any] = {
        "tasks": [task_body(task, details=False) for task in tasks],
        "first": "/v2/tasks" + (f"?{urlencode(params)}" if params else ""),
        "schema": "/v2/schemas/tasks",
    }
    if tasks and len(tasks) == query.limit:
        body["next"] = "/v2/tasks?" + urlencode([*params, ("marker", tasks[-1].id)])
    return JSONResponse(body)


async def show_task(request: Request) -> Response:
    task = await run_in_threadpool(services_of(request).tasks.show_task, context_of(request),
                                   request.path_params["task_id"])
    return JSONResponse(task_body(task))


async def image_tasks(request: Request) -> Response:
    tasks = await run_in_threadpool(services_of(request).tasks.tasks_of_image,
                                    context_of(request), request.path_params["image_id"])
    return JSONResponse({"tasks": [task_body(task) for task in tasks]})


routes = [
    resource("/v2/tasks", GET=list_tasks),
    resource("/v2/tasks/{task_id}", GET=show_task),
    resource("/v2/images/{image_id}/tasks", GET=image_tasks),
]
