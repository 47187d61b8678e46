"""Versions document and schema documents."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from glint.api import schema_documents as docs
from glint.api.deps import services_of
from glint.api.routing import resource


def _base_url(request: Request) -> str:
    endpoint = services_of(request).settings.server.public_endpoint
    if endpoint:
        return endpoint.rstrip("/")
    return str(request.base_url).rstrip("/")


def _versions(request: Request) -> dict[str, Any]:
    services = services_of(request)
    return docs.versions_document(_base_url(request), multistore=services.stores.multistore,
                                  cache=services.settings.cache.enabled)


async def multiple_choices(request: Request) -> Response:
    return JSONResponse(_versions(request), status_code=300)


async def versions(request: Request) -> Response:
    return JSONResponse(_versions(request))


async def schema(request: Request) -> Response:
    documents: dict[str, object] = request.app.state.schema_documents
    name = request.path_params["name"]
    if name not in documents:
        return Response(status_code=404)
    return JSONResponse(documents[name])


routes = [
    resource("/", GET=multiple_choices),
    resource("/versions", GET=versions),
    resource("/v2/schemas/{name}", GET=schema),
]
