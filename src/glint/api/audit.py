"""Route for the integrity auditor's findings: GET /v2/info/audit (Glint's own;
policy rule `audit_report`, admin by default). `?image_id=` narrows it to one image."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from glint.api.deps import context_of, run_in_threadpool, services_of
from glint.api.routing import resource


async def audit_findings(request: Request) -> Response:
    body = await run_in_threadpool(services_of(request).audit.findings, context_of(request),
                                   request.query_params.get("image_id") or None)
    return JSONResponse(body)


routes = [resource("/v2/info/audit", GET=audit_findings)]
