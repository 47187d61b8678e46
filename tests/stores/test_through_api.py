"""Every store behind the Images API: an image uploaded into each store comes
back byte-identical, with the right checksum and os_hash_value, whole and by
byte range. One `glint serve` holds all the stores at once, each on its
real server; the http store gets its data as a location."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.servers import GlintServer, glint_server
from tests.stores.backends import CephCluster, S3Server, SwiftServer
from tests.web import WebServer

MIB = 1024 * 1024
WRITABLE = ["fast", "seaweed", "rgw", "swifty", "ceph"]


@pytest.fixture(scope="module")
def every_store(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server,
                rgw_server: S3Server, swift_server: SwiftServer, ceph_cluster: CephCluster,
                web_server: WebServer) -> Iterator[GlintServer]:
    folder = tmp_path_factory.mktemp("glint-every-store")
    extra: dict[str, dict[str, object]] = {
        "DEFAULT": {"enabled_backends": "fast:file, seaweed:s3, rgw:s3, swifty:swift, "
                                        "ceph:rbd, web:http"},
        "glance_store": {"default_backend": "fast"},
        "fast": {"filesystem_store_datadir": folder / "fast"},
        # Small large-object thresholds: the test data takes the multipart paths.
        "seaweed": s3_server.options(s3_store_large_object_size="5",
                                     s3_store_large_object_chunk_size="5"),
        "rgw": rgw_server.options(s3_store_large_object_size="5",
                                  s3_store_large_object_chunk_size="5"),
        "swifty": swift_server.options(swift_store_large_object_size="5",
                                       swift_store_large_object_chunk_size="5"),
        "ceph": {"rbd_store_pool": ceph_cluster.pool,
                 "rbd_store_ceph_conf": ceph_cluster.conf, "rbd_store_chunk_size": "4"},
    }
    with glint_server(folder, f"sqlite:///{folder / 'glint.db'}", flavor="",
                      extra=extra) as server:
        yield server


def _new_image(http: httpx.Client) -> str:
    created = http.post("/v2/images", json={"name": f"i-{uuid.uuid4().hex[:6]}",
                                            "disk_format": "raw", "container_format": "bare"})
    assert created.status_code == 201, created.text
    image_id: str = created.json()["id"]
    return image_id


def _check_served(http: httpx.Client, image_id: str, data: bytes, store: str) -> None:
    image = http.get(f"/v2/images/{image_id}").json()
    assert image["status"] == "active" and image["stores"] == store
    assert image["size"] == len(data)
    assert image["checksum"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert image["os_hash_algo"] == "sha512"
    assert image["os_hash_value"] == hashlib.sha512(data).hexdigest()
    whole = http.get(f"/v2/images/{image_id}/file")
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["Content-MD5"] == image["checksum"]
    ranged = http.get(f"/v2/images/{image_id}/file", headers={"Range": "bytes=1000-6300000"})
    assert ranged.status_code == 206 and ranged.content == data[1000:6300001]
    assert ranged.headers["Content-Range"] == f"bytes 1000-6300000/{len(data)}"
    tail = http.get(f"/v2/images/{image_id}/file", headers={"Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == data[-100:]


@pytest.mark.parametrize("store", WRITABLE)
def test_upload_download_and_ranges_in_each_store(every_store: GlintServer, store: str) -> None:
    data = os.urandom(11 * MIB + 12345)
    with httpx.Client(base_url=every_store.url, timeout=120) as http:
        image_id = _new_image(http)
        uploaded = http.put(f"/v2/images/{image_id}/file", content=data,
                            headers={"Content-Type": "application/octet-stream",
                                     "X-Image-Meta-Store": store})
        assert uploaded.status_code == 204, uploaded.text
        _check_served(http, image_id, data, store)
        assert http.delete(f"/v2/images/{image_id}").status_code == 204


def test_http_store_serves_a_location(every_store: GlintServer, web_server: WebServer) -> None:
    data = os.urandom(7 * MIB + 3)
    name = f"{uuid.uuid4().hex}.img"
    (web_server.root / name).write_bytes(data)
    with httpx.Client(base_url=every_store.url, timeout=120) as http:
        image_id = _new_image(http)
        added = http.post(f"/v2/images/{image_id}/locations", json={
            "url": f"{web_server.url}/{name}",
            "validation_data": {"os_hash_algo": "sha512",
                                "os_hash_value": hashlib.sha512(data).hexdigest()},
        })
        assert added.status_code == 202, added.text
        _check_served(http, image_id, data, "web")
    assert (web_server.root / name).read_bytes() == data  # read-only: deleting leaves it

