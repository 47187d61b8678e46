"""Shared fixtures: real databases and a real `glint serve` per database backend."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.keystone import Keystone, running_keystone
from tests.servers import GlintServer, database, glint_server

BACKENDS = [b for b in os.environ.get("GLINT_TEST_BACKENDS", "sqlite,mariadb,postgresql").split(",")
            if b]


@pytest.fixture(scope="session", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[GlintServer]:
    """Glint on a fresh database of each backend, trusting identity headers."""
    folder = tmp_path_factory.mktemp(f"glint-{request.param}")
    with database(request.param, folder) as url, glint_server(folder, url) as running:
        yield running


@dataclass
class Caller:
    """An HTTP client acting as one project with some roles."""

    base_url: str
    project_id: str
    roles: tuple[str, ...]
    user_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.base_url, timeout=60, headers={
            "Accept": "application/json",
            "X-Identity-Status": "Confirmed",
            "X-Project-Id": self.project_id,
            "X-User-Id": self.user_id,
            "X-Roles": ",".join(self.roles),
        })

    def create(self, **body: object) -> dict[str, object]:
        body.setdefault("disk_format", "raw")
        body.setdefault("container_format", "bare")
        response = self.http.post("/v2/images", json=body)
        assert response.status_code == 201, response.text
        image: dict[str, object] = response.json()
        return image

    def upload(self, image_id: object, data: bytes) -> httpx.Response:
        return self.http.put(f"/v2/images/{image_id}/file", content=data,
                             headers={"Content-Type": "application/octet-stream"})

    def patch(self, image_id: object, ops: list[dict[str, object]]) -> httpx.Response:
        return self.http.patch(
            f"/v2/images/{image_id}", json=ops,
            headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})


@pytest.fixture
def new_project() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def admin(server: GlintServer) -> Caller:
    return Caller(server.url, uuid.uuid4().hex, ("admin", "member", "reader"))


@pytest.fixture
def member(server: GlintServer) -> Caller:
    return Caller(server.url, uuid.uuid4().hex, ("member", "reader"))


@pytest.fixture
def other(server: GlintServer) -> Caller:
    """A member of another project."""
    return Caller(server.url, uuid.uuid4().hex, ("member", "reader"))


@pytest.fixture
def reader(member: Caller) -> Caller:
    """A reader of the same project as `member`."""
    return Caller(member.base_url, member.project_id, ("reader",))


@pytest.fixture
def anonymous(server: GlintServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30, headers={"Accept": "application/json"})


@pytest.fixture(scope="session")
def keystone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keystone]:
    """A real Keystone 30 and memcached for the whole session (see tests/keystone.py)."""
    with running_keystone(tmp_path_factory.mktemp("keystone")) as running:
        yield running


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent.name == "e2e":
            item.add_marker(pytest.mark.clients)
