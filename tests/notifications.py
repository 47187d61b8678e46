"""A real consumer of Glint's notifications on the machine's RabbitMQ, and
listeners that make the bus fail, shared by the notification tests."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import oslo_messaging
from oslo_config import cfg

from tests.servers import free_port

RABBIT_URL = "rabbit://guest:guest@127.0.0.1:5672/"


@dataclass(frozen=True)
class Received:
    publisher_id: str
    event_type: str
    payload: Any
    priority: str


class _Endpoint:
    def __init__(self, into: queue.Queue[Received]) -> None:
        self._into = into

    def _keep(self, priority: str, publisher_id: str, event_type: str, payload: Any) -> None:
        self._into.put(Received(publisher_id, event_type, payload, priority))

    def info(self, _ctxt: Any, publisher_id: str, event_type: str, payload: Any,
             _metadata: Any) -> None:
        self._keep("info", publisher_id, event_type, payload)

    def error(self, _ctxt: Any, publisher_id: str, event_type: str, payload: Any,
              _metadata: Any) -> None:
        self._keep("error", publisher_id, event_type, payload)


class Consumer:
    """The notifications published on `topic` to Glance's exchange."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.received: queue.Queue[Received] = queue.Queue()

    def take(self, count: int, timeout: float = 30) -> list[Received]:
        """The next `count` notifications; fails if they do not all come in time."""
        taken: list[Received] = []
        try:
            for _ in range(count):
                taken.append(self.received.get(timeout=timeout))
        except queue.Empty:
            raise AssertionError(f"{len(taken)} of {count} notifications came: "
                                 f"{[r.event_type for r in taken]}") from None
        return taken

    def types(self, count: int, timeout: float = 30) -> list[str]:
        return [r.event_type for r in self.take(count, timeout)]

    def nothing_more(self, wait: float = 1.0) -> None:
        """No further notification arrives within `wait` seconds."""
        try:
            extra = self.received.get(timeout=wait)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected notification {extra.event_type}: {extra.payload}")


@contextmanager
def consuming(topic: str | None = None, url: str = RABBIT_URL) -> Iterator[Consumer]:
    """A notification listener on a topic of its own (other tests' events never
    reach it), from before anything is sent until the block ends."""
    consumer = Consumer(topic or f"glint-test-{uuid.uuid4().hex[:12]}")
    oslo_messaging.set_transport_defaults("glance")
    conf = cfg.ConfigOpts()
    conf(args=[])
    transport = oslo_messaging.get_notification_transport(conf, url=url)
    listener = oslo_messaging.get_notification_listener(
        transport, [oslo_messaging.Target(topic=consumer.topic, exchange="glance")],
        [_Endpoint(consumer.received)], executor="threading")
    listener.start()
    try:
        yield consumer
    finally:
        listener.stop()
        listener.wait()
        transport.cleanup()


def closed_port() -> int:
    """A port nothing listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def silent_listener() -> Iterator[int]:
    """A TCP server that accepts connections and never answers (a hung broker)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        server.close()


# The broker itself, not the wrapper that switches to the rabbitmq user.
RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


class PrivateRabbitMQ:
    """A RabbitMQ node of this test's own, on free ports, with no plugins, its
    data and Erlang cookie under `folder`: it can be stopped and started again
    while the machine's RabbitMQ goes on untouched."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"rabbit://guest:guest@127.0.0.1:{self.port}/"
        self.name = f"glinttest{uuid.uuid4().hex[:8]}@localhost"
        self._dist_port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        (self.folder / "enabled_plugins").write_text("[].\n")
        env = {**os.environ, "HOME": str(self.folder), "RABBITMQ_NODENAME": self.name,
               "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1", "RABBITMQ_NODE_PORT": str(self.port),
               "RABBITMQ_DIST_PORT": str(self._dist_port),
               "RABBITMQ_MNESIA_BASE": str(self.folder / "mnesia"),
               "RABBITMQ_LOG_BASE": str(self.folder / "log"),
               "RABBITMQ_PID_FILE": str(self.folder / "pid"),
               "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.folder / "enabled_plugins"),
               "RABBITMQ_CONFIG_FILE": str(self.folder / "rabbitmq")}
        with open(self.folder / "server.out", "ab") as output:
            self._process = subprocess.Popen([str(RABBITMQ_SERVER)], env=env, stdout=output,
                                             stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("the private RabbitMQ did not start:\n"
                                       + (self.folder / "server.out").read_text()[-3000:]
                                       ) from None
                time.sleep(0.2)

    def stop(self) -> None:
        """Stop the node (its whole process group: the shell script and Erlang)."""
        process, self._process = self._process, None
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def private_rabbitmq(folder: Path) -> Iterator[PrivateRabbitMQ]:
    node = PrivateRabbitMQ(folder)
    node.start()
    try:
        yield node
    finally:
        node.stop()
