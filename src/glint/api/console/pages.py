"""The console's own routes: its page and assets, and the session (who is
logged in, log in, log out). Everything else it does goes through the API."""

from __future__ import annotations

import hmac
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from glint.api.console.assets import asset_response, load_assets
from glint.api.console.cookies import (
    CSRF_HEADER,
    SECURITY_HEADERS,
    clear_session_cookie,
    console_services,
    now,
    session_secret,
    set_session_cookie,
)
from glint.api.deps import read_body
from glint.api.errors import HANDLERS
from glint.domain.errors import (
    Forbidden,
    IdentityUnavailable,
    InvalidInput,
    NotFound,
    UnsupportedMediaType,
)
from glint.domain.input_rules import MAX_IDENTITY_LENGTH, parse_json_document
from glint.services.console_sessions import ConsoleIdentity, ConsoleSession
from glint.services.keystone_login import Credentials, KeystoneLogin

LOGIN_BODY_LIMIT = 16_384
NO_STORE = {"Cache-Control": "no-store"}


def _auth_mode(flavor: str, uses_keystone: bool) -> str:
    if uses_keystone:
        return "keystone"
    return "trusted" if flavor == "trusted" else "none"


def _session_document(mode: str, session: ConsoleSession | None, *,
                      expired: bool = False) -> dict[str, Any]:
    if session is None:
        return {"auth": mode, "authenticated": False, "expired": expired}
    identity = session.identity
    return {
        "auth": mode, "authenticated": True, "expired": False,
        "user": identity.user_name, "user_id": identity.user_id,
        "project": identity.project_name, "project_id": identity.project_id,
        "roles": list(identity.roles), "csrf": session.csrf,
        "expires_at": session.expires_at.isoformat() + "Z",
    }


def _identity_without_keystone(request: Request, mode: str) -> ConsoleIdentity:
    """No Keystone: Glint's unauthenticated mode acts as admin; the trusted mode
    as the identity its proxy passed (the forward passes the same headers on)."""
    if mode == "none":
        return ConsoleIdentity(token=None, user_name=None, user_id=None, project_name=None,
                               project_id=None, roles=("admin",), token_expires_at=None)
    headers = request.headers
    user = headers.get("x-user-id")
    project = headers.get("x-project-id") or headers.get("x-tenant-id")
    for value in (user, project):
        if value is not None and len(value) > MAX_IDENTITY_LENGTH:
            raise InvalidInput(f"An identity header is longer than {MAX_IDENTITY_LENGTH} characters.")
    roles = tuple(r.strip().lower() for r in headers.get("x-roles", "").split(",") if r.strip())
    return ConsoleIdentity(token=None, user_name=user, user_id=user, project_name=project,
                           project_id=project, roles=roles, token_expires_at=None)


class ConsolePages:
    """The console's page, assets and session routes."""

    def __init__(self, flavor: str, uses_keystone: bool) -> None:
        self.mode = _auth_mode(flavor, uses_keystone)
        self.assets = load_assets()

    async def page(self, request: Request) -> Response:
        return asset_response(self.assets["index.html"], request, SECURITY_HEADERS)

    async def asset(self, request: Request) -> Response:
        found = self.assets.get(request.path_params["name"])
        if found is None:
            raise NotFound("The console has no such file.")
        return asset_response(found, request, {"X-Content-Type-Options": "nosniff"})

    async def show_session(self, request: Request) -> Response:
        """Who is logged in (and the CSRF token). Without Keystone a visit opens a
        session; with it, a cookie that names no live session means it expired."""
        services = console_services(request)
        secret = session_secret(request)
        session = await run_in_threadpool(services.sessions.find, secret) if secret else None
        if session is not None and not session.expired(now()):
            return JSONResponse(_session_document(self.mode, session), headers=NO_STORE)
        if self.mode == "keystone":
            response = JSONResponse(
                _session_document(self.mode, None, expired=secret is not None), headers=NO_STORE)
            if secret is not None:
                clear_session_cookie(response, request)
            return response
        return await self._open(request, _identity_without_keystone(request, self.mode))

    async def log_in(self, request: Request) -> Response:
        services = console_services(request)
        if self.mode != "keystone" or services.keystone_url is None:
            raise IdentityUnavailable("This server has no Keystone to log in with.")
        credentials = await _credentials(request)
        identity = await KeystoneLogin(services.keystone_url).login(credentials)
        return await self._open(request, identity)

    async def _open(self, request: Request, identity: ConsoleIdentity) -> Response:
        services = console_services(request)
        opened = await run_in_threadpool(services.sessions.open, identity, now())
        response = JSONResponse(_session_document(self.mode, opened.session), headers=NO_STORE)
        set_session_cookie(response, request, opened.secret)
        return response

    async def log_out(self, request: Request) -> Response:
        services = console_services(request)
        secret = session_secret(request)
        session = await run_in_threadpool(services.sessions.find, secret) if secret else None
        if secret is not None and session is not None:
            check_csrf(request.headers.get(CSRF_HEADER), session)
            await run_in_threadpool(services.sessions.close, secret)
        response = Response(status_code=204, headers=NO_STORE)
        clear_session_cookie(response, request)
        return response


def build_pages(flavor: str, uses_keystone: bool) -> Starlette:
    """The console's own routes as an application of their own (errors mapped
    by the same table as the API's)."""
    pages = ConsolePages(flavor, uses_keystone)
    return Starlette(
        routes=[
            Route("/console", pages.page, methods=["GET"]),
            Route("/console/", pages.page, methods=["GET"]),
            Route("/console/session", pages.show_session, methods=["GET"]),
            Route("/console/session", pages.log_in, methods=["POST"]),
            Route("/console/session", pages.log_out, methods=["DELETE"]),
            Route("/console/static/{name:path}", pages.asset, methods=["GET", "HEAD"]),
        ],
        exception_handlers=HANDLERS,
    )


def check_csrf(supplied: str | None, session: ConsoleSession) -> None:
    """Forbidden unless a change carries the session's CSRF token (in a header,
    which a page of another site cannot set on a request here)."""
    if supplied is None or not hmac.compare_digest(supplied.encode(), session.csrf.encode()):
        raise Forbidden("The request does not carry this console session's CSRF token.")


async def _credentials(request: Request) -> Credentials:
    """The login form, as JSON only: a page of another site cannot send JSON here
    without a CORS preflight, which Glint never grants (login CSRF)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise UnsupportedMediaType("Log in with a JSON body.", ("application/json",))
    body = parse_json_document(await read_body(request, LOGIN_BODY_LIMIT))
    fields = ("username", "password", "domain", "project")
    if not isinstance(body, dict) or any(not isinstance(body.get(f), str) for f in fields):
        raise InvalidInput("Log in with username, password, domain and project.")
    if not body["username"] or not body["password"] or not body["project"]:
        raise InvalidInput("The user name, password and project are required.")
    return Credentials(user_name=body["username"], password=body["password"],
                       domain=body["domain"] or "Default", project=body["project"])
