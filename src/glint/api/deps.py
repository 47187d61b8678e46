"""Small helpers handlers share: the caller's context, services, JSON bodies."""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from glint.domain.context import RequestContext
from glint.domain.errors import InvalidInput
from glint.services.container import Services

__all__ = ["context_of", "services_of", "json_body", "run_in_threadpool", "reject_body"]


def context_of(request: Request) -> RequestContext:
    context: RequestContext = request.state.context
    return context


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def json_body(request: Request) -> Any:
    """The request body parsed as JSON; InvalidInput when it is missing or malformed."""
    raw = await request.body()
    if not raw.strip():
        raise InvalidInput("The request body is empty; a JSON document is required.")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("Malformed JSON in request body.") from None


async def json_object(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidInput("The request body must be a JSON object.")
    return body


async def reject_body(request: Request) -> None:
    """Actions take no body (Glance answers 400 when one is sent)."""
    if await request.body():
        raise InvalidInput("This operation does not allow a request body.")
