"""Which URIs a web-download import may fetch (`[import_filtering_opts]`).

Glance 33's rules: a scheme, host and port allow-list (or, when the
allow-list is empty, a deny-list); host names written as encoded or short
numeric addresses (2130706433, 0x7f000001, 127.1) are refused; names are
resolved and loopback and link-local addresses (cloud metadata services)
are refused unless the host is explicitly allowed. Glint also refuses
private, multicast, reserved and unspecified addresses unless allowed.
Every redirect target goes through the same check.

The resolver is a parameter, so the rules stay pure and testable.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from glint.domain.errors import InvalidInput

Resolver = Callable[[str, int], Sequence[str]]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class ImportFilter:
    allowed_schemes: tuple[str, ...] = ("http", "https")
    disallowed_schemes: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    disallowed_hosts: tuple[str, ...] = ()
    allowed_ports: tuple[int, ...] = (80, 443)
    disallowed_ports: tuple[int, ...] = ()


class UriRefused(InvalidInput):
    """The URI may not be fetched; the message says which rule refused it."""


def _normalized_host(host: str | None) -> str | None:
    """The host in canonical form, or None for forms that hide an address."""
    if not host:
        return None
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if all(char.isdigit() or char == "." for char in host):
        return None  # 2130706433, 127.1, 10.1: numeric forms the C library would accept
    if host.lower().startswith("0x") or any(
        part.lower().startswith("0x") and len(part) > 2 for part in host.split(".")
    ):
        return None
    return host.lower().rstrip(".")


def _is_internal(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return bool(
        address.is_loopback or address.is_link_local or address.is_private
        or address.is_multicast or address.is_reserved or address.is_unspecified
    )


def check_uri(uri: str, rules: ImportFilter, resolve: Resolver) -> list[str]:
    """The addresses `uri` may be fetched from (to connect to those only).

    Raises UriRefused naming the scheme, host, port or address rule that refused it.
    """
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        raise UriRefused(f"URI {uri!r} is not valid") from None
    scheme = parts.scheme.lower()
    denied_schemes = () if rules.allowed_schemes else rules.disallowed_schemes
    if not scheme or (rules.allowed_schemes and scheme not in rules.allowed_schemes) \
            or scheme in denied_schemes:
        raise UriRefused(f"Scheme {scheme or '(none)'} is not allowed for import")
    host = _normalized_host(parts.hostname)
    denied_hosts = () if rules.allowed_hosts else rules.disallowed_hosts
    if host is None or (rules.allowed_hosts and host not in rules.allowed_hosts) \
            or host in denied_hosts:
        raise UriRefused(f"Host {parts.hostname or '(none)'} is not allowed for import")
    effective_port = port if port is not None else (443 if scheme == "https" else 80)
    denied_ports = () if rules.allowed_ports else rules.disallowed_ports
    if (rules.allowed_ports and effective_port not in rules.allowed_ports) \
            or effective_port in denied_ports:
        raise UriRefused(f"Port {effective_port} is not allowed for import")
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addresses = [ipaddress.ip_address(a.split("%", 1)[0])
                         for a in resolve(host, effective_port)]
        except (OSError, ValueError) as exc:
            raise UriRefused(f"Host {host} cannot be resolved: {exc}") from None
    explicitly_allowed = host in rules.allowed_hosts
    usable = [str(a) for a in addresses if explicitly_allowed or not _is_internal(a)]
    if not usable:
        raise UriRefused(
            f"Host {host} resolves only to internal addresses; list it in "
            "[import_filtering_opts] allowed_hosts to import from it"
        )
    return usable
