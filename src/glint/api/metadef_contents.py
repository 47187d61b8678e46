"""Routes for the objects, properties and tags of a metadef namespace."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from glint.api.deps import context_of, json_object, reject_body, run_in_threadpool, services_of
from glint.api.metadef_bodies import (
    NAMESPACES,
    check_body,
    object_body,
    properties_body,
    property_body,
    tag_body,
    truthy_header,
)
from glint.api.routing import Handler, resource
from glint.domain.context import RequestContext
from glint.domain.metadefs import TAG_SORT_KEYS, TagQuery, parse_limit, parse_sort


def _namespace(request: Request) -> str:
    name: str = request.path_params["namespace"]
    return name


def _item(request: Request) -> str:
    name: str = request.path_params["name"]
    return name


def _deleting_all(kind: str) -> Handler:
    async def delete_all(request: Request) -> Response:
        await run_in_threadpool(services_of(request).metadef_contents.delete_all,
                                context_of(request), _namespace(request), kind)
        return Response(status_code=204)
    return delete_all


async def _no_content(call: Callable[[RequestContext, str, str], None], request: Request,
                      name: str) -> Response:
    await run_in_threadpool(call, context_of(request), _namespace(request), name)
    return Response(status_code=204)


# Objects -------------------------------------------------------------------

async def list_objects(request: Request) -> Response:
    found = await run_in_threadpool(services_of(request).metadef_contents.list_objects,
                                    context_of(request), _namespace(request))
    return JSONResponse({"objects": [object_body(_namespace(request), o) for o in found],
                         "schema": "v2/schemas/metadefs/objects"})


async def create_object(request: Request) -> Response:
    body = check_body("object", await json_object(request))
    created = await run_in_threadpool(services_of(request).metadef_contents.create_object,
                                      context_of(request), _namespace(request), body)
    return JSONResponse(object_body(_namespace(request), created), status_code=201)


async def show_object(request: Request) -> Response:
    found = await run_in_threadpool(services_of(request).metadef_contents.show_object,
                                    context_of(request), _namespace(request), _item(request))
    return JSONResponse(object_body(_namespace(request), found))


async def update_object(request: Request) -> Response:
    body = check_body("object", await json_object(request))
    updated = await run_in_threadpool(services_of(request).metadef_contents.update_object,
                                      context_of(request), _namespace(request), _item(request), body)
    return JSONResponse(object_body(_namespace(request), updated))


async def delete_object(request: Request) -> Response:
    return await _no_content(services_of(request).metadef_contents.delete_object, request,
                             _item(request))


# Properties ----------------------------------------------------------------

async def list_properties(request: Request) -> Response:
    found = await run_in_threadpool(services_of(request).metadef_contents.list_properties,
                                    context_of(request), _namespace(request))
    return JSONResponse({"properties": properties_body(found)})


async def create_property(request: Request) -> Response:
    body = check_body("property", await json_object(request))
    created = await run_in_threadpool(services_of(request).metadef_contents.create_property,
                                      context_of(request), _namespace(request), body)
    return JSONResponse(property_body(created), status_code=201)


async def show_property(request: Request) -> Response:
    found = await run_in_threadpool(
        services_of(request).metadef_contents.show_property, context_of(request),
        _namespace(request), _item(request), request.query_params.get("resource_type") or None)
    return JSONResponse(property_body(found))


async def update_property(request: Request) -> Response:
    body = check_body("property", await json_object(request))
    updated = await run_in_threadpool(services_of(request).metadef_contents.update_property,
                                      context_of(request), _namespace(request), _item(request), body)
    return JSONResponse(property_body(updated))


async def delete_property(request: Request) -> Response:
    return await _no_content(services_of(request).metadef_contents.delete_property, request,
                             _item(request))


# Tags ----------------------------------------------------------------------

def _tag_query(request: Request) -> TagQuery:
    params = request.query_params
    sort_key, sort_dir = parse_sort(params.get("sort_key"), params.get("sort_dir"), TAG_SORT_KEYS)
    limit = params.get("limit")
    return TagQuery(
        limit=parse_limit(limit, default=0, maximum=services_of(request).settings.listing.api_limit_max)
        if limit else None,
        marker=params.get("marker") or None, sort_key=sort_key, sort_dir=sort_dir,
    )


async def list_tags(request: Request) -> Response:
    query = _tag_query(request)
    found = await run_in_threadpool(services_of(request).metadef_contents.list_tags,
                                    context_of(request), _namespace(request), query)
    return JSONResponse({"tags": [{"name": tag.name} for tag in found]})


async def create_tags(request: Request) -> Response:
    body = check_body("tags_request", await json_object(request))
    append = truthy_header(request.headers.get("x-openstack-append"))
    created = await run_in_threadpool(
        lambda: services_of(request).metadef_contents.create_tags(
            context_of(request), _namespace(request), [t["name"] for t in body.get("tags", [])],
            append=append))
    return JSONResponse({"tags": [{"name": tag.name} for tag in created]}, status_code=201)


async def create_tag(request: Request) -> Response:
    await reject_body(request)
    created = await run_in_threadpool(services_of(request).metadef_contents.create_tag,
                                      context_of(request), _namespace(request), _item(request))
    return JSONResponse(tag_body(created), status_code=201)


async def show_tag(request: Request) -> Response:
    found = await run_in_threadpool(services_of(request).metadef_contents.show_tag,
                                    context_of(request), _namespace(request), _item(request))
    return JSONResponse(tag_body(found))


async def update_tag(request: Request) -> Response:
    body = check_body("tag", await json_object(request))
    updated = await run_in_threadpool(services_of(request).metadef_contents.update_tag,
                                      context_of(request), _namespace(request), _item(request), body)
    return JSONResponse(tag_body(updated))


async def delete_tag(request: Request) -> Response:
    return await _no_content(services_of(request).metadef_contents.delete_tag, request,
                             _item(request))


NS = NAMESPACES + "/{namespace}"

routes = [
    resource(NS + "/objects", GET=list_objects, POST=create_object,
             DELETE=_deleting_all("objects")),
    resource(NS + "/objects/{name}", GET=show_object, PUT=update_object, DELETE=delete_object),
    resource(NS + "/properties", GET=list_properties, POST=create_property,
             DELETE=_deleting_all("properties")),
    resource(NS + "/properties/{name}", GET=show_property, PUT=update_property,
             DELETE=delete_property),
    resource(NS + "/tags", GET=list_tags, POST=create_tags, DELETE=_deleting_all("tags")),
    resource(NS + "/tags/{name}", GET=show_tag, POST=create_tag, PUT=update_tag,
             DELETE=delete_tag),
]
