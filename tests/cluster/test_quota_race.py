"""Sixteen clients of one project race past its `user_storage_quota` through two
`glint serve` nodes sharing one MariaDB or PostgreSQL database: the project
never ends above its quota, and no reservation outlives its upload, not even
one of a node killed in the middle of it."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.cluster.quota import CLIENTS, QUOTA, Nodes, count_reservations, held
from tests.conftest import Caller
from tests.helpers import rounds
from tests.keystone import Keystone
from tests.servers import database, glint_server
from tests.unified_limits import Limits

# Every round asks for about twice the quota at once: without a working reservation a
# single round overruns it. GLINT_SOAK=1 runs 20.
ROUNDS = rounds(5, soak=20)
OCTET = {"Content-Type": "application/octet-stream"}


def _slowly(data: bytes) -> Iterator[bytes]:
    """The body in 1000-byte chunks, a little apart, so the uploads interleave."""
    for start in range(0, len(data), 1000):
        time.sleep(0.002)
        yield data[start:start + 1000]


def _write(caller: Caller, index: int) -> int:
    """One client's try: an upload or a stage, of declared size or not.
    Returns the status code."""
    image = caller.create()
    size = 3000 + 1000 * (index % 5)
    data = b"r" * size
    target = "stage" if index % 4 == 3 else "file"
    body = data if index % 2 else _slowly(data)
    response = caller.http.put(f"/v2/images/{image['id']}/{target}", content=body,
                               headers=OCTET)
    return response.status_code


def test_parallel_writers_never_pass_the_quota(quota_cluster: Nodes) -> None:
    nodes = quota_cluster
    for _ in range(ROUNDS):
        project = uuid.uuid4().hex
        callers = nodes.callers(project)
        with ThreadPoolExecutor(CLIENTS) as pool:
            codes = list(pool.map(_write, callers, range(CLIENTS)))
        assert set(codes) <= {204, 413}, codes
        assert codes.count(204) >= 1
        assert held(callers[0]) <= QUOTA, codes
        assert count_reservations(nodes.database_url, project) == 0


@pytest.mark.parametrize("backend", ["mariadb", "postgresql"])
def test_a_killed_node_gives_its_reservations_back(backend: str, tmp_path: Path) -> None:
    extra: dict[str, dict[str, object]] = {"DEFAULT": {"user_storage_quota": QUOTA}}
    project = uuid.uuid4().hex
    with database(backend, tmp_path) as url, \
            glint_server(tmp_path / "survivor", url, extra=extra) as survivor, \
            glint_server(tmp_path / "victim", url, extra=extra) as victim:
        stays = Caller(survivor.url, project, ("member", "reader"))
        image = Caller(victim.url, project, ("member", "reader")).create()
        address = urlsplit(victim.url)
        with socket.create_connection((address.hostname or "", address.port or 80)) as s:
            # The whole quota declared, a little sent, the rest never.
            s.sendall((f"PUT /v2/images/{image['id']}/file HTTP/1.1\r\nHost: x\r\n"
                       "Content-Type: application/octet-stream\r\n"
                       f"X-Identity-Status: Confirmed\r\nX-Project-Id: {project}\r\n"
                       f"X-Roles: member,reader\r\nContent-Length: {QUOTA}\r\n\r\n"
                       ).encode() + b"v" * 1000)
            deadline = time.monotonic() + 30
            while count_reservations(url, project) == 0:
                assert time.monotonic() < deadline, "the upload took no reservation"
                time.sleep(0.1)
            waiting = stays.create()
            assert stays.upload(waiting["id"], b"w").status_code == 413
            victim.kill()
        deadline = time.monotonic() + 60
        while count_reservations(url, project):
            assert time.monotonic() < deadline, "the dead node's reservation stayed"
            time.sleep(0.5)
        assert stays.upload(waiting["id"], b"w" * QUOTA).status_code == 204


MIB = 1024 * 1024
UNIFIED_ROUNDS = rounds(2, soak=5)


@pytest.mark.parametrize("backend", ["mariadb", "postgresql"])
def test_parallel_writers_never_pass_image_size_total(backend: str, tmp_path: Path,
                                                      keystone: Keystone) -> None:
    """The same race under Keystone's image_size_total (4 MiB), through two nodes."""
    limits = Limits(keystone, {"image_size_total": 4, "image_stage_total": 4,
                               "image_count_total": 100, "image_count_uploading": 100})
    extra: dict[str, dict[str, object]] = {"DEFAULT": {"use_keystone_limits": True},
                                           "oslo_limit": limits.oslo_limit_section()}
    with database(backend, tmp_path) as url, ExitStack() as stack:
        servers = [stack.enter_context(glint_server(tmp_path / f"node{n}", url, extra=extra))
                   for n in range(2)]
        for _ in range(UNIFIED_ROUNDS):
            project = limits.project()
            callers = [Caller(servers[n % 2].url, project, ("member", "reader"))
                       for n in range(CLIENTS)]
            sizes = [MIB // 2 + (n % 4) * MIB // 4 for n in range(CLIENTS)]

            def write(caller: Caller, size: int, index: int) -> int:
                image = caller.create()
                data = b"k" * size
                body = data if index % 2 else iter([data[i:i + 65536]
                                                    for i in range(0, size, 65536)])
                return caller.http.put(f"/v2/images/{image['id']}/file", content=body,
                                       headers=OCTET).status_code

            with ThreadPoolExecutor(CLIENTS) as pool:
                codes = list(pool.map(write, callers, sizes, range(CLIENTS)))
            assert set(codes) <= {204, 413}, codes
            assert codes.count(204) >= 1
            assert held(callers[0]) <= 4 * MIB, codes
            assert count_reservations(url, project) == 0
