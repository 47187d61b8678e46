"""Routes for /v2/metadefs/namespaces, resource types and the metadef schema documents."""

from __future__ import annotations

from functools import cache
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from glint.api import metadef_contents
from glint.api.deps import context_of, json_object, run_in_threadpool, services_of
from glint.api.metadef_bodies import (
    NAMESPACES,
    association_body,
    check_body,
    namespace_body,
    resource_type_body,
)
from glint.api.metadef_schemas import metadef_schema_documents
from glint.api.routing import resource
from glint.domain.errors import NotFound
from glint.domain.metadefs import (
    NAMESPACE_SORT_KEYS,
    NamespaceContents,
    NamespaceQuery,
    parse_limit,
    parse_sort,
    parse_visibility,
)

# What a path segment may hold as it is, besides letters, digits and "_.-~" (RFC 3986 pchar).
PATH_SEGMENT_SAFE = "!$&'()*+,;=:@"


def _name(request: Request) -> str:
    name: str = request.path_params["namespace"]
    return name


def _query(request: Request) -> NamespaceQuery:
    params = request.query_params
    listing = services_of(request).settings.listing
    sort_key, sort_dir = parse_sort(params.get("sort_key"), params.get("sort_dir"),
                                    NAMESPACE_SORT_KEYS)
    resource_types = tuple(t.strip() for t in params.get("resource_types", "").split(",") if t.strip())
    return NamespaceQuery(
        limit=parse_limit(params.get("limit"), default=listing.limit_param_default,
                          maximum=listing.api_limit_max),
        marker=params.get("marker") or None, sort_key=sort_key, sort_dir=sort_dir,
        visibility=parse_visibility(params.get("visibility")), resource_types=resource_types,
    )


async def list_namespaces(request: Request) -> Response:
    query = _query(request)
    found = await run_in_threadpool(
        services_of(request).metadefs.list_namespaces, context_of(request), query)
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
    body: dict[str, object] = {
        "namespaces": [namespace_body(NamespaceContents(item.namespace, item.associations))
                       for item in found],
        "first": NAMESPACES + (f"?{urlencode(params)}" if params else ""),
        "schema": "/v2/schemas/metadefs/namespaces",
    }
    if found and len(found) == query.limit:
        body["next"] = f"{NAMESPACES}?" + urlencode(
            params + [("marker", found[-1].namespace.namespace)])
    return JSONResponse(body)


async def create_namespace(request: Request) -> Response:
    body = check_body("namespace", await json_object(request))
    created = await run_in_threadpool(
        services_of(request).metadefs.create_namespace, context_of(request), body)
    # Percent-encoded ("OS::Glance::Image" stays as it is): a name may hold CR, LF or
    # non-Latin-1 text, which a header cannot.
    location = f"{NAMESPACES}/{quote(created.namespace.namespace, safe=PATH_SEGMENT_SAFE)}"
    return JSONResponse(namespace_body(created), status_code=201, headers={"Location": location})


async def show_namespace(request: Request) -> Response:
    found = await run_in_threadpool(
        services_of(request).metadefs.show_namespace, context_of(request), _name(request),
        request.query_params.get("resource_type") or None)
    return JSONResponse(namespace_body(found))


async def update_namespace(request: Request) -> Response:
    body = check_body("namespace", await json_object(request))
    updated = await run_in_threadpool(
        services_of(request).metadefs.update_namespace, context_of(request), _name(request), body)
    return JSONResponse(namespace_body(NamespaceContents(updated)))


async def delete_namespace(request: Request) -> Response:
    await run_in_threadpool(
        services_of(request).metadefs.delete_namespace, context_of(request), _name(request))
    return Response(status_code=204)


async def list_resource_types(request: Request) -> Response:
    found = await run_in_threadpool(
        services_of(request).metadefs.list_resource_types, context_of(request))
    return JSONResponse({"resource_types": [resource_type_body(t) for t in found]})


async def list_associations(request: Request) -> Response:
    found = await run_in_threadpool(
        services_of(request).metadefs.list_associations, context_of(request), _name(request))
    return JSONResponse({"resource_type_associations": [association_body(a) for a in found]})


async def associate(request: Request) -> Response:
    body = check_body("resource_type", await json_object(request))
    created = await run_in_threadpool(
        services_of(request).metadefs.associate, context_of(request), _name(request), body)
    return JSONResponse(association_body(created), status_code=201)


async def deassociate(request: Request) -> Response:
    await run_in_threadpool(
        services_of(request).metadefs.deassociate, context_of(request), _name(request),
        request.path_params["resource_type"])
    return Response(status_code=204)


@cache
def _schema_documents() -> dict[str, dict[str, object]]:
    return metadef_schema_documents()


async def schema(request: Request) -> Response:
    documents = _schema_documents()
    name = request.path_params["name"]
    if name not in documents:
        raise NotFound(f"No metadef schema named {name}")
    return JSONResponse(documents[name])


NS = NAMESPACES + "/{namespace}"

routes = [
    resource("/v2/schemas/metadefs/{name}", GET=schema),
    resource("/v2/metadefs/resource_types", GET=list_resource_types),
    resource(NAMESPACES, GET=list_namespaces, POST=create_namespace),
    resource(NS, GET=show_namespace, PUT=update_namespace, DELETE=delete_namespace),
    resource(NS + "/resource_types", GET=list_associations, POST=associate),
    resource(NS + "/resource_types/{resource_type}", DELETE=deassociate),
    *metadef_contents.routes,
]
