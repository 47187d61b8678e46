"""GET /v2/info/usage: the caller's project's usage of each unified limit."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from glint.api.deps import context_of, services_of
from glint.api.routing import resource


async def show_usage(request: Request) -> Response:
    """`{"usage": {name: {"limit", "usage"}}}` with unified limits, else
    `{"usage": {}}`, as Glance answers."""
    quotas = services_of(request).quotas
    usage = await run_in_threadpool(quotas.usage_document, context_of(request).project_id)
    return JSONResponse({"usage": usage})


routes = [resource("/v2/info/usage", GET=show_usage)]
