"""Three `glint serve` nodes as production runs them: behind HAProxy, on one
PostgreSQL database and one S3 store (SeaweedFS), each node with its own
staging folder and `worker_self_reference_url`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cluster.haproxy import Balancer, haproxy
from tests.cluster.quota import Nodes, quota_nodes
from tests.servers import GlintServer, database, free_port, glint_server
from tests.stores.backends import S3Server, seaweedfs
from tests.web import WebServer, nginx

NODES = 3


@dataclass
class Node:
    name: str
    server: GlintServer
    staging: Path

    def kill(self) -> None:
        """kill -9 the node: its supervisor and every worker at once."""
        self.server.kill()


@dataclass
class Cluster:
    folder: Path
    balancer: Balancer
    nodes: list[Node]
    s3: S3Server
    bucket: str
    web: WebServer

    @property
    def url(self) -> str:
        return self.balancer.url

    def objects(self) -> list[str]:
        """Names of the objects in the image bucket."""
        listed = self.s3.client().list_objects_v2(Bucket=self.bucket)  # type: ignore[attr-defined]
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def multipart_uploads(self) -> list[str]:
        listed = self.s3.client().list_multipart_uploads(  # type: ignore[attr-defined]
            Bucket=self.bucket)
        return [upload["Key"] for upload in listed.get("Uploads", [])]


@contextmanager
def node(folder: Path, name: str, database_url: str, store: dict[str, object]
         ) -> Iterator[Node]:
    """A node that knows its own URL (for the stage-host relay) and stages locally."""
    port = free_port()
    staging = folder / name / "staging"
    with glint_server(folder / name, database_url, flavor="", workers=2, port=port, extra={
        "DEFAULT": {"worker_self_reference_url": f"http://127.0.0.1:{port}",
                    "node_staging_uri": f"file://{staging}",
                    "enabled_import_methods": "[glance-direct, web-download]"},
        "glance_store": {"stores": "s3", "default_store": "s3", **store},
        "import_filtering_opts": {"allowed_hosts": "[127.0.0.1]", "allowed_ports": "[]"},
    }) as server:
        yield Node(name, server, staging)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with ExitStack() as stack:
        url = stack.enter_context(database("postgresql", tmp_path))
        s3 = stack.enter_context(seaweedfs(tmp_path / "s3"))
        web = stack.enter_context(nginx(tmp_path / "web", {}))
        store = s3.options()
        nodes = [stack.enter_context(node(tmp_path, f"node{n}", url, store))
                 for n in range(NODES)]
        balancer = stack.enter_context(
            haproxy(tmp_path / "haproxy", [n.server.url for n in nodes]))
        yield Cluster(tmp_path, balancer, nodes, s3, str(store["s3_store_bucket"]), web)


@pytest.fixture(scope="session", params=["mariadb", "postgresql"])
def quota_cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[Nodes]:
    """The two nodes the quota races share (tests/cluster/quota.py), per database."""
    with quota_nodes(request.param, tmp_path_factory.mktemp(f"quota-{request.param}")
                     ) as nodes:
        yield nodes
