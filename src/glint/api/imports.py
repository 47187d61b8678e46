"""Routes for interoperable import: GET /v2/info/import, PUT /v2/images/{id}/stage,
POST /v2/images/{id}/import; and the relay of an import or a delete to the node
holding an image's staged data (`relayed_to_stage_host`)."""

from __future__ import annotations

import json
from functools import partial

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from glint.api.deps import context_of, json_body, run_in_threadpool, services_of
from glint.api.errors import error_response
from glint.api.image_data import checked_data_size
from glint.api.routing import resource
from glint.api.slow_bodies import limits_of, paced
from glint.domain.image import ImageStatus
from glint.services.imports.glance_download import RemoteAuth
from glint.services.imports.request import ImportMethod
from glint.services.stage_host import RELAY_MARK, is_elsewhere, relay, self_url


async def import_info(request: Request) -> Response:
    methods = services_of(request).imports.methods()
    return JSONResponse({"import-methods": {
        "description": "Import methods available.", "type": "array", "value": methods,
    }})


async def stage(request: Request) -> Response:
    expected_size = checked_data_size(request)
    services = services_of(request)
    server = services.settings.server
    await services.imports.stage(
        context_of(request), request.path_params["image_id"],
        paced(request.stream(), limits_of(server)),
        expected_size=expected_size,
        stage_host=self_url(server.worker_self_reference_url, server.public_endpoint),
    )
    return Response(status_code=204)


async def start_import(request: Request) -> Response:
    services = services_of(request)
    body = await json_body(request)
    import_request = services.imports.parse(body)
    if import_request.method == ImportMethod.GLANCE_DIRECT:
        # The body was read once, with its size cap: relay the same document.
        relayed = await relayed_to_stage_host(request, body=json.dumps(body).encode())
        if relayed is not None:
            return relayed
    token, keystone = request.headers.get("x-auth-token"), \
        services.settings.auth.www_authenticate_uri
    # Only with Keystone: the token was validated before the request got here.
    remote_auth = RemoteAuth(token, keystone) \
        if token and keystone and services.settings.auth.uses_keystone else None
    task = await run_in_threadpool(partial(
        services.imports.start_import, context_of(request), request.path_params["image_id"],
        import_request, request.headers.get("x-image-meta-store"), remote_auth=remote_auth))
    if task is not None:
        services.imports.launch(task.id)
    return Response(status_code=202)


async def relayed_to_stage_host(request: Request, *, body: bytes | None = None,
                                for_delete: bool = False) -> Response | None:
    """The answer of the node holding the image's staged data, if that is another
    node; None when the caller should go on locally.

    For a delete (`for_delete`) only an uploading image is relayed, and an
    unreachable stage host gives None too (Glance then deletes locally);
    otherwise an unreachable stage host is a 504.
    """
    if RELAY_MARK in request.headers:
        return None  # Relayed once already: never bounce between nodes.
    services = services_of(request)
    server = services.settings.server
    status, stage_host = await run_in_threadpool(
        services.imports.stage_host, context_of(request), request.path_params["image_id"])
    if for_delete and status != ImageStatus.UPLOADING:
        return None
    if stage_host is None or \
            not is_elsewhere(stage_host, self_url(server.worker_self_reference_url,
                                                  server.public_endpoint)):
        return None
    relayed = await relay(request.method, stage_host, request.url.path, request.headers, body)
    if relayed is None:
        if for_delete:
            return None
        return error_response(504, "Stage host is unavailable", request.headers.get("accept"))
    headers = {"x-openstack-request-id": relayed.request_id} if relayed.request_id else {}
    return Response(relayed.body, status_code=relayed.status, headers=headers,
                    media_type=relayed.content_type)


routes = [
    resource("/v2/info/import", GET=import_info),
    resource("/v2/images/{image_id}/stage", PUT=stage),
    resource("/v2/images/{image_id}/import", POST=start_import),
]
