"""The one place errors become HTTP responses."""

from __future__ import annotations

import logging
from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from glint.domain import errors
from glint.domain.errors import GlintError

log = logging.getLogger(__name__)

STATUS: dict[type[GlintError], int] = {
    errors.NotFound: 404,
    errors.Forbidden: 403,
    errors.Conflict: 409,
    errors.InvalidInput: 400,
    errors.QuotaExceeded: 413,
    errors.StorageFull: 413,
    errors.UnsupportedMediaType: 415,
    errors.InvalidImageData: 415,
    errors.RangeNotSatisfiable: 416,
    errors.StoreUnavailable: 503,
}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """A Glance-shaped JSON error: {"message", "code": "404 Not Found", "title"}."""
    phrase = HTTPStatus(status).phrase
    body = {"message": message, "code": f"{status} {phrase}", "title": phrase}
    return JSONResponse(body, status_code=status, headers=headers)


def status_for(exc: GlintError) -> int:
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


async def glint_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GlintError)
    status = status_for(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, errors.UnsupportedMediaType) and exc.accepted:
        headers["Accept-Patch"] = ", ".join(exc.accepted)
    if isinstance(exc, errors.RangeNotSatisfiable) and exc.size is not None:
        headers["Content-Range"] = f"bytes */{exc.size}"
    if isinstance(exc, errors.StoreUnavailable):
        log.error("store %s unavailable: %s", exc.store, exc.message)
    return error_response(status, exc.message, headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = exc.detail
    if exc.status_code == 404:
        message = "The resource could not be found."
    elif exc.status_code == 405:
        message = "The method is not allowed for this resource."
    return error_response(exc.status_code, message, dict(exc.headers or {}))


async def unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error while serving %s %s", request.method, request.url.path)
    return error_response(500, "The server has either erred or is incapable of performing "
                               "the requested operation.")


HANDLERS = {GlintError: glint_error, HTTPException: http_error, Exception: unexpected_error}
