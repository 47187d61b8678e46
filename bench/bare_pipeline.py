"""The upload limit of this machine: the same work as an image upload, with no HTTP framework.

A raw socket server that speaks just enough HTTP/1.1 to take a PUT with a Content-Length and
answer 204. The body is read with `recv_into` into a few reused 4 MiB buffers; each filled
buffer is handed to three threads at once: md5, sha512 and the file write. A buffer goes back
to the free pool when all three are done with it, so the socket, both hashes and the disk run
in parallel and nothing is copied.

It also answers any GET with a file given by `--serve-file`, sent with `os.sendfile`: the
download ceiling of an HTTP client on this machine.

With `--discard`, PUT bodies are read and dropped: the upload ceiling of an HTTP client.

Run: `python bench/bare_pipeline.py --dir DIR`; it prints `PORT <n>` once it listens and
serves one connection at a time until it gets SIGTERM.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import queue
import signal
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path

BUFFER_SIZE = 4 * 1024 * 1024
BUFFER_COUNT = 4
HEADER_LIMIT = 64 * 1024


class BadRequest(Exception):
    """The peer sent something this tiny server does not speak."""


class BufferPool:
    """Reused buffers, each lent to `users` consumers and returned when all release it."""

    def __init__(self, count: int, size: int, users: int) -> None:
        self.buffers = [bytearray(size) for _ in range(count)]
        self.views = [memoryview(buffer) for buffer in self.buffers]
        self._users = users
        self._pending = [0] * count
        self._lock = threading.Lock()
        self._free: queue.SimpleQueue[int] = queue.SimpleQueue()
        for index in range(count):
            self._free.put(index)

    def take(self) -> int:
        index = self._free.get()
        self._pending[index] = self._users
        return index

    def release(self, index: int) -> None:
        with self._lock:
            self._pending[index] -= 1
            done = self._pending[index] == 0
        if done:
            self._free.put(index)


Consumer = Callable[[memoryview], None]


def _stage(pool: BufferPool, inbox: queue.SimpleQueue[tuple[int, int] | None],
           consume: Consumer) -> None:
    while (item := inbox.get()) is not None:
        index, length = item
        try:
            consume(pool.views[index][:length])
        finally:
            pool.release(index)


def _writer(fd: int) -> Consumer:
    def write(view: memoryview) -> None:
        while view:
            view = view[os.write(fd, view):]
    return write


class Connection:
    """One client connection: requests are served in turn until the peer closes."""

    def __init__(self, sock: socket.socket, args: argparse.Namespace) -> None:
        self.sock = sock
        # Per connection, so a request that dies mid-body cannot strand buffers for the next.
        self.pool = BufferPool(BUFFER_COUNT, BUFFER_SIZE, users=3)
        self.args = args
        self.pending = bytearray()

    def serve(self) -> None:
        while True:
            head = self._read_head()
            if head is None:
                return
            method, headers = head
            if method == "PUT":
                length = int(headers.get("content-length", "-1"))
                if length < 0:
                    raise BadRequest("PUT without Content-Length")
                extra = self._receive(length)
                self.sock.sendall(b"HTTP/1.1 204 No Content\r\n" + extra + b"\r\n")
            elif method == "GET" and self.args.serve_file:
                self._send_file(Path(self.args.serve_file))
            else:
                self.sock.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")

    def _read_head(self) -> tuple[str, dict[str, str]] | None:
        while b"\r\n\r\n" not in self.pending:
            if len(self.pending) > HEADER_LIMIT:
                raise BadRequest("request head too long")
            data = self.sock.recv(65536)
            if not data:
                return None
            self.pending += data
        head, _, rest = bytes(self.pending).partition(b"\r\n\r\n")
        self.pending = bytearray(rest)
        lines = head.decode("latin-1").split("\r\n")
        method = lines[0].split(" ", 1)[0]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return method, headers

    def _receive(self, length: int) -> bytes:
        """Read `length` body bytes through the pipeline; return extra response header lines."""
        if self.args.discard:
            self._drain(length)
            return b""
        target = Path(self.args.dir) / f"upload-{threading.get_ident()}.bin"
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        md5, sha512 = hashlib.md5(), hashlib.sha512()
        consumers: list[Consumer] = [md5.update, sha512.update, _writer(fd)]
        inboxes: list[queue.SimpleQueue[tuple[int, int] | None]] = [
            queue.SimpleQueue() for _ in consumers
        ]
        threads = [threading.Thread(target=_stage, args=(self.pool, inbox, consume))
                   for inbox, consume in zip(inboxes, consumers, strict=True)]
        for thread in threads:
            thread.start()
        try:
            self._fill_buffers(length, inboxes)
        finally:
            for inbox in inboxes:
                inbox.put(None)
            for thread in threads:
                thread.join()
            os.close(fd)
            target.unlink(missing_ok=True)
        return (f"X-Checksum-MD5: {md5.hexdigest()}\r\n"
                f"X-Checksum-SHA512: {sha512.hexdigest()}\r\n").encode()

    def _fill_buffers(self, length: int,
                      inboxes: list[queue.SimpleQueue[tuple[int, int] | None]]) -> None:
        remaining = length
        while remaining > 0:
            index = self.pool.take()
            view = self.pool.views[index]
            want = min(BUFFER_SIZE, remaining)
            filled = 0
            if self.pending:
                filled = min(len(self.pending), want)
                view[:filled] = self.pending[:filled]
                del self.pending[:filled]
            while filled < want:
                got = self.sock.recv_into(view[filled:want])
                if got == 0:
                    raise BadRequest("peer closed mid-body")
                filled += got
            remaining -= filled
            for inbox in inboxes:
                inbox.put((index, filled))

    def _drain(self, length: int) -> None:
        view = self.pool.views[0]
        remaining = length - len(self.pending)
        self.pending.clear()
        while remaining > 0:
            got = self.sock.recv_into(view[:min(BUFFER_SIZE, remaining)])
            if got == 0:
                raise BadRequest("peer closed mid-body")
            remaining -= got

    def _send_file(self, path: Path) -> None:
        size = path.stat().st_size
        self.sock.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            + f"Content-Length: {size}\r\n\r\n".encode()
        )
        with path.open("rb") as source:
            offset = 0
            while offset < size:
                offset += os.sendfile(self.sock.fileno(), source.fileno(), offset, size - offset)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=".", help="folder for the uploaded file (removed after)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--discard", action="store_true", help="read PUT bodies and drop them")
    parser.add_argument("--serve-file", help="answer GET with this file")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with socket.create_server(("127.0.0.1", args.port)) as server:
        print(f"PORT {server.getsockname()[1]}", flush=True)
        while True:
            sock, _ = server.accept()
            with sock:
                try:
                    Connection(sock, args).serve()
                except (BadRequest, ConnectionError) as exc:
                    print(f"connection dropped: {exc}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
