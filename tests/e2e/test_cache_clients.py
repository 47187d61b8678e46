"""The stock `glance` client's cache commands (cache-list, cache-queue,
cache-delete, cache-clear) against a Glint with its image cache, on every database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.test_cache import NODE, waited
from tests.conftest import BACKENDS, Caller
from tests.e2e.conftest import Cli
from tests.helpers import upload_active
from tests.servers import GlintServer, database, glint_server


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[GlintServer]:
    """Glint without authentication (every request an administrator), as the
    `glance` client talks to it with a token and an endpoint only."""
    folder = tmp_path_factory.mktemp(f"cache-clients-{request.param}")
    extra: dict[str, dict[str, object]] = {
        "DEFAULT": {"image_cache_dir": folder / "cache", "cache_prefetcher_interval": 1,
                    "worker_self_reference_url": NODE},
    }
    with database(request.param, folder) as url, glint_server(
            folder, url, flavor="", extra=extra) as running:
        yield running


def test_glance_cache_commands(server: GlintServer) -> None:
    cli = Cli(server.url)
    anyone = Caller(server.url, uuid.uuid4().hex, ())

    def state() -> dict[str, list[Any]]:
        body: dict[str, list[Any]] = anyone.http.get("/v2/cache").json()
        return body

    def cached_ids() -> list[str]:
        return [entry["image_id"] for entry in state()["cached_images"]]

    image = upload_active(anyone, os.urandom(10_000))
    image_id = str(image["id"])
    cli.glance("cache-queue", image_id)
    assert waited(lambda: cached_ids() == [image_id])
    assert state()["queued_images"] == []
    assert image_id in cli.glance("cache-list")
    cli.glance("cache-delete", image_id)
    assert cached_ids() == []
    assert image_id not in cli.glance("cache-list")
    assert anyone.http.get(f"/v2/images/{image_id}/file").content
    assert waited(lambda: cached_ids() == [image_id])
    cli.glance("cache-clear", "--target", "queue")
    assert cached_ids() == [image_id]  # the queue only
    cli.glance("cache-clear", "--target", "cache")
    assert cached_ids() == []
    assert anyone.http.get(f"/v2/images/{image_id}/file").content
    assert waited(lambda: cached_ids() == [image_id])
    cli.glance("cache-clear")  # both
    assert state() == {"cached_images": [], "queued_images": []}
