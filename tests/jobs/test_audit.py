"""`glint audit` through the real command beside a real `glint serve`, on
SQLite, MariaDB and PostgreSQL, with two filesystem stores and SeaweedFS as an
s3 store: one byte flipped in a copy is found, recorded and never served
while a good copy exists; only bad copies make the download fail; a copy that
checks good again is served again; --rate holds; a killed pass resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import BACKENDS, Caller
from tests.helpers import Site, image_tasks, running_site, upload_active, wait_for_import
from tests.servers import GLINT, database
from tests.stores.backends import S3Server, seaweedfs

BUCKET = f"audit-{uuid.uuid4().hex[:8]}"
MB = 1_000_000


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture(scope="module", params=BACKENDS)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         s3: S3Server) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp(f"audit-{request.param}")
    sections: dict[str, dict[str, object]] = {
        "DEFAULT": {"enabled_backends": "fast:file, cheap:file, remote:s3, slow:file, resume:file"},
        "glance_store": {"default_backend": "fast"},
        "fast": {"filesystem_store_datadir": folder / "fast"},
        "cheap": {"filesystem_store_datadir": folder / "cheap"},
        "slow": {"filesystem_store_datadir": folder / "slow"},
        "resume": {"filesystem_store_datadir": folder / "resume"},
        "remote": s3.options(bucket=BUCKET),
    }
    with database(request.param, folder) as url:
        with running_site(folder, database_url=url, extra=sections) as running:
            yield running


def audit_command(site: Site, *args: str) -> list[str]:
    return [str(GLINT), "audit", "--config-file", str(site.server.config), *args]


def audit(site: Site, *args: str) -> dict[str, Any]:
    done = subprocess.run(audit_command(site, "--json", *args), capture_output=True,
                          text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def _sql(site: Site, statement: str, **values: object) -> list[Any]:
    engine = create_engine(site.database_url)
    try:
        with engine.begin() as connection:
            result = connection.execute(text(statement), values)
            return list(result.all()) if result.returns_rows else []
    finally:
        engine.dispose()


def _add_copy(site: Site, image_id: str, store: str, data: bytes) -> str:
    """A second copy of the data in another filesystem store, as copy-image makes."""
    path = site.folder / store / image_id
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    _sql(site, "INSERT INTO image_locations (image_id, url, store, meta_data, position) "
               "VALUES (:id, :url, :store, '{}', 1)", id=image_id, url=path.as_uri(),
         store=store)
    return path.as_uri()


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def _verdicts(site: Site, image_id: str) -> dict[str, tuple[str, list[str]]]:
    """store -> (verdict, differences) recorded for the image's copies."""
    rows = _sql(site, "SELECT store, verdict, differences FROM image_copy_checks "
                      "WHERE image_id = :id", id=image_id)
    return {store: (verdict, json.loads(differences)) for store, verdict, differences in rows}


def _download(caller: Caller, image_id: str) -> Any:
    return caller.http.get(f"/v2/images/{image_id}/file")


def test_flipped_byte_in_a_file_copy(site: Site) -> None:
    admin = site.admin
    data = os.urandom(300_000)
    image_id = str(upload_active(admin, data)["id"])
    _add_copy(site, image_id, "cheap", data)
    first = site.folder / "fast" / image_id
    assert first.read_bytes() == data
    assert audit(site, "--image", image_id)["mismatches"] == 0
    assert _verdicts(site, image_id) == {"fast": ("good", []), "cheap": ("good", [])}

    first.write_bytes(_flip(data, 12345))
    # Before the audit the bad copy (the first location) is what a download gets.
    assert _download(admin, image_id).content != data
    report = audit(site, "--image", image_id)
    assert (report["checked"], report["mismatches"], report["unreadable"]) == (2, 1, 0)
    assert report["bytes"] == 2 * len(data) and report["images"] == 1
    assert [(bad["image_id"], bad["store"], bad["verdict"]) for bad in report["bad"]] == [
        (image_id, "fast", "mismatch")]
    verdict, differences = _verdicts(site, image_id)["fast"]
    assert verdict == "mismatch"
    assert {difference.split(":")[0] for difference in differences} == {
        "checksum", "os_hash_value (sha512)"}

    served = _download(admin, image_id)
    assert served.status_code == 200 and served.content == data
    ranged = admin.http.get(f"/v2/images/{image_id}/file", headers={"Range": "bytes=12340-12349"})
    assert ranged.status_code == 206 and ranged.content == data[12340:12350]
    # Even when the client prefers the bad copy's store.
    preferred = admin.http.get(f"/v2/images/{image_id}/file", params={"prefer": "fast"})
    assert preferred.content == data

    listed = subprocess.run(audit_command(site, "--report"), capture_output=True, text=True,
                            timeout=120, check=False)
    assert listed.returncode == 0, listed.stderr
    assert any(image_id in line and "mismatch" in line and "fast" in line
               for line in listed.stdout.splitlines())
    as_json = json.loads(subprocess.run(audit_command(site, "--report", "--json"),
                                        capture_output=True, text=True, timeout=120,
                                        check=True).stdout)
    assert {(bad["image_id"], bad["store"]) for bad in as_json["bad"]} >= {(image_id, "fast")}

    # Both copies bad: an error, never bad bytes.
    (site.folder / "cheap" / image_id).write_bytes(_flip(data, 7))
    assert audit(site, "--image", image_id)["mismatches"] == 2
    refused = _download(admin, image_id)
    assert refused.status_code == 503, refused.text
    assert "integrity check" in refused.text and image_id in refused.text

    # Repaired copies check good again and are served again.
    first.write_bytes(data)
    report = audit(site, "--image", image_id)
    assert (report["mismatches"], _verdicts(site, image_id)["fast"]) == (1, ("good", []))
    assert _download(admin, image_id).content == data
    listed_json = json.loads(subprocess.run(audit_command(site, "--report", "--json"),
                                            capture_output=True, text=True, timeout=120,
                                            check=True).stdout)
    assert (image_id, "fast") not in {(bad["image_id"], bad["store"])
                                      for bad in listed_json["bad"]}


def _s3_key(url: str) -> str:
    return urlsplit(url).path.lstrip("/").partition("/")[2]


def test_flipped_byte_in_an_s3_copy(site: Site, s3: S3Server) -> None:
    admin = site.admin
    data = os.urandom(200_000)
    image_id = str(upload_active(admin, data, "remote")["id"])
    _add_copy(site, image_id, "cheap", data)
    [(url,)] = _sql(site, "SELECT url FROM image_locations WHERE image_id = :id "
                          "AND store = 'remote'", id=image_id)
    client: Any = s3.client()
    client.put_object(Bucket=BUCKET, Key=_s3_key(url), Body=_flip(data, 99_999))

    report = audit(site, "--image", image_id)
    assert (report["checked"], report["mismatches"]) == (2, 1)
    assert [bad["store"] for bad in report["bad"]] == ["remote"]
    assert _verdicts(site, image_id)["remote"][0] == "mismatch"
    assert _download(admin, image_id).content == data

    # A copy that cannot be read is recorded too, and skipped.
    (site.folder / "cheap" / image_id).unlink()
    report = audit(site, "--image", image_id)
    assert (report["mismatches"], report["unreadable"]) == (1, 1)
    assert _verdicts(site, image_id)["cheap"][0] == "unreadable"
    # The unreadable copy is tried as a last resort (its store may be back), and fails.
    refused = _download(admin, image_id)
    assert refused.status_code == 503 and "integrity check" in refused.text


def test_store_option_checks_only_that_store(site: Site) -> None:
    data = os.urandom(1000)
    image_id = str(upload_active(site.admin, data)["id"])
    _add_copy(site, image_id, "cheap", data)
    audit(site, "--store", "cheap")
    assert set(_verdicts(site, image_id)) == {"cheap"}
    unknown = subprocess.run(audit_command(site, "--store", "nowhere"), capture_output=True,
                             text=True, timeout=120, check=False)
    assert unknown.returncode == 1 and "nowhere" in unknown.stderr


def test_text_summary(site: Site) -> None:
    image_id = str(upload_active(site.admin, b"summary")["id"])
    done = subprocess.run(audit_command(site, "--image", image_id), capture_output=True,
                          text=True, timeout=120, check=True)
    assert "1 copy(ies) of 1 image(s) checked, 7 bytes read" in done.stdout
    assert "0 mismatch(es), 0 unreadable, 0 skipped" in done.stdout


def test_json_shape(site: Site) -> None:
    image_id = str(upload_active(site.admin, b"shape")["id"])
    report = audit(site, "--image", image_id)
    assert set(report) == {"checked", "bytes", "mismatches", "unreadable", "images",
                           "skipped", "resumed_after", "seconds", "bad"}
    assert (report["checked"], report["bytes"], report["bad"]) == (1, 5, [])
    assert report["resumed_after"] is None and isinstance(report["seconds"], float)


def test_rate_holds(site: Site) -> None:
    size = 6 * MB
    image_id = str(upload_active(site.admin, os.urandom(size), "slow")["id"])
    rate = 3.0
    started = time.monotonic()
    report = audit(site, "--image", image_id, "--rate", str(rate))
    elapsed = time.monotonic() - started
    assert report["bytes"] == size
    # At most the rate plus the bucket's 0.1 s burst; the process's start-up only
    # lengthens the wall-clock time. Not far below it either, on a loaded machine.
    assert size / report["seconds"] <= rate * MB * 1.1
    assert size / elapsed <= rate * MB * 1.1
    assert size / report["seconds"] >= rate * MB * 0.5


def test_a_killed_pass_resumes(site: Site) -> None:
    """Four images in a store of their own; a pass at 1 MB/s (about a second an
    image) is killed once its marker passed an image, and the next run goes on
    after the marker."""
    images = sorted(str(upload_active(site.admin, os.urandom(MB), "resume")["id"])
                    for _ in range(4))
    marker_query = "SELECT last_image_id FROM audit_cursors WHERE scope = 'store:resume'"
    process = subprocess.Popen(audit_command(site, "--store", "resume", "--rate", "1"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not _sql(site, marker_query):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    [(marker,)] = _sql(site, marker_query)
    checked_before = [image_id for image_id in images if _verdicts(site, image_id)]
    # The verdicts and the marker are written together: exactly the images up to it.
    assert checked_before == [image_id for image_id in images if image_id <= marker]
    assert 1 <= len(checked_before) < len(images)
    stamps = {image_id: _checked_at(site, image_id) for image_id in checked_before}

    report = audit(site, "--store", "resume")
    assert report["resumed_after"] == marker
    assert (report["images"], report["checked"]) == (len(images) - len(checked_before),) * 2
    assert all(_verdicts(site, image_id) == {"resume": ("good", [])} for image_id in images)
    # The images done before the kill were not read again.
    assert {image_id: _checked_at(site, image_id) for image_id in checked_before} == stamps
    assert _sql(site, marker_query) == []
    # The pass ended: the next one starts from the top.
    again = audit(site, "--store", "resume")
    assert again["resumed_after"] is None and again["images"] == len(images)


def _checked_at(site: Site, image_id: str) -> object:
    [(when,)] = _sql(site, "SELECT checked_at FROM image_copy_checks WHERE image_id = :id",
                     id=image_id)
    return when


def test_daemon_runs_passes(site: Site, tmp_path: Path) -> None:
    image_id = str(upload_active(site.admin, b"daemon")["id"])
    _sql(site, "DELETE FROM image_copy_checks WHERE image_id = :id", id=image_id)
    process = subprocess.Popen(audit_command(site, "--daemon", "--interval", "1", "--store",
                                             "fast"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not _verdicts(site, image_id):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert _verdicts(site, image_id) == {"fast": ("good", [])}


def test_a_removed_copy_takes_its_verdict_along(site: Site) -> None:
    """A bad copy removed (DELETE /v2/stores/...) and later made again at the same
    URL is judged afresh, not skipped on the old verdict."""
    admin = site.admin
    data = os.urandom(5000)
    image_id = str(upload_active(admin, data)["id"])
    _add_copy(site, image_id, "cheap", _flip(data, 1))
    audit(site, "--image", image_id)
    assert _verdicts(site, image_id)["cheap"][0] == "mismatch"
    assert admin.http.delete(f"/v2/stores/cheap/{image_id}").status_code == 204
    assert set(_verdicts(site, image_id)) == {"fast"}
    _add_copy(site, image_id, "cheap", data)
    (site.folder / "fast" / image_id).write_bytes(_flip(data, 2))
    # --image, not --store fast: the daemon test before may have left store:fast's
    # resume marker past this image's id, and a resumed pass would not reach it.
    audit(site, "--image", image_id)
    verdicts = _verdicts(site, image_id)
    assert (verdicts["fast"][0], verdicts["cheap"]) == ("mismatch", ("good", []))
    assert _download(admin, image_id).content == data


def test_copy_image_reads_a_good_copy(site: Site) -> None:
    """copy-image copies from the default store's copy, unless it is recorded bad."""
    admin = site.admin
    data = os.urandom(70_000)
    image_id = str(upload_active(admin, data)["id"])
    _add_copy(site, image_id, "cheap", data)
    (site.folder / "fast" / image_id).write_bytes(_flip(data, 3))
    audit(site, "--image", image_id)
    response = admin.http.post(f"/v2/images/{image_id}/import",
                               json={"method": {"name": "copy-image"}, "stores": ["slow"]})
    assert response.status_code == 202, response.text
    shown = wait_for_import(admin, image_id)
    assert shown["stores"] == "fast,cheap,slow", image_tasks(admin, image_id)
    assert (site.folder / "slow" / image_id).read_bytes() == data


def test_a_deleted_image_leaves_the_report(site: Site) -> None:
    admin = site.admin
    data = os.urandom(3000)
    image_id = str(upload_active(admin, data)["id"])
    (site.folder / "fast" / image_id).write_bytes(_flip(data, 0))
    assert audit(site, "--image", image_id)["mismatches"] == 1

    def reported() -> set[str]:
        done = subprocess.run(audit_command(site, "--report", "--json"), capture_output=True,
                              text=True, timeout=120, check=True)
        return {bad["image_id"] for bad in json.loads(done.stdout)["bad"]}

    assert image_id in reported()
    assert admin.http.delete(f"/v2/images/{image_id}").status_code == 204
    assert image_id not in reported()
    # The next pass that ends forgets its verdicts.
    audit(site, "--store", "cheap")
    assert _verdicts(site, image_id) == {}


def test_a_copy_in_no_configured_store_is_not_judged(site: Site) -> None:
    admin = site.admin
    data = os.urandom(2000)
    image_id = str(upload_active(admin, data)["id"])
    _sql(site, "INSERT INTO image_locations (image_id, url, store, meta_data, position) "
               "VALUES (:id, 'swift+http://elsewhere/v1/glance/x', 'elsewhere', '{}', 1)",
         id=image_id)
    report = audit(site, "--image", image_id)
    assert (report["checked"], report["skipped"], report["bad"]) == (1, 1, [])
    assert set(_verdicts(site, image_id)) == {"fast"}


def test_report_and_daemon_are_exclusive() -> None:
    done = subprocess.run([str(GLINT), "audit", "--report", "--daemon"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2 and "cannot be used together" in done.stderr
