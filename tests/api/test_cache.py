"""The image cache over real HTTP on every database: serving, filling, never
stale, never past its maximum, and the /v2/cache API."""

from __future__ import annotations

import concurrent.futures
import hashlib
import http.client
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import BACKENDS, Caller
from tests.helpers import Site, running_site, upload_active
from tests.servers import database

# Room for images of many store chunks (2 MiB each): more than the server's
# socket buffers take, for a client that leaves mid-body.
MAX_SIZE = 16 * 1024 * 1024
NODE = "http://node-a.example:9292"


def cache_config(folder: Path, **extra: object) -> dict[str, dict[str, object]]:
    return {"DEFAULT": {"image_cache_dir": folder / "cache", "image_cache_max_size": MAX_SIZE,
                        "cache_prefetcher_interval": 1, "worker_self_reference_url": NODE,
                        **extra}}


@pytest.fixture(scope="module", params=BACKENDS)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp(f"cache-{request.param}")
    with database(request.param, folder) as url, running_site(
            folder, database_url=url, extra=cache_config(folder), one_project=True) as running:
        yield running


def cache_dir(site: Site) -> Path:
    return site.folder / "cache"


def waited(check: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def listing(caller: Caller) -> dict[str, list[object]]:
    response = caller.http.get("/v2/cache")
    assert response.status_code == 200, response.text
    body: dict[str, list[object]] = response.json()
    return body


def cached(caller: Caller, image_id: object) -> dict[str, object] | None:
    for entry in listing(caller)["cached_images"]:
        assert isinstance(entry, dict)
        if entry["image_id"] == image_id:
            return entry
    return None


def download(caller: Caller, image_id: object, **headers: str) -> httpx.Response:
    return caller.http.get(f"/v2/images/{image_id}/file", headers=headers)


def cached_image(site: Site, data: bytes) -> dict[str, object]:
    """An image of the member's, downloaded once so that it is in the cache."""
    image = upload_active(site.member, data)
    response = download(site.member, image["id"])
    assert response.status_code == 200 and response.content == data
    assert waited(lambda: cached(site.admin, image["id"]) is not None)
    return image


def test_versions_with_the_cache(site: Site) -> None:
    versions = httpx.get(site.server.url + "/versions").json()["versions"]
    current = [v["id"] for v in versions if v["status"] == "CURRENT"]
    assert current == ["v2.18"]
    assert {"v2.14", "v2.16"} <= {v["id"] for v in versions}
    assert site.member.http.get("/v2.16/images").status_code == 200


def test_cache_routes_404_without_the_cache(admin: Caller) -> None:
    for method, path in [("GET", "/v2/cache"), ("PUT", f"/v2/cache/{uuid.uuid4()}"),
                         ("DELETE", "/v2/cache"), ("POST", "/v2/cache/prune"),
                         ("POST", "/v2/cache/clean"), ("GET", f"/v2/cache/nodes/{uuid.uuid4()}")]:
        assert admin.http.request(method, path).status_code == 404, (method, path)


def test_miss_fills_then_hits_are_served_and_counted(site: Site) -> None:
    data = os.urandom(64 * 1024)
    image = cached_image(site, data)
    entry = cached(site.admin, image["id"])
    assert entry is not None and entry["size"] == len(data) and entry["hits"] == 0
    assert (cache_dir(site) / str(image["id"])).read_bytes() == data
    again = download(site.member, image["id"])
    assert again.status_code == 200 and again.content == data
    assert again.headers["content-md5"] == image["checksum"]
    assert waited(lambda: (cached(site.admin, image["id"]) or {}).get("hits") == 1)
    ranged = download(site.member, image["id"], Range="bytes=100-199")
    assert ranged.status_code == 206 and ranged.content == data[100:200]
    assert ranged.headers["content-range"] == f"bytes 100-199/{len(data)}"
    assert waited(lambda: (cached(site.admin, image["id"]) or {}).get("hits") == 2)


def test_hits_are_authorized_as_downloads(site: Site) -> None:
    image = cached_image(site, os.urandom(4096))
    stranger = Caller(site.server.url, uuid.uuid4().hex, ("member", "reader"))
    assert download(stranger, image["id"]).status_code == 404
    reader = Caller(site.server.url, site.member.project_id, ("reader",))
    assert download(reader, image["id"]).status_code == 403


def test_deactivated_and_deleted_images_leave_the_cache(site: Site) -> None:
    data = os.urandom(8192)
    image = cached_image(site, data)
    path = cache_dir(site) / str(image["id"])
    assert site.member.http.post(f"/v2/images/{image['id']}/actions/deactivate"
                                 ).status_code == 204
    assert cached(site.admin, image["id"]) is None
    assert waited(lambda: not path.exists())  # the node's pass removes the file
    assert site.member.http.post(f"/v2/images/{image['id']}/actions/reactivate"
                                 ).status_code == 204
    assert download(site.member, image["id"]).content == data
    assert waited(lambda: cached(site.admin, image["id"]) is not None)
    assert site.member.http.delete(f"/v2/images/{image['id']}").status_code == 204
    assert cached(site.admin, image["id"]) is None
    assert waited(lambda: not path.exists())


def test_a_changed_file_is_never_served(site: Site) -> None:
    data = os.urandom(32 * 1024)
    image = cached_image(site, data)
    path = cache_dir(site) / str(image["id"])
    before = path.stat()
    with open(path, "r+b") as handle:
        handle.seek(1000)
        handle.write(bytes([data[1000] ^ 0xFF]))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # even with its mtime back
    response = download(site.member, image["id"])
    assert response.status_code == 200 and response.content == data
    # The miss refilled the entry from the store.
    assert waited(lambda: path.exists() and path.read_bytes() == data)


def test_cleaner_removes_a_corrupt_entry(site: Site) -> None:
    data = os.urandom(16 * 1024)
    image = cached_image(site, data)
    path = cache_dir(site) / str(image["id"])
    corrupt = bytearray(data)
    corrupt[5] ^= 1
    # Another file put in its place (as a bad disk or hand would): a new inode.
    replacement = path.with_name("replacement")
    replacement.write_bytes(bytes(corrupt))
    os.replace(replacement, path)
    response = site.admin.http.post("/v2/cache/clean")
    # As Glance's: 200 and an empty body.
    assert response.status_code == 200 and response.content == b""
    assert cached(site.admin, image["id"]) is None and not path.exists()
    assert download(site.member, image["id"]).content == data


def test_queue_prefetches(site: Site) -> None:
    data = os.urandom(20000)
    image = upload_active(site.member, data)
    assert site.admin.http.put(f"/v2/cache/{image['id']}").status_code == 202
    assert waited(lambda: cached(site.admin, image["id"]) is not None)
    assert image["id"] not in listing(site.admin)["queued_images"]
    assert (cache_dir(site) / str(image["id"])).read_bytes() == data
    nodes = site.admin.http.get(f"/v2/cache/nodes/{image['id']}")
    assert nodes.status_code == 200 and nodes.json() == [NODE]


def test_queue_refuses_inactive_and_unknown_images(site: Site) -> None:
    queued = site.member.create()
    assert site.admin.http.put(f"/v2/cache/{queued['id']}").status_code == 400
    assert site.admin.http.put(f"/v2/cache/{uuid.uuid4()}").status_code == 404


def test_delete_one_and_clear(site: Site) -> None:
    image = cached_image(site, os.urandom(1000))
    assert site.admin.http.delete(f"/v2/cache/{image['id']}").status_code == 204
    assert cached(site.admin, image["id"]) is None
    assert not (cache_dir(site) / str(image["id"])).exists()
    assert site.admin.http.delete(f"/v2/cache/{image['id']}").status_code == 404
    first = cached_image(site, os.urandom(1000))
    assert site.admin.http.delete("/v2/cache", headers={
        "x-image-cache-clear-target": "everything"}).status_code == 400
    assert site.admin.http.delete("/v2/cache", headers={
        "x-image-cache-clear-target": "queue"}).status_code == 204
    assert cached(site.admin, first["id"]) is not None
    assert site.admin.http.delete("/v2/cache", headers={
        "x-image-cache-clear-target": "cache"}).status_code == 204
    assert listing(site.admin)["cached_images"] == []
    assert not (cache_dir(site) / str(first["id"])).exists()


def test_clean_and_prune_answer_as_glance(site: Site) -> None:
    # No body is read: clients send none, the api-ref shows `{}`.
    for body in (None, {}):
        cleaned = site.admin.http.post("/v2/cache/clean", json=body)
        assert cleaned.status_code == 200 and cleaned.content == b""
        pruned = site.admin.http.post("/v2/cache/prune", json=body)
        assert pruned.status_code == 200
        assert pruned.headers["content-type"] == "application/json"
        assert pruned.json() == {"total_files_pruned": 0, "total_bytes_pruned": 0}


def test_cache_api_is_for_admins(site: Site) -> None:
    image = upload_active(site.member, b"x" * 10)
    for method, path in [("GET", "/v2/cache"), ("PUT", f"/v2/cache/{image['id']}"),
                         ("DELETE", f"/v2/cache/{image['id']}"), ("DELETE", "/v2/cache"),
                         ("POST", "/v2/cache/prune"), ("POST", "/v2/cache/clean"),
                         ("GET", f"/v2/cache/nodes/{image['id']}")]:
        assert site.member.http.request(method, path).status_code == 403, (method, path)


def _cache_bytes(site: Site) -> int:
    return sum(p.stat().st_size for p in cache_dir(site).iterdir() if p.is_file())


def test_never_past_the_maximum(site: Site) -> None:
    site.admin.http.delete("/v2/cache")
    size = MAX_SIZE // 3 + 1  # two fit, a third evicts the least recently used
    datas = [os.urandom(size) for _ in range(3)]
    images = [upload_active(site.member, data) for data in datas]
    for image, data in zip(images[:2], datas[:2], strict=True):
        assert download(site.member, image["id"]).content == data
        assert waited(lambda i=image: cached(site.admin, i["id"]) is not None)
    assert download(site.member, images[0]["id"]).content == datas[0]  # 1 is now LRU
    assert waited(lambda: (cached(site.admin, images[0]["id"]) or {}).get("hits") == 1)
    assert download(site.member, images[2]["id"]).content == datas[2]
    assert waited(lambda: cached(site.admin, images[2]["id"]) is not None)
    ids = {entry["image_id"] for entry in listing(site.admin)["cached_images"]}  # type: ignore[index]
    assert ids == {images[0]["id"], images[2]["id"]}
    assert _cache_bytes(site) <= MAX_SIZE
    big = os.urandom(MAX_SIZE + 1)
    too_big = upload_active(site.member, big)
    assert download(site.member, too_big["id"]).content == big
    time.sleep(0.5)
    assert cached(site.admin, too_big["id"]) is None and _cache_bytes(site) <= MAX_SIZE


def test_concurrent_first_downloads_fill_once(site: Site) -> None:
    data = os.urandom(256 * 1024)
    image = upload_active(site.member, data)
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        bodies = list(pool.map(lambda _: download(site.member, image["id"]).content, range(6)))
    assert all(hashlib.md5(body).hexdigest() == image["checksum"] for body in bodies)
    assert waited(lambda: cached(site.admin, image["id"]) is not None)
    assert [e for e in listing(site.admin)["cached_images"]
            if e["image_id"] == image["id"]]  # type: ignore[index]
    assert list((cache_dir(site) / "incomplete").iterdir()) == []


def test_store_data_that_does_not_match_is_never_cached(site: Site) -> None:
    data = os.urandom(50000)
    image = upload_active(site.member, data)
    stored = site.folder / "images" / str(image["id"])
    changed = bytearray(data)
    changed[7] ^= 1
    stored.write_bytes(bytes(changed))
    response = download(site.member, image["id"])
    assert response.status_code == 200
    time.sleep(0.5)
    assert cached(site.admin, image["id"]) is None
    assert not (cache_dir(site) / str(image["id"])).exists()


def test_store_ending_early_leaves_no_entry(site: Site) -> None:
    data = os.urandom(50000)
    image = upload_active(site.member, data)
    (site.folder / "images" / str(image["id"])).write_bytes(data[:20000])
    with pytest.raises(httpx.HTTPError):
        site.member.http.get(f"/v2/images/{image['id']}/file", timeout=10)
    time.sleep(0.5)
    assert cached(site.admin, image["id"]) is None
    assert not (cache_dir(site) / str(image["id"])).exists()

def _read_then_close(site: Site, image_id: object, count: int, *,
                     receive_buffer: int | None = None) -> bytes:
    """Read `count` bytes of the image's data with http.client and close the
    connection at once, as bench/cache.py's reader does; `receive_buffer`
    keeps the client's socket buffer (and so what the server can send ahead) small."""
    url = httpx.URL(site.server.url)
    assert url.host and url.port
    connection = http.client.HTTPConnection(url.host, url.port, timeout=60)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect((url.host, url.port))
    connection.sock = sock
    try:
        connection.request("GET", f"/v2/images/{image_id}/file",
                           headers=dict(site.member.http.headers))
        response = connection.getresponse()
        assert response.status == 200
        return response.read(count)
    finally:
        connection.close()


def test_a_client_leaving_after_the_last_byte_still_fills(site: Site) -> None:
    # Its request is most often cancelled while the fill writes the last
    # chunk (about 2 MiB here): a few images, as the moment varies.
    for _ in range(3):
        data = os.urandom(4 * 1024 * 1024 - 4096)
        image = upload_active(site.member, data)
        assert _read_then_close(site, image["id"], len(data)) == data
        assert waited(lambda i=image: cached(site.admin, i["id"]) is not None, timeout=10)
        assert (cache_dir(site) / str(image["id"])).read_bytes() == data
        assert download(site.member, image["id"]).content == data
        assert waited(lambda i=image: (cached(site.admin, i["id"]) or {}).get("hits") == 1)


def test_a_client_leaving_mid_body_leaves_no_entry(site: Site) -> None:
    # Eight store chunks: the client leaves after the first bytes; the server
    # can only send a few chunks ahead into the socket buffers (up to 4 MiB
    # here), so the last ones are never written to the fill. (A chunk is
    # written while it is sent: a fill that got every chunk is complete, and kept.)
    data = os.urandom(MAX_SIZE - 4096)
    image = upload_active(site.member, data)
    assert _read_then_close(site, image["id"], 65536, receive_buffer=32768) == data[:65536]
    incomplete = cache_dir(site) / "incomplete" / str(image["id"])
    assert waited(lambda: not incomplete.exists(), timeout=10)
    assert cached(site.admin, image["id"]) is None
    assert not (cache_dir(site) / str(image["id"])).exists()
    # Nothing of the broken fill is served, and the image can still be cached.
    assert download(site.member, image["id"]).content == data
    assert waited(lambda: cached(site.admin, image["id"]) is not None)
    assert (cache_dir(site) / str(image["id"])).read_bytes() == data


def test_a_head_request_leaves_no_fill_behind(site: Site) -> None:
    data = os.urandom(70_000)
    image = upload_active(site.member, data)
    head = site.member.http.head(f"/v2/images/{image['id']}/file")
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data))
    assert waited(lambda: not (cache_dir(site) / "incomplete" / str(image["id"])).exists())
    # The image can still be cached: no lock or reservation was left behind.
    assert download(site.member, image["id"]).content == data
    assert waited(lambda: cached(site.admin, image["id"]) is not None)
