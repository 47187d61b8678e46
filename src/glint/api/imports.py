"""Routes for interoperable import: GET /v2/info/import, PUT /v2/images/{id}/stage,
POST /v2/images/{id}/import."""

from __future__ import annotations

from functools import partial

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from glint.api.deps import context_of, json_body, run_in_threadpool, services_of
from glint.api.image_data import OCTET_STREAM, _content_length, _declared_size
from glint.api.routing import resource
from glint.domain.errors import InvalidInput, UnsupportedMediaType
from glint.services.glance_download import RemoteAuth


async def import_info(request: Request) -> Response:
    methods = services_of(request).imports.methods()
    return JSONResponse({"import-methods": {
        "description": "Import methods available.", "type": "array", "value": methods,
    }})


async def stage(request: Request) -> Response:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != OCTET_STREAM:
        raise UnsupportedMediaType(
            f"Image data must be sent as {OCTET_STREAM}, not {content_type or '(none)'}"
        )
    declared = _declared_size(request)
    length = _content_length(request)
    if declared is not None and length is not None and declared != length:
        raise InvalidInput(
            f"x-openstack-image-size ({declared}) does not match Content-Length ({length})"
        )
    await services_of(request).imports.stage(
        context_of(request), request.path_params["image_id"], request.stream(),
        expected_size=declared if declared is not None else length,
    )
    return Response(status_code=204)


async def start_import(request: Request) -> Response:
    services = services_of(request)
    body = await json_body(request)
    token, keystone = request.headers.get("x-auth-token"), \
        services.settings.auth.www_authenticate_uri
    # Only with Keystone: the token was validated before the request got here.
    remote_auth = RemoteAuth(token, keystone) \
        if token and keystone and services.settings.auth.uses_keystone else None
    task = await run_in_threadpool(partial(
        services.imports.start_import, context_of(request), request.path_params["image_id"],
        body, request.headers.get("x-image-meta-store"), remote_auth=remote_auth))
    if task is not None:
        services.imports.launch(task.id)
    return Response(status_code=202)


routes = [
    resource("/v2/info/import", GET=import_info),
    resource("/v2/images/{image_id}/stage", PUT=stage),
    resource("/v2/images/{image_id}/import", POST=start_import),
]
