"""Size cap and quotas, on a server configured with small limits."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Caller
from tests.servers import GlintServer, glint_server

LIMITS = {"image_size_cap": 1000, "image_tag_quota": 2, "image_property_quota": 2,
          "image_member_quota": 1}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GlintServer]:
    folder = tmp_path_factory.mktemp("glint-limits")
    with glint_server(folder, f"sqlite:///{folder / 'glint.db'}",
                      extra={"DEFAULT": LIMITS}) as server:
        yield server


@pytest.fixture
def caller(limited: GlintServer, new_project: str) -> Caller:
    return Caller(limited.url, new_project, ("member", "reader"))


def _store_files(server: GlintServer) -> list[str]:
    return os.listdir(Path(server.folder) / "images")


def test_size_cap_while_streaming(caller: Caller, limited: GlintServer) -> None:
    image = caller.create()

    def body() -> Iterator[bytes]:
        for _ in range(10):
            yield b"x" * 500

    before = _store_files(limited)
    response = caller.http.put(f"/v2/images/{image['id']}/file", content=body(),
                               headers={"Content-Type": "application/octet-stream"})
    assert response.status_code == 413
    assert caller.http.get(f"/v2/images/{image['id']}").json()["status"] == "queued"
    assert _store_files(limited) == before
    assert caller.upload(image["id"], b"y" * 1000).status_code == 204


def test_size_cap_from_declared_length(caller: Caller) -> None:
    image = caller.create()
    assert caller.upload(image["id"], b"z" * 1001).status_code == 413


def test_tag_quota(caller: Caller) -> None:
    image = caller.create(tags=["a", "b"])
    assert caller.http.put(f"/v2/images/{image['id']}/tags/c").status_code == 413
    assert caller.http.post("/v2/images", json={"tags": ["a", "b", "c"]}).status_code == 413


def test_property_quota(caller: Caller) -> None:
    image = caller.create(one="1", two="2")
    response = caller.patch(image["id"], [{"op": "add", "path": "/three", "value": "3"}])
    assert response.status_code == 413


def test_member_quota(caller: Caller) -> None:
    image = caller.create()
    url = f"/v2/images/{image['id']}/members"
    assert caller.http.post(url, json={"member": "p1"}).status_code == 200
    assert caller.http.post(url, json={"member": "p2"}).status_code == 413
