"""Image data sent with sendfile(2) through uvicorn (api/zerocopy.py): a real
uvicorn server (httptools, uvloop, as `glint serve` runs it) in a thread, a
small ASGI app that answers with a DataResponse over a real file."""

from __future__ import annotations

import asyncio
import http.client
import os
import socket
import threading
import time
from collections.abc import Iterator
from io import FileIO
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from glint.api.zerocopy import ZEROCOPY, DataResponse, ZeroCopySend
from glint.services.stores import OutgoingData
from glint.stores.base import FileSpan
from glint.stores.filesystem import read_span
from tests.servers import free_port

SIZE = 24 * 1024 * 1024 + 12345


class SpanApp:
    """GET /?offset=&count= answers those bytes of `path`; records what it saw."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offered: list[bool] = []
        self.files: list[FileIO] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": message["type"] + ".complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        query = {k: int(v[0]) for k, v in parse_qs(scope["query_string"].decode()).items()}
        offset, count = query.get("offset", 0), query.get("count", SIZE)
        self.offered.append(ZEROCOPY in scope.get("extensions", {}))
        handle = FileIO(self.path, "rb")
        self.files.append(handle)
        span = FileSpan(handle, offset, count, "test", self.path.as_uri())
        response = DataResponse(OutgoingData(read_span(span), span), 200, {
            "Content-Type": "application/octet-stream", "Content-Length": str(count)})
        await response(scope, receive, send)


@pytest.fixture(scope="module")
def payload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("zerocopy") / "data.bin"
    path.write_bytes(os.urandom(SIZE))
    return path


@pytest.fixture
def served(payload: Path) -> Iterator[tuple[str, SpanApp]]:
    app = SpanApp(payload)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(ZeroCopySend(app), host="127.0.0.1", port=port,
                                           http="httptools", loop="uvloop",
                                           log_level="warning", timeout_keep_alive=30))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def _closed_soon(app: SpanApp) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if all(handle.closed for handle in app.files):
            return True
        time.sleep(0.02)
    return False


def test_whole_and_partial_files_go_out_by_sendfile(served: tuple[str, SpanApp],
                                                    payload: Path) -> None:
    url, app = served
    data = payload.read_bytes()
    with httpx.Client(base_url=url, timeout=60) as client:  # one kept-alive connection
        assert client.get("/").content == data
        assert client.get("/?offset=1000&count=3000000").content == data[1000:3001000]
        assert client.get("/?offset=5&count=0").content == b""
        assert client.get(f"/?offset={SIZE - 7}&count=7").content == data[-7:]
    assert app.offered == [True, True, True, True]
    assert _closed_soon(app)


def test_a_client_leaving_midway_leaves_the_server_serving(served: tuple[str, SpanApp],
                                                           payload: Path) -> None:
    url, app = served
    port = int(url.rsplit(":", 1)[1])
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536)
        time.sleep(0.05)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", "/?offset=7&count=100")
    assert connection.getresponse().read() == payload.read_bytes()[7:107]
    connection.close()
    assert _closed_soon(app)


def test_a_file_shorter_than_promised_ends_the_connection(served: tuple[str, SpanApp]) -> None:
    url, app = served
    port = int(url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", f"/?offset={SIZE - 10}&count=20")
    response = connection.getresponse()
    with pytest.raises(http.client.IncompleteRead):
        response.read()
    connection.close()
    with httpx.Client(base_url=url, timeout=60) as client:
        assert client.get("/?count=5").status_code == 200
    assert _closed_soon(app)


def test_without_the_extension_the_data_is_streamed(payload: Path) -> None:
    """Outside uvicorn (here httpx's in-process transport) there is no
    extension: the same response sends the file in chunks."""
    app = SpanApp(payload)

    async def fetch() -> bytes:
        transport = httpx.ASGITransport(app=ZeroCopySend(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return (await client.get("/?offset=3&count=5000000")).content

    assert asyncio.run(fetch()) == payload.read_bytes()[3:5000003]
    assert app.offered == [False]
    assert all(handle.closed for handle in app.files)
