"""Imports under `user_storage_quota`: each copy-image copy counts as much as the
image, and a copy that would pass the quota is refused with 413 when it is
asked for; a web-download that crosses it fails its task, nothing kept."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import BACKENDS, Caller
from tests.helpers import (
    Site,
    image_tasks,
    running_site,
    store_sections,
    upload_active,
    wait_for_import,
    wait_for_status,
)
from tests.servers import database
from tests.web import nginx

QUOTA = 10_000


@pytest.fixture(scope="module", params=BACKENDS)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp(f"copy-quota-{request.param}")
    sections = store_sections(folder, {"fast": "file", "cheap": "file", "spare": "file"},
                              "fast")
    sections["DEFAULT"]["user_storage_quota"] = QUOTA
    with database(request.param, folder) as url, nginx(folder / "web") as web, running_site(
            folder, database_url=url, extra=sections, one_project=True, web=web) as site:
        yield site


def _reservations(site: Site) -> int:
    engine = create_engine(site.database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM quota_reservations"))
                       .scalar() or 0)
    finally:
        engine.dispose()


def test_copies_count_against_the_quota(site: Site) -> None:
    image_id = str(upload_active(site.member, b"c" * 4000)["id"])
    copied = site.admin.http.post(f"/v2/images/{image_id}/import", json={
        "method": {"name": "copy-image"}, "stores": ["cheap"]})
    assert copied.status_code == 202, copied.text
    assert wait_for_import(site.admin, image_id)["stores"] == "fast,cheap"
    assert _reservations(site) == 0
    # 8000 held: a third copy would make 12000.
    refused = site.admin.http.post(f"/v2/images/{image_id}/import", json={
        "method": {"name": "copy-image"}, "stores": ["spare"]})
    assert refused.status_code == 413, refused.text
    assert refused.json()["message"].endswith(
        f"The size of the data 4000 will exceed the limit. {QUOTA - 8000} bytes remaining.")
    assert _reservations(site) == 0
    shown = site.admin.http.get(f"/v2/images/{image_id}").json()
    assert shown["stores"] == "fast,cheap"
    assert "os_glance_importing_to_stores" not in shown
    # Nor does an upload fit any more.
    other = site.member.create()
    assert site.member.upload(other["id"], b"u" * 2001).status_code == 413
    assert site.member.upload(other["id"], b"u" * 2000).status_code == 204


def test_web_download_past_the_quota_fails(site: Site) -> None:
    assert site.web is not None
    (site.web.root / "big.raw").write_bytes(b"w" * (QUOTA + 1))
    (site.web.root / "fits.raw").write_bytes(b"w" * 1000)
    member = Caller(site.server.url, uuid.uuid4().hex, ("member", "reader"))
    image = member.create()
    assert member.http.post(f"/v2/images/{image['id']}/import", json={"method": {
        "name": "web-download", "uri": f"{site.web.url}/big.raw"}}).status_code == 202
    shown = wait_for_status(member, image["id"], "queued")
    assert shown["status"] == "queued"
    [task] = image_tasks(member, image["id"])
    assert task["status"] == "failure" and "will exceed the limit" in str(task["message"]), task
    assert _reservations(site) == 0
    assert not [p for p in (site.folder / "staging").iterdir() if image["id"] in p.name]
    assert member.http.post(f"/v2/images/{image['id']}/import", json={"method": {
        "name": "web-download", "uri": f"{site.web.url}/fits.raw"}}).status_code == 202
    assert wait_for_status(member, image["id"], "active", "queued")["status"] == "active"
    assert _reservations(site) == 0


def _stage_and_import(member: Caller, size: int, stores: list[str]) -> dict[str, object]:
    image = member.create()
    assert member.http.put(f"/v2/images/{image['id']}/stage", content=b"g" * size,
                           headers={"Content-Type": "application/octet-stream"}
                           ).status_code == 204
    assert member.http.post(f"/v2/images/{image['id']}/import", json={
        "method": {"name": "glance-direct"}, "stores": stores}).status_code == 202
    return image


def test_glance_direct_into_several_stores_counts_each_copy(site: Site) -> None:
    member = Caller(site.server.url, uuid.uuid4().hex, ("member", "reader"))
    fits = _stage_and_import(member, 4000, ["fast", "cheap"])
    assert wait_for_import(member, fits["id"])["stores"] == "fast,cheap"
    # 8000 held: 1500 staged fits, but not twice.
    refused = _stage_and_import(member, 1500, ["fast", "cheap"])
    shown = wait_for_status(member, refused["id"], "uploading", "queued", "active")
    assert shown["status"] != "active"
    [task] = image_tasks(member, refused["id"])
    assert task["status"] == "failure" and "will exceed the limit" in str(task["message"]), task
    assert _reservations(site) == 0
