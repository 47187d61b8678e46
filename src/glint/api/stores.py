"""Routes for stores: GET /v2/info/stores[/detail], DELETE /v2/stores/{store}/{image},
GET /v2/images/{id}/locations."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from glint.api.deps import context_of, json_object, run_in_threadpool, services_of
from glint.api.routing import resource
from glint.services.locations import parse_new_location


async def list_stores(request: Request) -> Response:
    stores = services_of(request).placement.infos(context_of(request), detail=False)
    return JSONResponse({"stores": stores})


async def list_stores_detail(request: Request) -> Response:
    stores = services_of(request).placement.infos(context_of(request), detail=True)
    return JSONResponse({"stores": stores})


async def image_locations(request: Request) -> Response:
    services = services_of(request)
    found = await run_in_threadpool(services.placement.locations, context_of(request),
                                    request.path_params["image_id"])
    multistore = services.stores.multistore
    return JSONResponse([
        {"url": location.url,
         "metadata": {**location.metadata, **({"store": location.store} if multistore else {})}}
        for location in found
    ])


async def add_image_location(request: Request) -> Response:
    services = services_of(request)
    new = parse_new_location(await json_object(request))
    await services.locations.add(context_of(request), request.path_params["image_id"], new)
    return Response(status_code=202)


async def delete_from_store(request: Request) -> Response:
    services = services_of(request)
    image_id = request.path_params["image_id"]
    location = await services.placement.delete_from_store(
        context_of(request), request.path_params["store_id"], image_id)
    await services.locations.delete_unused_data(image_id, [location])
    return Response(status_code=204)


routes = [
    resource("/v2/info/stores", GET=list_stores),
    resource("/v2/info/stores/detail", GET=list_stores_detail),
    resource("/v2/stores/{store_id}/{image_id}", DELETE=delete_from_store),
    resource("/v2/images/{image_id}/locations", GET=image_locations, POST=add_image_location),
]
