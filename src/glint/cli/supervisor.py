"""The process `glint serve` becomes once its checks pass: a small pre-fork
supervisor for uvicorn workers.

`glint serve` checks the configuration, database and stores (which needs
SQLAlchemy and Alembic), then replaces itself with this program so the
long-lived supervisor does not keep all of that in memory. The supervisor
binds the socket, forks the workers (each imports the application itself),
restarts a worker that dies, and stops them all on SIGTERM or SIGINT.
Forking directly, rather than through multiprocessing, also spares the
extra resource-tracker process that multiprocessing's spawn starts.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
from types import FrameType

import uvicorn

from glint.cli.log_format import LOG_FORMAT

SETTINGS_ENVIRONMENT_VARIABLE = "GLINT_SERVE_SETTINGS"

log = logging.getLogger(__name__)


def _config(server: dict[str, object]) -> uvicorn.Config:
    return uvicorn.Config(
        "glint.app:app_from_environment",
        factory=True,
        host=str(server["bind_host"]),
        port=int(str(server["bind_port"])),
        access_log=False,
        log_config=None,
        loop="uvloop",
        http="httptools",  # with limits: see _run_worker
        timeout_keep_alive=30,
    )


def _run_worker(config: uvicorn.Config, listener: socket.socket, max_header_line: int) -> None:
    # httptools with Glint's limits on the request head, imported here in the
    # worker so that the supervisor stays small.
    from glint.api.http_protocol import HeadLimits, limited_protocol

    config.http = limited_protocol(HeadLimits(max_header_line=max_header_line))
    uvicorn.Server(config).run(sockets=[listener])


class Supervisor:
    """Keeps `count` forked workers serving on one listening socket."""

    def __init__(self, config: uvicorn.Config, listener: socket.socket, count: int,
                 max_header_line: int) -> None:
        self.config = config
        self.listener = listener
        self.count = count
        self.max_header_line = max_header_line
        self.children: set[int] = set()
        self.stopping = False

    def start_worker(self) -> None:
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            code = 0
            try:
                _run_worker(self.config, self.listener, self.max_header_line)
            except BaseException:
                log.exception("worker %d failed", os.getpid())
                code = 1
            finally:
                os._exit(code)
        self.children.add(pid)

    def stop(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        for _ in range(self.count):
            self.start_worker()
        while self.children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            self.children.discard(pid)
            if not self.stopping:
                log.warning("worker %d exited (status %d); starting another", pid, status)
                self.start_worker()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    server = json.loads(os.environ[SETTINGS_ENVIRONMENT_VARIABLE])["server"]
    config = _config(server)
    listener = config.bind_socket()
    workers = int(server["workers"])
    max_header_line = int(server["max_header_line"])
    if workers == 1:
        _run_worker(config, listener, max_header_line)
        return
    Supervisor(config, listener, workers, max_header_line).run()


if __name__ == "__main__":
    main()
