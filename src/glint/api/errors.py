"""The one place errors become HTTP responses."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from glint.api.error_bodies import error_body
from glint.domain import errors
from glint.domain.errors import GlintError

log = logging.getLogger(__name__)

# Seconds a client is asked to wait before retrying while the database is
# unavailable: about what a database restart or failover takes.
DATABASE_RETRY_AFTER = 5

STATUS: dict[type[GlintError], int] = {
    errors.NotFound: 404,
    errors.Forbidden: 403,
    errors.Conflict: 409,
    errors.InvalidInput: 400,
    errors.BodyTooSlow: 408,
    errors.QuotaExceeded: 413,
    errors.StorageFull: 413,
    errors.UnsupportedMediaType: 415,
    errors.InvalidImageData: 415,
    errors.RangeNotSatisfiable: 416,
    errors.StoreUnavailable: 503,
    errors.DatabaseUnavailable: 503,
    errors.BodyTooLarge: 413,
    errors.UrlTooLong: 414,
    errors.HeadersTooLarge: 431,
    errors.NotAuthenticated: 401,
    errors.IdentityUnavailable: 503,
    # The data exists but no copy of it can be trusted until an admin repairs one.
    errors.NoGoodCopy: 503,
}


def error_response(status: int, message: str, accept: str | None,
                   headers: dict[str, str] | None = None) -> Response:
    """A Glance-shaped error in the form `accept` asks for (see error_bodies)."""
    body = error_body(status, message, accept)
    return Response(body.content, status_code=status, headers=headers, media_type=body.media_type)


def refusal(exc: GlintError, accept: str | None) -> Response:
    """The response for an error met outside a route (in middleware), where the
    exception handlers do not reach."""
    return error_response(status_for(exc), exc.message, accept)


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
    if isinstance(exc, errors.BodyTooSlow):
        # The rest of the body may never come: do not wait for it on this connection.
        headers["Connection"] = "close"
    if isinstance(exc, errors.RangeNotSatisfiable) and exc.size is not None:
        headers["Content-Range"] = f"bytes */{exc.size}"
    if isinstance(exc, errors.StoreUnavailable):
        log.error("store %s unavailable: %s", exc.store, exc.message)
    if isinstance(exc, errors.DatabaseUnavailable):
        log.error("database unavailable while serving %s %s: %s", request.method,
                  request.url.path, exc.reason)
        headers["Retry-After"] = str(DATABASE_RETRY_AFTER)
    return error_response(status, exc.message, request.headers.get("accept"), headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = exc.detail
    if exc.status_code == 404:
        message = "The resource could not be found."
    elif exc.status_code == 405:
        message = "The method is not allowed for this resource."
    return error_response(exc.status_code, message, request.headers.get("accept"),
                          dict(exc.headers or {}))


async def unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error while serving %s %s", request.method, request.url.path)
    return error_response(500, "The server has either erred or is incapable of performing "
                               "the requested operation.", request.headers.get("accept"))


HANDLERS = {GlintError: glint_error, HTTPException: http_error, Exception: unexpected_error}
