"""The image cache on two `glint serve` nodes sharing one PostgreSQL database and
one S3 store (SeaweedFS), each with its own cache folder: the shared database
says which nodes hold an image, and deleting it on one node empties both caches."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from tests.api.test_cache import waited
from tests.servers import GlintServer, database, free_port, glint_server
from tests.stores.backends import seaweedfs


@contextmanager
def cache_node(folder: Path, database_url: str, store: dict[str, object]
               ) -> Iterator[GlintServer]:
    port = free_port()
    with glint_server(folder, database_url, flavor="", workers=2, port=port, extra={
        "DEFAULT": {"worker_self_reference_url": f"http://127.0.0.1:{port}",
                    "image_cache_dir": folder / "cache", "cache_prefetcher_interval": 1},
        "glance_store": {"stores": "s3", "default_store": "s3", **store},
    }) as server:
        yield server


def _cached(http: httpx.Client) -> list[str]:
    return [entry["image_id"] for entry in http.get("/v2/cache").json()["cached_images"]]


def test_two_nodes_share_what_their_caches_hold(tmp_path: Path) -> None:
    with ExitStack() as stack:
        url = stack.enter_context(database("postgresql", tmp_path))
        store = stack.enter_context(seaweedfs(tmp_path / "s3")).options()
        nodes = [stack.enter_context(cache_node(tmp_path / f"node{n}", url, store))
                 for n in range(2)]
        one, two = (stack.enter_context(httpx.Client(base_url=n.url, timeout=60)) for n in nodes)
        data = os.urandom(3 * 1024 * 1024 + 17)
        image_id = one.post("/v2/images", json={
            "name": f"cached-{uuid.uuid4().hex[:6]}", "disk_format": "raw",
            "container_format": "bare"}).json()["id"]
        assert one.put(f"/v2/images/{image_id}/file", content=data, headers={
            "Content-Type": "application/octet-stream"}).status_code == 204

        assert one.get(f"/v2/images/{image_id}/file").content == data
        assert waited(lambda: _cached(one) == [image_id])
        assert _cached(two) == []
        assert two.get(f"/v2/cache/nodes/{image_id}").json() == [nodes[0].url]
        assert (nodes[0].folder / "cache" / image_id).read_bytes() == data

        assert two.get(f"/v2/images/{image_id}/file").content == data
        assert waited(lambda: _cached(two) == [image_id])
        assert one.get(f"/v2/cache/nodes/{image_id}").json() == sorted(n.url for n in nodes)
        # Served from the cache now: the hit is counted on node two.
        assert two.get(f"/v2/images/{image_id}/file").content == data
        assert waited(lambda: two.get("/v2/cache").json()["cached_images"][0]["hits"] == 1)

        assert two.delete(f"/v2/images/{image_id}").status_code == 204
        assert _cached(one) == [] and _cached(two) == []
        for node in nodes:
            path = node.folder / "cache" / image_id
            assert waited(lambda p=path: not p.exists()), path
