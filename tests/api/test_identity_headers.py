"""The trusted flavor believes identity headers as a proxy sends them, but
never ambiguous ones: an identity header sent twice, or X-Project-Id and
X-Tenant-Id naming different projects, is a 400 (taking either copy would let
a caller choose who it is)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from glint.api.middleware import ambiguous_identity
from tests.servers import GlintServer


def _identity(project: str) -> list[tuple[str, str]]:
    return [("X-Identity-Status", "Confirmed"), ("X-User-Id", uuid.uuid4().hex),
            ("X-Project-Id", project), ("X-Roles", "member,reader"),
            ("Accept", "application/json")]


@pytest.mark.parametrize("repeated", [
    ("X-Project-Id", "someone-else"), ("X-Roles", "admin"), ("X-User-Id", "root"),
    ("X-Identity-Status", "Confirmed"), ("X-Tenant-Id", "a"), ("x-service-roles", "service"),
])
def test_a_repeated_identity_header_is_400(server: GlintServer,
                                           repeated: tuple[str, str]) -> None:
    headers = _identity(uuid.uuid4().hex)
    if repeated[0] in ("X-Tenant-Id", "x-service-roles"):
        headers.append(repeated)
    headers.append(repeated)
    response = httpx.get(f"{server.url}/v2/images", headers=headers)
    assert response.status_code == 400, response.text
    assert "Ambiguous identity" in response.json()["message"]
    assert repeated[0].lower() in response.json()["message"]


def test_project_and_tenant_must_agree(server: GlintServer) -> None:
    project = uuid.uuid4().hex
    differing = httpx.get(f"{server.url}/v2/images",
                          headers=[*_identity(project), ("X-Tenant-Id", "other")])
    assert differing.status_code == 400, differing.text
    agreeing = httpx.get(f"{server.url}/v2/images",
                         headers=[*_identity(project), ("X-Tenant-Id", project)])
    assert agreeing.status_code == 200, agreeing.text


def test_single_identity_headers_are_believed(server: GlintServer) -> None:
    project = uuid.uuid4().hex
    created = httpx.post(f"{server.url}/v2/images", headers=_identity(project),
                         json={"name": "mine"})
    assert created.status_code == 201 and created.json()["owner"] == project


def test_ambiguity_rules() -> None:
    def raw(*pairs: tuple[str, str]) -> list[tuple[bytes, bytes]]:
        return [(k.lower().encode(), v.encode()) for k, v in pairs]

    assert ambiguous_identity(raw(("x-project-id", "a"), ("x-roles", "member"))) is None
    # Headers that make up no identity may repeat.
    assert ambiguous_identity(raw(("accept", "a"), ("accept", "b"))) is None
    assert ambiguous_identity(raw(("x-project-id", "a"), ("x-project-id", "a"))) is not None
    assert ambiguous_identity(raw(("x-project-id", "a"), ("x-tenant-id", "b"))) is not None
    assert ambiguous_identity(raw(("x-project-id", "a"), ("x-tenant-id", "a"))) is None
