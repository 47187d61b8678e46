"""Uploading and downloading image data over real HTTP."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator

import httpx

from tests.conftest import Caller
from tests.helpers import OCTET, wait_for_status
from tests.servers import GlintServer


def _files_in_store(server: GlintServer) -> list[str]:
    return sorted(os.listdir(server.folder / "images"))


def test_upload_then_download_with_hashes(member: Caller) -> None:
    data = os.urandom(5 * 1024 * 1024 + 17)
    image = member.create(name="blob")
    assert member.upload(image["id"], data).status_code == 204
    shown = member.http.get(f"/v2/images/{image['id']}").json()
    assert shown["status"] == "active"
    assert shown["size"] == len(data)
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["os_hash_algo"] == "sha512"
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
    response = member.http.get(f"/v2/images/{image['id']}/file")
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-md5"] == shown["checksum"]
    assert response.headers["content-type"] == "application/octet-stream"
    assert int(response.headers["content-length"]) == len(data)


def test_chunked_upload(member: Caller) -> None:
    pieces = [os.urandom(65536) for _ in range(20)]

    def body() -> Iterator[bytes]:
        yield from pieces

    image = member.create()
    response = member.http.put(f"/v2/images/{image['id']}/file", content=body(), headers=OCTET)
    assert response.status_code == 204
    assert member.http.get(f"/v2/images/{image['id']}/file").content == b"".join(pieces)


def test_zero_length_upload_is_allowed(member: Caller) -> None:
    image = member.create()
    assert member.upload(image["id"], b"").status_code == 204
    shown = member.http.get(f"/v2/images/{image['id']}").json()
    assert shown["status"] == "active" and shown["size"] == 0


def test_download_without_data_is_204(member: Caller) -> None:
    image = member.create()
    assert member.http.get(f"/v2/images/{image['id']}/file").status_code == 204


def test_ranges(member: Caller) -> None:
    data = bytes(range(256)) * 40
    image = member.create()
    member.upload(image["id"], data)
    url = f"/v2/images/{image['id']}/file"
    response = member.http.get(url, headers={"Range": "bytes=10-19"})
    assert response.status_code == 206
    assert response.content == data[10:20]
    assert response.headers["content-range"] == f"bytes 10-19/{len(data)}"
    assert member.http.get(url, headers={"Range": "bytes=10000-"}).content == data[10000:]
    assert member.http.get(url, headers={"Range": "bytes=-5"}).content == data[-5:]
    assert member.http.get(url, headers={"Range": "bytes=5-99999"}).content == data[5:]
    assert member.http.get(url, headers={"Range": f"bytes={len(data)}-"}).status_code == 416
    assert member.http.get(url, headers={"Range": "bytes=x-y"}).status_code == 416
    assert member.http.get(url, headers={"Range": "bytes=0-1,4-5"}).status_code == 400
    legacy = member.http.get(url, headers={"Content-Range": "bytes 1-3/*"})
    assert legacy.status_code == 206 and legacy.content == data[1:4]


def test_upload_needs_octet_stream(member: Caller) -> None:
    image = member.create()
    response = member.http.put(f"/v2/images/{image['id']}/file", content=b"x",
                               headers={"Content-Type": "application/json"})
    assert response.status_code == 415


def test_upload_to_active_image_conflicts(member: Caller) -> None:
    image = member.create()
    assert member.upload(image["id"], b"one").status_code == 204
    assert member.upload(image["id"], b"two").status_code == 409
    assert member.http.get(f"/v2/images/{image['id']}/file").content == b"one"


def test_upload_needs_formats(member: Caller) -> None:
    response = member.http.post("/v2/images", json={"name": "no formats"})
    image = response.json()
    assert member.upload(image["id"], b"x").status_code == 400
    assert member.http.get(f"/v2/images/{image['id']}").json()["status"] == "queued"


def test_size_header_mismatch_leaves_image_queued_and_no_data(
    member: Caller, server: GlintServer
) -> None:
    image = member.create()
    before = _files_in_store(server)
    response = member.http.put(f"/v2/images/{image['id']}/file", content=b"abc",
                               headers={**OCTET, "x-openstack-image-size": "10"})
    assert response.status_code == 400
    assert member.http.get(f"/v2/images/{image['id']}").json()["status"] == "queued"
    assert _files_in_store(server) == before


def test_dropped_upload_leaves_image_queued_and_retry_works(
    member: Caller, server: GlintServer
) -> None:
    image = member.create()
    before = _files_in_store(server)

    def broken() -> Iterator[bytes]:
        yield b"x" * 1_000_000
        # The server is receiving.
        assert wait_for_status(member, image["id"], "saving", timeout=10)["status"] == "saving"
        raise RuntimeError("client went away")

    try:
        member.http.put(f"/v2/images/{image['id']}/file", content=broken(), headers=OCTET)
    except (RuntimeError, httpx.HTTPError):
        pass
    # The server may still be cleaning up when the client has given up: wait for it.
    deadline = time.monotonic() + 10
    while _files_in_store(server) != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _files_in_store(server) == before
    shown = wait_for_status(member, image["id"], "queued", timeout=10)
    assert shown["status"] == "queued"
    assert shown["size"] is None and shown["checksum"] is None
    assert member.upload(image["id"], b"retry").status_code == 204
    assert member.http.get(f"/v2/images/{image['id']}/file").content == b"retry"


def test_delete_removes_data(member: Caller, server: GlintServer) -> None:
    image = member.create()
    member.upload(image["id"], b"to be deleted")
    assert image["id"] in _files_in_store(server)
    assert member.http.delete(f"/v2/images/{image['id']}").status_code == 204
    assert image["id"] not in _files_in_store(server)


def test_other_project_cannot_upload_or_download_private(member: Caller, other: Caller) -> None:
    image = member.create(visibility="private")
    assert other.upload(image["id"], b"x").status_code == 404
    member.upload(image["id"], b"secret")
    assert other.http.get(f"/v2/images/{image['id']}/file").status_code == 404


def test_public_image_downloadable_not_uploadable_by_others(
    admin: Caller, other: Caller
) -> None:
    image = admin.create(visibility="public")
    assert other.upload(image["id"], b"x").status_code == 403
    admin.upload(image["id"], b"public data")
    assert other.http.get(f"/v2/images/{image['id']}/file").content == b"public data"
