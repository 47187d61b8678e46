"""Staging on several API nodes: the node that stages an image records its
own URL (`[DEFAULT] worker_self_reference_url`, else `public_endpoint`) as
`os_glance_stage_host`; a glance-direct import or a delete of that image
reaching another node is relayed to it, with the caller's credentials, as
Glance does, since only that node has the staged data.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

log = logging.getLogger(__name__)

STAGE_HOST = "os_glance_stage_host"
# The request headers relayed: the caller's credentials and the body's type.
RELAYED_HEADERS = (
    "x-auth-token", "x-service-token", "x-identity-status", "x-user-id", "x-project-id",
    "x-tenant-id", "x-roles", "x-domain-id", "openstack-system-scope", "x-service-roles",
    "x-service-identity-status", "content-type",
)
TIMEOUT = 60.0
# Sent with a relayed request, so that a node never relays it again.
RELAY_MARK = "x-glint-relayed-from-stage-peer"


@dataclass(frozen=True)
class Relayed:
    """The stage host's answer: its status, body, content type and request id."""

    status: int
    body: bytes
    content_type: str | None
    request_id: str | None


def self_url(worker_self_reference_url: str | None, public_endpoint: str | None) -> str | None:
    """The URL other nodes reach this one at, if configured."""
    return worker_self_reference_url or public_endpoint


def is_elsewhere(stage_host: str | None, own_url: str | None) -> bool:
    """Whether the image's staged data lives on another node."""
    return bool(stage_host) and stage_host != own_url


async def relay(method: str, stage_host: str, path: str, headers: Mapping[str, str],
                body: bytes | None = None) -> Relayed | None:
    """Send the request to the stage host; None when it cannot be reached."""
    url = f"{stage_host.rstrip('/')}{path}"
    log.info("relaying %s %s to the stage host %s", method, path, stage_host)
    sent = {name: value for name, value in headers.items() if name.lower() in RELAYED_HEADERS}
    sent[RELAY_MARK] = "1"
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT, trust_env=False) as client:
            response = await client.request(method, url, headers=sent, content=body)
    except httpx.TransportError as exc:
        log.error("the stage host %s cannot be reached: %s", stage_host, exc)
        return None
    return Relayed(response.status_code, response.content,
                   response.headers.get("content-type"),
                   response.headers.get("x-openstack-request-id"))
