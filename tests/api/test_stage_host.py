"""Two API nodes sharing a database and an image folder, each with its own
staging folder and `worker_self_reference_url`: an image staged on one node
can be imported or deleted through the other, which relays the request to
the node holding the staged data (os_glance_stage_host), as Glance does."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import Caller
from tests.helpers import OCTET, wait_for_status
from tests.servers import GLINT, GlintServer, free_port, glint_command, wait_until_up, write_config


@contextmanager
def node(folder: Path, name: str, database_url: str) -> Iterator[GlintServer]:
    """`glint serve` on a port chosen here, so that its own URL can be configured."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = write_config(folder / f"{name}.conf", {
        "DEFAULT": {"bind_host": "127.0.0.1", "bind_port": port,
                    "worker_self_reference_url": url,
                    "node_staging_uri": f"file://{folder / f'staging-{name}'}"},
        "database": {"connection": database_url},
        "glance_store": {"stores": "file", "default_store": "file",
                         "filesystem_store_datadir": folder / "images"},
        "paste_deploy": {"flavor": "trusted"},
    })
    glint_command("db", "sync", "--config-file", str(config))
    log = folder / f"{name}.log"
    with open(log, "wb") as output:
        process = subprocess.Popen([str(GLINT), "serve", "--config-file", str(config)],
                                   stdout=output, stderr=subprocess.STDOUT, cwd=folder)
    server = GlintServer(url, folder, config, process, log)
    try:
        wait_until_up(server)
        yield server
    finally:
        server.stop()


@dataclass
class Nodes:
    folder: Path
    one: Caller
    two: Caller
    one_server: GlintServer


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Nodes]:
    url = f"sqlite:///{tmp_path / 'glint.db'}"
    project = uuid.uuid4().hex
    with node(tmp_path, "one", url) as one, node(tmp_path, "two", url) as two:
        yield Nodes(tmp_path, Caller(one.url, project, ("member", "reader")),
                    Caller(two.url, project, ("member", "reader")), one)


def _staged_on_one(nodes: Nodes, data: bytes) -> str:
    image = nodes.one.create()
    assert nodes.one.http.put(f"/v2/images/{image['id']}/stage", content=data,
                              headers=OCTET).status_code == 204
    return str(image["id"])


def _stage_host(nodes: Nodes, image_id: str) -> str | None:
    """The recorded stage host, read from the database (Glance hides it from clients)."""
    engine = create_engine(f"sqlite:///{nodes.folder / 'glint.db'}")
    try:
        with engine.connect() as db:
            value = db.execute(text(
                "SELECT value FROM image_properties WHERE image_id = :i "
                "AND name = 'os_glance_stage_host'"), {"i": image_id}).scalar()
    finally:
        engine.dispose()
    return None if value is None else str(value)


def test_import_through_another_node(nodes: Nodes) -> None:
    data = os.urandom(300_000)
    image_id = _staged_on_one(nodes, data)
    assert _stage_host(nodes, image_id) == nodes.one.base_url
    shown = nodes.two.http.get(f"/v2/images/{image_id}").json()
    assert "os_glance_stage_host" not in shown
    assert (nodes.folder / "staging-one" / image_id).is_file()
    response = nodes.two.http.post(f"/v2/images/{image_id}/import",
                                   json={"method": {"name": "glance-direct"}})
    assert response.status_code == 202, response.text
    shown = wait_for_status(nodes.two, image_id, "active")
    assert shown["status"] == "active"
    assert _stage_host(nodes, image_id) is None
    assert nodes.two.http.get(f"/v2/images/{image_id}/file").content == data
    assert not (nodes.folder / "staging-one" / image_id).exists()
    # Errors of the stage host come back as they are.
    again = nodes.two.http.post(f"/v2/images/{image_id}/import",
                                json={"method": {"name": "glance-direct"}})
    assert again.status_code == 409


def test_delete_through_another_node(nodes: Nodes) -> None:
    image_id = _staged_on_one(nodes, b"staged on one")
    assert nodes.two.http.delete(f"/v2/images/{image_id}").status_code == 204
    assert nodes.one.http.get(f"/v2/images/{image_id}").status_code == 404
    assert not (nodes.folder / "staging-one" / image_id).exists()


def test_stage_host_down(nodes: Nodes) -> None:
    imported = _staged_on_one(nodes, b"import me")
    deleted = _staged_on_one(nodes, b"delete me")
    nodes.one_server.stop()
    response = nodes.two.http.post(f"/v2/images/{imported}/import",
                                   json={"method": {"name": "glance-direct"}})
    assert response.status_code == 504
    assert response.json()["message"] == "Stage host is unavailable"
    # A delete goes ahead here, as in Glance.
    assert nodes.two.http.delete(f"/v2/images/{deleted}").status_code == 204
    assert nodes.two.http.get(f"/v2/images/{deleted}").status_code == 404
