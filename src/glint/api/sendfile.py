"""Sending a span of a local file on a socket from a thread of its own: with
sendfile(2) while the client keeps up, by copying while the client is the
slower side.

Why copy when sendfile needs no copy: on the same machine (loopback, a proxy,
a cache filler) the client's copy out of its socket is then the first touch
of the file's pages in memory. A client that spends CPU in Python on every
64 KiB read (httpx, python-glanceclient, openstacksdk) is bound by its own
CPU, and measured 0.63-0.77 x Glance's download rate with plain sendfile while
its copy out of the socket took about 30 % of its cycles (with a copying
server: 5 %; `bench/README.md`). Reading each piece into a small buffer and
writing it leaves the bytes in the CPU's shared cache, where the client then
finds them (0.98 x Glance in the same run; a read-ahead that only touched the
pages before sendfile did not help).

The copy costs the server CPU, which a client that reads as fast as sendfile
sends would feel: every `WINDOW` bytes a send keeps copying only if it spent
more than `WARM_IF_WAITING` of that time waiting for the client. And only the
first `WARM_BUFFERS` concurrent sends of a worker copy at all: with more, the
data in flight no longer fits the cache (a boot storm).
"""

from __future__ import annotations

import asyncio
import os
import select
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

# The piece read and written at a time while copying.
WARM_BUFFER = 256 * 1024
# Every WINDOW bytes a send decides whether to copy the next ones.
WINDOW = 32 * 1024 * 1024
WARM_IF_WAITING = 0.3
# Warm buffers per worker process; sends beyond these go without one.
WARM_BUFFERS = 2
# At most this much per sendfile call without a buffer.
COLD_STEP = 8 * 1024 * 1024
# How long a sending thread waits on a full socket before checking it should stop.
POLL_MS = 250


class BufferPool:
    """Up to `count` reusable buffers of `size` bytes, made on first use."""

    def __init__(self, count: int, size: int) -> None:
        self.size = size
        self._free: list[bytearray] = []
        self._left = count
        self._lock = threading.Lock()

    @contextmanager
    def buffer(self) -> Iterator[bytearray | None]:
        """A buffer for the block, or None when all are taken."""
        with self._lock:
            if self._free:
                taken: bytearray | None = self._free.pop()
            elif self._left:
                self._left -= 1
                taken = bytearray(self.size)
            else:
                taken = None
        try:
            yield taken
        finally:
            if taken is not None:
                with self._lock:
                    self._free.append(taken)


WARM = BufferPool(WARM_BUFFERS, WARM_BUFFER)


class SpanSender:
    """Sends `count` bytes of the file `source` from `offset` on the non-blocking
    socket `out`, waiting with poll(2) while the socket is full, until done, the
    client goes away or `stop()` is called. Owns (and closes) `out`."""

    def __init__(self, out: int, source: int, offset: int, count: int,
                 pool: BufferPool = WARM) -> None:
        self.out, self.source, self.offset, self.count = out, source, offset, count
        self.pool = pool
        self.stopped = threading.Event()
        self.done = 0
        self.waited = 0.0  # seconds spent waiting on a full socket in this window
        self._poller = select.poll()
        self._poller.register(out, select.POLLOUT)

    def stop(self) -> None:
        self.stopped.set()

    def run(self) -> int:
        """The bytes sent (fewer than `count` if the file ended first), or -1
        when the client went away or `stop()` was called."""
        try:
            with self.pool.buffer() as buffer:
                self._send(buffer)
            return self.done
        except (BrokenPipeError, ConnectionResetError, _Stopped):
            return -1
        finally:
            os.close(self.out)

    def _send(self, buffer: bytearray | None) -> None:
        warm = buffer is not None
        window_start, window_done = time.perf_counter(), 0
        while self.done < self.count:
            if warm and buffer is not None:
                if not self._copy_piece(buffer):
                    return
            else:
                step = min(self.count - self.done, COLD_STEP)
                if not self._send_piece(self.done + step):
                    return
            if buffer is not None and self.done - window_done >= WINDOW:
                now = time.perf_counter()
                warm = self.waited > WARM_IF_WAITING * (now - window_start)
                window_start, window_done, self.waited = now, self.done, 0.0

    def _copy_piece(self, buffer: bytearray) -> bool:
        """Read the next piece into `buffer` and write it: the client then copies
        bytes this thread has just touched. False when the file ended first."""
        length = os.preadv(self.source, [memoryview(buffer)[:min(len(buffer),
                                                                 self.count - self.done)]],
                           self.offset + self.done)
        if length == 0:
            return False
        view = memoryview(buffer)[:length]
        while view:
            if self.stopped.is_set():
                raise _Stopped
            try:
                written = os.write(self.out, view)
            except BlockingIOError:
                self._wait_writable()
                continue
            view = view[written:]
            self.done += written
        return True

    def _wait_writable(self) -> None:
        """Wait (at most POLL_MS) for room in the socket, counting the wait."""
        started = time.perf_counter()
        self._poller.poll(POLL_MS)
        self.waited += time.perf_counter() - started

    def _send_piece(self, end: int) -> bool:
        """Send up to `end`; False when the file ended first."""
        while self.done < end:
            if self.stopped.is_set():
                raise _Stopped
            try:
                sent = os.sendfile(self.out, self.source, self.offset + self.done,
                                   end - self.done)
            except BlockingIOError:
                self._wait_writable()
                continue
            if sent == 0:
                return False
            self.done += sent
        return True


class _Stopped(Exception):
    pass


async def send_in_thread(sender: SpanSender) -> int:
    """Run `sender` in a thread of its own and return what it returns; a cancelled
    caller stops it. A thread per send: a shared pool would queue the clients of a
    boot storm behind each other."""
    loop = asyncio.get_running_loop()
    result: asyncio.Future[int] = loop.create_future()

    def run() -> None:
        try:
            outcome: int | BaseException = sender.run()
        except BaseException as exc:  # handed to the waiting coroutine
            outcome = exc
        try:
            loop.call_soon_threadsafe(_settle, result, outcome)
        except RuntimeError:  # the loop has closed: nobody waits any more
            pass

    threading.Thread(target=run, name="glint-sendfile", daemon=True).start()
    try:
        return await result
    finally:
        sender.stop()


def _settle(result: asyncio.Future[int], outcome: int | BaseException) -> None:
    if result.done():  # the caller was cancelled
        return
    if isinstance(outcome, BaseException):
        result.set_exception(outcome)
    else:
        result.set_result(outcome)
