"""Sixteen clients of one project import past its `user_storage_quota` through
two `glint serve` nodes sharing one MariaDB or PostgreSQL database, half by
glance-direct (stage, then import), half by web-download from a local HTTP
server: the project never ends above its quota, each refusal is a 413 or a
task failed with the quota's message, and neither a reservation nor a file is
left behind by a refused import."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.cluster.quota import (
    CLIENTS,
    QUOTA,
    Nodes,
    count_reservations,
    held,
    image_statuses,
)
from tests.conftest import Caller
from tests.helpers import OCTET, image_tasks, wait_for_import

ROUNDS = 3
QUOTA_MESSAGE = "will exceed the limit"


def _import(caller: Caller, index: int, source: str) -> str:
    """One client's import of 4000 to 8000 bytes: glance-direct for even
    indexes (more than the quota between them), web-download for odd ones.
    Returns how it ended: `active`, `413` (refused when asked) or `quota` (its
    task failed on the quota)."""
    image = caller.create()
    size = 4000 + 1000 * (index % 5)
    if index % 2 == 0:
        staged = caller.http.put(f"/v2/images/{image['id']}/stage", content=b"g" * size,
                                 headers=OCTET)
        if staged.status_code == 413:
            return "413"
        assert staged.status_code == 204, staged.text
        method: dict[str, object] = {"name": "glance-direct"}
    else:
        method = {"name": "web-download", "uri": f"{source}/{size}"}
    started = caller.http.post(f"/v2/images/{image['id']}/import", json={"method": method})
    if started.status_code == 413:
        return "413"
    assert started.status_code == 202, started.text
    if wait_for_import(caller, image["id"])["status"] == "active":
        return "active"
    [task] = image_tasks(caller, image["id"])
    assert task["status"] == "failure", task
    return "quota" if QUOTA_MESSAGE in str(task["message"]) else f"failed: {task['message']}"


def _orphans(folder: Path, kept: set[str]) -> list[str]:
    """Files under `folder` that belong to no image of `kept`."""
    if not folder.exists():
        return []
    return [path.name for path in folder.iterdir()
            if not any(image_id in path.name for image_id in kept)]


def test_parallel_imports_never_pass_the_quota(quota_cluster: Nodes) -> None:
    nodes = quota_cluster
    for _ in range(ROUNDS):
        project = uuid.uuid4().hex
        callers = nodes.callers(project)
        with ThreadPoolExecutor(CLIENTS) as pool:
            ends = list(pool.map(_import, callers, range(CLIENTS), [nodes.source] * CLIENTS))
        assert set(ends) <= {"active", "413", "quota"}, ends
        assert "active" in ends and len(set(ends)) > 1, ends
        assert held(callers[0]) <= QUOTA, ends
        assert count_reservations(nodes.database_url, project) == 0
        # Any race's images (these nodes are shared): stored ones active, staged ones uploading.
        statuses = image_statuses(nodes.database_url)
        stored = {image_id for image_id, status in statuses.items() if status == "active"}
        staged = {image_id for image_id, status in statuses.items() if status == "uploading"}
        for server in nodes.servers:
            assert not _orphans(server.folder / "images", stored), ends
            assert not _orphans(server.folder / "staging", staged), ends
