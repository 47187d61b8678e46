"""The sendfile sender on real sockets: bytes, warm buffers, short files, stop, cancellation."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator
from io import FileIO
from pathlib import Path

import pytest

from glint.api import sendfile
from glint.api.sendfile import WARM_BUFFER, BufferPool, SpanSender, send_in_thread

SIZE = 3 * WARM_BUFFER + 12345


@pytest.fixture(scope="module")
def payload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sendfile") / "payload.bin"
    path.write_bytes(os.urandom(SIZE))
    return path


def _connected(buffer_size: int | None) -> tuple[socket.socket, socket.socket]:
    """A connected TCP pair over loopback: (non-blocking sender, receiver)."""
    with socket.socket() as server:
        if buffer_size is not None:  # before listening: the accepted socket inherits it
            server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer_size)
        server.bind(("127.0.0.1", 0))
        server.listen()
        sender = socket.socket()
        if buffer_size is not None:
            sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer_size)
        sender.connect(server.getsockname())
        receiver, _ = server.accept()
    sender.setblocking(False)
    return sender, receiver


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    sender, receiver = _connected(None)
    with sender, receiver:
        yield sender, receiver


@pytest.fixture
def small_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """Like `pair`, with socket buffers far smaller than the payload."""
    sender, receiver = _connected(64 * 1024)
    with sender, receiver:
        yield sender, receiver


def _sender(sock: socket.socket, source: FileIO, offset: int, count: int,
            pool: BufferPool) -> SpanSender:
    return SpanSender(os.dup(sock.fileno()), source.fileno(), offset, count, pool)


def _receive_all(sock: socket.socket) -> bytes:
    parts = []
    while chunk := sock.recv(1 << 20):
        parts.append(chunk)
    return b"".join(parts)


def _send_and_receive(pair: tuple[socket.socket, socket.socket], path: Path, offset: int,
                      count: int, pool: BufferPool) -> tuple[int, bytes]:
    sock, receiver = pair
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(_receive_all(receiver)))
    reader.start()
    with path.open("rb", buffering=0) as source:
        sent = _sender(sock, source, offset, count, pool).run()
    sock.shutdown(socket.SHUT_WR)
    reader.join(timeout=30)
    return sent, received[0]


@pytest.mark.parametrize("buffers", [1, 0], ids=["warm", "cold"])
def test_a_span_arrives_whole_with_or_without_a_warm_buffer(
        pair: tuple[socket.socket, socket.socket], payload: Path, buffers: int) -> None:
    pool = BufferPool(buffers, WARM_BUFFER)
    sent, received = _send_and_receive(pair, payload, 1000, SIZE - 2000, pool)
    assert sent == SIZE - 2000
    assert received == payload.read_bytes()[1000:SIZE - 1000]


def test_a_file_shorter_than_the_span_stops_at_its_end(
        pair: tuple[socket.socket, socket.socket], payload: Path) -> None:
    sent, received = _send_and_receive(pair, payload, SIZE - 10, 20, BufferPool(1, WARM_BUFFER))
    assert sent == 10
    assert received == payload.read_bytes()[-10:]


def test_the_pool_lends_at_most_its_count_and_takes_buffers_back() -> None:
    pool = BufferPool(2, 16)
    with pool.buffer() as first, pool.buffer() as second, pool.buffer() as third:
        assert first is not None and second is not None and first is not second
        assert third is None
    with pool.buffer() as again:
        assert again is first or again is second


def test_a_client_that_leaves_ends_the_send(
        small_pair: tuple[socket.socket, socket.socket], payload: Path) -> None:
    sock, receiver = small_pair
    receiver.close()
    with payload.open("rb", buffering=0) as source:
        assert _sender(sock, source, 0, SIZE, BufferPool(1, WARM_BUFFER)).run() == -1


def test_a_cancelled_caller_stops_the_thread_on_a_stalled_client(
        small_pair: tuple[socket.socket, socket.socket], payload: Path) -> None:
    sock, _receiver = small_pair  # never reads: the socket stays full
    source = payload.open("rb", buffering=0)
    sender = _sender(sock, source, 0, SIZE, BufferPool(1, WARM_BUFFER))

    async def cancel_midway() -> None:
        task = asyncio.create_task(send_in_thread(sender))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_midway())
    deadline = time.monotonic() + 5
    while not sender.stopped.is_set() or any(
            thread.name == "glint-sendfile" for thread in threading.enumerate()):
        assert time.monotonic() < deadline, "the sending thread did not stop"
        time.sleep(0.05)
    assert 0 < sender.done < SIZE
    source.close()


@pytest.mark.parametrize("share", [-1.0, 2.0], ids=["stays-warm", "goes-cold"])
def test_a_span_arrives_whole_when_reading_ahead_is_switched(
        pair: tuple[socket.socket, socket.socket], payload: Path, share: float,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A window of one piece: the choice is made again after every piece. A share
    # below 0 keeps reading ahead; 2.0 (more than all the time) stops after the first.
    monkeypatch.setattr(sendfile, "WINDOW", WARM_BUFFER)
    monkeypatch.setattr(sendfile, "WARM_IF_WAITING", share)
    calls: list[int] = []
    real_preadv = os.preadv

    def counted(fd: int, buffers: list[bytearray], offset: int) -> int:
        calls.append(offset)
        return real_preadv(fd, buffers, offset)

    monkeypatch.setattr(os, "preadv", counted)
    sent, received = _send_and_receive(pair, payload, 0, SIZE, BufferPool(1, WARM_BUFFER))
    assert sent == SIZE and received == payload.read_bytes()
    assert len(calls) == (4 if share < 0 else 1)
