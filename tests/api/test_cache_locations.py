"""The image cache with images whose data an http location holds (added through
the locations API, served by nginx): cached like any other once validated, and a
store that fails mid-fill leaves no entry and no whole-looking response."""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.test_cache import NODE, waited
from tests.conftest import Caller
from tests.servers import GlintServer, glint_server
from tests.web import WebServer, nginx


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    with nginx(tmp_path_factory.mktemp("cache-nginx")) as server:
        yield server


@pytest.fixture(scope="module")
def glint(tmp_path_factory: pytest.TempPathFactory, web: WebServer) -> Iterator[GlintServer]:
    folder = tmp_path_factory.mktemp("cache-locations")
    extra: dict[str, dict[str, object]] = {
        "DEFAULT": {"show_multiple_locations": "true", "image_cache_dir": folder / "cache",
                    "cache_prefetcher_interval": 1, "worker_self_reference_url": NODE},
        "import_filtering_opts": {"allowed_hosts": "127.0.0.1", "allowed_ports": web.port},
    }
    with glint_server(folder, f"sqlite:///{folder / 'glint.db'}", extra=extra) as server:
        yield server


@pytest.fixture
def owner(glint: GlintServer) -> Caller:
    return Caller(glint.url, uuid.uuid4().hex, ("admin", "member", "reader"))


def _located(owner: Caller, web: WebServer, data: bytes, folder: str = "") -> tuple[str, Path]:
    """An image whose data nginx serves, added with validation data; its id and file."""
    name = uuid.uuid4().hex
    target = web.root / folder / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    image = owner.create()
    response = owner.patch(image["id"], [{"op": "add", "path": "/locations/-", "value": {
        "url": f"{web.url}/{folder + '/' if folder else ''}{name}", "metadata": {},
        "validation_data": {"checksum": hashlib.md5(data).hexdigest(), "os_hash_algo": "sha512",
                            "os_hash_value": hashlib.sha512(data).hexdigest()}}}])
    assert response.status_code == 200, response.text
    return str(image["id"]), target


def _entry(owner: Caller, image_id: str) -> dict[str, object] | None:
    for entry in owner.http.get("/v2/cache").json()["cached_images"]:
        if entry["image_id"] == image_id:
            return dict(entry)
    return None


def test_location_images_are_cached(owner: Caller, web: WebServer, glint: GlintServer) -> None:
    data = os.urandom(200_000)
    image_id, served = _located(owner, web, data)
    assert owner.http.get(f"/v2/images/{image_id}/file").content == data
    assert waited(lambda: _entry(owner, image_id) is not None)
    served.unlink()  # nginx no longer has it: the next download can only be the cache's
    assert owner.http.get(f"/v2/images/{image_id}/file").content == data
    assert waited(lambda: (_entry(owner, image_id) or {}).get("hits") == 1)


def test_a_store_failing_mid_fill_leaves_no_entry(owner: Caller, web: WebServer,
                                                  glint: GlintServer) -> None:
    data = os.urandom(3 * 1024 * 1024)
    image_id, served = _located(owner, web, data, folder="slow")  # 512 KiB/s
    outcome: dict[str, object] = {}

    def fetch() -> None:
        try:
            with owner.http.stream("GET", f"/v2/images/{image_id}/file") as response:
                outcome["status"] = response.status_code
                outcome["body"] = b"".join(response.iter_bytes())
        except httpx.HTTPError as exc:
            outcome["error"] = exc

    reader = threading.Thread(target=fetch)
    reader.start()
    incomplete = glint.folder / "cache" / "incomplete" / image_id
    assert waited(lambda: incomplete.exists() and incomplete.stat().st_size > 0)
    with open(served, "r+b") as handle:
        handle.truncate(1024 * 1024)  # nginx can send no more of it
    reader.join(60)
    assert not reader.is_alive()
    # Never a whole-looking answer: the connection ends short of the Content-Length.
    assert isinstance(outcome.get("error"), httpx.RemoteProtocolError), outcome.keys()
    time.sleep(0.5)
    assert _entry(owner, image_id) is None
    assert not (glint.folder / "cache" / image_id).exists()
    assert not incomplete.exists()
