"""A database outage answers 503 with Retry-After within seconds, and Glint recovers
without a restart: `glint serve` on a private PostgreSQL or MariaDB that the
test kills (SIGKILL) or freezes (SIGSTOP), and on an SQLite file another
process keeps locked."""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import BACKENDS, Caller
from tests.helpers import OCTET, wait_for_status
from tests.private_databases import PrivateServer
from tests.servers import GlintServer, glint_server

# The defaults: 3 s to connect or ping, 5 s per statement. An outage must cost
# a request about the connect timeout, never the 30 s or more it used to.
OUTAGE_ANSWER_SECONDS = 6


@pytest.fixture
def glint(private_database: PrivateServer, tmp_path: Path) -> Iterator[GlintServer]:
    with glint_server(tmp_path / "glint", private_database.url) as server:
        yield server


@pytest.fixture
def admin(glint: GlintServer) -> Caller:
    return Caller(glint.url, uuid.uuid4().hex, ("admin", "member", "reader"))


def _timed(call: httpx.Client, method: str, path: str, **arguments: object
           ) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call.request(method, path, **arguments)  # type: ignore[arg-type]
    return response, time.monotonic() - started


def _assert_unavailable(caller: Caller, image_id: object) -> None:
    """Database-bound calls answer 503, Glance-shaped, with Retry-After, quickly."""
    calls: list[tuple[str, str, dict[str, object]]] = [
        ("GET", "/v2/images", {}),
        ("GET", f"/v2/images/{image_id}", {}),
        ("POST", "/v2/images", {"json": {"name": "during", "disk_format": "raw",
                                         "container_format": "bare"}}),
        ("PATCH", f"/v2/images/{image_id}", {
            "json": [{"op": "add", "path": "/during", "value": "x"}],
            "headers": {"Content-Type": "application/openstack-images-v2.1-json-patch"}}),
        ("PUT", f"/v2/images/{image_id}/file", {"content": b"data", "headers": OCTET}),
    ]
    for method, path, arguments in calls:
        response, elapsed = _timed(caller.http, method, path, **arguments)
        assert response.status_code == 503, (method, path, response.text)
        assert response.headers["Retry-After"] == "5"
        assert response.json()["message"] == "The database is unavailable; try again later."
        assert elapsed < OUTAGE_ANSWER_SECONDS, (method, path, elapsed)


def _assert_health(glint: GlintServer, status: int, reason: str) -> None:
    started = time.monotonic()
    response = httpx.get(f"{glint.url}/healthcheck", timeout=30)
    assert (response.status_code, response.text) == (status, reason)
    assert time.monotonic() - started < OUTAGE_ANSWER_SECONDS
    response = httpx.get(f"{glint.url}/healthcheck", headers={"Accept": "application/json"})
    assert response.json() == {"detailed": False, "reasons": [reason]}


def _assert_discovery_works(glint: GlintServer) -> None:
    """What needs no database goes on working during an outage."""
    assert httpx.get(f"{glint.url}/versions", timeout=5).status_code == 200
    assert httpx.get(f"{glint.url}/", timeout=5).status_code == 300


def _assert_working(caller: Caller, image_id: object) -> None:
    """Reads, writes, an upload and an import all work again."""
    assert caller.http.get(f"/v2/images/{image_id}").status_code == 200
    data = os.urandom(300_000)
    uploaded = caller.create(name="after")
    assert caller.upload(uploaded["id"], data).status_code == 204
    assert caller.http.get(f"/v2/images/{uploaded['id']}/file").content == data
    imported = caller.create(name="imported")
    assert caller.http.put(f"/v2/images/{imported['id']}/stage", content=data,
                           headers=OCTET).status_code == 204
    assert caller.http.post(f"/v2/images/{imported['id']}/import",
                            json={"method": {"name": "glance-direct"}}).status_code == 202
    shown = wait_for_status(caller, imported["id"], "active", timeout=30)
    assert (shown["status"], shown["checksum"]) == ("active", hashlib.md5(data).hexdigest())


def test_killed_database(glint: GlintServer, admin: Caller,
                         private_database: PrivateServer) -> None:
    image = admin.create(name="before")
    private_database.kill()
    _assert_unavailable(admin, image["id"])
    _assert_health(glint, 503, "DATABASE UNAVAILABLE")
    _assert_discovery_works(glint)
    private_database.start()
    # The first request after the restart works: the broken pooled
    # connections are replaced, Glint is not restarted.
    assert admin.http.get("/v2/images").status_code == 200
    _assert_health(glint, 200, "OK")
    _assert_working(admin, image["id"])
    assert glint.process.poll() is None


def test_frozen_database(glint: GlintServer, admin: Caller,
                         private_database: PrivateServer) -> None:
    image = admin.create(name="before")
    for _ in range(3):  # pooled connections that the freeze will leave hanging
        assert admin.http.get("/v2/images").status_code == 200
    private_database.freeze()
    try:
        _assert_unavailable(admin, image["id"])
        _assert_health(glint, 503, "DATABASE UNAVAILABLE")
        _assert_discovery_works(glint)
    finally:
        private_database.thaw()
    assert admin.http.get("/v2/images").status_code == 200
    _assert_health(glint, 200, "OK")
    _assert_working(admin, image["id"])


@pytest.mark.skipif("sqlite" not in BACKENDS, reason="SQLite not among GLINT_TEST_BACKENDS")
def test_locked_sqlite_database(tmp_path: Path) -> None:
    """A writer that never lets go: writes answer 503 after statement_timeout, not 60 s."""
    database = tmp_path / "glint.db"
    extra = {"database": {"statement_timeout": 2}}
    with glint_server(tmp_path / "glint", f"sqlite:///{database}", extra=extra) as glint:
        caller = Caller(glint.url, uuid.uuid4().hex, ("admin", "member", "reader"))
        image = caller.create(name="before")
        holder = sqlite3.connect(database, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # SQLite's write lock, held by someone else
        try:
            response, elapsed = _timed(caller.http, "POST", "/v2/images", json={"name": "x"})
            assert (response.status_code, response.headers["Retry-After"]) == (503, "5")
            assert 1.5 < elapsed < 4
            # WAL: readers are not blocked by a writer.
            assert caller.http.get(f"/v2/images/{image['id']}").status_code == 200
        finally:
            holder.execute("ROLLBACK")
        assert caller.patch(image["id"], [{"op": "add", "path": "/a", "value": "b"}]
                            ).status_code == 200
        # Another process's turn in the writer queue that never ends.
        with open(f"{database}.write-lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            response, elapsed = _timed(caller.http, "POST", "/v2/images", json={"name": "y"})
            assert response.status_code == 503
            assert 1.5 < elapsed < 4
            fcntl.flock(lock, fcntl.LOCK_UN)
        _assert_working(caller, image["id"])
