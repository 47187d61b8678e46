"""Ingest failures end the same way whatever brings the data: a full disk while
staging or uploading answers 413 and leaves nothing, and a process that dies
between writing the data and publishing it leaves no partial file once
recovery ran.

The full disk is a real one: a 1 MiB tmpfs this test mounts (it needs root,
as on the test machine). The crash is real too: a Python process running
Glint's services kills itself with SIGKILL at the moment the data is written
and about to be published; a real `glint serve` on the same database and
folders then recovers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import BACKENDS
from tests.servers import database, glint_server

MIB = 1 << 20
OCTET = {"Content-Type": "application/octet-stream"}
RECOVERY_SECONDS = 30


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs mounted for this test."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"a tmpfs cannot be mounted here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _chunks(size: int) -> Iterator[bytes]:
    for _ in range(size // MIB):
        yield os.urandom(MIB)


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_full_disk_while_staging_is_413_and_leaves_nothing(
        tmp_path: Path, small_disk: Path, declared: bool) -> None:
    staging = small_disk / "staging"
    with database("sqlite", tmp_path) as url, glint_server(
            tmp_path / "server", url, flavor="",
            extra={"DEFAULT": {"node_staging_uri": f"file://{staging}"}}) as server:
        base = server.url
        image = httpx.post(f"{base}/v2/images", json={"disk_format": "raw",
                                                     "container_format": "bare"}).json()
        body = b"".join(_chunks(2 * MIB)) if declared else _chunks(2 * MIB)
        response = httpx.put(f"{base}/v2/images/{image['id']}/stage", content=body,
                             headers=OCTET, timeout=60)
        assert response.status_code == 413, response.text
        assert httpx.get(f"{base}/v2/images/{image['id']}").json()["status"] == "queued"
        assert os.listdir(staging) == []
        # The disk is usable again: a stage that fits works.
        response = httpx.put(f"{base}/v2/images/{image['id']}/stage", content=b"x" * 1000,
                             headers=OCTET, timeout=60)
        assert response.status_code == 204, response.text


def test_a_full_store_while_uploading_is_413_and_leaves_nothing(
        tmp_path: Path, small_disk: Path) -> None:
    with database("sqlite", tmp_path) as url, glint_server(
            tmp_path / "server", url, flavor="",
            extra={"glance_store": {"filesystem_store_datadir": small_disk}}) as server:
        image = httpx.post(f"{server.url}/v2/images", json={"disk_format": "raw",
                                                            "container_format": "bare"}).json()
        response = httpx.put(f"{server.url}/v2/images/{image['id']}/file",
                             content=_chunks(2 * MIB), headers=OCTET, timeout=60)
        assert response.status_code == 413, response.text
        assert httpx.get(f"{server.url}/v2/images/{image['id']}").json()["status"] == "queued"
        assert os.listdir(small_disk) == []


# Runs Glint's services in a process of its own and dies (SIGKILL) when the data
# of a stage or an upload is written and about to be published.
CRASHING = """
import asyncio, os, signal, sys, uuid
from dataclasses import replace
from pathlib import Path
from glint.db import schema
from glint.db.ownership import new_owner_id
from glint.db.session import create_database_engine, open_database
from glint.domain.context import RequestContext
from glint.domain.new_image import NewImage
from glint.services.authorization import build_policy
from glint.services.container import build_services
from glint.services.data_writes import DataWrites
from glint.settings import DatabaseSettings, embedded_settings
from glint.stores.registry import build_registry

folder, url, what = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
settings = replace(embedded_settings(folder), database=DatabaseSettings(url=url))
engine = create_database_engine(settings.database, maintenance=True)
schema.upgrade(engine)
engine.dispose()
services = build_services(settings, open_database(settings.database),
                          build_registry(settings.store), build_policy(settings.policy),
                          new_owner_id())

async def crash(self, write):
    os.kill(os.getpid(), signal.SIGKILL)

DataWrites.confirm = crash
owner = RequestContext(request_id="req", user_id="u", project_id="p",
                       roles=frozenset({"member", "reader"}))
image = services.images.create(
    owner, NewImage.from_body({"disk_format": "raw", "container_format": "bare"}, "p"))
print(image.id, flush=True)

async def body():
    yield os.urandom(1 << 20)

async def main():
    if what == "stage":
        await services.imports.stage(owner, image.id, body(), expected_size=None)
    else:
        await services.data.upload(owner, image.id, body(), expected_size=None)

asyncio.run(main())
"""


def _crash_while(what: str, folder: Path, url: str) -> str:
    """Run a stage or upload that dies before publishing; the image's id."""
    done = subprocess.run([sys.executable, "-c", CRASHING, str(folder), url, what],
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == -9, done.stderr
    return done.stdout.strip()


def _files(folder: Path) -> list[str]:
    return sorted(os.listdir(folder)) if folder.is_dir() else []


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_crash_between_write_and_publish_leaves_no_partial_file(
        backend: str, tmp_path: Path) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    with database(backend, tmp_path) as url:
        staged = _crash_while("stage", folder, url)
        uploaded = _crash_while("upload", folder, url)
        # All the data was written, none of it published.
        assert [name.endswith(".partial") for name in _files(folder / "staging")] == [True]
        assert [name.endswith(".partial") for name in _files(folder / "images")] == [True]
        with glint_server(folder, url, flavor="") as server:
            deadline = time.monotonic() + RECOVERY_SECONDS
            while time.monotonic() < deadline:
                statuses = [httpx.get(f"{server.url}/v2/images/{image}").json()["status"]
                            for image in (staged, uploaded)]
                if statuses == ["queued", "queued"] and not _files(folder / "staging") \
                        and not _files(folder / "images"):
                    break
                time.sleep(0.5)
            assert statuses == ["queued", "queued"]
            assert _files(folder / "staging") == [] and _files(folder / "images") == []

