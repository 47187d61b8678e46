"""The console's session cookie and the headers every console answer carries."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import HTTPConnection
from starlette.responses import Response

from glint.services.console_sessions import ConsoleServices

COOKIE = "glint_console"
PATH = "/console"
CSRF_HEADER = "x-console-csrf"
# Scripts, styles and calls from Glint only; no frames, no inline code.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                               "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def console_services(connection: HTTPConnection) -> ConsoleServices:
    """Set on the request by ConsoleMiddleware from the application's lifespan."""
    services: ConsoleServices = connection.scope["state"]["console"]
    return services


def session_secret(connection: HTTPConnection) -> str | None:
    return connection.cookies.get(COOKIE) or None


def set_session_cookie(response: Response, connection: HTTPConnection, secret: str) -> None:
    """HttpOnly (no script reads it), SameSite=Strict (no other site sends it),
    limited to /console (the API proper never accepts it)."""
    response.set_cookie(COOKIE, secret, path=PATH, httponly=True, samesite="strict",
                        secure=connection.url.scheme == "https")


def clear_session_cookie(response: Response, connection: HTTPConnection) -> None:
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="strict",
                           secure=connection.url.scheme == "https")
