"""Limits on the request head and on JSON bodies, over raw sockets: a
Glance-shaped 400, 413, 414 or 431 that the client reads even while it is
still sending, and a server that holds none of the oversized request."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest

from tests.conftest import Caller
from tests.servers import GlintServer, glint_server

IDENTITY = (b"X-Identity-Status: Confirmed\r\nX-Project-Id: hostile\r\nX-Roles: member,reader\r\n")
MiB = 1 << 20


def exchange(url: str, request: Iterable[bytes]) -> bytes:
    """Send `request` on a fresh connection, then read one whole answer."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as connection:
        for chunk in request:
            connection.sendall(chunk)
        answer = b""
        while not _complete(answer) and (chunk := connection.recv(65536)):
            answer += chunk
    return answer


def _complete(answer: bytes) -> bool:
    head, separator, body = answer.partition(b"\r\n\r\n")
    for line in head.lower().split(b"\r\n"):
        if separator and line.startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def status_and_body(answer: bytes) -> tuple[int, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def _get(target: bytes, headers: bytes = b"") -> bytes:
    return (b"GET " + target + b" HTTP/1.1\r\nHost: glint\r\n" + IDENTITY + headers
            + b"Connection: close\r\n\r\n")


@pytest.mark.parametrize("length", [8_193, 60_000, 10 * MiB])
def test_a_long_url_gets_414_even_while_it_is_still_being_sent(
        server: GlintServer, length: int) -> None:
    target = b"/v2/images?name=" + b"a" * (length - len(b"/v2/images?name="))
    answer = exchange(server.url, [_get(target, b"Accept: application/json\r\n")])
    status, body = status_and_body(answer)
    assert status == 414, answer[:300]
    assert b"connection: close" in answer.lower()
    if length < 65_536:  # the headers after it were read: the body is what Accept asked for
        assert json.loads(body)["message"] == "The URL is longer than 8192 bytes."
    else:
        assert b"The URL is longer than 8192 bytes." in body


def test_a_url_of_8192_bytes_is_served(server: GlintServer) -> None:
    target = b"/v2/images?name=" + b"a" * (8192 - len(b"/v2/images?name="))
    status, body = status_and_body(exchange(server.url, [_get(target)]))
    assert status == 200 and json.loads(body)["images"] == []


@pytest.mark.parametrize("headers, message", [
    (b"X-Big: " + b"h" * 16_380 + b"\r\n",
     b"Header X-Big is longer than max_header_line (16384 bytes)."),
    (b"".join(b"X-H%d: %s\r\n" % (i, b"h" * 8_000) for i in range(10)),
     b"The request headers are larger than 65536 bytes."),
    (b"".join(b"X-H%d: h\r\n" % i for i in range(20_000)),
     b"The request headers are larger than 65536 bytes."),
    (b"X-Huge: " + b"h" * (10 * MiB) + b"\r\n",
     b"The request headers are larger than 65536 bytes."),
], ids=["one-line", "ten-lines", "20000-headers", "10-MiB-line"])
def test_headers_over_their_limits_get_431(
        server: GlintServer, headers: bytes, message: bytes) -> None:
    answer = exchange(server.url, [_get(b"/v2/images", b"Accept: application/json\r\n" + headers)])
    status, body = status_and_body(answer)
    assert status == 431, answer[:300]
    assert json.loads(body)["message"] == message.decode()


def test_a_header_line_of_16384_bytes_is_served(server: GlintServer) -> None:
    line = b"X-Big: " + b"h" * (16_384 - len(b"X-Big: "))
    status, _ = status_and_body(exchange(server.url, [_get(b"/v2/images", line + b"\r\n")]))
    assert status == 200


def test_a_request_that_is_not_http_gets_a_glance_shaped_400(server: GlintServer) -> None:
    for request in (b"NOT HTTP AT ALL\r\n\r\n", _get(b"/v2/images/\xed\xb2\x80")):
        status, body = status_and_body(exchange(server.url, [request]))
        assert status == 400
        assert b"<h1>400 Bad Request</h1>" in body and b"The request is not valid HTTP/1.1." in body


def _json_post(length: int, *, declared: bool, close: bool) -> Iterator[bytes]:
    """A JSON create body of `length` bytes, with Content-Length or chunked, on a
    connection kept alive or to be closed after the answer."""
    framing = (b"Content-Length: %d\r\n" % length) if declared else b"Transfer-Encoding: chunked\r\n"
    yield (b"POST /v2/images HTTP/1.1\r\nHost: glint\r\n" + IDENTITY + framing
           + (b"Connection: close\r\n" if close else b"")
           + b"Content-Type: application/json\r\nAccept: application/json\r\n\r\n")
    filler = length - len(b'{"name": ""}')
    pieces = [b'{"name": "', *[b"x" * MiB] * (filler // MiB), b"x" * (filler % MiB) + b'"}']
    for piece in pieces:
        yield piece if declared else b"%x\r\n%s\r\n" % (len(piece), piece)
    if not declared:
        yield b"0\r\n\r\n"


@pytest.mark.parametrize("declared, close", [(True, False), (False, False), (True, True)],
                         ids=["content-length", "chunked", "content-length-connection-close"])
def test_a_256_mib_json_body_is_refused_without_being_held(
        server: GlintServer, member: Caller, declared: bool, close: bool) -> None:
    worker = psutil.Process(server.process.pid)
    before = worker.memory_info().rss
    answer = exchange(server.url, _json_post(256 * MiB, declared=declared, close=close))
    status, body = status_and_body(answer)
    assert status == 413, answer[:300]
    assert json.loads(body)["message"] == \
        "The request body is larger than max_request_body_size (114688 bytes)."
    after = worker.memory_info().rss
    print(f"server RSS before {before / MiB:.1f} MiB, after a refused 256 MiB JSON body "
          f"({'Content-Length' if declared else 'chunked'}{', close' if close else ''}) "
          f"{after / MiB:.1f} MiB")
    assert after - before < 32 * MiB
    assert member.http.get("/v2/images").status_code == 200


def test_the_server_answers_on_other_connections_while_one_lingers(
        server: GlintServer, member: Caller) -> None:
    """A refused client that goes on sending holds only its own connection."""
    stop = threading.Event()

    def endless() -> Iterator[bytes]:
        yield b"GET /v2/images?" + b"a" * 9000
        while not stop.is_set():
            yield b"a" * 65536

    sender = threading.Thread(target=lambda: _swallow(server.url, endless()), daemon=True)
    sender.start()
    try:
        assert member.http.get("/v2/images").status_code == 200
    finally:
        stop.set()
        sender.join(timeout=30)


def _swallow(url: str, request: Iterable[bytes]) -> None:
    try:
        exchange(url, request)
    except OSError:
        pass  # the lingering connection closes after LINGER_SECONDS: expected here


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GlintServer]:
    folder: Path = tmp_path_factory.mktemp("glint-request-limits")
    with glint_server(folder, f"sqlite:///{folder / 'glint.db'}", extra={
        "DEFAULT": {"max_header_line": 1024},
        "oslo_middleware": {"max_request_body_size": 1000},
    }) as running:
        yield running


def test_the_limits_follow_their_keys(configured: GlintServer) -> None:
    caller = Caller(configured.url, "p", ("member", "reader"))
    response = caller.http.get("/v2/images", headers={"X-Long": "x" * 1100})
    assert response.status_code == 431
    assert response.json()["message"] == "Header X-Long is longer than max_header_line (1024 bytes)."
    assert caller.http.get("/v2/images", headers={"X-Long": "x" * 900}).status_code == 200
    response = caller.http.post("/v2/images", json={"note": "x" * 1000})
    assert response.status_code == 413
    assert response.json()["message"] == \
        "The request body is larger than max_request_body_size (1000 bytes)."
    assert caller.http.post("/v2/images", json={"note": "x" * 900}).status_code == 201
    image = caller.create()
    assert caller.upload(image["id"], b"d" * 5000).status_code == 204
