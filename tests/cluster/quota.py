"""Shared by the quota races: two `glint serve` nodes on one MariaDB or
PostgreSQL database under a `user_storage_quota`, allowed to import from a
local HTTP source, and what a project holds and still reserves once a race
is over."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.conftest import Caller
from tests.servers import GlintServer, database, glint_server

QUOTA = 40_000
CLIENTS = 16
# Where an image is while it holds bytes of the quota (stored or staged).
HOLDING = ("active", "uploading", "importing")


@dataclass
class Nodes:
    database_url: str
    servers: list[GlintServer]
    # The web-download source: GET {source}/N answers N bytes.
    source: str

    def callers(self, project: str, count: int = CLIENTS) -> list[Caller]:
        """`count` members of `project`, spread over the nodes in turn."""
        return [Caller(self.servers[n % len(self.servers)].url, project, ("member", "reader"))
                for n in range(count)]


class _Sized(BaseHTTPRequestHandler):
    """GET /N answers N bytes."""

    def do_GET(self) -> None:
        length = int(self.path.strip("/"))
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(b"w" * length)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet."""


@contextmanager
def sized_source() -> Iterator[ThreadingHTTPServer]:
    """A local HTTP server answering GET /N with N bytes."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sized)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def quota_nodes(backend: str, folder: Path) -> Iterator[Nodes]:
    """Two nodes on a fresh `backend` database, each with its own folder
    (stores and staging), under `user_storage_quota = QUOTA`, importing by
    glance-direct or web-download from a `sized_source` of their own."""
    with sized_source() as source, database(backend, folder) as url, ExitStack() as stack:
        port = source.server_address[1]
        extra: dict[str, dict[str, object]] = {
            "DEFAULT": {"user_storage_quota": QUOTA,
                        "enabled_import_methods": "[glance-direct, web-download]"},
            "import_filtering_opts": {"allowed_hosts": "[127.0.0.1]",
                                      "allowed_ports": f"[{port}]"},
        }
        servers = [stack.enter_context(glint_server(folder / f"node{n}", url, extra=extra))
                   for n in range(2)]
        yield Nodes(url, servers, f"http://127.0.0.1:{port}")


def project_images(caller: Caller) -> list[dict[str, object]]:
    images: list[dict[str, object]] = caller.http.get(
        "/v2/images", params={"limit": 100}).json()["images"]
    return images


def held(caller: Caller) -> int:
    """Bytes the caller's project holds: its images stored or staged."""
    return sum(int(str(image["size"] or 0)) for image in project_images(caller)
               if image["status"] in HOLDING)


def image_statuses(url: str) -> dict[str, str]:
    """Every image in the database at `url` (of any project): id -> status."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {str(row.id): str(row.status)
                    for row in connection.execute(text("SELECT id, status FROM images"))}
    finally:
        engine.dispose()


def count_reservations(url: str, project: str) -> int:
    """The quota reservations `project` still has in the database at `url`."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(
                "SELECT count(*) FROM quota_reservations WHERE project = :p"),
                {"p": project}).scalar() or 0)
    finally:
        engine.dispose()
