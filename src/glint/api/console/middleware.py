"""ConsoleMiddleware: /console is the console's (pages.py); /console/api/v2/...
is forwarded, in the same process, to the API as /v2/... with the session's
token added, so the console uses exactly the API every client uses.

A forwarded call needs a live session (its cookie) and, unless it only reads,
the session's CSRF token. Request and response bodies pass through as they
stream: an upload is never held whole. The cookie never reaches the API and
the token never reaches the browser.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from glint.api.console.cookies import CSRF_HEADER, console_services, now, session_secret
from glint.api.console.pages import build_pages, check_csrf
from glint.api.errors import refusal
from glint.domain.errors import GlintError, NotAuthenticated, NotFound
from glint.services.console_sessions import ConsoleServices, ConsoleSession

PREFIX = "/console"
API_PREFIX = "/console/api"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Request headers the API must not see from the console: the browser's cookie
# and CSRF token, and any credential other than the session's.
NOT_FORWARDED = frozenset({b"cookie", CSRF_HEADER.encode(), b"x-auth-token", b"x-service-token"})


class ConsoleMiddleware:
    """Serves /console and forwards /console/api; every other path passes on."""

    def __init__(self, app: ASGIApp, flavor: str, uses_keystone: bool) -> None:
        self.app = app
        self.pages = build_pages(flavor, uses_keystone)
        self.uses_keystone = uses_keystone

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        state["console"] = scope["app"].state.console
        try:
            if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
                await self._forward(scope, receive, send)
            else:
                await self.pages(scope, receive, send)
        except GlintError as exc:
            accept = HTTPConnection(scope).headers.get("accept")
            await refusal(exc, accept)(scope, receive, send)

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        connection = HTTPConnection(scope)
        session = await _live_session(connection, console_services(connection))
        if scope["method"] not in READ_METHODS:
            check_csrf(connection.headers.get(CSRF_HEADER), session)
        path = scope["path"][len(API_PREFIX):]
        if not path.startswith("/v2/"):
            raise NotFound("The console forwards only calls of the image API (/v2/...).")
        raw_path: bytes = scope.get("raw_path") or b""
        raw_path = (raw_path[len(API_PREFIX):] if raw_path.startswith(API_PREFIX.encode())
                    else path.encode())
        headers = [(name, value) for name, value in scope["headers"]
                   if name not in NOT_FORWARDED]
        if session.identity.token is not None:
            headers.append((b"x-auth-token", session.identity.token.encode()))
        inner = {**scope, "path": path, "raw_path": raw_path,
                 "headers": headers, "root_path": ""}

        async def send_uncached(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [
                    *message.get("headers", []), (b"cache-control", b"no-store")]}
            await send(message)

        await self.app(inner, receive, send_uncached)


async def _live_session(connection: HTTPConnection, services: ConsoleServices) -> ConsoleSession:
    """The request's console session; NotAuthenticated when there is none or it
    has expired (the expired one is removed)."""
    secret = session_secret(connection)
    session = await run_in_threadpool(services.sessions.find, secret) if secret else None
    if secret is None or session is None:
        raise NotAuthenticated("There is no console session; log in.")
    if session.expired(now()):
        await run_in_threadpool(services.sessions.close, secret)
        raise NotAuthenticated("The console session has expired; log in again.")
    return session
