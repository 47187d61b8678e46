"""Many clients at once against two worker processes: no request may fail."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import BACKENDS
from tests.servers import database, glint_server

CLIENTS = 16
SECONDS = 4


def _create_show_delete(url: str, deadline: float) -> tuple[int, list[str]]:
    done, failures = 0, []
    with httpx.Client(base_url=url, timeout=30) as client:
        while time.monotonic() < deadline:
            created = client.post("/v2/images", json={"name": "c", "disk_format": "raw",
                                                      "container_format": "bare"})
            if created.status_code != 201:
                failures.append(f"create {created.status_code} {created.text[:200]}")
                continue
            image_id = created.json()["id"]
            for response in (client.get(f"/v2/images/{image_id}"),
                             client.put(f"/v2/images/{image_id}/tags/t"),
                             client.delete(f"/v2/images/{image_id}")):
                if response.status_code >= 400:
                    failures.append(f"{response.request.method} {response.status_code} "
                                    f"{response.text[:200]}")
            done += 4
    return done, failures


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_writers_never_fail(backend: str, tmp_path: Path) -> None:
    with database(backend, tmp_path) as url, \
            glint_server(tmp_path, url, flavor="", workers=2) as server:
        deadline = time.monotonic() + SECONDS
        with ThreadPoolExecutor(CLIENTS) as pool:
            results = list(pool.map(lambda _: _create_show_delete(server.url, deadline),
                                    range(CLIENTS)))
    requests = sum(done for done, _ in results)
    failures = [failure for _, batch in results for failure in batch]
    assert requests > 0
    assert failures == []
