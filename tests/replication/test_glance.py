"""`glint replicate` against upstream Glance 33: Glance -> Glint and Glint -> Glance.

Glance is started once for the module (~15 s; installed on first use, see tests/glance.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from glint.client.images import ImageClient
from tests.glance import running_glance
from tests.replication.catalog import Spec, add_image, assert_same, host_port, replicate, seed
from tests.replication.test_glint_to_glint import summary
from tests.servers import GlintServer, glint_server

NO_DIFFERENCES = "0 differences: 0 missing, 0 differing, 0 on the destination only"


@pytest.fixture(scope="module")
def glance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_glance(tmp_path_factory.mktemp("glance") / "run") as url:
        yield url


@pytest.fixture
def glint(tmp_path: Path) -> Iterator[GlintServer]:
    with glint_server(tmp_path / "glint", f"sqlite:///{tmp_path / 'glint.db'}",
                      flavor="") as running:
        yield running


def test_glance_to_glint_fifty_images(glance: str, glint: GlintServer) -> None:
    with ImageClient(glance) as source, ImageClient(glint.url) as target:
        started = time.monotonic()
        ids = seed(source, 50, first=100)
        first = summary(replicate("livecopy", host_port(glance), host_port(glint.url)).stdout)
        assert (first["created"], first["failed"]) == (50, 0)
        assert_same(source, target, ids)
        compared = replicate("compare", glance, glint.url).stdout
        assert compared.strip().endswith(NO_DIFFERENCES), compared

        second = summary(replicate("livecopy", glance, glint.url).stdout)
        assert (second["created"], second["updated"], second["bytes"]) == (0, 0, 0)

        source.update(ids[7], [{"op": "replace", "path": "/note", "value": "changed"}])
        new_id = add_image(source, Spec(200))
        third = summary(replicate("livecopy", glance, glint.url).stdout)
        assert (third["created"], third["updated"], third["unchanged"]) == (1, 1, 49)
        assert third["bytes"] == Spec(200).size
        assert_same(source, target, [*ids, new_id])
        print(f"Glance -> Glint, 51 images: {time.monotonic() - started:.1f} s")


def test_glint_to_glance(glance: str, glint: GlintServer) -> None:
    with ImageClient(glint.url) as source, ImageClient(glance) as target:
        ids = seed(source, 8, first=300)
        first = summary(replicate("livecopy", glint.url, glance).stdout)
        assert (first["created"], first["failed"]) == (8, 0)
        assert_same(source, target, ids)
        source.update(ids[2], [{"op": "add", "path": "/os_distro", "value": "debian"}])
        again = summary(replicate("livecopy", glint.url, glance).stdout)
        assert (again["created"], again["updated"], again["bytes"]) == (0, 1, 0)
        assert (target.image(ids[2]) or {}).get("os_distro") == "debian"
