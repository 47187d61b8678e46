"""Versions document, schema documents and the health check."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from glint.api import schema_documents as docs
from glint.api.deps import services_of
from glint.api.routing import resource


def _base_url(request: Request) -> str:
    endpoint = services_of(request).settings.server.public_endpoint
    if endpoint:
        return endpoint.rstrip("/")
    return str(request.base_url).rstrip("/")


def _versions(request: Request) -> dict[str, Any]:
    multistore = services_of(request).stores.multistore
    return docs.versions_document(_base_url(request), multistore=multistore, cache=False)


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


async def healthcheck(request: Request) -> Response:
    disable_file = services_of(request).settings.healthcheck.disable_by_file_path
    if disable_file is not None and disable_file.exists():
        return PlainTextResponse("DISABLED BY FILE", status_code=503)
    return PlainTextResponse("OK")


routes = [
    resource("/", GET=multiple_choices),
    resource("/versions", GET=versions),
    resource("/healthcheck", GET=healthcheck),
    resource("/v2/schemas/{name}", GET=schema),
]
