"""Image data bodies that stall or trickle (slowloris) get 408 in the configured
time; the image is queued again and nothing is left in the store or staging."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest

from glint.api.slow_bodies import BodyLimits, paced
from glint.domain.errors import BodyTooSlow
from tests.conftest import BACKENDS
from tests.servers import GlintServer, database, glint_server

IDLE_TIMEOUT = 2
MINIMUM_RATE = 100_000
WINDOW = 3


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[GlintServer]:
    folder = tmp_path_factory.mktemp(f"slow-{request.param}")
    limits = {"client_socket_timeout": IDLE_TIMEOUT, "upload_minimum_rate": MINIMUM_RATE,
              "upload_minimum_rate_window": WINDOW}
    with database(request.param, folder) as url, \
            glint_server(folder, url, flavor="", extra={"DEFAULT": limits}) as running:
        yield running


@dataclass
class Answer:
    status: int
    head: str
    body: str
    seconds: float


def put_slowly(server: GlintServer, path: str, send: Callable[[socket.socket], None],
               length: int = 50 * 1024 * 1024) -> Answer:
    """PUT `path` announcing `length` bytes, the body sent by `send` (in a thread);
    returns the answer and the seconds it took to come."""
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=60) as sock:
        sock.sendall(f"PUT {path} HTTP/1.1\r\nHost: {address.netloc}\r\n"
                     "Content-Type: application/octet-stream\r\n"
                     f"Content-Length: {length}\r\n\r\n".encode())
        start = time.monotonic()
        sender = threading.Thread(target=_quietly, args=(send, sock), daemon=True)
        sender.start()
        received = b""
        while b"\r\n\r\n" not in received or len(received.partition(b"\r\n\r\n")[2]) < 10:
            more = sock.recv(65536)
            if not more:
                break
            received += more
        seconds = time.monotonic() - start
    head, _, body = received.decode(errors="replace").partition("\r\n\r\n")
    return Answer(int(head.split()[1]), head, body, seconds)


def _quietly(send: Callable[[socket.socket], None], sock: socket.socket) -> None:
    try:
        send(sock)
    except OSError:
        pass  # the server answered and closed the connection


def stall(sock: socket.socket) -> None:
    sock.sendall(os.urandom(256 * 1024))


def trickle(sock: socket.socket) -> None:
    """About 5 KB/s, far below the minimum rate, but never silent for long."""
    for _ in range(200):
        sock.sendall(os.urandom(1024))
        time.sleep(0.2)


def create(server: GlintServer) -> str:
    image: str = httpx.post(f"{server.url}/v2/images", json={
        "disk_format": "raw", "container_format": "bare"}).json()["id"]
    return image


def status(server: GlintServer, image_id: str) -> str:
    shown: str = httpx.get(f"{server.url}/v2/images/{image_id}").json()["status"]
    return shown


def leftovers(server: GlintServer, image_id: str) -> list[str]:
    folders = [server.folder / "images", server.folder / "staging"]
    return [name for folder in folders if folder.is_dir()
            for name in os.listdir(folder) if image_id in name]


@pytest.mark.parametrize("path", ["file", "stage"])
def test_a_stalled_body_times_out(server: GlintServer, path: str) -> None:
    image = create(server)
    answer = put_slowly(server, f"/v2/images/{image}/{path}", stall)
    assert answer.status == 408, answer
    assert "No image data was received for 2 seconds" in answer.body
    assert "connection: close" in answer.head.lower()
    assert IDLE_TIMEOUT - 0.5 < answer.seconds < IDLE_TIMEOUT + 4
    assert status(server, image) == "queued"
    assert leftovers(server, image) == []


@pytest.mark.parametrize("path", ["file", "stage"])
def test_a_trickling_body_times_out(server: GlintServer, path: str) -> None:
    image = create(server)
    answer = put_slowly(server, f"/v2/images/{image}/{path}", trickle)
    assert answer.status == 408, answer
    assert "below the minimum of 100000 bytes/s" in answer.body
    assert WINDOW - 0.5 < answer.seconds < WINDOW + 5
    assert status(server, image) == "queued"
    assert leftovers(server, image) == []
    # The image takes data again at once.
    assert httpx.put(f"{server.url}/v2/images/{image}/{path}", content=b"x" * 1000,
                     headers={"Content-Type": "application/octet-stream"}).status_code == 204


def test_a_brisk_body_is_not_limited(server: GlintServer) -> None:
    image = create(server)
    data = os.urandom(8 * 1024 * 1024)
    assert httpx.put(f"{server.url}/v2/images/{image}/file", content=data,
                     headers={"Content-Type": "application/octet-stream"}).status_code == 204
    assert httpx.get(f"{server.url}/v2/images/{image}/file").content == data


# The wrapper alone, on an in-memory body ---------------------------------------


async def _body(parts: list[bytes | float]) -> AsyncIterator[bytes]:
    """Yield the bytes, sleeping for each number."""
    for part in parts:
        if isinstance(part, float):
            await asyncio.sleep(part)
        else:
            yield part


async def _read(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def test_paced_passes_a_brisk_body_through_unchanged() -> None:
    limits = BodyLimits(idle_timeout=1, minimum_rate=1000, window=0.4)
    assert await _read(paced(_body([b"a" * 500, 0.1, b"b" * 500]), limits)) == \
        b"a" * 500 + b"b" * 500


async def test_paced_stops_a_stalled_body() -> None:
    limits = BodyLimits(idle_timeout=0.3)
    start = time.monotonic()
    with pytest.raises(BodyTooSlow, match="No image data was received for 0.3 seconds"):
        await _read(paced(_body([b"a", 5.0, b"b"]), limits))
    assert time.monotonic() - start < 1


async def test_paced_stops_a_trickle_below_the_rate() -> None:
    limits = BodyLimits(minimum_rate=10_000, window=0.4)
    with pytest.raises(BodyTooSlow, match="below the minimum of 10000 bytes/s"):
        await _read(paced(_body([b"x", 0.05] * 100), limits))


async def test_paced_does_not_count_time_the_consumer_holds_the_data() -> None:
    """A slow store (the consumer) is not the client's fault."""
    limits = BodyLimits(idle_timeout=0.3, minimum_rate=10_000, window=0.4)
    received = []
    async for chunk in paced(_body([b"x" * 10_000] * 5), limits):
        received.append(chunk)
        await asyncio.sleep(0.5)
    assert len(received) == 5


async def test_no_limits_leave_the_body_alone() -> None:
    assert await _read(paced(_body([b"a", 0.2, b"b"]), BodyLimits())) == b"ab"
