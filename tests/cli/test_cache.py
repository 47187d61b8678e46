"""`glint cache` on this node's configuration and against a node's API, on every database."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator

import pytest

from tests.api.test_cache import NODE, waited
from tests.conftest import BACKENDS, Caller
from tests.helpers import upload_active
from tests.servers import GlintServer, database, glint_command, glint_server


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[GlintServer]:
    folder = tmp_path_factory.mktemp(f"cache-cli-{request.param}")
    extra: dict[str, dict[str, object]] = {"DEFAULT": {
        "image_cache_dir": folder / "cache", "cache_prefetcher_interval": 1,
        "worker_self_reference_url": NODE}}
    # Without authentication: `--url` then needs no token.
    with database(request.param, folder) as url, glint_server(
            folder, url, flavor="", extra=extra) as running:
        yield running


def _listing(server: GlintServer, *how: str) -> dict[str, list[dict[str, object]]]:
    done = glint_command("cache", "list", *how)
    body: dict[str, list[dict[str, object]]] = json.loads(done.stdout)
    return body


@pytest.mark.parametrize("remote", [False, True], ids=["config", "api"])
def test_cache_commands(server: GlintServer, remote: bool) -> None:
    how = (["--url", server.url] if remote else ["--config-file", str(server.config)])
    admin = Caller(server.url, uuid.uuid4().hex, ("admin", "member", "reader"))
    image = upload_active(admin, os.urandom(5000))
    image_id = str(image["id"])
    glint_command("cache", "queue", image_id, *how)
    assert waited(lambda: [e["image_id"] for e in _listing(server, *how)["cached_images"]]
                  == [image_id])
    assert (server.folder / "cache" / image_id).exists()
    glint_command("cache", "delete", image_id, *how)
    assert _listing(server, *how)["cached_images"] == []
    assert not (server.folder / "cache" / image_id).exists()
    missing = glint_command("cache", "delete", image_id, *how, check=False)
    assert missing.returncode == 1
    assert ("404" if remote else "not cached") in missing.stderr
    assert admin.http.get(f"/v2/images/{image_id}/file").status_code == 200
    assert waited(lambda: bool(_listing(server, *how)["cached_images"]))
    cleaned = glint_command("cache", "clean", *how).stdout
    if remote:  # the API, as Glance's, reports nothing back
        assert cleaned.strip() == "Cache cleaned"
    else:
        assert json.loads(cleaned) == {"total_bytes_cleaned": 0, "total_files_cleaned": 0}
    pruned = json.loads(glint_command("cache", "prune", *how).stdout)
    assert pruned == {"total_bytes_pruned": 0, "total_files_pruned": 0}
    glint_command("cache", "clear", "--target", "cache", *how)
    assert _listing(server, *how)["cached_images"] == []
