"""Versions, version negotiation, schema documents and the health check."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonschema
import pytest

from glint.api.schema_documents import advertised_versions, image_schema, versions_document
from tests.conftest import Caller
from tests.servers import GlintServer, glint_server


def test_root_is_300_and_versions_200(anonymous: httpx.Client, server: GlintServer) -> None:
    root = anonymous.get("/")
    assert root.status_code == 300
    versions = anonymous.get("/versions")
    assert versions.status_code == 200
    assert root.json() == versions.json()
    listed = versions.json()["versions"]
    current = [v for v in listed if v["status"] == "CURRENT"]
    assert current == [{"id": "v2.17", "status": "CURRENT",
                        "links": [{"rel": "self", "href": f"{server.url}/v2/"}]}]
    assert [v["id"] for v in listed] == [
        f"v{n}" for n in advertised_versions(multistore=False, cache=False)]
    assert {v["id"] for v in listed} >= {"v2.0", "v2.9", "v2.15"}
    assert "v2.8" not in {v["id"] for v in listed}


@pytest.mark.parametrize("multistore,cache,current", [
    (False, False, "v2.17"), (True, False, "v2.17"), (False, True, "v2.18"), (True, True, "v2.18"),
])
def test_versions_gated_by_features(multistore: bool, cache: bool, current: str) -> None:
    document = versions_document("http://x", multistore=multistore, cache=cache)
    ids = [v["id"] for v in document["versions"]]
    assert [v["id"] for v in document["versions"] if v["status"] == "CURRENT"] == [current]
    assert all(v["status"] in ("CURRENT", "SUPPORTED") for v in document["versions"])
    assert ("v2.8" in ids) is multistore and ("v2.14" in ids) is cache
    assert len(advertised_versions(multistore=multistore, cache=cache)) == len(ids)


def test_version_prefixes_and_media_types(member: Caller) -> None:
    image = member.create()
    for prefix in ("/v2", "/v2.0", "/v2.1", "/v2.9", "/v2.17"):
        assert member.http.get(f"{prefix}/images/{image['id']}").status_code == 200, prefix
    assert member.http.get("/v2.8/images").status_code == 300  # multi-store only
    assert member.http.get("/v99/images").status_code == 300
    response = member.http.get(f"/images/{image['id']}",
                               headers={"Accept": "application/vnd.openstack.images-v2.1"})
    assert response.status_code == 200 and response.json()["id"] == image["id"]


@pytest.mark.parametrize("name", ["image", "images", "member", "members", "task", "tasks"])
def test_schema_documents_are_served(member: Caller, name: str) -> None:
    response = member.http.get(f"/v2/schemas/{name}")
    assert response.status_code == 200
    assert response.json()["name"] == name
    assert member.http.post(f"/v2/schemas/{name}").status_code == 405


def test_unknown_schema_is_404(member: Caller) -> None:
    assert member.http.get("/v2/schemas/nothing").status_code == 404


def test_images_validate_against_the_image_schema(member: Caller) -> None:
    image = member.create(name="valid", os_distro="cirros", tags=["x"])
    member.upload(image["id"], b"data")
    shown = member.http.get(f"/v2/images/{image['id']}").json()
    jsonschema.validate(shown, member.http.get("/v2/schemas/image").json())
    jsonschema.validate(member.http.get("/v2/images").json(),
                        member.http.get("/v2/schemas/images").json())


def test_image_schema_marks_computed_fields_read_only() -> None:
    properties = image_schema()["properties"]
    for name in ("status", "checksum", "os_hash_algo", "os_hash_value", "size", "virtual_size",
                 "created_at", "updated_at", "self", "file", "schema", "direct_url"):
        assert properties[name]["readOnly"] is True, name
    assert "readOnly" not in properties["name"]
    assert image_schema()["additionalProperties"] == {"type": "string"}
    assert image_schema(disk_formats=("raw",))["properties"]["disk_format"]["enum"] == [None, "raw"]


@pytest.fixture(scope="module")
def health_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GlintServer]:
    folder = tmp_path_factory.mktemp("glint-health")
    extra = {"healthcheck": {"backends": "disable_by_file",
                             "disable_by_file_path": folder / "disabled"}}
    with glint_server(folder, f"sqlite:///{folder / 'glint.db'}", extra=extra) as server:
        yield server


def test_healthcheck_and_disable_file(health_server: GlintServer) -> None:
    response = httpx.get(f"{health_server.url}/healthcheck")
    assert (response.status_code, response.text) == (200, "OK")
    Path(health_server.folder, "disabled").touch()
    response = httpx.get(f"{health_server.url}/healthcheck")
    assert (response.status_code, response.text) == (503, "DISABLED BY FILE")
