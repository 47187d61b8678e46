"""Routes for /v2/images/{id}/members."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from glint.api.deps import context_of, json_object, run_in_threadpool, services_of
from glint.api.routing import resource
from glint.api.serialization import member_body
from glint.domain.errors import InvalidInput


async def list_members(request: Request) -> Response:
    members = await run_in_threadpool(
        services_of(request).members.list_members, context_of(request), request.path_params["image_id"]
    )
    return JSONResponse({"members": [member_body(m) for m in members],
                         "schema": "/v2/schemas/members"})


async def add_member(request: Request) -> Response:
    body = await json_object(request)
    member_id = body.get("member")
    if not isinstance(member_id, str) or not member_id or len(member_id) > 255 or set(body) - {"member"}:
        raise InvalidInput('The request body must be {"member": "<project id>"}.')
    member = await run_in_threadpool(
        services_of(request).members.add, context_of(request),
        request.path_params["image_id"], member_id,
    )
    return JSONResponse(member_body(member))


async def show_member(request: Request) -> Response:
    member = await run_in_threadpool(
        services_of(request).members.show, context_of(request),
        request.path_params["image_id"], request.path_params["member_id"],
    )
    return JSONResponse(member_body(member))


async def update_member(request: Request) -> Response:
    body = await json_object(request)
    if "status" not in body:
        raise InvalidInput('The request body must be {"status": "accepted|rejected|pending"}.')
    member = await run_in_threadpool(
        services_of(request).members.update, context_of(request),
        request.path_params["image_id"], request.path_params["member_id"], body["status"],
    )
    return JSONResponse(member_body(member))


async def delete_member(request: Request) -> Response:
    await run_in_threadpool(
        services_of(request).members.remove, context_of(request),
        request.path_params["image_id"], request.path_params["member_id"],
    )
    return Response(status_code=204)


routes = [
    resource("/v2/images/{image_id}/members", GET=list_members, POST=add_member),
    resource("/v2/images/{image_id}/members/{member_id}",
             GET=show_member, PUT=update_member, DELETE=delete_member),
]
