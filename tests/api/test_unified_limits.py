"""Keystone's unified limits (`use_keystone_limits`), against a real Keystone with
registered and project limits, on every database; and GET /v2/info/usage."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import BACKENDS, Caller
from tests.keystone import Keystone
from tests.servers import GlintServer, database, glint_server
from tests.unified_limits import Limits

MIB = 1024 * 1024
OCTET = {"Content-Type": "application/octet-stream"}
# Registered (default) limits: sizes in MiB.
DEFAULTS = {"image_size_total": 2, "image_stage_total": 1, "image_count_total": 5,
            "image_count_uploading": 3}


@pytest.fixture(scope="module")
def limits(keystone: Keystone) -> Limits:
    return Limits(keystone, DEFAULTS)


@pytest.fixture(scope="module", params=BACKENDS)
def limited(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            limits: Limits) -> Iterator[GlintServer]:
    folder = tmp_path_factory.mktemp(f"glint-unified-{request.param}")
    with database(request.param, folder) as url, glint_server(folder, url, extra={
            "DEFAULT": {"use_keystone_limits": True},
            "oslo_limit": limits.oslo_limit_section()}) as server:
        yield server


def _caller(server: GlintServer, project_id: str) -> Caller:
    return Caller(server.url, project_id, ("member", "reader"))


def _usage(caller: Caller) -> dict[str, dict[str, int]]:
    response = caller.http.get("/v2/info/usage")
    assert response.status_code == 200, response.text
    usage: dict[str, dict[str, int]] = response.json()["usage"]
    return usage


def test_usage_document(limited: GlintServer, limits: Limits) -> None:
    caller = _caller(limited, limits.project(image_count_total=7))
    assert _usage(caller) == {
        "image_size_total": {"limit": 2, "usage": 0},
        "image_stage_total": {"limit": 1, "usage": 0},
        "image_count_total": {"limit": 7, "usage": 0},
        "image_count_uploading": {"limit": 3, "usage": 0},
    }
    kept = caller.create()
    assert caller.upload(kept["id"], b"k" * MIB).status_code == 204
    gone = caller.create()
    assert caller.upload(gone["id"], b"g" * 1000).status_code == 204
    assert caller.http.delete(f"/v2/images/{gone['id']}").status_code == 204
    staged = caller.create()
    assert caller.http.put(f"/v2/images/{staged['id']}/stage", content=b"s" * MIB,
                           headers=OCTET).status_code == 204
    usage = _usage(caller)
    assert usage["image_size_total"] == {"limit": 2, "usage": 2}
    assert usage["image_stage_total"] == {"limit": 1, "usage": 1}
    assert usage["image_count_total"] == {"limit": 7, "usage": 2}
    assert usage["image_count_uploading"] == {"limit": 3, "usage": 1}


def test_image_count_total(limited: GlintServer, limits: Limits) -> None:
    project = limits.project(image_count_total=2)
    caller = _caller(limited, project)
    caller.create()
    caller.create()
    refused = caller.http.post("/v2/images", json={"name": "third"})
    assert refused.status_code == 413, refused.text
    assert refused.json()["message"].endswith(
        f"Project {project} is over a limit for [Resource image_count_total is over limit "
        "of 2 due to current usage 2 and delta 1]")


def test_image_size_total(limited: GlintServer, limits: Limits) -> None:
    caller = _caller(limited, limits.project(image_size_total=1))
    first = caller.create()
    assert caller.upload(first["id"], b"a" * (MIB // 2)).status_code == 204
    second = caller.create()
    refused = caller.upload(second["id"], b"b" * (MIB // 2 + 1))
    assert refused.status_code == 413, refused.text
    assert "Resource image_size_total is over limit of 1" in refused.json()["message"]
    assert refused.json()["message"].startswith(
        "The request returned a 413 Request Entity Too Large.")
    streamed = caller.http.put(f"/v2/images/{second['id']}/file", headers=OCTET,
                               content=iter([b"c" * 100_000] * 6))
    assert streamed.status_code == 413, streamed.text
    assert caller.upload(second["id"], b"b" * (MIB // 2)).status_code == 204


def test_image_stage_total(limited: GlintServer, limits: Limits) -> None:
    caller = _caller(limited, limits.project())  # the registered 1 MiB
    first = caller.create()
    assert caller.http.put(f"/v2/images/{first['id']}/stage", content=b"s" * (MIB // 2),
                           headers=OCTET).status_code == 204
    second = caller.create()
    refused = caller.http.put(f"/v2/images/{second['id']}/stage",
                              content=b"t" * (MIB // 2 + 1), headers=OCTET)
    assert refused.status_code == 413, refused.text
    assert "Resource image_stage_total is over limit of 1" in refused.json()["message"]
    # Uploads are not staged: only image_size_total (2 MiB) holds them.
    assert caller.upload(second["id"], b"u" * MIB).status_code == 204


def test_image_count_uploading(limited: GlintServer, limits: Limits) -> None:
    caller = _caller(limited, limits.project(image_count_uploading=1))
    staged = caller.create()
    assert caller.http.put(f"/v2/images/{staged['id']}/stage", content=b"s",
                           headers=OCTET).status_code == 204
    other = caller.create()
    refused = caller.upload(other["id"], b"x")
    assert refused.status_code == 413, refused.text
    assert "Resource image_count_uploading is over limit of 1" in refused.json()["message"]
    assert caller.http.delete(f"/v2/images/{staged['id']}").status_code == 204
    assert caller.upload(other["id"], b"x").status_code == 204


def test_usage_without_unified_limits(server: GlintServer) -> None:
    caller = _caller(server, uuid.uuid4().hex)
    response = caller.http.get("/v2/info/usage")
    assert response.status_code == 200
    assert response.json() == {"usage": {}}
