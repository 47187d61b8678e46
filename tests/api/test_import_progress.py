"""A running import shows its progress on its task (bytes done and total),
and zstd-compressed data is decompressed by image_decompression, over real
HTTP with a local nginx (its /slow/ folder sends 512 KiB/s)."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator

import pytest
import zstandard

from tests.helpers import Site, running_site, wait_for_status
from tests.web import nginx

SLOW_SIZE = 2 * 1024 * 1024 + 7


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with nginx(tmp_path_factory.mktemp("nginx-progress"), {}) as web:
        extra: dict[str, dict[str, object]] = {
            "image_import_opts": {"image_import_plugins": "image_decompression"},
        }
        with running_site(tmp_path_factory.mktemp("glint-progress"), extra=extra,
                          web=web) as site:
            yield site


def test_web_download_progress(site: Site) -> None:
    data = os.urandom(SLOW_SIZE)
    (site.web.root / "slow").mkdir(exist_ok=True)
    (site.web.root / "slow" / "disk.raw").write_bytes(data)
    image = site.member.create(disk_format="raw")
    assert site.member.http.post(f"/v2/images/{image['id']}/import", json={"method": {
        "name": "web-download", "uri": f"{site.web.url}/slow/disk.raw"}}).status_code == 202
    seen: list[dict[str, object]] = []
    shown_on_image: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        [task] = site.member.http.get(f"/v2/images/{image['id']}/tasks").json()["tasks"]
        if task["status"] not in ("pending", "processing"):
            break
        if task["result"] and task["result"] not in seen:
            seen.append(task["result"])
        progress = site.member.http.get(f"/v2/images/{image['id']}").json().get(
            "os_glance_import_progress")
        if progress:
            shown_on_image.append(progress)
        time.sleep(0.2)
    # The image itself shows it while the import runs: "<step> <done>/<total>".
    assert any(p.startswith("download ") and p.endswith(f"/{SLOW_SIZE}")
               for p in shown_on_image), shown_on_image
    downloads = [r for r in seen if r["step"] == "download"]
    # Reported as the step begins, then while it runs, growing, with the size nginx announced.
    assert len(downloads) >= 2, seen
    assert all(r["bytes_total"] == SLOW_SIZE for r in downloads)
    done = [int(str(r["bytes_done"])) for r in downloads]
    assert done == sorted(done) and any(0 < d < SLOW_SIZE for d in done)
    shown = wait_for_status(site.member, image["id"], "active", "queued")
    assert shown["status"] == "active" and shown["size"] == SLOW_SIZE
    assert "os_glance_import_progress" not in shown
    [task] = site.member.http.get(f"/v2/images/{image['id']}/tasks").json()["tasks"]
    assert (task["status"], task["result"]) == ("success", {"image_id": image["id"]})


def test_legacy_task_shows_progress(site: Site) -> None:
    (site.web.root / "slow").mkdir(exist_ok=True)
    (site.web.root / "slow" / "legacy.raw").write_bytes(os.urandom(SLOW_SIZE))
    created = site.admin.http.post("/v2/tasks", json={"type": "import", "input": {
        "import_from": f"{site.web.url}/slow/legacy.raw", "import_from_format": "raw",
        "image_properties": {"name": "slow"}}}).json()
    progress = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        task = site.admin.http.get(f"/v2/tasks/{created['id']}").json()
        if task["status"] in ("success", "failure"):
            break
        if task["result"] and int(task["result"]["bytes_done"]) > 0:
            progress = task["result"]
        time.sleep(0.2)
    assert progress is not None and progress["bytes_total"] == SLOW_SIZE
    assert task["status"] == "success" and task["result"] == {"image_id": task["image_id"]}


def test_zstd_web_download_is_decompressed(site: Site) -> None:
    data = os.urandom(1024 * 1024) + bytes(3 * 1024 * 1024) + b"end"
    (site.web.root / "disk.raw.zst").write_bytes(zstandard.ZstdCompressor().compress(data))
    image = site.member.create(disk_format="raw")
    assert site.member.http.post(f"/v2/images/{image['id']}/import", json={"method": {
        "name": "web-download", "uri": f"{site.web.url}/disk.raw.zst"}}).status_code == 202
    shown = wait_for_status(site.member, image["id"], "active", "queued")
    assert shown["status"] == "active", site.member.http.get(
        f"/v2/images/{image['id']}/tasks").json()
    assert (shown["size"], shown["virtual_size"]) == (len(data), len(data))
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert site.member.http.get(f"/v2/images/{image['id']}/file").content == data


def test_zstd_glance_direct_is_decompressed(site: Site) -> None:
    data = os.urandom(512 * 1024) + bytes(1024 * 1024)
    image = site.member.create(disk_format="raw")
    staged = site.member.http.put(f"/v2/images/{image['id']}/stage",
                                  content=zstandard.ZstdCompressor(level=3).compress(data),
                                  headers={"Content-Type": "application/octet-stream"})
    assert staged.status_code == 204
    assert site.member.http.post(f"/v2/images/{image['id']}/import",
                                 json={"method": {"name": "glance-direct"}}).status_code == 202
    shown = wait_for_status(site.member, image["id"], "active", "queued")
    assert shown["status"] == "active"
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
