"""The watchdog cuts a call that waits past its deadline, and only that call:
a real TCP server that accepts and never answers."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from glint.db.watchdog import SocketWatchdog


@pytest.fixture
def silent_connection() -> Iterator[socket.socket]:
    """A connection to a listening socket that never sends anything."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
        try:
            yield client
        finally:
            client.close()
            accepted.close()


def test_a_call_past_its_deadline_is_cut(silent_connection: socket.socket) -> None:
    watchdog = SocketWatchdog()
    try:
        started = time.monotonic()
        with watchdog.watching(silent_connection, silent_connection.fileno(), 0.3) as expiry:
            received = silent_connection.recv(10)  # would wait forever
        assert received == b""
        assert 0.25 < time.monotonic() - started < 2
        assert expiry.fired
    finally:
        watchdog.stop()


def test_a_call_within_its_deadline_is_left_alone(silent_connection: socket.socket) -> None:
    watchdog = SocketWatchdog()
    try:
        with watchdog.watching(silent_connection, silent_connection.fileno(), 0.3) as expiry:
            silent_connection.sendall(b"ping")
        assert not expiry.fired
        time.sleep(0.5)
        silent_connection.sendall(b"still open")
        # Arming again replaces the deadline; disarming in time leaves the socket as it was.
        watchdog.arm(silent_connection, silent_connection.fileno(), 0.2)
        watchdog.arm(silent_connection, silent_connection.fileno(), 5)
        time.sleep(0.4)
        assert watchdog.disarm(silent_connection) is False
        silent_connection.sendall(b"and still")
    finally:
        watchdog.stop()
