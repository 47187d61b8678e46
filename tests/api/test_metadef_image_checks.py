"""`validate_image_properties_with_metadefs`: image properties checked against the
OS::Glance::Image definitions, on every database backend."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import BACKENDS, Caller
from tests.servers import GlintServer, database, glint_server


@pytest.fixture(scope="module", params=BACKENDS)
def checking_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[GlintServer]:
    folder = tmp_path_factory.mktemp(f"glint-checks-{request.param}")
    extra: dict[str, dict[str, object]] = {
        "DEFAULT": {"validate_image_properties_with_metadefs": "true"}}
    with database(request.param, folder) as url, glint_server(folder, url, extra=extra) as running:
        yield running


@pytest.fixture(scope="module")
def defined(checking_server: GlintServer) -> str:
    """A namespace for images (prefix hw_) and one for flavors only."""
    admin = Caller(checking_server.url, uuid.uuid4().hex, ("admin",))
    response = admin.http.post("/v2/metadefs/namespaces", json={
        "namespace": "Test::Checks", "visibility": "public",
        "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "hw_"}],
        "properties": {
            "disk_bus": {"title": "Disk bus", "type": "string", "enum": ["virtio", "scsi"]},
            "cpu_cores": {"title": "Cores", "type": "integer", "minimum": 1, "maximum": 64},
        },
        "objects": [{"name": "Video", "properties": {
            "video_ram": {"title": "Video RAM", "type": "integer", "minimum": 0}}}],
    })
    assert response.status_code == 201, response.text
    flavor_only = admin.http.post("/v2/metadefs/namespaces", json={
        "namespace": "Test::FlavorOnly",
        "resource_type_associations": [{"name": "OS::Nova::Flavor", "prefix": "hw_"}],
        "properties": {"rng": {"title": "RNG", "type": "boolean"}},
    })
    assert flavor_only.status_code == 201
    return checking_server.url


def test_create_checks_defined_properties(defined: str) -> None:
    member = Caller(defined, uuid.uuid4().hex, ("member", "reader"))
    member.create(hw_disk_bus="scsi", hw_cpu_cores="4", hw_video_ram="16", anything="goes",
                  hw_rng="not-a-boolean")
    for name, value in [("hw_disk_bus", "floppy"), ("hw_cpu_cores", "many"),
                        ("hw_cpu_cores", "65"), ("hw_video_ram", "-1")]:
        response = member.http.post("/v2/images", json={name: value})
        assert response.status_code == 400, (name, value, response.text)
        assert name in response.json()["message"]


def test_update_checks_changed_properties(defined: str) -> None:
    member = Caller(defined, uuid.uuid4().hex, ("member", "reader"))
    image = member.create(hw_disk_bus="virtio")
    ok = member.patch(image["id"], [{"op": "add", "path": "/hw_cpu_cores", "value": "2"}])
    assert ok.status_code == 200, ok.text
    bad = member.patch(image["id"], [{"op": "replace", "path": "/hw_disk_bus", "value": "ide"}])
    assert bad.status_code == 400 and "hw_disk_bus" in bad.json()["message"]
    shown = member.http.get(f"/v2/images/{image['id']}").json()
    assert shown["hw_disk_bus"] == "virtio" and shown["hw_cpu_cores"] == "2"


def test_off_by_default(member: Caller) -> None:
    response = member.http.post("/v2/images", json={"hw_disk_bus": "anything"})
    assert response.status_code == 201
