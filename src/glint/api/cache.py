"""Routes for the image cache API (2.14-2.18): /v2/cache and friends.
Without `image_cache_dir` every one answers 404, as Glance's do."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from glint.api.deps import context_of, run_in_threadpool, services_of
from glint.api.routing import resource
from glint.domain.errors import NotFound
from glint.services.cache_admin import CacheAdmin


def _admin(request: Request) -> CacheAdmin:
    admin = services_of(request).cache_admin
    if admin is None:
        raise NotFound("The image cache is not enabled on this node.")
    return admin


async def list_cache(request: Request) -> Response:
    body = await run_in_threadpool(_admin(request).listing, context_of(request))
    return JSONResponse(body)


async def clear_cache(request: Request) -> Response:
    await run_in_threadpool(_admin(request).clear, context_of(request),
                            request.headers.get("x-image-cache-clear-target"))
    return Response(status_code=204)


async def queue_image(request: Request) -> Response:
    await run_in_threadpool(_admin(request).queue, context_of(request),
                            request.path_params["image_id"])
    return Response(status_code=202)


async def delete_cached(request: Request) -> Response:
    await run_in_threadpool(_admin(request).delete, context_of(request),
                            request.path_params["image_id"])
    return Response(status_code=204)


async def clean(request: Request) -> Response:
    # Glance answers 200 with an empty body (its clients read nothing back);
    # like prune, it reads no request body (the api-ref shows `{}`).
    await run_in_threadpool(_admin(request).clean, context_of(request))
    return Response(status_code=200)


async def prune(request: Request) -> Response:
    report = await run_in_threadpool(_admin(request).prune, context_of(request))
    return JSONResponse({"total_files_pruned": report.files, "total_bytes_pruned": report.bytes})


async def cached_nodes(request: Request) -> Response:
    nodes = await run_in_threadpool(_admin(request).nodes, context_of(request),
                                    request.path_params["image_id"])
    return JSONResponse(nodes)


routes = [
    resource("/v2/cache", GET=list_cache, DELETE=clear_cache),
    resource("/v2/cache/clean", POST=clean),
    resource("/v2/cache/prune", POST=prune),
    resource("/v2/cache/nodes/{image_id}", GET=cached_nodes),
    resource("/v2/cache/{image_id}", PUT=queue_image, DELETE=delete_cached),
]
