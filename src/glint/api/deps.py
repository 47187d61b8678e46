"""Small helpers handlers share: the caller's context, services, JSON bodies."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from glint.domain.context import RequestContext
from glint.domain.errors import BodyTooLarge, InvalidInput
from glint.domain.input_rules import parse_json_document
from glint.services.container import Services

__all__ = ["context_of", "services_of", "json_body", "run_in_threadpool", "reject_body"]


def context_of(request: Request) -> RequestContext:
    context: RequestContext = request.state.context
    return context


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def json_body(request: Request) -> Any:
    """The request body parsed as JSON, the one way every JSON body is read.

    Raises BodyTooLarge past `[oslo_middleware] max_request_body_size` (see
    `read_body`), InvalidInput when the body is missing or malformed, or breaks
    a rule of glint.domain.input_rules (nesting depth, NUL, lone surrogates).
    """
    limit = services_of(request).settings.server.max_request_body_size
    return parse_json_document(await read_body(request, limit))


async def json_object(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidInput("The request body must be a JSON object.")
    return body


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, read chunk by chunk; BodyTooLarge as soon as it passes
    `limit` bytes, and before reading anything when Content-Length says it will.

    An oversized body is therefore never held: what the client still sends is
    discarded by the server once the answer is out.
    """
    declared = request.headers.get("content-length", "").strip()
    if declared.isdigit() and (len(declared) > 19 or int(declared) > limit):
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"The request body is larger than max_request_body_size ({limit} bytes).",
                        limit)


async def reject_body(request: Request) -> None:
    """Actions take no body (Glance answers 400 when one is sent); the first
    non-empty chunk decides, so a large body is never read whole."""
    async for chunk in request.stream():
        if chunk:
            raise InvalidInput("This operation does not allow a request body.")
