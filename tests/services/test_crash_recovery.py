"""Crash recovery with real processes: `glint serve` killed with -9 (supervisor and
workers) during uploads, stages and imports, on every database.

After a restart, or at once on another node still running, every cut upload
is queued again within seconds, accepts a new upload, and its data is gone."""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import BACKENDS
from tests.helpers import OCTET, rounds
from tests.servers import GlintServer, database, glint_server
from tests.stores.backends import S3Server, seaweedfs

MIB = 1 << 20
UPLOADS = 8
# Two rounds: the second kill must also spare the data of an image the first
# round's recovery let through to active. GLINT_SOAK=1: three.
ROUNDS = rounds(2, soak=3)
# Recovery runs every 2 s and waits 4 s after an owner's lock is gone: generous.
RECOVERY_SECONDS = 30


def throttled(size: int, stop: threading.Event, pause: float = 0.1) -> Iterator[bytes]:
    """Up to `size` bytes in 1 MiB blocks, slowly; the last block is held back
    until `stop` (set after the kill) and never sent, so however slow the machine,
    the kill always cuts the upload."""
    block = os.urandom(MIB)
    for _ in range(size // MIB - 1):
        if stop.is_set():
            return
        yield block
        time.sleep(pause)
    stop.wait()


def send(url: str, body: Iterator[bytes]) -> int | None:
    try:
        return httpx.put(url, content=body, headers=OCTET, timeout=120).status_code
    except httpx.HTTPError:
        return None  # the server died under it


def create(base: str, count: int) -> list[str]:
    return [httpx.post(f"{base}/v2/images", json={"disk_format": "raw",
                                                  "container_format": "bare"}).json()["id"]
            for _ in range(count)]


def statuses(base: str, ids: list[str]) -> dict[str, str]:
    return {i: httpx.get(f"{base}/v2/images/{i}").json()["status"] for i in ids}


def wait_until(condition: Callable[[], bool], seconds: float = RECOVERY_SECONDS) -> float:
    """Seconds until `condition()` held; fails after `seconds`."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < seconds, "not recovered in time"
        time.sleep(0.2)
    return time.monotonic() - start


def files(folder: Path) -> set[str]:
    return set(os.listdir(folder)) if folder.is_dir() else set()


def db_statuses(url: str, ids: list[str]) -> dict[str, str]:
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, status FROM images")).all()
    engine.dispose()
    return {row[0]: row[1] for row in rows if row[0] in ids}


def start_uploads(base: str, ids: list[str], stop: threading.Event, *, size: int = 64 * MIB,
                  path: str = "file") -> ThreadPoolExecutor:
    pool = ThreadPoolExecutor(len(ids))
    for image_id in ids:
        pool.submit(send, f"{base}/v2/images/{image_id}/{path}", throttled(size, stop))
    return pool


def wait_receiving(base: str, ids: list[str]) -> None:
    wait_until(lambda: all(s in ("saving", "uploading") for s in statuses(base, ids).values()),
               60)


@pytest.mark.parametrize("backend", BACKENDS)
def test_whole_server_killed_during_uploads(backend: str, tmp_path: Path) -> None:
    with database(backend, tmp_path) as url:
        serve = partial(glint_server, tmp_path, url, flavor="", workers=2)
        images = tmp_path / "images"
        pending: list[str] = []
        every: list[str] = []
        for _ in range(ROUNDS + 1):
            with serve() as server:
                if pending:
                    _check_recovered(server, images, pending, every)
                if len(every) >= ROUNDS * UPLOADS:
                    break
                pending = create(server.url, UPLOADS)
                every += pending
                stop = threading.Event()
                pool = start_uploads(server.url, pending, stop)
                wait_receiving(server.url, pending)
                time.sleep(random.uniform(0.1, 2.0))
                server.kill()
                stop.set()
                pool.shutdown()
            left = db_statuses(url, pending)
            assert "saving" in left.values(), left  # the kill cut uploads


def _check_recovered(server: GlintServer, images: Path, pending: list[str],
                     every: list[str]) -> None:
    """Within seconds of the restart: the cut uploads queued, the store holds the
    files of active images only, and a new upload succeeds."""

    def recovered() -> bool:
        shown = statuses(server.url, pending)
        active = {i for i, s in statuses(server.url, every).items() if s == "active"}
        return set(shown.values()) <= {"queued", "active"} and files(images) == active

    elapsed = wait_until(recovered)
    print(f"recovered {len(pending)} uploads {elapsed:.1f} s after the restart was up")
    assert elapsed < RECOVERY_SECONDS
    queued = [i for i, s in statuses(server.url, pending).items() if s == "queued"]
    assert queued
    assert httpx.put(f"{server.url}/v2/images/{queued[0]}/file", content=b"again",
                     headers=OCTET).status_code == 204
    assert httpx.get(f"{server.url}/v2/images/{queued[0]}/file").content == b"again"
    active = {i for i, s in statuses(server.url, every).items() if s == "active"}
    assert files(images) == active


def _shared(folder: Path) -> dict[str, dict[str, object]]:
    """Two nodes sharing the database, the store's folder and the staging area."""
    return {"glance_store": {"filesystem_store_datadir": folder / "images"},
            "DEFAULT": {"node_staging_uri": f"file://{folder / 'staging'}"}}


@pytest.mark.parametrize("backend", BACKENDS)
def test_other_node_recovers_a_killed_node(backend: str, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    with database(backend, tmp_path) as url, \
            glint_server(tmp_path / "b", url, flavor="", extra=_shared(shared)) as survivor:
        with glint_server(tmp_path / "a", url, flavor="", workers=2,
                          extra=_shared(shared)) as doomed:
            uploads, stages = create(doomed.url, 4), create(doomed.url, 4)
            stop = threading.Event()
            pools = [start_uploads(doomed.url, uploads, stop),
                     start_uploads(doomed.url, stages, stop, path="stage")]
            wait_receiving(survivor.url, uploads + stages)
            time.sleep(0.5)
            doomed.kill()
            stop.set()
            for pool in pools:
                pool.shutdown()
        assert set(db_statuses(url, uploads + stages).values()) == {"saving", "uploading"}

        def recovered() -> bool:
            return set(statuses(survivor.url, uploads + stages).values()) == {"queued"} \
                and not files(shared / "images") and not files(shared / "staging")

        elapsed = wait_until(recovered)
        print(f"the surviving node recovered 4 uploads and 4 stages in {elapsed:.1f} s")
        assert elapsed < RECOVERY_SECONDS
        assert httpx.put(f"{survivor.url}/v2/images/{uploads[0]}/file", content=b"again",
                         headers=OCTET).status_code == 204
        assert httpx.put(f"{survivor.url}/v2/images/{stages[0]}/stage", content=b"staged",
                         headers=OCTET).status_code == 204
        assert statuses(survivor.url, [uploads[0], stages[0]]) == {
            uploads[0]: "active", stages[0]: "uploading"}
        assert "queued again" in survivor.log.read_text()


def _leave_published_but_uncommitted(url: str, image_id: str, path: Path) -> None:
    """What a kill between the data's final rename and the database commit leaves:
    the image saving with its write record (owner dead), and a complete file under
    the image's name that no location names."""
    path.write_bytes(os.urandom(MIB))
    when = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=30)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE images SET status = 'saving' WHERE id = :i"),
                           {"i": image_id})
        connection.execute(text(
            "INSERT INTO image_writes (token, image_id, owner, kind, store, started_at, "
            "touched_at) VALUES (:t, :i, :o, 'upload', 'file', :w, :w)"),
            {"t": uuid.uuid4().hex, "i": image_id, "o": f"gone:1:{uuid.uuid4().hex[:16]}",
             "w": when})
    engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_published_data_no_image_names_is_removed(backend: str, tmp_path: Path) -> None:
    with database(backend, tmp_path) as url, glint_server(tmp_path, url, flavor="") as server:
        images = tmp_path / "images"
        unnamed, shared, owner = create(server.url, 3)
        assert httpx.put(f"{server.url}/v2/images/{owner}/file", content=b"kept",
                         headers=OCTET).status_code == 204
        _leave_published_but_uncommitted(url, unnamed, images / unnamed)
        _leave_published_but_uncommitted(url, shared, images / shared)
        # Another image names the second one's file (images may share data).
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO image_locations (image_id, url, store, meta_data, position) "
                "VALUES (:i, :u, 'file', '{}', 1)"),
                {"i": owner, "u": (images / shared).resolve().as_uri()})
        engine.dispose()
        assert wait_until(lambda: statuses(server.url, [unnamed, shared]) == {
            unnamed: "queued", shared: "queued"}) < RECOVERY_SECONDS
        assert files(images) == {owner, shared}
        assert httpx.get(f"{server.url}/v2/images/{owner}/file").content == b"kept"


@pytest.mark.parametrize("backend", BACKENDS)
def test_upload_left_by_an_older_glint_is_recovered(backend: str, tmp_path: Path) -> None:
    """An image left saving by a version without write records (it touched the image
    every 30 s while uploading), with that version's partial file (pid in its name)."""
    with database(backend, tmp_path) as url:
        with glint_server(tmp_path, url, flavor="") as server:
            [image] = create(server.url, 1)
        partial = tmp_path / "images" / f".{image}.4242.{uuid.uuid4().hex}.partial"
        partial.write_bytes(b"half")
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("UPDATE images SET status = 'saving', updated_at = :t "
                                    "WHERE id = :i"),
                               {"t": datetime(2001, 1, 1), "i": image})
        engine.dispose()
        with glint_server(tmp_path, url, flavor="") as server:
            assert wait_until(lambda: statuses(server.url, [image]) == {image: "queued"}
                              and not files(tmp_path / "images")) < RECOVERY_SECONDS
            assert httpx.put(f"{server.url}/v2/images/{image}/file", content=b"again",
                             headers=OCTET).status_code == 204


class SlowSource(BaseHTTPRequestHandler):
    """Serves DATA at about 1 MiB/s, for a web-download that lasts a few seconds."""

    DATA = os.urandom(4 * MIB)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.DATA)))
        self.end_headers()
        try:
            for offset in range(0, len(self.DATA), MIB // 4):
                self.wfile.write(self.DATA[offset:offset + MIB // 4])
                time.sleep(0.25)
        except OSError:
            pass  # the importing node died

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def _task_worker(url: str, image_id: str) -> str | None:
    engine = create_engine(url)
    with engine.connect() as connection:
        worker = connection.execute(text("SELECT worker FROM tasks WHERE image_id = :i"),
                                    {"i": image_id}).scalar()
    engine.dispose()
    return str(worker) if worker else None


@pytest.mark.parametrize("backend", BACKENDS)
def test_import_of_a_killed_node_is_taken_over(backend: str, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    source = ThreadingHTTPServer(("127.0.0.1", 0), SlowSource)
    threading.Thread(target=source.serve_forever, daemon=True).start()
    extra = _shared(shared)
    extra["import_filtering_opts"] = {"allowed_hosts": "127.0.0.1",
                                      "allowed_ports": source.server_address[1]}
    try:
        with database(backend, tmp_path) as url:

            def node(folder: Path) -> AbstractContextManager[GlintServer]:
                return glint_server(folder, url, flavor="", extra=extra)

            with node(tmp_path / "b") as survivor:
                with node(tmp_path / "a") as doomed:
                    [image] = create(doomed.url, 1)
                    assert httpx.post(f"{doomed.url}/v2/images/{image}/import", json={
                        "method": {"name": "web-download",
                                   "uri": f"http://127.0.0.1:{source.server_address[1]}/x"},
                    }).status_code == 202
                    wait_until(lambda: _task_worker(url, image) is not None, 10)
                    first = _task_worker(url, image)
                    time.sleep(1)
                    doomed.kill()
                elapsed = wait_until(lambda: _task_worker(url, image) != first)
                print(f"the import task was taken over {elapsed:.1f} s after the kill")
                assert elapsed < RECOVERY_SECONDS
                wait_until(lambda: statuses(survivor.url, [image])[image] == "active", 60)
                shown = httpx.get(f"{survivor.url}/v2/images/{image}").json()
                assert shown["checksum"] == hashlib.md5(SlowSource.DATA).hexdigest()
                assert "taking over import task" in survivor.log.read_text()
                assert not files(shared / "staging")
                assert files(shared / "images") == {image}
    finally:
        source.shutdown()


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


def _bucket_contents(client: Any, bucket: str) -> list[str]:
    """Objects and unfinished multipart uploads in the bucket."""
    if bucket not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        return []
    objects = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return [o["Key"] for o in objects] + [f"upload:{u['Key']}" for u in uploads]


@pytest.mark.parametrize("backend", BACKENDS)
def test_upload_to_s3_killed_mid_multipart(backend: str, tmp_path: Path,
                                           s3_server: S3Server) -> None:
    options = s3_server.options(s3_store_large_object_size="5",
                                s3_store_large_object_chunk_size="5")
    bucket = str(options["s3_store_bucket"])
    client = s3_server.client()
    extra: dict[str, dict[str, object]] = {
        "glance_store": {"stores": "s3", "default_store": "s3", **options}}
    with database(backend, tmp_path) as url:
        with glint_server(tmp_path, url, flavor="", extra=extra) as server:
            [image] = create(server.url, 1)
            stop = threading.Event()
            pool = start_uploads(server.url, [image], stop)
            wait_until(lambda: f"upload:{image}" in _bucket_contents(client, bucket), 60)
            time.sleep(1)  # a few parts sent
            server.kill()
            stop.set()
            pool.shutdown()
        assert _bucket_contents(client, bucket) == [f"upload:{image}"]
        with glint_server(tmp_path, url, flavor="", extra=extra) as server:
            assert wait_until(lambda: statuses(server.url, [image]) == {image: "queued"}
                              and not _bucket_contents(client, bucket)) < RECOVERY_SECONDS
            assert httpx.put(f"{server.url}/v2/images/{image}/file", content=b"again",
                             headers=OCTET).status_code == 204
            assert _bucket_contents(client, bucket) == [image]
