"""Delayed delete and `glint scrubber` through a real `glint serve` and the real
command, on SQLite, MariaDB and PostgreSQL, with two filesystem stores and
SeaweedFS as an s3 store (made unreachable for one pass by a config naming a
closed port)."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import BACKENDS, Caller
from tests.helpers import Site, running_site, upload_active
from tests.servers import GLINT, database, free_port, write_config
from tests.stores.backends import S3Server, seaweedfs

BUCKET = f"scrub-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


def _sections(folder: Path, url: str, s3: S3Server, **default: object
              ) -> dict[str, dict[str, object]]:
    return {
        "DEFAULT": {"enabled_backends": "fast:file, cheap:file, remote:s3",
                    "delayed_delete": "true", **default},
        "database": {"connection": url},
        "glance_store": {"default_backend": "fast"},
        "fast": {"filesystem_store_datadir": folder / "fast"},
        "cheap": {"filesystem_store_datadir": folder / "cheap"},
        "remote": s3.options(bucket=BUCKET),
    }


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           s3: S3Server) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp(f"scrub-{request.param}")
    with database(request.param, folder) as url:
        with running_site(folder, database_url=url, extra=_sections(folder, url, s3)) as site:
            yield site


@pytest.fixture
def admin(server: Site) -> Caller:
    return server.admin


def _scrubber_config(server: Site, s3: S3Server, name: str, **default: object) -> Path:
    sections = _sections(server.folder, server.database_url, s3, **default)
    return write_config(server.folder / name, sections)


def scrub(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(GLINT), "scrubber", "--config-file", str(config), *args],
                          capture_output=True, text=True, timeout=120, check=False)


def scrub_report(config: Path) -> dict[str, Any]:
    done = scrub(config, "--json")
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def _row(server: Site, image_id: object) -> tuple[str, bool, int]:
    """(status, deleted, number of location rows) of the image's row."""
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as connection:
            status, deleted = connection.execute(
                text("SELECT status, deleted FROM images WHERE id = :id"), {"id": str(image_id)}
            ).one()
            count = connection.execute(
                text("SELECT COUNT(*) FROM image_locations WHERE image_id = :id"),
                {"id": str(image_id)}).scalar_one()
    finally:
        engine.dispose()
    return str(status), bool(deleted), int(count)


def _add_copy(server: Site, image_id: object, store: str, data: bytes) -> None:
    """A second copy of the data in another filesystem store, as copy-image makes."""
    path = server.folder / store / str(image_id)
    path.write_bytes(data)
    engine = create_engine(server.database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO image_locations (image_id, url, store, meta_data, position) "
                "VALUES (:id, :url, :store, '{}', 1)"),
                {"id": str(image_id), "url": path.as_uri(), "store": store})
    finally:
        engine.dispose()


def _active(caller: Caller, data: bytes, store: str | None = None) -> str:
    return str(upload_active(caller, data, store)["id"])


def _in_s3(s3: S3Server, image_id: str) -> bool:
    listing = s3.client().list_objects_v2(Bucket=BUCKET)  # type: ignore[attr-defined]
    return any(image_id in item["Key"] for item in listing.get("Contents", []))


def test_delete_keeps_data_until_scrubbed(server: Site, admin: Caller,
                                          s3: S3Server) -> None:
    image_id = _active(admin, b"delayed")
    stored = server.folder / "fast" / image_id
    assert admin.http.delete(f"/v2/images/{image_id}").status_code == 204
    # As Glance: gone from the API (404, not listed), the id still taken, the data kept.
    assert admin.http.get(f"/v2/images/{image_id}").status_code == 404
    listed = admin.http.get("/v2/images", params={"limit": 1000}).json()["images"]
    assert image_id not in {image["id"] for image in listed}
    assert admin.http.post("/v2/images", json={"id": image_id}).status_code == 409
    assert admin.http.delete(f"/v2/images/{image_id}").status_code == 404
    assert _row(server, image_id) == ("pending_delete", True, 1)
    assert stored.read_bytes() == b"delayed"

    later = _scrubber_config(server, s3, "later.conf", scrub_time=3600)
    assert scrub_report(later)["images_due"] == 0
    assert stored.exists()

    report = scrub_report(_scrubber_config(server, s3, "now.conf"))
    assert report["images_deleted"] >= 1 and report["failures"] == []
    assert not stored.exists()
    assert _row(server, image_id) == ("deleted", True, 0)


def test_image_without_data_is_deleted_at_once(server: Site, admin: Caller) -> None:
    image = admin.create()
    assert admin.http.delete(f"/v2/images/{image['id']}").status_code == 204
    assert _row(server, image["id"])[:2] == ("deleted", True)


def test_deactivated_image_is_refused(server: Site, admin: Caller) -> None:
    """Glance's state machine has no deactivated -> pending_delete: 400."""
    image_id = _active(admin, b"deactivated")
    assert admin.http.post(f"/v2/images/{image_id}/actions/deactivate").status_code == 204
    response = admin.http.delete(f"/v2/images/{image_id}")
    assert response.status_code == 400 and "pending_delete" in response.text
    assert admin.http.post(f"/v2/images/{image_id}/actions/reactivate").status_code == 204
    assert admin.http.delete(f"/v2/images/{image_id}").status_code == 204
    assert _row(server, image_id)[0] == "pending_delete"


def test_restore(server: Site, admin: Caller, s3: S3Server) -> None:
    config = _scrubber_config(server, s3, "restore.conf", scrub_time=3600)
    image_id = _active(admin, b"restore me")
    assert admin.http.delete(f"/v2/images/{image_id}").status_code == 204

    restored = scrub(config, "--restore", image_id)
    assert restored.returncode == 0, restored.stderr
    shown = admin.http.get(f"/v2/images/{image_id}").json()
    assert shown["status"] == "active"
    assert admin.http.get(f"/v2/images/{image_id}/file").content == b"restore me"
    assert _row(server, image_id) == ("active", False, 1)

    again = scrub(config, "--restore", image_id)
    assert again.returncode == 1 and "pending_delete" in again.stderr
    unknown = scrub(config, "--restore", str(uuid.uuid4()))
    assert unknown.returncode == 1 and "No image found" in unknown.stderr
    both = scrub(config, "--restore", image_id, "--daemon")
    assert both.returncode == 2
    # Deleted again, and scrubbed: no longer restorable.
    assert admin.http.delete(f"/v2/images/{image_id}").status_code == 204
    scrub_report(_scrubber_config(server, s3, "now.conf"))
    gone = scrub(config, "--restore", image_id)
    assert gone.returncode == 1 and "deleted" in gone.stderr


def test_every_copy_is_scrubbed(server: Site, admin: Caller, s3: S3Server) -> None:
    image_id = _active(admin, b"two copies")
    _add_copy(server, image_id, "cheap", b"two copies")
    assert admin.http.delete(f"/v2/images/{image_id}").status_code == 204
    assert (server.folder / "cheap" / image_id).exists()
    scrub_report(_scrubber_config(server, s3, "pool.conf", scrub_pool_size=4))
    assert not (server.folder / "fast" / image_id).exists()
    assert not (server.folder / "cheap" / image_id).exists()
    assert _row(server, image_id) == ("deleted", True, 0)


def test_a_store_down_is_retried_on_the_next_pass(server: Site, admin: Caller,
                                                   s3: S3Server) -> None:
    image_id = _active(admin, b"far away", store="remote")
    _add_copy(server, image_id, "fast", b"far away")
    assert _in_s3(s3, image_id)
    assert admin.http.delete(f"/v2/images/{image_id}").status_code == 204

    down = _scrubber_config(server, s3, "down.conf")
    text_of_down = down.read_text().replace(s3.endpoint, f"http://127.0.0.1:{free_port()}")
    down.write_text(text_of_down)
    report = scrub_report(down)
    assert [f["store"] for f in report["failures"] if f["image_id"] == image_id] == ["remote"]
    assert not (server.folder / "fast" / image_id).exists()
    assert _in_s3(s3, image_id)
    assert _row(server, image_id) == ("pending_delete", True, 1)

    # Still down: still pending, never forgotten.
    assert scrub_report(down)["images_pending"] >= 1
    assert _row(server, image_id) == ("pending_delete", True, 1)

    report = scrub_report(_scrubber_config(server, s3, "up.conf"))
    assert report["failures"] == []
    assert not _in_s3(s3, image_id)
    assert _row(server, image_id) == ("deleted", True, 0)


def test_shared_data_is_kept(server: Site, admin: Caller, s3: S3Server) -> None:
    """Data another live image names (a location added by a service) stays."""
    first = _active(admin, b"shared")
    second = admin.create()
    path = server.folder / "fast" / first
    engine = create_engine(server.database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO image_locations (image_id, url, store, meta_data, position) "
                "VALUES (:id, :url, 'fast', '{}', 0)"), {"id": second["id"], "url": path.as_uri()})
    finally:
        engine.dispose()
    assert admin.http.delete(f"/v2/images/{first}").status_code == 204
    report = scrub_report(_scrubber_config(server, s3, "now.conf"))
    assert report["locations_shared"] >= 1
    assert path.read_bytes() == b"shared"
    assert _row(server, first) == ("deleted", True, 0)


def _wait_for(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_daemon(server: Site, admin: Caller, s3: S3Server) -> None:
    config = _scrubber_config(server, s3, "daemon.conf", wakeup_time=1)
    process = subprocess.Popen([str(GLINT), "scrubber", "--config-file", str(config), "-D"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(2):
            image_id = _active(admin, b"daemon")
            assert admin.http.delete(f"/v2/images/{image_id}").status_code == 204
            _wait_for(lambda: _row(server, image_id)[0] == "deleted")  # noqa: B023
            assert not (server.folder / "fast" / image_id).exists()
        assert process.poll() is None
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_serve_runs_the_scrubber(tmp_path: Path, s3: S3Server) -> None:
    url = f"sqlite:///{tmp_path / 'glint.db'}"
    extra = _sections(tmp_path, url, s3, scrub_in_serve="true", wakeup_time=1)
    with running_site(tmp_path, database_url=url, extra=extra) as site:
        image_id = _active(site.admin, b"served")
        assert site.admin.http.delete(f"/v2/images/{image_id}").status_code == 204
        _wait_for(lambda: _row(site, image_id)[0] == "deleted")
        assert not (tmp_path / "fast" / image_id).exists()
