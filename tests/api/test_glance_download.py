"""glance-download between two `glint serve` in two regions of a real Keystone:
the catalog gives RegionTwo's image endpoint, the caller's token reads the
remote image, and its data and selected properties come over."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.conftest import CLIENTS
from tests.keystone import Keystone
from tests.servers import GlintServer, glint_server

pytestmark = pytest.mark.keystone

SERVICE_PASSWORD = "glint-service-secret"
# The importing site's image_size_cap: larger remote images fail after their metadata came.
CAP = 600_000


@dataclass
class Regions:
    local: GlintServer
    remote: GlintServer
    token: str
    remote_region: str


@pytest.fixture(scope="module")
def regions(keystone: Keystone, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Regions]:
    service_project, service_project_id = keystone.project()
    service_user = keystone.user(service_project_id, ("admin", "service"), SERVICE_PASSWORD)
    section = keystone.authtoken_section(service_user, SERVICE_PASSWORD, project=service_project)
    remote_folder = tmp_path_factory.mktemp("glint-region-two")
    local_folder = tmp_path_factory.mktemp("glint-region-one")
    with glint_server(remote_folder, f"sqlite:///{remote_folder / 'glint.db'}",
                      flavor="keystone", extra={"keystone_authtoken": section}) as remote:
        port = int(remote.url.rsplit(":", 1)[1])
        extra: dict[str, dict[str, object]] = {
            "keystone_authtoken": section,
            "DEFAULT": {"enabled_import_methods": "glance-direct,web-download,glance-download",
                        "image_size_cap": CAP},
            "import_filtering_opts": {"allowed_hosts": "127.0.0.1", "allowed_ports": port},
            "glance_download_properties": {"extra_properties": "hw_,os_distro,custom_"},
        }
        with glint_server(local_folder, f"sqlite:///{local_folder / 'glint.db'}",
                          flavor="keystone", extra=extra) as local:
            # Region names of their own: the Keystone is shared by the test session.
            here, there = (f"Region{name}-{uuid.uuid4().hex[:8]}" for name in ("One", "Two"))
            with keystone._admin() as admin:
                for region in (here, there):
                    assert admin.post("/regions", json={"region": {"id": region}}
                                      ).status_code == 201
                service = admin.post("/services", json={"service": {
                    "type": "image", "name": "glance"}}).json()["service"]["id"]
                for region, server in ((here, local), (there, remote)):
                    created = admin.post("/endpoints", json={"endpoint": {
                        "service_id": service, "interface": "public", "region_id": region,
                        "url": server.url}})
                    assert created.status_code == 201, created.text
            project, project_id = keystone.project()
            user = keystone.user(project_id, ("member", "reader"))
            try:
                yield Regions(local, remote, keystone.token(user, "pw-secret", project), there)
            finally:
                # The session's Keystone must be left with no image service: the tutorial
                # test creates its own and names it by type.
                with keystone._admin() as admin:
                    assert admin.delete(f"/services/{service}").status_code == 204


def _client(server: GlintServer, token: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"X-Auth-Token": token}, timeout=60)


def _remote_image(regions: Regions, data: bytes) -> str:
    with _client(regions.remote, regions.token) as remote:
        image = remote.post("/v2/images", json={
            "name": "source", "disk_format": "raw", "container_format": "bare",
            "hw_disk_bus": "scsi", "os_distro": "debian", "custom_x": "1",
            "os_type": "linux", "note": "stays behind"}).json()
        assert remote.put(f"/v2/images/{image['id']}/file", content=data, headers={
            "Content-Type": "application/octet-stream"}).status_code == 204
        return str(image["id"])


def _settled(client: httpx.Client, image_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while True:
        shown: dict[str, object] = client.get(f"/v2/images/{image_id}").json()
        if shown["status"] not in ("queued", "importing") or time.monotonic() > deadline \
                or "os_glance_failed_import" in shown:
            return shown
        time.sleep(0.1)


def test_import_from_another_region(regions: Regions) -> None:
    data = os.urandom(CAP - 5)
    remote_id = _remote_image(regions, data)
    with _client(regions.local, regions.token) as local:
        assert "glance-download" in local.get("/v2/info/import").json()[
            "import-methods"]["value"]
        image = local.post("/v2/images", json={
            "name": "copy", "disk_format": "qcow2", "container_format": "bare"}).json()
        response = local.post(f"/v2/images/{image['id']}/import", json={"method": {
            "name": "glance-download", "glance_region": regions.remote_region,
            "glance_image_id": remote_id}})
        assert response.status_code == 202, response.text
        shown = _settled(local, image["id"])
        assert shown["status"] == "active", local.get(f"/v2/images/{image['id']}/tasks").json()
        assert shown["checksum"] == hashlib.md5(data).hexdigest()
        assert (shown["disk_format"], shown["size"]) == ("raw", len(data))
        assert (shown["hw_disk_bus"], shown["os_distro"], shown["custom_x"]) == (
            "scsi", "debian", "1")
        assert "note" not in shown and "os_type" not in shown
        assert local.get(f"/v2/images/{image['id']}/file").content == data


def test_glance_client_imports_from_another_region(regions: Regions) -> None:
    """`glance image-create-via-import --import-method glance-download`, the stock client."""
    data = os.urandom(300_000)
    remote_id = _remote_image(regions, data)
    done = subprocess.run(
        [str(CLIENTS / "glance"), "--os-image-url", regions.local.url,
         "--os-auth-token", regions.token, "image-create-via-import", "--name", "pulled",
         "--disk-format", "raw", "--container-format", "bare",
         "--import-method", "glance-download", "--remote-region", regions.remote_region,
         "--remote-image-id", remote_id],
        # Standard input closed: with any stdin glance assumes image data is piped.
        capture_output=True, text=True, preexec_fn=lambda: os.close(0), timeout=120)
    assert done.returncode == 0, done.stderr
    image_id = next(line.split("|")[2].strip() for line in done.stdout.splitlines()
                    if line.startswith("| id "))
    with _client(regions.local, regions.token) as local:
        shown = _settled(local, image_id)
        assert shown["status"] == "active", shown
        assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
        assert shown["os_distro"] == "debian"


def test_bad_requests(regions: Regions) -> None:
    with _client(regions.local, regions.token) as local:
        image = local.post("/v2/images", json={
            "name": "x", "disk_format": "raw", "container_format": "bare"}).json()
        url = f"/v2/images/{image['id']}/import"
        for method in ({"glance_image_id": str(uuid.uuid4())},
                       {"glance_region": regions.remote_region},
                       {"glance_region": regions.remote_region, "glance_image_id": "x"}):
            response = local.post(url, json={"method": {"name": "glance-download", **method}})
            assert response.status_code == 400, response.text


@pytest.mark.parametrize(("method", "reason"), [
    ({"glance_region": "Nowhere"}, "public glance endpoint not found for region Nowhere"),
    ({"glance_service_interface": "internal"}, "internal glance endpoint not found"),
    ({"glance_image_id": str(uuid.uuid4())}, "answered 404"),
])
def test_failures_leave_the_image_queued(regions: Regions, method: dict[str, str],
                                         reason: str) -> None:
    remote_id = _remote_image(regions, b"small")
    method = {"glance_region": regions.remote_region, **method}
    with _client(regions.local, regions.token) as local:
        image = local.post("/v2/images", json={
            "name": "x", "disk_format": "raw", "container_format": "bare"}).json()
        response = local.post(f"/v2/images/{image['id']}/import", json={"method": {
            "name": "glance-download", "glance_image_id": remote_id, **method}})
        assert response.status_code == 202, response.text
        shown = _settled(local, image["id"])
        assert shown["status"] == "queued"
        [task] = local.get(f"/v2/images/{image['id']}/tasks").json()["tasks"]
        assert task["status"] == "failure" and reason in task["message"], task


def test_failure_puts_the_metadata_back(regions: Regions) -> None:
    remote_id = _remote_image(regions, os.urandom(CAP + 1))
    with _client(regions.local, regions.token) as local:
        image = local.post("/v2/images", json={
            "name": "x", "disk_format": "qcow2", "container_format": "bare",
            "hw_disk_bus": "ide"}).json()
        response = local.post(f"/v2/images/{image['id']}/import", json={"method": {
            "name": "glance-download", "glance_region": regions.remote_region,
            "glance_image_id": remote_id}})
        assert response.status_code == 202, response.text
        shown = _settled(local, image["id"])
        assert shown["status"] == "queued"
        assert (shown["disk_format"], shown["hw_disk_bus"]) == ("qcow2", "ide")
        assert "os_distro" not in shown and "custom_x" not in shown
