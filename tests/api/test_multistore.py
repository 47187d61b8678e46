"""Several stores at once over real HTTP: two filesystem stores and a read-only http store."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Caller
from tests.helpers import OCTET, running_site, store_sections, upload_active
from tests.servers import GlintServer
from tests.web import WebServer, nginx


@pytest.fixture(scope="module")
def multistore(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GlintServer]:
    folder = tmp_path_factory.mktemp("multistore")
    extra = store_sections(folder, {"fast": "file", "cheap": "file", "web": "http"}, "fast")
    extra["fast"]["store_description"] = "Fast disks"
    extra["cheap"]["weight"] = 50
    with running_site(folder, extra=extra) as site:
        yield site.server


@pytest.fixture
def owner(multistore: GlintServer) -> Caller:
    return Caller(multistore.url, uuid.uuid4().hex, ("member", "reader"))


@pytest.fixture
def boss(multistore: GlintServer) -> Caller:
    return Caller(multistore.url, uuid.uuid4().hex, ("admin", "member", "reader"))


def _copy_to(server: GlintServer, image_id: object, store: str, data: bytes) -> None:
    """Put a second copy of the data into another store, as copy-image would."""
    path = server.folder / store / str(image_id)
    path.write_bytes(data)
    with sqlite3.connect(server.folder / "glint.db") as connection:
        connection.execute(
            "INSERT INTO image_locations (image_id, url, store, meta_data, position) "
            "VALUES (?, ?, ?, ?, 1)", (str(image_id), path.as_uri(), store, json.dumps({})))


def test_versions_include_multistore_ones(multistore: GlintServer, owner: Caller) -> None:
    ids = [v["id"] for v in owner.http.get("/versions").json()["versions"]]
    assert {"v2.8", "v2.10", "v2.13"} <= set(ids)
    assert owner.http.get("/v2.8/images").status_code == 200


def test_info_stores(owner: Caller) -> None:
    response = owner.http.get("/v2/info/stores")
    assert response.status_code == 200
    assert response.json() == {"stores": [
        {"id": "fast", "description": "Fast disks", "default": "true"},
        {"id": "cheap"},
        {"id": "web", "read-only": "true"},
    ]}


def test_info_stores_detail_for_admins_only(owner: Caller, boss: Caller,
                                            multistore: GlintServer) -> None:
    assert owner.http.get("/v2/info/stores/detail").status_code == 403
    stores = {s["id"]: s for s in boss.http.get("/v2/info/stores/detail").json()["stores"]}
    assert stores["fast"]["type"] == "file" and stores["fast"]["weight"] == 0
    assert stores["fast"]["properties"]["data_dir"] == str((multistore.folder / "fast").resolve())
    assert stores["cheap"]["weight"] == 50
    assert stores["web"] == {"id": "web", "read-only": "true", "type": "http",
                             "properties": {}, "weight": 0}


def test_create_names_the_writable_stores(owner: Caller) -> None:
    response = owner.http.post("/v2/images", json={"disk_format": "raw",
                                                   "container_format": "bare"})
    assert response.headers["OpenStack-image-store-ids"] == "fast,cheap"
    assert "stores" not in response.json()  # no data yet


def test_upload_to_default_and_named_store(owner: Caller, multistore: GlintServer) -> None:
    default = upload_active(owner, b"to the default")
    assert default["stores"] == "fast"
    assert (multistore.folder / "fast" / str(default["id"])).exists()
    named = upload_active(owner, b"to cheap", store="cheap")
    assert named["stores"] == "cheap"
    assert (multistore.folder / "cheap" / str(named["id"])).read_bytes() == b"to cheap"


@pytest.mark.parametrize("store", ["floppy", "web"])
def test_upload_to_unknown_or_read_only_store_is_400(owner: Caller, store: str) -> None:
    image = owner.create()
    response = owner.http.put(f"/v2/images/{image['id']}/file", content=b"x",
                              headers={**OCTET, "X-Image-Meta-Store": store})
    assert response.status_code == 400
    assert owner.http.get(f"/v2/images/{image['id']}").json()["status"] == "queued"


def test_reads_follow_weight_then_prefer(owner: Caller, multistore: GlintServer) -> None:
    image = upload_active(owner, b"fast-copy")
    _copy_to(multistore, image["id"], "cheap", b"slow-copy")
    url = f"/v2/images/{image['id']}/file"
    assert owner.http.get(f"/v2/images/{image['id']}").json()["stores"] == "fast,cheap"
    assert owner.http.get(url).content == b"slow-copy"  # cheap weighs more
    assert owner.http.get(url, params={"prefer": "fast"}).content == b"fast-copy"
    assert owner.http.get(url, params={"prefer": "web,fast"}).content == b"fast-copy"
    assert owner.http.get(url, params={"prefer": "floppy"}).status_code == 400
    ranged = owner.http.get(url, params={"prefer": "fast"}, headers={"Range": "bytes=5-8"})
    assert ranged.status_code == 206 and ranged.content == b"copy"
    # A copy that went missing: the next location serves.
    (multistore.folder / "cheap" / str(image["id"])).unlink()
    assert owner.http.get(url).content == b"fast-copy"


def test_delete_from_store(owner: Caller, boss: Caller, multistore: GlintServer) -> None:
    image = upload_active(boss, b"two copies")
    _copy_to(multistore, image["id"], "cheap", b"two copies")
    path = f"/v2/stores/cheap/{image['id']}"
    assert owner.http.delete(path).status_code == 404  # cannot see boss's private image
    assert boss.http.delete(f"/v2/stores/floppy/{image['id']}").status_code == 409
    assert boss.http.delete(path).status_code == 204
    assert not (multistore.folder / "cheap" / str(image["id"])).exists()
    assert boss.http.get(f"/v2/images/{image['id']}").json()["stores"] == "fast"
    # The last copy stays: 403, before "not in that store".
    assert boss.http.delete(path).status_code == 403
    assert boss.http.delete(f"/v2/stores/fast/{image['id']}").status_code == 403
    assert boss.http.get(f"/v2/images/{image['id']}/file").content == b"two copies"


def test_delete_from_store_keeps_data_another_image_uses(boss: Caller,
                                                         multistore: GlintServer) -> None:
    first = upload_active(boss, b"shared bytes")
    _copy_to(multistore, first["id"], "cheap", b"shared bytes")
    second = upload_active(boss, b"shared bytes")
    shared = multistore.folder / "cheap" / str(first["id"])
    with sqlite3.connect(multistore.folder / "glint.db") as connection:
        connection.execute(
            "INSERT INTO image_locations (image_id, url, store, meta_data, position) "
            "VALUES (?, ?, 'cheap', '{}', 1)", (str(second["id"]), shared.as_uri()))
    assert boss.http.delete(f"/v2/stores/cheap/{second['id']}").status_code == 204
    assert boss.http.get(f"/v2/images/{second['id']}").json()["stores"] == "fast"
    assert shared.read_bytes() == b"shared bytes"  # the first image still uses it
    assert boss.http.get(f"/v2/images/{first['id']}/file",
                         params={"prefer": "cheap"}).content == b"shared bytes"


def test_delete_from_store_rules(owner: Caller, boss: Caller) -> None:
    queued = boss.create()
    assert boss.http.delete(f"/v2/stores/fast/{queued['id']}").status_code == 409
    mine = upload_active(owner, b"x")
    assert owner.http.delete(f"/v2/stores/fast/{mine['id']}").status_code == 403  # admin only


def test_without_multistore(member: Caller) -> None:
    assert member.http.get("/v2/info/stores").status_code == 404
    image = member.create()
    assert member.http.delete(f"/v2/stores/file/{image['id']}").status_code == 404
    member.upload(image["id"], b"data")
    shown = member.http.get(f"/v2/images/{image['id']}").json()
    assert "stores" not in shown
    url = f"/v2/images/{image['id']}/file"
    assert member.http.get(url, params={"prefer": "file"}).status_code == 400
    assert member.http.put(f"/v2/images/{member.create()['id']}/file", content=b"x",
                           headers={**OCTET, "X-Image-Meta-Store": "nowhere"}
                           ).status_code == 204  # ignored, as in Glance
    ids = [v["id"] for v in member.http.get("/versions").json()["versions"]]
    assert "v2.8" not in ids


def test_multistore_folder_layout(multistore: GlintServer) -> None:
    assert Path(multistore.folder / "fast").is_dir() and Path(multistore.folder / "cheap").is_dir()


def test_locations_for_services_and_admins(owner: Caller, boss: Caller,
                                           multistore: GlintServer) -> None:
    image = upload_active(owner, b"where am I")
    path = f"/v2/images/{image['id']}/locations"
    assert owner.http.get(path).status_code == 403
    # Nova asks with the user's token and its own service token: the user's project.
    service = Caller(multistore.url, owner.project_id, ("member", "reader", "service"))
    for caller in (boss, service):
        response = caller.http.get(path)
        assert response.status_code == 200, response.text
        assert response.json() == [{
            "url": (multistore.folder / "fast" / str(image["id"])).resolve().as_uri(),
            "metadata": {"store": "fast"}}]
    assert boss.http.get(f"/v2/images/{uuid.uuid4()}/locations").status_code == 404


def test_declared_size_beyond_free_space_is_413(owner: Caller, multistore: GlintServer) -> None:
    declared = shutil.disk_usage(multistore.folder / "fast").free + (1 << 30)
    if declared >= 1 << 40:
        pytest.skip("more free space than the default image_size_cap")
    image = owner.create()

    def body() -> Iterator[bytes]:
        yield b"x" * 1024

    response = owner.http.put(f"/v2/images/{image['id']}/file", content=body(),
                              headers={**OCTET, "x-openstack-image-size": str(declared)})
    assert response.status_code == 413, response.text
    assert owner.http.get(f"/v2/images/{image['id']}").json()["status"] == "queued"
    assert str(image["id"]) not in " ".join(os.listdir(multistore.folder / "fast"))


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    with nginx(tmp_path_factory.mktemp("nginx")) as server:
        yield server


def _published(web: WebServer, data: bytes) -> str:
    name = uuid.uuid4().hex
    (web.root / name).write_bytes(data)
    return f"{web.url}/{name}"


def test_add_location_for_services(owner: Caller, web: WebServer,
                                   multistore: GlintServer) -> None:
    data = os.urandom(100_000)
    url = _published(web, data)
    service = Caller(multistore.url, owner.project_id, ("member", "reader", "service"))
    image = owner.create()
    path = f"/v2/images/{image['id']}/locations"
    body = {"url": url, "validation_data": {"os_hash_algo": "sha512",
                                            "os_hash_value": hashlib.sha512(data).hexdigest()}}
    assert service.http.post(path, json=body).status_code == 202
    shown = owner.http.get(f"/v2/images/{image['id']}").json()
    assert shown["status"] == "active" and shown["size"] == len(data)
    assert shown["checksum"] == hashlib.md5(data).hexdigest() and shown["stores"] == "web"
    assert owner.http.get(f"/v2/images/{image['id']}/file").content == data
    ranged = owner.http.get(f"/v2/images/{image['id']}/file", headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206 and ranged.content == data[10:20]
    assert service.http.get(path).json() == [{"url": url, "metadata": {"store": "web"}}]
    assert service.http.post(path, json={"url": url}).status_code == 409  # not queued


def test_add_location_checks(owner: Caller, boss: Caller, web: WebServer) -> None:
    url = _published(web, b"some data")
    image = boss.create()
    path = f"/v2/images/{image['id']}/locations"
    wrong = {"url": url, "validation_data": {"os_hash_algo": "sha512",
                                             "os_hash_value": "0" * 128}}
    # What only the data tells fails the location_import task (202), as in Glance.
    assert boss.http.post(path, json=wrong).status_code == 202
    assert boss.http.post(path, json={"url": url, "validation_data": {
        "os_hash_algo": "sha256", "os_hash_value": "0" * 64}}).status_code == 202
    assert boss.http.post(path, json={"url": f"{web.url}/missing"}).status_code == 202
    tasks = boss.http.get(f"/v2/images/{image['id']}/tasks").json()["tasks"]
    assert [t["status"] for t in tasks] == ["failure"] * 3
    # No store reads outside its own folders: a request error, no task.
    assert boss.http.post(path, json={"url": "file:///etc/passwd"}).status_code == 400
    assert boss.http.post(path, json={"href": url}).status_code == 400
    assert boss.http.get(f"/v2/images/{image['id']}").json()["status"] == "queued"
    assert boss.http.post(path, json={"url": url}).status_code == 202
    assert boss.http.get(f"/v2/images/{image['id']}/file").content == b"some data"
    # Owners without the service role: held to the import URI filter (loopback, port).
    mine = owner.create()
    assert owner.http.post(f"/v2/images/{mine['id']}/locations",
                           json={"url": url}).status_code == 400


@pytest.mark.parametrize(("body", "header", "message"), [
    ({"stores": "fast"}, None, "'stores' must be a non-empty list of store ids"),
    ({"stores": []}, None, "'stores' must be a non-empty list of store ids"),
    ({"stores": ["fast", 3]}, None, "'stores' must be a non-empty list of store ids"),
    ({"stores": ["fast"], "all_stores": True}, None,
     "'stores' and 'all_stores' cannot be given together"),
    ({"all_stores": True}, "fast", "'stores' and 'all_stores' cannot be given together"),
    ({"stores": ["fast"]}, "cheap", "Stores given both in the body and the X-Image-Meta-Store"),
])
def test_import_target_stores_are_checked(owner: Caller, body: dict[str, object],
                                          header: str | None, message: str) -> None:
    image = owner.http.post("/v2/images", json={"disk_format": "raw",
                                                "container_format": "bare"}).json()
    assert owner.http.put(f"/v2/images/{image['id']}/stage", content=b"x" * 512,
                          headers=OCTET).status_code == 204
    response = owner.http.post(
        f"/v2/images/{image['id']}/import",
        json={"method": {"name": "glance-direct"}, **body},
        headers={"X-Image-Meta-Store": header} if header else {})
    assert response.status_code == 400, response.text
    assert message in response.text
