"""`[DEFAULT] user_storage_quota` over uploads and stages, on every database."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import BACKENDS, Caller
from tests.servers import GlintServer, database, glint_server

QUOTA = 10 * 1024  # "10KB"
OCTET = {"Content-Type": "application/octet-stream"}


@pytest.fixture(scope="module", params=BACKENDS)
def quota_server(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[GlintServer]:
    folder = tmp_path_factory.mktemp(f"glint-quota-{request.param}")
    with database(request.param, folder) as url, glint_server(
            folder, url, extra={"DEFAULT": {"user_storage_quota": "10KB",
                                            "delayed_delete": True}}) as server:
        yield server


@pytest.fixture
def caller(quota_server: GlintServer) -> Caller:
    return Caller(quota_server.url, uuid.uuid4().hex, ("member", "reader"))


def _leftovers(server: GlintServer) -> list[str]:
    """Files in the store and staging folders (temporary ones included)."""
    found: list[str] = []
    for name in ("images", "staging"):
        folder = Path(server.folder) / name
        if folder.is_dir():
            found += [f"{name}/{entry}" for entry in os.listdir(folder)]
    return sorted(found)


def _response(connection: socket.socket) -> str:
    """One whole HTTP response (headers and its Content-Length of body)."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += connection.recv(65536) or b"\0"
    head, _, body = received.partition(b"\r\n\r\n")
    lengths = [line.split(b":", 1)[1] for line in head.split(b"\r\n")
               if line.lower().startswith(b"content-length:")]
    while lengths and len(body) < int(lengths[0]):
        more = connection.recv(65536)
        if not more:
            break
        body += more
    return (head + b"\r\n\r\n" + body).decode(errors="replace")


def _chunked(data: bytes, size: int = 1000) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


def _status(caller: Caller, image_id: object) -> str:
    return str(caller.http.get(f"/v2/images/{image_id}").json()["status"])


def test_declared_size_past_the_quota_is_refused_before_the_body(
        caller: Caller, quota_server: GlintServer) -> None:
    """413 comes back while the client has sent only the headers."""
    image = caller.create()
    address = urlsplit(quota_server.url)
    with socket.create_connection((address.hostname or "", address.port or 80), timeout=20) as s:
        s.sendall((f"PUT /v2/images/{image['id']}/file HTTP/1.1\r\nHost: x\r\n"
                   "Content-Type: application/octet-stream\r\nAccept: application/json\r\n"
                   f"X-Identity-Status: Confirmed\r\nX-Project-Id: {caller.project_id}\r\n"
                   "X-Roles: member,reader\r\n"
                   f"Content-Length: {QUOTA + 1}\r\n\r\n").encode())
        answer = _response(s)
    assert answer.startswith("HTTP/1.1 413"), answer
    assert (f"The size of the data {QUOTA + 1} will exceed the limit. {QUOTA} bytes "
            "remaining.") in answer
    assert _status(caller, image["id"]) == "queued"


def test_upload_within_then_past_the_quota(caller: Caller, quota_server: GlintServer) -> None:
    first = caller.create()
    assert caller.upload(first["id"], b"a" * 6000).status_code == 204
    second = caller.create()
    refused = caller.upload(second["id"], b"b" * 5000)
    assert refused.status_code == 413, refused.text
    assert refused.json()["message"].endswith(
        f"The size of the data 5000 will exceed the limit. {QUOTA - 6000} bytes remaining.")
    assert _status(caller, second["id"]) == "queued"
    assert caller.upload(second["id"], b"b" * (QUOTA - 6000)).status_code == 204


def test_undeclared_upload_stopped_when_it_crosses_the_quota(
        caller: Caller, quota_server: GlintServer) -> None:
    before = _leftovers(quota_server)
    image = caller.create()
    refused = caller.http.put(f"/v2/images/{image['id']}/file",
                              content=_chunked(b"c" * (QUOTA + 1000)), headers=OCTET)
    assert refused.status_code == 413, refused.text
    assert "will exceed the limit" in refused.json()["message"]
    assert _status(caller, image["id"]) == "queued"
    assert _leftovers(quota_server) == before
    # The reservation was given back: the whole quota is still there.
    accepted = caller.http.put(f"/v2/images/{image['id']}/file",
                               content=_chunked(b"c" * QUOTA), headers=OCTET)
    assert accepted.status_code == 204, accepted.text


def test_staged_data_counts(caller: Caller, quota_server: GlintServer) -> None:
    staged = caller.create()
    stage = caller.http.put(f"/v2/images/{staged['id']}/stage", content=b"s" * 8000,
                            headers=OCTET)
    assert stage.status_code == 204, stage.text
    image = caller.create()
    assert caller.upload(image["id"], b"u" * 3000).status_code == 413
    second = caller.create()
    refused = caller.http.put(f"/v2/images/{second['id']}/stage",
                              content=_chunked(b"t" * 3000), headers=OCTET)
    assert refused.status_code == 413, refused.text
    assert _status(caller, second["id"]) == "queued"
    assert caller.upload(image["id"], b"u" * (QUOTA - 8000)).status_code == 204


def test_deleted_images_free_their_room(caller: Caller) -> None:
    """With delayed_delete, a deleted image waits in pending_delete for the
    scrubber: it no longer counts."""
    image = caller.create()
    assert caller.upload(image["id"], b"d" * QUOTA).status_code == 204
    blocked = caller.create()
    assert caller.upload(blocked["id"], b"e").status_code == 413
    assert caller.http.delete(f"/v2/images/{image['id']}").status_code == 204
    assert caller.upload(blocked["id"], b"e" * QUOTA).status_code == 204


def test_each_project_has_its_own_quota(caller: Caller, quota_server: GlintServer) -> None:
    image = caller.create()
    assert caller.upload(image["id"], b"f" * QUOTA).status_code == 204
    other = Caller(quota_server.url, uuid.uuid4().hex, ("member", "reader"))
    theirs = other.create()
    assert other.upload(theirs["id"], b"g" * QUOTA).status_code == 204
