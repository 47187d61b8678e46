"""Routes for /v2/images: create, list, show, update, delete, actions, tags."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from glint.api.deps import (
    context_of,
    json_body,
    json_object,
    reject_body,
    run_in_threadpool,
    services_of,
)
from glint.api.imports import relayed_to_stage_host
from glint.api.patch import media_type, parse_patch
from glint.api.routing import resource
from glint.api.serialization import image_body
from glint.api.validation import ImageValidator
from glint.domain.image import Image
from glint.domain.image_rules import check_settable
from glint.domain.listing import parse_list_query
from glint.domain.new_image import NewImage
from glint.services.container import Services


def _validator(request: Request) -> ImageValidator:
    validator: ImageValidator = request.app.state.image_validator
    return validator


def _body(services: Services, image: Image) -> dict[str, object]:
    return image_body(image, services.settings.display, multistore=services.stores.multistore)


async def create_image(request: Request) -> Response:
    services = services_of(request)
    body = await json_object(request)
    # Read-only and reserved names are refused (403) before the schema check (400).
    for name in body:
        check_settable(name, creating=True)
    _validator(request).check_document(body)
    ctx = context_of(request)
    new = NewImage.from_body(body, ctx.project_id)
    image = await run_in_threadpool(services.images.create, ctx, new)
    location = str(request.url_for("image", image_id=image.id))
    headers = {"Location": location}
    if services.imports.methods():
        headers["OpenStack-image-import-methods"] = ",".join(services.imports.methods())
    if services.stores.multistore:
        headers["OpenStack-image-store-ids"] = ",".join(
            info.id for info in services.stores.infos() if not info.read_only)
    return JSONResponse(_body(services, image), status_code=201, headers=headers)


async def list_images(request: Request) -> Response:
    services = services_of(request)
    listing = services.settings.listing
    params = list(request.query_params.multi_items())
    query = parse_list_query(params, default_limit=listing.limit_param_default,
                             max_limit=listing.api_limit_max)
    images = await run_in_threadpool(services.images.list_images, context_of(request), query)
    without_marker = [(k, v) for k, v in params if k != "marker"]
    body: dict[str, object] = {
        "images": [_body(services, image) for image in images],
        "first": "/v2/images" + (f"?{urlencode(without_marker)}" if without_marker else ""),
        "schema": "/v2/schemas/images",
    }
    if images and len(images) == query.limit:
        body["next"] = "/v2/images?" + urlencode(without_marker + [("marker", images[-1].id)])
    return JSONResponse(body)


async def show_image(request: Request) -> Response:
    services = services_of(request)
    image = await run_in_threadpool(
        services.images.show, context_of(request), request.path_params["image_id"]
    )
    return JSONResponse(_body(services, image))


async def update_image(request: Request) -> Response:
    services = services_of(request)
    kind = media_type(request.headers.get("content-type"))
    patch = parse_patch(kind, await json_body(request), _validator(request))
    image_id = request.path_params["image_id"]
    if patch.locations:
        image = await services.locations.patch(context_of(request), image_id, patch.changes,
                                               patch.locations)
    else:
        image = await run_in_threadpool(
            services.images.update, context_of(request), image_id, patch.changes)
    return JSONResponse(_body(services, image))


async def delete_image(request: Request) -> Response:
    relayed = await relayed_to_stage_host(request, for_delete=True)
    if relayed is not None:
        return relayed
    services = services_of(request)
    locations = await run_in_threadpool(
        services.images.delete, context_of(request), request.path_params["image_id"]
    )
    # Data another image also names (a location added by a service) stays.
    await services.locations.delete_unused_data(request.path_params["image_id"], locations)
    services.imports.discard_staged(request.path_params["image_id"])
    return Response(status_code=204)


async def deactivate(request: Request) -> Response:
    await reject_body(request)
    services = services_of(request)
    await run_in_threadpool(
        services.images.deactivate, context_of(request), request.path_params["image_id"]
    )
    return Response(status_code=204)


async def reactivate(request: Request) -> Response:
    await reject_body(request)
    services = services_of(request)
    await run_in_threadpool(
        services.images.reactivate, context_of(request), request.path_params["image_id"]
    )
    return Response(status_code=204)


async def add_tag(request: Request) -> Response:
    services = services_of(request)
    await reject_body(request)
    await run_in_threadpool(
        services.images.add_tag, context_of(request), request.path_params["image_id"],
        request.path_params["tag"],
    )
    return Response(status_code=204)


async def delete_tag(request: Request) -> Response:
    services = services_of(request)
    await run_in_threadpool(
        services.images.remove_tag, context_of(request), request.path_params["image_id"],
        request.path_params["tag"],
    )
    return Response(status_code=204)


routes = [
    resource("/v2/images", GET=list_images, POST=create_image),
    resource("/v2/images/{image_id}", name="image",
             GET=show_image, PATCH=update_image, DELETE=delete_image),
    resource("/v2/images/{image_id}/actions/deactivate", POST=deactivate),
    resource("/v2/images/{image_id}/actions/reactivate", POST=reactivate),
    resource("/v2/images/{image_id}/tags/{tag}", PUT=add_tag, DELETE=delete_tag),
]
