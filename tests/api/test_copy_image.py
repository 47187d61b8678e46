"""copy-image and partial failures over real HTTP: a `glint serve` with three
file stores, one of which ("broken") really fails every write once the server
runs (its folder is replaced by a plain file, which even root cannot write into)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Caller
from tests.helpers import (
    OCTET,
    Site,
    image_tasks,
    running_site,
    store_sections,
    upload_active,
    wait_for_import,
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The member and the admin are of one project."""
    folder = tmp_path_factory.mktemp("copy-image")
    stores = store_sections(folder, {"fast": "file", "cheap": "file", "broken": "file"}, "fast")
    with running_site(folder, extra=stores, one_project=True) as site:
        broken = folder / "broken"
        if broken.is_dir():
            broken.rmdir()
        broken.write_text("not a folder")
        yield site


def _copy(caller: Caller, image_id: object, **body: object) -> httpx.Response:
    return caller.http.post(f"/v2/images/{image_id}/import",
                            json={"method": {"name": "copy-image"}, **body})


def _files(site: Site, store: str, image_id: str) -> list[Path]:
    folder = site.folder / store
    return [p for p in folder.iterdir() if image_id in p.name] if folder.is_dir() else []


def test_listed_as_an_import_method(site: Site) -> None:
    info = site.member.http.get("/v2/info/import").json()
    assert "copy-image" in info["import-methods"]["value"]


def test_copy_to_another_store(site: Site) -> None:
    data = os.urandom(5 * 1024 * 1024 + 11)
    image_id = str(upload_active(site.member, data)["id"])
    response = _copy(site.admin, image_id, stores=["cheap"])
    assert response.status_code == 202, response.text
    shown = wait_for_import(site.admin, image_id)
    assert shown["status"] == "active"
    assert shown["stores"] == "fast,cheap", image_tasks(site.admin, image_id)[0]
    assert "os_glance_importing_to_stores" not in shown and "os_glance_failed_import" not in shown
    [copy] = _files(site, "cheap", image_id)
    assert hashlib.sha512(copy.read_bytes()).hexdigest() == shown["os_hash_value"]
    assert image_tasks(site.admin, image_id)[0]["status"] == "success"
    # Once there, the same store is refused; all_stores has nothing left to do.
    assert _copy(site.admin, image_id, stores=["cheap"]).status_code == 400
    assert _copy(site.admin, image_id, stores=["nowhere"]).status_code == 409
    assert site.member.http.get(f"/v2/images/{image_id}/file").content == data


def test_copy_is_for_admins_and_active_images(site: Site) -> None:
    image_id = str(upload_active(site.member, b"mine")["id"])
    assert _copy(site.member, image_id, stores=["cheap"]).status_code == 403
    queued = site.member.create()
    assert _copy(site.admin, queued["id"], stores=["cheap"]).status_code == 409
    assert _copy(site.admin, image_id, stores=["cheap"], all_stores=True).status_code == 400
    assert _copy(site.admin, image_id, all_stores_must_succeed="no").status_code == 400


def test_all_stores_when_already_everywhere(site: Site) -> None:
    image_id = str(upload_active(site.member, b"everywhere")["id"])
    assert _copy(site.admin, image_id, stores=["cheap"]).status_code == 202
    assert wait_for_import(site.admin, image_id)["stores"] == "fast,cheap"
    # "broken" fails, so all_stores keeps trying it; without it nothing is left to do.
    response = _copy(site.admin, image_id, all_stores=True, all_stores_must_succeed=False)
    assert response.status_code == 202
    shown = wait_for_import(site.admin, image_id)
    assert (shown["stores"], shown["os_glance_failed_import"]) == ("fast,cheap", "broken")


def test_copy_with_a_failing_store_may_keep_the_others(site: Site) -> None:
    data = os.urandom(300_000)
    image_id = str(upload_active(site.member, data)["id"])
    response = _copy(site.admin, image_id, stores=["broken", "cheap"],
                     all_stores_must_succeed=False)
    assert response.status_code == 202, response.text
    shown = wait_for_import(site.admin, image_id)
    assert (shown["status"], shown["stores"]) == ("active", "fast,cheap")
    assert shown["os_glance_failed_import"] == "broken"
    assert "os_glance_importing_to_stores" not in shown
    assert image_tasks(site.admin, image_id)[0]["status"] == "success"
    assert len(_files(site, "cheap", image_id)) == 1


def test_copy_that_must_succeed_everywhere_leaves_nothing(site: Site) -> None:
    image_id = str(upload_active(site.member, os.urandom(300_000))["id"])
    assert _copy(site.admin, image_id, stores=["cheap", "broken"]).status_code == 202
    shown = wait_for_import(site.admin, image_id)
    # The image is still active in its store; the copy made to "cheap" is gone.
    assert (shown["status"], shown["stores"]) == ("active", "fast")
    assert shown["os_glance_failed_import"] == "broken"
    assert not _files(site, "cheap", image_id)
    task = image_tasks(site.admin, image_id)[0]
    assert task["status"] == "failure" and "broken" in str(task["message"]), task
    # The lock is released: a new copy may follow.
    assert _copy(site.admin, image_id, stores=["cheap"]).status_code == 202
    assert wait_for_import(site.admin, image_id)["stores"] == "fast,cheap"


def _staged(site: Site, data: bytes) -> str:
    image = site.member.create()
    assert site.member.http.put(f"/v2/images/{image['id']}/stage", content=data,
                               headers=OCTET).status_code == 204
    return str(image["id"])


def test_import_with_a_failing_store_may_keep_the_others(site: Site) -> None:
    data = os.urandom(200_000)
    image_id = _staged(site, data)
    response = site.member.http.post(f"/v2/images/{image_id}/import", json={
        "method": {"name": "glance-direct"}, "stores": ["fast", "broken", "cheap"],
        "all_stores_must_succeed": False})
    assert response.status_code == 202, response.text
    shown = wait_for_import(site.member, image_id)
    assert (shown["status"], shown["stores"]) == ("active", "fast,cheap")
    assert shown["os_glance_failed_import"] == "broken"
    assert site.member.http.get(f"/v2/images/{image_id}/file").content == data
    assert not list((site.folder / "staging").glob(f"*{image_id}*"))


def test_import_that_must_succeed_everywhere_fails_cleanly(site: Site) -> None:
    image_id = _staged(site, os.urandom(200_000))
    response = site.member.http.post(f"/v2/images/{image_id}/import", json={
        "method": {"name": "glance-direct"}, "stores": ["fast", "cheap", "broken"]})
    assert response.status_code == 202, response.text
    shown = wait_for_import(site.member, image_id)
    assert shown["status"] == "queued"
    assert "stores" not in shown or not shown["stores"]
    assert shown["os_glance_failed_import"] == "broken"
    assert "os_glance_import_task" not in shown
    for store in ("fast", "cheap"):
        assert not _files(site, store, image_id)
    assert not list((site.folder / "staging").glob(f"*{image_id}*"))
    assert image_tasks(site.member, image_id)[0]["status"] == "failure"
