"""Interoperable import over real HTTP: stage + glance-direct, web-download from a
local nginx (URI filtering, redirects), plugins, tasks, and recovery after a restart."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.api.test_format_inspection import Corpus, corpus  # noqa: F401 (fixture)
from tests.conftest import Caller
from tests.formats import crafted
from tests.helpers import (
    OCTET,
    Site,
    image_tasks,
    running_site,
    store_sections,
    wait_for_status,
)
from tests.servers import glint_server
from tests.web import nginx


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Glint allowing imports from the local nginx, with the conversion,
    decompression and metadata injection plugins."""
    web_folder = tmp_path_factory.mktemp("nginx")
    with nginx(web_folder, {"/redirect": "/disk.raw",
                            "/redirect-metadata": "http://169.254.169.254/latest/meta-data",
                            "/redirect-port": "http://127.0.0.1:1/disk.raw"}) as web:
        extra: dict[str, dict[str, object]] = {
            "image_import_opts": {
                "image_import_plugins": "image_decompression,image_conversion,"
                                        "inject_image_metadata"},
            "inject_metadata_properties": {"inject": "provenance:imported",
                                           "ignore_user_roles": "admin"},
        }
        with running_site(tmp_path_factory.mktemp("glint-import"), extra=extra, web=web) as site:
            yield site


def _import(caller: Caller, image_id: object, method: dict[str, object]) -> httpx.Response:
    return caller.http.post(f"/v2/images/{image_id}/import", json={"method": method})


def test_discovery_and_create_header(site: Site) -> None:
    info = site.member.http.get("/v2/info/import").json()
    assert info == {"import-methods": {"description": "Import methods available.",
                                       "type": "array",
                                       "value": ["glance-direct", "web-download"]}}
    response = site.member.http.post("/v2/images", json={"name": "x"})
    # copy-image is enabled but needs several stores, so it is not offered.
    assert response.headers["openstack-image-import-methods"] == "glance-direct,web-download"


def test_glance_direct(site: Site) -> None:
    member = site.member
    data = os.urandom(3 * 1024 * 1024 + 3)
    image = member.create(disk_format="raw")
    assert member.http.put(f"/v2/images/{image['id']}/stage", content=data,
                           headers=OCTET).status_code == 204
    staged = member.http.get(f"/v2/images/{image['id']}").json()
    assert (staged["status"], staged["size"]) == ("uploading", len(data))
    assert _import(member, image["id"], {"name": "glance-direct"}).status_code == 202
    shown = wait_for_status(member, image["id"], "active", "queued")
    assert shown["status"] == "active"
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert shown["virtual_size"] == len(data)
    assert shown["provenance"] == "imported"
    assert "os_glance_import_task" not in shown and "os_glance_importing_to_stores" not in shown
    assert member.http.get(f"/v2/images/{image['id']}/file").content == data
    [task] = image_tasks(member, image["id"])
    assert (task["type"], task["status"], task["image_id"]) == (
        "api_image_import", "success", image["id"])
    assert task["input"]["import_req"] == {"method": {"name": "glance-direct"}}  # type: ignore[index]
    assert task["result"] == {"image_id": image["id"]}
    # The Tasks API is for admins only.
    assert member.http.get("/v2/tasks").status_code == 403
    assert member.http.get(f"/v2/tasks/{task['id']}").status_code == 403
    shown_task = site.admin.http.get(f"/v2/tasks/{task['id']}").json()
    assert shown_task["status"] == "success"
    listed = site.admin.http.get("/v2/tasks", params={"status": "success"}).json()
    assert task["id"] in [t["id"] for t in listed["tasks"]]
    assert "input" not in listed["tasks"][0]
    assert site.admin.http.get("/v2/tasks", params={"status": "bogus"}).status_code == 400
    assert site.admin.http.delete(f"/v2/tasks/{task['id']}").status_code == 405


def test_admin_is_not_injected(site: Site) -> None:
    image = site.admin.create(disk_format="raw")
    site.admin.http.put(f"/v2/images/{image['id']}/stage", content=b"abc", headers=OCTET)
    assert _import(site.admin, image["id"], {"name": "glance-direct"}).status_code == 202
    assert "provenance" not in wait_for_status(site.admin, image["id"], "active")


def test_request_errors(site: Site) -> None:
    member = site.member
    image = member.create(disk_format="raw")
    image_id = image["id"]
    assert member.http.put(f"/v2/images/{image_id}/stage", content=b"x",
                           headers={"Content-Type": "text/plain"}).status_code == 415
    assert _import(member, image_id, {"name": "glance-direct"}).status_code == 409
    assert _import(member, image_id, {"name": "sneakernet"}).status_code == 400
    assert member.http.post(f"/v2/images/{image_id}/import", json={}).status_code == 400
    assert member.http.post(f"/v2/images/{image_id}/import",
                            json={"method": {"name": "glance-direct"},
                                  "all_stores": "yes"}).status_code == 400
    assert _import(member, image_id, {"name": "web-download"}).status_code == 400
    assert _import(site.admin, image_id, {"name": "copy-image"}).status_code == 400
    assert member.http.post(f"/v2/images/{image_id}/import",
                            json={"method": {"name": "glance-direct"},
                                  "all_stores_must_succeed": False}).status_code == 400
    unformatted = member.http.post("/v2/images", json={"name": "no formats"}).json()
    assert _import(member, unformatted["id"], {
        "name": "web-download", "uri": f"{site.web.url}/disk.raw"}).status_code == 409
    assert member.upload(image_id, b"data").status_code == 204
    assert member.http.put(f"/v2/images/{image_id}/stage", content=b"x",
                           headers=OCTET).status_code == 409
    assert _import(member, image_id, {"name": "glance-direct"}).status_code == 409
    assert site.admin.http.post(f"/v2/images/{uuid.uuid4()}/import",
                                json={"method": {"name": "glance-direct"}}).status_code == 404


def test_unsafe_stage_is_refused_and_image_queued(site: Site) -> None:
    image = site.member.create(disk_format="qcow2")
    response = site.member.http.put(f"/v2/images/{image['id']}/stage",
                                    content=crafted.qcow2(backing=True), headers=OCTET)
    assert response.status_code == 415
    assert wait_for_status(site.member, image["id"], "queued")["status"] == "queued"
    assert not list(site.server.folder.glob("staging/*"))


@pytest.mark.parametrize("uri", [
    "file:///etc/passwd", "ftp://127.0.0.1/x", "http://127.0.0.1:1/disk.raw",
    "http://169.254.169.254/latest/meta-data", "http://2130706433/x", "http://localhost/x",
])
def test_web_download_refuses_uris(site: Site, uri: str) -> None:
    image = site.member.create(disk_format="raw")
    response = _import(site.member, image["id"], {"name": "web-download", "uri": uri})
    assert response.status_code == 400, response.text
    assert site.member.http.get(f"/v2/images/{image['id']}").json()["status"] == "queued"


def _served(site: Site, name: str, data: bytes) -> str:
    (site.web.root / name).write_bytes(data)
    return f"{site.web.url}/{name}"


def test_web_download_with_conversion(site: Site, corpus: Corpus) -> None:  # noqa: F811
    qcow2 = corpus.create("web.qcow2", "qcow2", "24M")
    uri = _served(site, "web.qcow2", qcow2.read_bytes())
    image = site.member.create(disk_format="qcow2")
    assert _import(site.member, image["id"], {"name": "web-download", "uri": uri}).status_code == 202
    shown = wait_for_status(site.member, image["id"], "active", "queued")
    assert shown["status"] == "active", image_tasks(site.member, image["id"])
    assert (shown["disk_format"], shown["size"], shown["virtual_size"]) == (
        "raw", 24 << 20, 24 << 20)


def test_web_download_follows_allowed_redirect_and_decompresses(site: Site) -> None:
    data = os.urandom(100_000)
    (site.web.root / "disk.raw").write_bytes(gzip.compress(data))
    image = site.member.create(disk_format="raw")
    assert _import(site.member, image["id"], {
        "name": "web-download", "uri": f"{site.web.url}/redirect"}).status_code == 202
    shown = wait_for_status(site.member, image["id"], "active", "queued")
    assert shown["status"] == "active", image_tasks(site.member, image["id"])
    assert shown["checksum"] == hashlib.md5(data).hexdigest()


@pytest.mark.parametrize(("path", "reason"), [
    ("/redirect-metadata", "169.254.169.254"),
    ("/redirect-port", "Port 1"),
    ("/missing.raw", "404"),
    ("/loop", "redirected more than"),
])
def test_failed_web_download_ends_queued(site: Site, path: str, reason: str) -> None:
    image = site.member.create(disk_format="raw")
    assert _import(site.member, image["id"], {
        "name": "web-download", "uri": f"{site.web.url}{path}"}).status_code == 202
    shown = wait_for_status(site.member, image["id"], "queued")
    assert shown["status"] == "queued"
    assert shown["os_glance_failed_import"] == "file"
    assert "os_glance_import_task" not in shown
    [task] = image_tasks(site.member, image["id"])
    assert task["status"] == "failure" and reason in str(task["message"]), task
    # A new import may follow.
    (site.web.root / "ok.raw").write_bytes(b"ok")
    assert _import(site.member, image["id"], {
        "name": "web-download", "uri": f"{site.web.url}/ok.raw"}).status_code == 202
    assert wait_for_status(site.member, image["id"], "active")["status"] == "active"


def test_unsafe_download_is_refused(site: Site) -> None:
    uri = _served(site, "evil.qcow2", crafted.qcow2(backing=True))
    image = site.member.create(disk_format="raw")
    assert _import(site.member, image["id"], {"name": "web-download", "uri": uri}).status_code == 202
    shown = wait_for_status(site.member, image["id"], "queued")
    [task] = image_tasks(site.member, image["id"])
    assert (shown["status"], task["status"]) == ("queued", "failure")
    assert "backing file" in str(task["message"])


def test_import_is_picked_up_after_a_restart(tmp_path: Path) -> None:
    """A task whose worker died is run by the next server; an image left
    importing with no task goes back to queued; stray staged data is removed."""
    url = f"sqlite:///{tmp_path / 'glint.db'}"
    data = os.urandom(50_000)
    with glint_server(tmp_path, url) as server:
        caller = Caller(server.url, uuid.uuid4().hex, ("member", "reader"))
        image = caller.create(disk_format="raw")
        caller.http.put(f"/v2/images/{image['id']}/stage", content=data, headers=OCTET)
        orphan = caller.create(disk_format="raw")
    engine = create_engine(url)
    task_id = str(uuid.uuid4())
    long_ago = "2001-01-01 00:00:00.000000"
    with engine.begin() as db:
        db.execute(text("UPDATE images SET status='importing', updated_at=:t WHERE id IN (:a, :b)"),
                   {"t": long_ago, "a": image["id"], "b": orphan["id"]})
        db.execute(text("INSERT INTO image_properties (image_id, name, value) "
                        "VALUES (:i, 'os_glance_import_task', :t)"), {"i": image["id"], "t": task_id})
        db.execute(text(
            "INSERT INTO tasks (id, type, status, owner, image_id, input, message, created_at, "
            "updated_at, deleted) VALUES (:id, 'api_image_import', 'processing', :o, :i, :inp, '', "
            ":t, :t, 0)"),
            {"id": task_id, "o": caller.project_id, "i": image["id"], "t": long_ago,
             "inp": json.dumps({"image_id": image["id"],
                                "import_req": {"method": {"name": "glance-direct"}}})})
    engine.dispose()
    stray = tmp_path / "staging" / str(uuid.uuid4())
    stray.write_bytes(b"left by a deleted image")
    with glint_server(tmp_path, url) as server:
        caller = Caller(server.url, caller.project_id, ("member", "reader"))
        shown = wait_for_status(caller, image["id"], "active")
        assert shown["status"] == "active"
        assert shown["checksum"] == hashlib.md5(data).hexdigest()
        assert wait_for_status(caller, orphan["id"], "queued")["status"] == "queued"
        assert not stray.exists()
        assert not list((tmp_path / "staging").iterdir())


@pytest.fixture(scope="module")
def multi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Caller]:
    folder = tmp_path_factory.mktemp("import-multistore")
    stores = store_sections(folder, {"fast": "file", "cheap": "file", "web": "http"}, "fast")
    with running_site(folder, extra=stores) as site:
        yield site.member


def _staged(caller: Caller, data: bytes) -> object:
    image = caller.create(disk_format="raw")
    assert caller.http.put(f"/v2/images/{image['id']}/stage", content=data,
                           headers=OCTET).status_code == 204
    return image["id"]


@pytest.mark.parametrize(("body", "header", "stores"), [
    ({"stores": ["fast", "cheap"]}, None, {"fast", "cheap"}),
    ({"all_stores": True}, None, {"fast", "cheap"}),
    ({}, "cheap", {"cheap"}),
    ({}, None, {"fast"}),
])
def test_import_to_several_stores(multi: Caller, body: dict[str, object], header: str | None,
                                  stores: set[str]) -> None:
    data = os.urandom(70_000)
    image_id = _staged(multi, data)
    response = multi.http.post(f"/v2/images/{image_id}/import",
                               json={"method": {"name": "glance-direct"}, **body},
                               headers={"X-Image-Meta-Store": header} if header else {})
    assert response.status_code == 202, response.text
    shown = wait_for_status(multi, image_id, "active", "queued")
    assert shown["status"] == "active", image_tasks(multi, image_id)
    assert set(str(shown["stores"]).split(",")) == stores
    assert "os_glance_failed_import" not in shown and "os_glance_importing_to_stores" not in shown
    assert multi.http.get(f"/v2/images/{image_id}/file").content == data
    [task] = image_tasks(multi, image_id)
    assert set(task["input"]["backend"]) == stores  # type: ignore[index]


@pytest.mark.parametrize(("body", "header", "status"), [
    ({"stores": ["nowhere"]}, None, 409),
    ({"stores": ["web"]}, None, 409),
    ({"stores": ["fast"], "all_stores": True}, None, 400),
    ({"stores": ["fast"]}, "cheap", 400),
    ({"stores": "fast"}, None, 400),
    ({"all_stores_must_succeed": "no"}, None, 400),
])
def test_bad_store_requests(multi: Caller, body: dict[str, object], header: str | None,
                            status: int) -> None:
    image_id = _staged(multi, b"abc")
    response = multi.http.post(f"/v2/images/{image_id}/import",
                               json={"method": {"name": "glance-direct"}, **body},
                               headers={"X-Image-Meta-Store": header} if header else {})
    assert response.status_code == status, response.text
    assert multi.http.get(f"/v2/images/{image_id}").json()["status"] == "uploading"
