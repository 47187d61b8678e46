"""Shared by the quota races: two `glint serve` nodes on one MariaDB or
PostgreSQL database under a `user_storage_quota`, and what the project holds
and still reserves once a race is over."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
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

    def callers(self, project: str, count: int = CLIENTS) -> list[Caller]:
        """`count` members of `project`, spread over the nodes in turn."""
        return [Caller(self.servers[n % len(self.servers)].url, project, ("member", "reader"))
                for n in range(count)]


@contextmanager
def quota_nodes(backend: str, folder: Path,
                extra: dict[str, dict[str, object]] | None = None) -> Iterator[Nodes]:
    """Two nodes on a fresh `backend` database, each with its own folder
    (stores and staging), under `user_storage_quota = QUOTA` and `extra`."""
    sections: dict[str, dict[str, object]] = {key: dict(value)
                                              for key, value in (extra or {}).items()}
    sections.setdefault("DEFAULT", {})["user_storage_quota"] = QUOTA
    with database(backend, folder) as url, ExitStack() as stack:
        servers = [stack.enter_context(glint_server(folder / f"node{n}", url, extra=sections))
                   for n in range(2)]
        yield Nodes(url, servers)


def project_images(caller: Caller) -> list[dict[str, object]]:
    images: list[dict[str, object]] = caller.http.get(
        "/v2/images", params={"limit": 100}).json()["images"]
    return images


def held(caller: Caller) -> int:
    """Bytes the caller's project holds: its images stored or staged."""
    return sum(int(str(image["size"] or 0)) for image in project_images(caller)
               if image["status"] in HOLDING)


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
