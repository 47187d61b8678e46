"""One `backend` fixture over every store driver, each on its real server.

`backend` runs the read contract on every store; `writable` the write
contract on the stores that take data. A Backend knows how to put data in
its store from outside (`seed`) and how to list everything the store holds,
so tests can check that nothing is left behind.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from glint.domain.image import Location
from glint.stores.base import Store, WritableStore
from glint.stores.filesystem import FilesystemStore
from glint.stores.http import HttpStore
from glint.stores.options import BackendConfig
from tests.keystone import Keystone
from tests.stores.backends import (
    CephCluster,
    KeystoneSwift,
    S3Server,
    SwiftServer,
    ceph,
    seaweedfs,
    swift,
    swift_keystone_proxy,
)
from tests.stores.rgw import radosgw
from tests.web import WebServer, nginx

MIB = 1024 * 1024


@dataclass
class Backend:
    store: Store
    seed: Callable[[bytes], Awaitable[Location]]
    contents: Callable[[], list[str]]
    foreign_url: str
    # How to build the same store elsewhere (another process); None for read-only ones.
    config: BackendConfig | None = None


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture(scope="session")
def swift_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SwiftServer]:
    with swift(tmp_path_factory.mktemp("swift")) as server:
        yield server


@pytest.fixture(scope="session")
def keystone_swift(swift_server: SwiftServer, keystone: Keystone) -> Iterator[KeystoneSwift]:
    """A proxy of the same Swift that validates tokens with the session's Keystone."""
    with swift_keystone_proxy(swift_server, keystone) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def ceph_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CephCluster]:
    # cephx, as production Ceph runs: the admin key sits beside the conf, and the
    # rbd_store_user tests add users of their own.
    with ceph(tmp_path_factory.mktemp("ceph"), cephx=True) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def rgw_server(ceph_cluster: CephCluster,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with radosgw(ceph_cluster, tmp_path_factory.mktemp("rgw")) as server:
        yield server


@pytest.fixture(scope="session")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    with nginx(tmp_path_factory.mktemp("nginx")) as server:
        yield server


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _file_backend(tmp_path: Path) -> Backend:
    config = BackendConfig("fast", "file", "fast",
                           {"filesystem_store_datadir": str(tmp_path / "images")})
    store = FilesystemStore.from_config(config)
    store.prepare()

    async def seed(data: bytes) -> Location:
        return (await store.write(str(uuid.uuid4()), chunks(data))).location

    return Backend(store, seed, lambda: sorted(p.name for p in store.directory.iterdir()),
                   "file:///etc/passwd", config)


def _s3_backend(server: S3Server) -> Backend:
    from glint.stores.s3 import S3Store

    # Small thresholds, so a few MiB already take the multipart path.
    options = server.options(s3_store_large_object_size="6",
                             s3_store_large_object_chunk_size="5", s3_store_thread_pools="3")
    config = BackendConfig("cheap", "s3", "cheap", {k: str(v) for k, v in options.items()})
    store = S3Store.from_config(config)
    client: Any = server.client()
    bucket = str(options["s3_store_bucket"])

    async def seed(data: bytes) -> Location:
        return (await store.write(str(uuid.uuid4()), chunks(data))).location

    def contents() -> list[str]:
        if bucket not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
            return []
        objects = client.list_objects_v2(Bucket=bucket).get("Contents", [])
        uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        return sorted([o["Key"] for o in objects] + [f"upload:{u['Key']}" for u in uploads])

    return Backend(store, seed, contents, f"s3://{server.endpoint.split('//')[1]}/other/x",
                   config)


def _swift_backend(server: SwiftServer) -> Backend:
    from glint.stores.swift import SwiftStore

    # Small segments, so a few MiB already take the large-object path.
    options = server.options(swift_store_large_object_size="6",
                             swift_store_large_object_chunk_size="5")
    config = BackendConfig("swifty", "swift", "swifty", {k: str(v) for k, v in options.items()})
    store = SwiftStore.from_config(config)
    container = str(options["swift_store_container"])

    async def seed(data: bytes) -> Location:
        return (await store.write(str(uuid.uuid4()), chunks(data))).location

    def contents() -> list[str]:
        from swiftclient.client import Connection

        connection = Connection(authurl=server.auth_address, user=server.user, key=server.key)
        found = []
        for name in (container, f"{container}_segments"):
            try:
                found += [f"{name}:{o['name']}" for o in connection.get_container(name)[1]]
            except Exception:  # noqa: BLE001 - no container yet: nothing stored
                pass
        return sorted(found)

    return Backend(store, seed, contents, "swift+http://example.com/v1/other/x", config)


def _rbd_backend(cluster: CephCluster) -> Backend:
    from glint.stores.rbd import RbdStore

    config = BackendConfig("ceph", "rbd", "ceph", {
        "rbd_store_pool": cluster.pool, "rbd_store_ceph_conf": str(cluster.conf),
        "rbd_store_chunk_size": "4"})
    store = RbdStore.from_config(config)

    async def seed(data: bytes) -> Location:
        return (await store.write(str(uuid.uuid4()), chunks(data))).location

    def listing() -> set[str]:
        listed = subprocess.run(["rbd", "-c", str(cluster.conf), "ls", cluster.pool],
                                capture_output=True, text=True, check=True)
        return set(listed.stdout.split())

    # The pool is shared by the session: what this backend's test added.
    before = listing()

    def contents() -> list[str]:
        return sorted(listing() - before)

    return Backend(store, seed, contents, "rbd://fsid/otherpool/x/snap", config)


def _http_backend(server: WebServer) -> Backend:
    store = HttpStore("web")

    async def seed(data: bytes) -> Location:
        name = uuid.uuid4().hex
        (server.root / name).write_bytes(data)
        return Location(url=f"{server.url}/{name}", store="web")

    return Backend(store, seed, lambda: sorted(p.name for p in server.root.iterdir()),
                   "ftp://example.com/x")


@pytest.fixture(params=["file", "s3", "s3-rgw", "swift", "rbd", "http"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "file":
        found = _file_backend(tmp_path)
    elif request.param == "s3":
        found = _s3_backend(request.getfixturevalue("s3_server"))
    elif request.param == "s3-rgw":
        found = _s3_backend(request.getfixturevalue("rgw_server"))
    elif request.param == "swift":
        found = _swift_backend(request.getfixturevalue("swift_server"))
    elif request.param == "rbd":
        found = _rbd_backend(request.getfixturevalue("ceph_cluster"))
    else:
        found = _http_backend(request.getfixturevalue("web_server"))
    yield found
    closer = getattr(found.store, "aclose", None)
    if closer is not None:
        await closer()


@pytest.fixture(params=["file", "s3", "s3-rgw", "swift", "rbd"])
async def writable(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "file":
        found = _file_backend(tmp_path)
    elif request.param == "swift":
        found = _swift_backend(request.getfixturevalue("swift_server"))
    elif request.param == "rbd":
        found = _rbd_backend(request.getfixturevalue("ceph_cluster"))
    elif request.param == "s3-rgw":
        found = _s3_backend(request.getfixturevalue("rgw_server"))
    else:
        found = _s3_backend(request.getfixturevalue("s3_server"))
    assert isinstance(found.store, WritableStore)
    yield found
    closer = getattr(found.store, "aclose", None)
    if closer is not None:
        await closer()
