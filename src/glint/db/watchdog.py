"""A deadline for database calls the driver itself cannot bound.

A frozen server (SIGSTOP, a hung host, a partition that sends no reset)
never answers, while its kernel may go on acknowledging packets and
keepalives: a client waiting on the socket waits forever. libpq has no
client-side limit for a query, and PyMySQL bounds each read by its
read_timeout (longer than a ping should take). The watchdog keeps the
deadlines of the calls in flight and, when one passes, shuts the call's
socket down: the driver sees the connection closed at once, reports a
connection error, and SQLAlchemy discards the connection.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class _Watch:
    deadline: float
    # A duplicate of the call's socket, so a descriptor number reused after
    # the driver closed its own can never be shut down by mistake.
    sock: socket.socket
    fired: bool = False


@dataclass
class Expiry:
    """Whether the watchdog cut a watched call short."""

    fired: bool = False


class SocketWatchdog:
    """Shuts down the sockets of database calls that outlive their deadline."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._watches: dict[int, _Watch] = {}
        self._thread: threading.Thread | None = None
        self._stopped = False
        # When the thread wakes next to look for overdue calls (None: when told).
        self._wake_at: float | None = None

    def arm(self, key: object, fd: int, seconds: float) -> None:
        """Watch the call `key` (e.g. a DBAPI connection) on socket `fd` for `seconds`.

        Arming a key again replaces its deadline. Raises OSError if `fd` is not open.
        """
        sock = socket.socket(fileno=socket.dup(fd))
        deadline = time.monotonic() + seconds
        with self._changed:
            previous = self._watches.pop(id(key), None)
            self._watches[id(key)] = _Watch(deadline, sock)
            self._start()
            # Waking the thread for every call would cost a thread switch each;
            # only a deadline earlier than its next look needs it.
            if self._wake_at is None or deadline < self._wake_at:
                self._changed.notify()
        if previous is not None:
            previous.sock.close()

    def disarm(self, key: object) -> bool:
        """Stop watching `key`; True if its deadline had passed and its socket was shut."""
        with self._changed:
            watch = self._watches.pop(id(key), None)
        if watch is None:
            return False
        watch.sock.close()
        return watch.fired

    @contextmanager
    def watching(self, key: object, fd: int, seconds: float) -> Iterator[Expiry]:
        """Watch the call made inside the block; the Expiry says if it was cut short."""
        expiry = Expiry()
        self.arm(key, fd, seconds)
        try:
            yield expiry
        finally:
            expiry.fired = self.disarm(key)

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            watches = list(self._watches.values())
            self._watches.clear()
            self._changed.notify()
        for watch in watches:
            watch.sock.close()

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="glint-db-watchdog",
                                            daemon=True)
            self._thread.start()

    def _run(self) -> None:
        with self._changed:
            while not self._stopped:
                now = time.monotonic()
                for watch in self._watches.values():
                    if not watch.fired and watch.deadline <= now:
                        watch.fired = True
                        _shut(watch.sock)
                pending = [w.deadline for w in self._watches.values() if not w.fired]
                self._wake_at = min(pending) if pending else None
                self._changed.wait(self._wake_at - now if self._wake_at is not None else None)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by the peer: the call has failed on its own
