"""copy-image and partial failures over real HTTP: a `glint serve` with three
file stores, one of which ("broken") really fails every write once the server
runs (its folder is replaced by a plain file, which even root cannot write into)."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import Caller
from tests.servers import GlintServer, glint_server

OCTET = {"Content-Type": "application/octet-stream"}


@dataclass
class Site:
    server: GlintServer
    folder: Path
    owner: Caller
    admin: Caller


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("copy-image")
    extra: dict[str, dict[str, object]] = {
        "DEFAULT": {"enabled_backends": "fast:file, cheap:file, broken:file"},
        "glance_store": {"default_backend": "fast"},
        "fast": {"filesystem_store_datadir": folder / "fast"},
        "cheap": {"filesystem_store_datadir": folder / "cheap"},
        "broken": {"filesystem_store_datadir": folder / "broken"},
    }
    with glint_server(folder, f"sqlite:///{folder / 'glint.db'}", extra=extra) as server:
        broken = folder / "broken"
        if broken.is_dir():
            broken.rmdir()
        broken.write_text("not a folder")
        project = uuid.uuid4().hex
        yield Site(server, folder, Caller(server.url, project, ("member", "reader")),
                   Caller(server.url, project, ("admin", "member", "reader")))


def _wait(caller: Caller, image_id: object, done: str = "os_glance_import_task",
          timeout: float = 60) -> dict[str, object]:
    """The image once no import task holds it (and it is not importing)."""
    deadline = time.monotonic() + timeout
    while True:
        shown: dict[str, object] = caller.http.get(f"/v2/images/{image_id}").json()
        if (done not in shown and shown["status"] not in ("importing", "uploading")) \
                or time.monotonic() > deadline:
            return shown
        time.sleep(0.1)


def _copy(caller: Caller, image_id: object, **body: object) -> httpx.Response:
    return caller.http.post(f"/v2/images/{image_id}/import",
                            json={"method": {"name": "copy-image"}, **body})


def _active(site: Site, data: bytes) -> str:
    image = site.owner.create()
    assert site.owner.upload(image["id"], data).status_code == 204
    return str(image["id"])


def _files(site: Site, store: str, image_id: str) -> list[Path]:
    folder = site.folder / store
    return [p for p in folder.iterdir() if image_id in p.name] if folder.is_dir() else []


def _task(caller: Caller, image_id: object) -> dict[str, object]:
    tasks: list[dict[str, object]] = caller.http.get(
        f"/v2/images/{image_id}/tasks").json()["tasks"]
    return tasks[0]


def test_listed_as_an_import_method(site: Site) -> None:
    info = site.owner.http.get("/v2/info/import").json()
    assert "copy-image" in info["import-methods"]["value"]


def test_copy_to_another_store(site: Site) -> None:
    data = os.urandom(5 * 1024 * 1024 + 11)
    image_id = _active(site, data)
    response = _copy(site.admin, image_id, stores=["cheap"])
    assert response.status_code == 202, response.text
    shown = _wait(site.admin, image_id)
    assert shown["status"] == "active"
    assert shown["stores"] == "fast,cheap", _task(site.admin, image_id)
    assert "os_glance_importing_to_stores" not in shown and "os_glance_failed_import" not in shown
    [copy] = _files(site, "cheap", image_id)
    assert hashlib.sha512(copy.read_bytes()).hexdigest() == shown["os_hash_value"]
    assert _task(site.admin, image_id)["status"] == "success"
    # Once there, the same store is refused; all_stores has nothing left to do.
    assert _copy(site.admin, image_id, stores=["cheap"]).status_code == 400
    assert _copy(site.admin, image_id, stores=["nowhere"]).status_code == 409
    assert site.owner.http.get(f"/v2/images/{image_id}/file").content == data


def test_copy_is_for_admins_and_active_images(site: Site) -> None:
    image_id = _active(site, b"mine")
    assert _copy(site.owner, image_id, stores=["cheap"]).status_code == 403
    queued = site.owner.create()
    assert _copy(site.admin, queued["id"], stores=["cheap"]).status_code == 409
    assert _copy(site.admin, image_id, stores=["cheap"], all_stores=True).status_code == 400
    assert _copy(site.admin, image_id, all_stores_must_succeed="no").status_code == 400


def test_all_stores_when_already_everywhere(site: Site) -> None:
    image_id = _active(site, b"everywhere")
    assert _copy(site.admin, image_id, stores=["cheap"]).status_code == 202
    assert _wait(site.admin, image_id)["stores"] == "fast,cheap"
    # "broken" fails, so all_stores keeps trying it; without it nothing is left to do.
    response = _copy(site.admin, image_id, all_stores=True, all_stores_must_succeed=False)
    assert response.status_code == 202
    shown = _wait(site.admin, image_id)
    assert (shown["stores"], shown["os_glance_failed_import"]) == ("fast,cheap", "broken")


def test_copy_with_a_failing_store_may_keep_the_others(site: Site) -> None:
    data = os.urandom(300_000)
    image_id = _active(site, data)
    response = _copy(site.admin, image_id, stores=["broken", "cheap"],
                     all_stores_must_succeed=False)
    assert response.status_code == 202, response.text
    shown = _wait(site.admin, image_id)
    assert (shown["status"], shown["stores"]) == ("active", "fast,cheap")
    assert shown["os_glance_failed_import"] == "broken"
    assert "os_glance_importing_to_stores" not in shown
    assert _task(site.admin, image_id)["status"] == "success"
    assert len(_files(site, "cheap", image_id)) == 1


def test_copy_that_must_succeed_everywhere_leaves_nothing(site: Site) -> None:
    image_id = _active(site, os.urandom(300_000))
    assert _copy(site.admin, image_id, stores=["cheap", "broken"]).status_code == 202
    shown = _wait(site.admin, image_id)
    # The image is still active in its store; the copy made to "cheap" is gone.
    assert (shown["status"], shown["stores"]) == ("active", "fast")
    assert shown["os_glance_failed_import"] == "broken"
    assert not _files(site, "cheap", image_id)
    task = _task(site.admin, image_id)
    assert task["status"] == "failure" and "broken" in str(task["message"]), task
    # The lock is released: a new copy may follow.
    assert _copy(site.admin, image_id, stores=["cheap"]).status_code == 202
    assert _wait(site.admin, image_id)["stores"] == "fast,cheap"


def _staged(site: Site, data: bytes) -> str:
    image = site.owner.create()
    assert site.owner.http.put(f"/v2/images/{image['id']}/stage", content=data,
                               headers=OCTET).status_code == 204
    return str(image["id"])


def test_import_with_a_failing_store_may_keep_the_others(site: Site) -> None:
    data = os.urandom(200_000)
    image_id = _staged(site, data)
    response = site.owner.http.post(f"/v2/images/{image_id}/import", json={
        "method": {"name": "glance-direct"}, "stores": ["fast", "broken", "cheap"],
        "all_stores_must_succeed": False})
    assert response.status_code == 202, response.text
    shown = _wait(site.owner, image_id)
    assert (shown["status"], shown["stores"]) == ("active", "fast,cheap")
    assert shown["os_glance_failed_import"] == "broken"
    assert site.owner.http.get(f"/v2/images/{image_id}/file").content == data
    assert not list((site.folder / "staging").glob(f"*{image_id}*"))


def test_import_that_must_succeed_everywhere_fails_cleanly(site: Site) -> None:
    image_id = _staged(site, os.urandom(200_000))
    response = site.owner.http.post(f"/v2/images/{image_id}/import", json={
        "method": {"name": "glance-direct"}, "stores": ["fast", "cheap", "broken"]})
    assert response.status_code == 202, response.text
    shown = _wait(site.owner, image_id)
    assert shown["status"] == "queued"
    assert "stores" not in shown or not shown["stores"]
    assert shown["os_glance_failed_import"] == "broken"
    assert "os_glance_import_task" not in shown
    for store in ("fast", "cheap"):
        assert not _files(site, store, image_id)
    assert not list((site.folder / "staging").glob(f"*{image_id}*"))
    assert _task(site.owner, image_id)["status"] == "failure"
