"""`glint serve` killed -9 while it fills a cache entry: nothing servable is left,
the leftover is cleaned, and the next download is whole (on every database)."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest

from tests.api.test_cache import NODE, waited
from tests.conftest import BACKENDS, Caller
from tests.helpers import upload_active
from tests.servers import database, free_port, glint_server

SIZE = 48 * 1024 * 1024


@pytest.mark.parametrize("backend", BACKENDS)
def test_kill_9_mid_fill_leaves_nothing_servable(backend: str, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    extra: dict[str, dict[str, object]] = {"DEFAULT": {
        "image_cache_dir": cache, "image_cache_max_size": 4 * SIZE,
        "cache_prefetcher_interval": 1, "worker_self_reference_url": NODE}}
    data = os.urandom(SIZE)
    port = free_port()
    with database(backend, tmp_path) as url:
        with glint_server(tmp_path, url, extra=extra, port=port) as server:
            member = Caller(server.url, uuid.uuid4().hex, ("member", "reader"))
            image = upload_active(member, data)
            with member.http.stream("GET", f"/v2/images/{image['id']}/file") as response:
                assert response.status_code == 200
                next(response.iter_bytes(65536))
                assert waited(lambda: (cache / "incomplete" / str(image["id"])).exists())
                server.kill()
            assert not (cache / str(image["id"])).exists()
        with glint_server(tmp_path, url, extra=extra, port=port) as server:
            admin = Caller(server.url, uuid.uuid4().hex, ("admin", "member", "reader"))
            # The restarted node's first pass removes the dead fill.
            assert waited(lambda: not (cache / "incomplete" / str(image["id"])).exists())
            assert admin.http.get("/v2/cache").json()["cached_images"] == []
            body = admin.http.get(f"/v2/images/{image['id']}/file").content
            assert hashlib.md5(body).hexdigest() == image["checksum"]

            def listed() -> bool:
                entries = admin.http.get("/v2/cache").json()["cached_images"]
                return [e["image_id"] for e in entries] == [image["id"]]

            assert waited(listed)
            assert (cache / str(image["id"])).read_bytes() == data
