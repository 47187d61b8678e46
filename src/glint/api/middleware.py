"""ASGI middleware: request ids and per-request log lines, the caller's
context, and API version negotiation."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from glint.api.errors import error_response, refusal
from glint.api.keystone import IDENTITY_HEADERS, Identity, KeystoneAuthenticator, Rejection
from glint.domain.context import RequestContext
from glint.domain.errors import InvalidInput
from glint.domain.input_rules import MAX_IDENTITY_LENGTH, check_text_input

log = logging.getLogger("glint.access")

MAX_REQUEST_ID_LENGTH = 64
MAX_QUERY_PARAMETERS = 100
# Discovery needs no identity, in any auth flavor.
UNAUTHENTICATED_PATHS = frozenset({"/", "/versions", "/healthcheck"})
_VERSION_PREFIX = re.compile(r"^/v(?P<version>\d+(?:\.\d+)?)(?P<rest>/.*)?$")
_VERSION_MEDIA_TYPE = re.compile(r"application/vnd\.openstack\.images-v(?P<version>[\d.]+)")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequestLogMiddleware:
    """Give every request an id (adopting a client's `X-Openstack-Request-ID`),
    echo it in `x-openstack-request-id`, and log one line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = _header(scope, b"x-openstack-request-id")
        if supplied is not None and len(supplied) > MAX_REQUEST_ID_LENGTH:
            response = error_response(431, "The request id is longer than 64 characters.",
                                      _header(scope, b"accept"))
            await response(scope, receive, send)
            return
        request_id = supplied or f"req-{uuid.uuid4()}"
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-openstack-request-id", request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "%s %s %s %s %d %.1fms",
                request_id,
                (scope.get("client") or ("-",))[0],
                scope["method"],
                scope["path"] + ("?" + scope["query_string"].decode("latin-1")
                                 if scope.get("query_string") else ""),
                status,
                (time.perf_counter() - started) * 1000,
            )


class InputCheckMiddleware:
    """The one check of the strings every request brings in its URL: the path
    and each query parameter's name and value, decoded as routes see them,
    hold no NUL or lone surrogate (glint.domain.input_rules), and there are at
    most MAX_QUERY_PARAMETERS parameters. Bodies are checked as they are
    parsed (api/deps.json_body)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                check_url(scope["path"], scope.get("query_string", b""))
            except InvalidInput as exc:
                await refusal(exc, _header(scope, b"accept"))(scope, receive, send)
                return
        await self.app(scope, receive, send)


def check_url(path: str, query_string: bytes) -> None:
    """Raise InvalidInput for a path or query string InputCheckMiddleware refuses."""
    check_text_input(path, "The URL path")
    try:
        # Decoded as Starlette's QueryParams decodes them.
        params = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True,
                           max_num_fields=MAX_QUERY_PARAMETERS)
    except ValueError:
        raise InvalidInput(f"Too many query parameters: at most {MAX_QUERY_PARAMETERS} "
                           "are allowed.") from None
    for name, value in params:
        check_text_input(name, "A query parameter name")
        check_text_input(value, f"Query parameter {name!r}")


class ContextMiddleware:
    """Build the RequestContext from the auth flavor.

    flavor "" (Glance's unauthenticated mode): an admin context with no
    project. flavor "trusted": identity from the X-Identity-Status, X-User-Id,
    X-Project-Id and X-Roles headers that keystonemiddleware sets after
    validating a token. Only for tests and trusted proxies: those headers are
    believed as sent, unless ambiguous (`ambiguous_identity`: 400). With an
    `authenticator` (the keystone flavors) the token is validated first and
    identity comes only from the headers keystonemiddleware set.
    """

    def __init__(self, app: ASGIApp, flavor: str,
                 authenticator: KeystoneAuthenticator | None = None) -> None:
        self.app = app
        self.flavor = flavor
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            state: dict[str, Any] = scope.setdefault("state", {})
            request_id = state.get("request_id") or f"req-{uuid.uuid4()}"
            authenticated = self.flavor == "trusted" or self.authenticator is not None
            if authenticated and scope["path"] not in UNAUTHENTICATED_PATHS:
                if self.authenticator is not None:
                    outcome: Identity | Rejection | None = \
                        self.authenticator.recently_validated(scope)
                    if outcome is None:
                        outcome = await run_in_threadpool(self.authenticator.authenticate, scope)
                    if isinstance(outcome, Rejection):
                        await self._reject(outcome, scope, receive, send)
                        return
                    headers: Mapping[str, str] = outcome.headers
                else:
                    ambiguous = ambiguous_identity(scope["headers"])
                    if ambiguous is not None:
                        response = error_response(400, ambiguous, _header(scope, b"accept"))
                        await response(scope, receive, send)
                        return
                    headers = {key.decode("latin-1"): value.decode("latin-1")
                               for key, value in scope["headers"]}
                try:
                    context = context_from_headers(headers, request_id)
                except InvalidInput as exc:
                    await refusal(exc, _header(scope, b"accept"))(scope, receive, send)
                    return
                if context is None:
                    response = error_response(401, "This server could not verify that you are "
                                                   "authorized to access the document you "
                                                   "requested.", _header(scope, b"accept"))
                    await response(scope, receive, send)
                    return
            elif authenticated:
                context = RequestContext(request_id=request_id)
            else:
                context = RequestContext(request_id=request_id, is_admin=True)
            state["context"] = context
        await self.app(scope, receive, send)

    @staticmethod
    async def _reject(outcome: Rejection, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {name: value for name, value in outcome.headers
                   if name.lower() not in ("content-length", "connection")}
        if outcome.status >= 500:
            # Never a 500 and never the caller through: Keystone is unavailable.
            response: Response = error_response(
                503, "The Keystone service is temporarily unavailable.",
                _header(scope, b"accept"))
        else:
            response = Response(outcome.body, status_code=outcome.status, headers=headers)
        await response(scope, receive, send)


def ambiguous_identity(headers: list[tuple[bytes, bytes]]) -> str | None:
    """Why the identity headers a trusted proxy passed are ambiguous, or None:
    one of them sent twice, or X-Project-Id and X-Tenant-Id naming different
    projects. Believing either copy would let a caller pick its identity."""
    seen: dict[str, str] = {}
    for key, value in headers:
        name = key.decode("latin-1").lower()
        if name not in IDENTITY_HEADERS:
            continue
        if name in seen:
            return f"Ambiguous identity: the {name} header is sent more than once."
        seen[name] = value.decode("latin-1").strip()
    project, tenant = seen.get("x-project-id"), seen.get("x-tenant-id")
    if project and tenant and project != tenant:
        return "Ambiguous identity: X-Project-Id and X-Tenant-Id name different projects."
    return None


def _roles(text: str | None) -> frozenset[str]:
    return frozenset(role.strip().lower() for role in (text or "").split(",") if role.strip())


def context_from_headers(headers: Mapping[str, str], request_id: str) -> RequestContext | None:
    """The caller's context from keystonemiddleware's identity headers (lower-case
    names); None unless `X-Identity-Status` is `Confirmed`. Raises InvalidInput
    for a user or project id longer than the columns that record it."""
    if headers.get("x-identity-status") != "Confirmed":
        return None
    roles = _roles(headers.get("x-roles"))
    user_id = _identity(headers, "X-User-Id")
    project, tenant = _identity(headers, "X-Project-Id"), _identity(headers, "X-Tenant-Id")
    project_id = project or tenant
    return RequestContext(
        request_id=request_id,
        user_id=user_id,
        project_id=project_id,
        roles=roles,
        is_admin="admin" in roles,
        system_scope=headers.get("openstack-system-scope"),
        domain_id=headers.get("x-domain-id"),
        service_roles=_roles(headers.get("x-service-roles")),
    )


def _identity(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name.lower())
    if value is not None and len(value) > MAX_IDENTITY_LENGTH:
        raise InvalidInput(f"{name} is longer than {MAX_IDENTITY_LENGTH} characters.")
    return value


class VersionNegotiationMiddleware:
    """Serve /v2.N/... as /v2/..., honour the images-v2 Accept media type, and
    answer any other version with the versions document (300)."""

    def __init__(self, app: ASGIApp, accepted_versions: frozenset[str]) -> None:
        self.app = app
        self.accepted = accepted_versions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        match = _VERSION_PREFIX.match(path)
        if match:
            version = match["version"]
            if version in self.accepted:
                rest = match["rest"] or "/"
                scope = {**scope, "path": "/v2" + rest, "raw_path": ("/v2" + rest).encode()}
            else:
                scope = {**scope, "path": "/", "raw_path": b"/"}
        elif path not in ("/", "/versions", "/healthcheck"):
            accept = _header(scope, b"accept") or ""
            media = _VERSION_MEDIA_TYPE.search(accept)
            if media:
                if media["version"] in self.accepted:
                    scope = {**scope, "path": "/v2" + path, "raw_path": ("/v2" + path).encode()}
                else:
                    scope = {**scope, "path": "/", "raw_path": b"/"}
        await self.app(scope, receive, send)


class BodyNotAllowedMiddleware:
    """Glance refuses a request body on GET and DELETE calls (400)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "DELETE", "HEAD"):
            length = _header(scope, b"content-length")
            chunked = "chunked" in (_header(scope, b"transfer-encoding") or "").lower()
            if chunked or (length is not None and length.strip() not in ("", "0")):
                response = error_response(400, "This operation does not allow a request body.",
                                          _header(scope, b"accept"))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
