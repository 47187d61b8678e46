"""Where an image service is: glance-replicator's `host:port` forms, and Keystone tokens.

Error tree:

    EndpointError      an argument that names no usable server (ValueError)
    KeystoneError      Keystone refused the credentials or could not be reached
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import httpx

HOSTNAME = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


class EndpointError(ValueError):
    """`text` is neither `host:port`, `[ipv6]:port` nor an http(s) URL."""


class KeystoneError(Exception):
    """Keystone gave no token: wrong credentials, or it is unreachable."""


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    return bool(host) and all(HOSTNAME.match(label) for label in labels)


def endpoint_url(text: str) -> str:
    """The base URL of the image service named by `text`.

    `text` is glance-replicator's `host:port` (an IPv4 address, a host name or an
    FQDN) or `[ipv6]:port`; a full `http://` or `https://` URL is taken as is.
    The port is required, as upstream requires it. Raises EndpointError.
    """
    if text.startswith(("http://", "https://")):
        return text.rstrip("/")
    host, separator, port = text.rpartition(":")
    if not separator:
        raise EndpointError(f'Host and port "{text}" is not valid: give host:port '
                            '(IPv6: "[fe80::a:b:c]:9292").')
    bracketed = host.startswith("[") and host.endswith("]")
    bare = host[1:-1] if bracketed else host
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise EndpointError(f'Port "{port}" is not valid.')
    if ":" in bare and not bracketed:
        raise EndpointError(f'Host "{host}" is not valid: enclose an IPv6 address in '
                            'brackets, separately from the port ("[fe80::a:b:c]:9292").')
    if not _valid_host(bare):
        raise EndpointError(f'Host "{bare}" is not valid.')
    return f"http://{host}:{int(port)}"


@dataclass(frozen=True)
class Credentials:
    """Keystone v3 password credentials (the OS_* variables of an openrc)."""

    auth_url: str
    username: str
    password: str
    project_name: str
    user_domain_name: str = "Default"
    project_domain_name: str = "Default"


def keystone_token(credentials: Credentials, timeout: float = 30) -> str:
    """A project-scoped token for `credentials`. Raises KeystoneError."""
    base = credentials.auth_url.rstrip("/")
    url = f"{base}/auth/tokens" if base.endswith("/v3") else f"{base}/v3/auth/tokens"
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": credentials.username, "password": credentials.password,
            "domain": {"name": credentials.user_domain_name}}}},
        "scope": {"project": {"name": credentials.project_name,
                              "domain": {"name": credentials.project_domain_name}}},
    }}
    try:
        response = httpx.post(url, json=body, timeout=timeout)
    except httpx.HTTPError as exc:
        raise KeystoneError(f"Keystone at {base} is unreachable: {exc}") from exc
    token: str | None = response.headers.get("X-Subject-Token")
    if response.status_code != 201 or not token:
        raise KeystoneError(f"Keystone at {base} refused the credentials of "
                            f"{credentials.username!r} (HTTP {response.status_code}).")
    return token
