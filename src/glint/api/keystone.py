"""Keystone token validation through keystonemiddleware's auth_token.

auth_token is WSGI middleware. Glint hands it a header-only WSGI environ
for each request (in a worker thread, since it blocks on Keystone and
memcached) in front of a tiny WSGI callable. If auth_token lets the request
through, the callable records that, and the identity is read from the
`X-*` headers auth_token set (it strips any a client sent). Otherwise
auth_token's own answer (401 with `WWW-Authenticate: Keystone uri=...`, or
503 when Keystone cannot be reached) goes back to the client as it is.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.types import Scope

from glint.settings import AuthSettings

log = logging.getLogger(__name__)

_REACHED = "glint.authenticated"


@dataclass(frozen=True)
class Identity:
    """The request's headers after auth_token validated it (lower-case names)."""

    headers: Mapping[str, str]


@dataclass(frozen=True)
class Rejection:
    """auth_token's answer when it did not let the request through."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _accept(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    environ[_REACHED] = True
    start_response("204 No Content", [])
    return [b""]


def wsgi_environ(scope: Scope) -> dict[str, Any]:
    """A WSGI environ carrying the request line and headers, with no body."""
    server = scope.get("server") or ("localhost", 80)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": scope["path"],
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            continue
        key = f"HTTP_{name}"
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


class KeystoneAuthenticator:
    """Validates tokens with keystonemiddleware, configured from `[keystone_authtoken]`.

    keystonemiddleware reads that section from the same config files Glint
    was started with (through a private oslo.config object, so nothing global
    is touched), caches validations (in memcached when `memcached_servers` is
    set) and honours service tokens and `service_token_roles(_required)`.
    """

    def __init__(self, settings: AuthSettings) -> None:
        from keystonemiddleware.auth_token import AuthProtocol
        from oslo_config import cfg

        conf = cfg.ConfigOpts()
        conf(args=[], project="glance",
             default_config_files=[str(path) for path in settings.config_files],
             default_config_dirs=[])
        local_conf: dict[str, Any] = {"oslo_config_config": conf}
        if settings.www_authenticate_uri is None and settings.legacy_auth_uri is not None:
            local_conf["www_authenticate_uri"] = settings.legacy_auth_uri
        self._protocol = AuthProtocol(_accept, local_conf)

    def authenticate(self, scope: Scope) -> Identity | Rejection:
        """Blocking: validate the request's token. Never raises; an unexpected
        failure answers 503 (never lets the request through)."""
        environ = wsgi_environ(scope)
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]],
                           exc_info: Any = None) -> None:
            started[:] = [status, headers]

        try:
            result = self._protocol(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception:
            # The exception text may quote a request header; log only its type.
            log.error("token validation failed unexpectedly: %s", sys.exc_info()[0])
            return Rejection(503, [], b"The identity service could not be used.")
        if environ.get(_REACHED):
            # auth_token stores None for headers a token does not carry.
            headers = {
                key[5:].lower().replace("_", "-"): str(value)
                for key, value in environ.items()
                if key.startswith("HTTP_") and value is not None
            }
            return Identity(headers)
        status_line, headers = started if started else ("503 Service Unavailable", [])
        return Rejection(int(status_line.split(" ", 1)[0]), list(headers), body)
