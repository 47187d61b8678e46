"""`glint reap` against a real `glint serve` on SQLite, MariaDB and PostgreSQL with a
filesystem store and SeaweedFS as an s3 store: orphans made by deleting rows and by
killing the server in the middle of an upload are found, and removed only with
--delete and past the age given; nothing an image names is ever removed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import BACKENDS, Caller
from tests.helpers import Site, running_site, upload_active
from tests.servers import GLINT, database
from tests.stores.backends import S3Server, seaweedfs

BUCKET = f"reap-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


def sql(site: Site, statement: str, **values: object) -> None:
    engine = create_engine(site.database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(statement), values)
    finally:
        engine.dispose()


def _sections(folder: Path, s3: S3Server, bucket: str = BUCKET) -> dict[str, dict[str, object]]:
    return {
        "DEFAULT": {"enabled_backends": "fast:file, remote:s3",
                    "node_staging_uri": f"file://{folder / 'staging'}"},
        "glance_store": {"default_backend": "fast"},
        "fast": {"filesystem_store_datadir": folder / "fast"},
        "remote": s3.options(bucket=bucket),
    }


@pytest.fixture(scope="module", params=BACKENDS)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         s3: S3Server) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp(f"reap-{request.param}")
    with database(request.param, folder) as url:
        with running_site(folder, database_url=url, extra=_sections(folder, s3)) as running:
            yield running


def reap(site: Site, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [str(GLINT), "reap", "--config-file", str(site.server.config), "--json", *args],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def _found(report: dict[str, Any], image_id: str) -> dict[str, list[str]]:
    """store -> items the report names for this image."""
    return {o["store"]: o["removed"] if report["deleting"] else o["items"]
            for o in report["orphans"] if o["image_id"] == image_id}


def _active(caller: Caller, data: bytes, store: str) -> str:
    return str(upload_active(caller, data, store)["id"])


def _in_s3(s3: S3Server, image_id: str) -> bool:
    listing = s3.client().list_objects_v2(Bucket=BUCKET)  # type: ignore[attr-defined]
    return any(item["Key"] == image_id for item in listing.get("Contents", []))


def test_data_no_location_names(site: Site, s3: S3Server) -> None:
    caller = site.admin
    lost_file, lost_object = _active(caller, b"lost", "fast"), _active(caller, b"lost", "remote")
    kept_file, kept_object = _active(caller, b"kept", "fast"), _active(caller, b"kept", "remote")
    pending = _active(caller, b"pending", "fast")
    for image_id in (lost_file, lost_object):  # as a crash before the commit leaves them
        sql(site, "DELETE FROM image_locations WHERE image_id = :id", id=image_id)
    sql(site, "UPDATE images SET status = 'pending_delete', deleted = :yes WHERE id = :id",
             yes=True, id=pending)

    young = reap(site)  # the default age, 24 hours: everything is too recent
    assert young["orphans"] == [] and young["too_recent"] >= 2

    dry = reap(site, "--older-than", "0")
    assert list(_found(dry, lost_file)) == ["fast"]
    assert _found(dry, lost_file)["fast"][0].endswith(lost_file)
    assert list(_found(dry, lost_object)) == ["remote"]
    for image_id in (kept_file, kept_object, pending):
        assert _found(dry, image_id) == {}
    assert (site.folder / "fast" / lost_file).exists() and _in_s3(s3, lost_object)

    done = reap(site, "--older-than", "0", "--delete")
    assert _found(done, lost_file)["fast"] and _found(done, lost_object)["remote"]
    assert not (site.folder / "fast" / lost_file).exists()
    assert not _in_s3(s3, lost_object)
    for image_id in (kept_file, kept_object):
        assert caller.http.get(f"/v2/images/{image_id}/file").content == b"kept"
    assert (site.folder / "fast" / pending).read_bytes() == b"pending"
    assert reap(site, "--older-than", "0")["orphans"] == []


def test_staging_files_without_an_import(site: Site) -> None:
    """The staging area of a node whose `glint serve` is not running (a running
    one tidies its own staging area): the reaper reads the same config files,
    here with that node's node_staging_uri layered over them."""
    staging = site.folder / "other-node-staging"
    staging.mkdir(exist_ok=True)
    node = site.folder / "other-node.conf"
    node.write_text(f"[DEFAULT]\nnode_staging_uri = file://{staging}\n")
    old, recent = staging / str(uuid.uuid4()), staging / str(uuid.uuid4())
    for path in (old, recent):
        path.write_bytes(b"staged")
    two_days_ago = time.time() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))
    dry = reap(site, "--config-file", str(node))
    assert _found(dry, old.name) == {"staging": [str(old)]}
    assert _found(dry, recent.name) == {}
    assert old.exists()
    reap(site, "--config-file", str(node), "--delete")
    assert not old.exists() and recent.exists()


def _start_upload(url: str, image_id: str, sent: int) -> socket.socket:
    """A PUT of 1 GiB that sends `sent` bytes and then stalls."""
    host, port = url.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)))
    connection.sendall(
        f"PUT /v2/images/{image_id}/file HTTP/1.1\r\nHost: {host}\r\n"
        "Content-Type: application/octet-stream\r\nContent-Length: 1073741824\r\n"
        f"X-Identity-Status: Confirmed\r\nX-Project-Id: {uuid.uuid4().hex}\r\n"
        "X-Roles: admin,member,reader\r\n\r\n".encode())
    connection.sendall(os.urandom(sent))
    return connection


@pytest.mark.parametrize("backend", BACKENDS)
def test_upload_cut_by_a_killed_server(backend: str, tmp_path: Path, s3: S3Server) -> None:
    with database(backend, tmp_path) as url:
        # A bucket of its own: the module's images are not this database's.
        extra = _sections(tmp_path, s3, f"cut-{uuid.uuid4().hex[:8]}")
        with running_site(tmp_path, database_url=url, extra=extra) as site:
            image_id = str(site.admin.create()["id"])
            upload = _start_upload(site.server.url, image_id, 8 << 20)
            deadline = time.monotonic() + 30
            while not any((tmp_path / "fast").glob(f".{image_id}.*.partial")):
                assert time.monotonic() < deadline, "no partial file appeared"
                time.sleep(0.1)
            site.server.kill()
            upload.close()
        # The write's record stays; a running write would have touched it within minutes.
        assert reap(site, "--older-than", "0")["orphans"] == []
        moment = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=11)
        sql(site, "UPDATE image_writes SET touched_at = :t WHERE image_id = :id",
                 t=moment, id=image_id)
        assert reap(site)["orphans"] == []  # younger than 24 hours
        dry = reap(site, "--older-than", "0")
        assert list(_found(dry, image_id)) == ["fast"]
        assert _found(dry, image_id)["fast"][0].endswith(".partial")
        reap(site, "--older-than", "0", "--delete")
        assert not list((tmp_path / "fast").glob(f".{image_id}.*"))
