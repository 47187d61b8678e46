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

import hashlib
import io
import logging
import sys
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.types import Scope

from glint.settings import AuthSettings

log = logging.getLogger(__name__)

_REACHED = "glint.authenticated"
# The headers auth_token sets that make up the caller's identity: the only ones
# remembered between requests.
IDENTITY_HEADERS = (
    "x-identity-status", "x-user-id", "x-project-id", "x-tenant-id", "x-roles",
    "openstack-system-scope", "x-domain-id", "x-service-roles", "x-service-identity-status",
)
# How long a validation is reused in-process. keystonemiddleware itself reuses
# one for token_cache_time (300 s by default) from its cache, so this adds no
# staleness; a token is never reused past its own expiry.
RECENT_VALIDATION_SECONDS = 30.0
RECENT_VALIDATIONS_MAX = 10_000


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


def _token_expiry(token_info: Any) -> datetime | None:
    """When the token validated expires (Identity v3 or v2 token data), if known."""
    try:
        if "token" in token_info:
            text = token_info["token"]["expires_at"]
        else:
            text = token_info["access"]["token"]["expires"]
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


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
        self._recent: OrderedDict[str, tuple[float, Identity]] = OrderedDict()

    @staticmethod
    def _key(scope: Scope) -> str | None:
        tokens = {name: value for name, value in scope["headers"]
                  if name in (b"x-auth-token", b"x-service-token")}
        if b"x-auth-token" not in tokens:
            return None
        digest = hashlib.sha256(tokens[b"x-auth-token"])
        digest.update(b"\0" + tokens.get(b"x-service-token", b""))
        return digest.hexdigest()

    def recently_validated(self, scope: Scope) -> Identity | None:
        """The identity of a token validated moments ago, without blocking; or None.

        Saves a thread hop, a memcached round trip and decoding the token
        data on every request of a busy client."""
        key = self._key(scope)
        found = self._recent.get(key) if key is not None else None
        if found is None:
            return None
        good_until, identity = found
        if time.monotonic() >= good_until:
            self._recent.pop(key, None)  # type: ignore[arg-type]
            return None
        return identity

    def _remember(self, scope: Scope, environ: dict[str, Any], identity: Identity) -> None:
        key = self._key(scope)
        if key is None or identity.headers.get("x-identity-status") != "Confirmed":
            return
        lifetime = RECENT_VALIDATION_SECONDS
        expires = _token_expiry(environ.get("keystone.token_info"))
        if expires is not None:
            lifetime = min(lifetime, (expires - datetime.now(UTC)).total_seconds())
        if lifetime <= 0:
            return
        self._recent[key] = (time.monotonic() + lifetime, identity)
        while len(self._recent) > RECENT_VALIDATIONS_MAX:
            self._recent.popitem(last=False)

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
            identity = Identity(headers)
            self._remember(scope, environ, Identity(
                {name: headers[name] for name in IDENTITY_HEADERS if name in headers}))
            return identity
        status_line, headers = started if started else ("503 Service Unavailable", [])
        return Rejection(int(status_line.split(" ", 1)[0]), list(headers), body)
