"""Routes for tasks: GET/POST /v2/tasks, GET/DELETE /v2/tasks/{id} (DELETE is always
405, after the access check, as in Glance), GET /v2/images/{id}/tasks."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from glint.api.deps import context_of, json_body, run_in_threadpool, services_of
from glint.api.errors import error_response
from glint.api.routing import resource
from glint.api.serialization import timestamp
from glint.api.validation import ImageValidator
from glint.domain.errors import InvalidInput
from glint.domain.image_rules import check_settable
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
    listing = services_of(request).settings.listing
    limit_text = params.get("limit", str(listing.limit_param_default))
    try:
        limit = int(limit_text)
    except ValueError:
        raise InvalidInput("limit param must be an integer") from None
    if limit < 0:
        raise InvalidInput("limit param must be positive")
    sort_dir = params.get("sort_dir", "desc")
    if sort_dir not in ("asc", "desc"):
        raise InvalidInput(f"Invalid sort direction: {sort_dir}")
    return TaskQuery(status=params.get("status"), type=params.get("type"),
                     sort_key=params.get("sort_key", "created_at"),
                     descending=sort_dir == "desc", limit=min(limit, listing.api_limit_max),
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


async def create_task(request: Request) -> Response:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidInput("Body expected in request.")
    validator: ImageValidator = request.app.state.image_validator

    def check_image(image_body: dict[str, Any]) -> None:
        # As POST /v2/images: read-only and reserved names first, then the schema.
        for name in image_body:
            check_settable(name, creating=True)
        validator.check_document(image_body)

    task = await services_of(request).tasks.create_task(context_of(request), body, check_image)
    return JSONResponse(task_body(task), status_code=201,
                        headers={"Location": f"/v2/tasks/{task.id}"})


async def delete_task(request: Request) -> Response:
    await run_in_threadpool(services_of(request).tasks.refuse_delete, context_of(request))
    return error_response(405, "This operation is currently not permitted on Glance Tasks. "
                               "They are auto deleted after reaching the time based on their "
                               "expires_at property.", request.headers.get("accept"),
                          {"Allow": "GET"})


async def image_tasks(request: Request) -> Response:
    tasks = await run_in_threadpool(services_of(request).tasks.tasks_of_image,
                                    context_of(request), request.path_params["image_id"])
    return JSONResponse({"tasks": [task_body(task) for task in tasks]})


routes = [
    resource("/v2/tasks", GET=list_tasks, POST=create_task),
    resource("/v2/tasks/{task_id}", GET=show_task, DELETE=delete_task),
    resource("/v2/images/{image_id}/tasks", GET=image_tasks),
]
