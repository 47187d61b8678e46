"""The stock `openstack` and `glance` clients drive a `glint serve` that sends
notifications to the machine's RabbitMQ, read back by a real consumer; and a
server whose bus is down or hung answers as fast as ever."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Cli
from tests.e2e.test_import_clients import _glance_without_stdin, _image_id
from tests.notifications import RABBIT_URL, Consumer, closed_port, consuming, silent_listener
from tests.servers import GlintServer, glint_server
from tests.web import WebServer, nginx

# A request that waited for the bus would take seconds (a connection refused is
# tried again after a pause; a hung one waits for a timeout): far above this.
REQUEST_BUDGET_SECONDS = 1.5


def _notifying(topic: str, url: str) -> dict[str, dict[str, object]]:
    return {"oslo_messaging_notifications": {"driver": "messagingv2", "topics": topic,
                                             "transport_url": url, "retry": 0},
            "DEFAULT": {"default_publisher_id": "image.e2e"}}


@pytest.fixture(scope="module")
def consumer() -> Iterator[Consumer]:
    with consuming() as listening:
        yield listening


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    with nginx(tmp_path_factory.mktemp("nginx"), {}) as running:
        yield running


@pytest.fixture(scope="module")
def notifying_server(tmp_path_factory: pytest.TempPathFactory, consumer: Consumer,
                     web: WebServer) -> Iterator[GlintServer]:
    folder = tmp_path_factory.mktemp("glint-notify-e2e")
    extra = {**_notifying(consumer.topic, RABBIT_URL), "import_filtering_opts": {
        "allowed_hosts": "127.0.0.1", "allowed_ports": web.port}}
    with glint_server(folder, f"sqlite:///{folder / 'glint.db'}", flavor="",
                      extra=extra) as running:
        yield running


def test_clients_actions_are_notified_in_order(notifying_server: GlintServer, consumer: Consumer,
                                               tmp_path: Path) -> None:
    cli = Cli(notifying_server.url)
    path = tmp_path / "disk.raw"
    path.write_bytes(b"\0" * 4096)
    image_id = cli.openstack_json("image", "create", "notified", "--file", str(path),
                                  "--disk-format", "raw", "--container-format", "bare",
                                  "--shared")["id"]
    created = consumer.take(6)
    assert [r.event_type for r in created] == [
        "image.create", "image.update", "image.prepare", "image.upload", "image.activate",
        "image.update"]
    assert {r.publisher_id for r in created} == {"image.e2e"}
    assert {r.payload["id"] for r in created} == {image_id}
    assert created[0].payload["name"] == "notified"
    assert created[3].payload["size"] == 4096 and created[5].payload["status"] == "active"

    saved = tmp_path / "saved.raw"
    cli.openstack("image", "save", "--file", str(saved), image_id)
    assert saved.read_bytes() == path.read_bytes()
    part = httpx.get(f"{notifying_server.url}/v2/images/{image_id}/file",
                     headers={"Range": "bytes=0-99"})
    assert part.status_code == 206
    sends = consumer.take(2)
    assert [r.event_type for r in sends] == ["image.send", "image.send"]
    assert [r.payload["bytes_sent"] for r in sends] == [4096, 100]
    assert {r.priority for r in sends} == {"info"}
    assert sends[0].payload["image_id"] == image_id
    assert set(sends[0].payload) == {"bytes_sent", "image_id", "owner_id", "receiver_tenant_id",
                                     "receiver_user_id"}

    cli.openstack("image", "set", "--property", "hw_disk_bus=scsi", image_id)
    updated = consumer.take(1)[0]
    assert updated.event_type == "image.update"
    assert updated.payload["properties"]["hw_disk_bus"] == "scsi"

    cli.glance("image-tag-update", image_id, "gold")
    assert consumer.take(1)[0].payload["tags"] == ["gold"]

    cli.glance("member-create", image_id, "guest-project")
    cli.glance("member-delete", image_id, "guest-project")
    members = consumer.take(2)
    assert [r.event_type for r in members] == ["image.member.create", "image.member.delete"]
    assert members[1].payload["member_id"] == "guest-project" and members[1].payload["deleted"]

    cli.openstack("image", "delete", image_id)
    deleted = consumer.take(1)[0]
    assert (deleted.event_type, deleted.payload["id"], deleted.payload["deleted"]) == (
        "image.delete", image_id, True)
    consumer.nothing_more()


def test_web_download_imports_are_notified(notifying_server: GlintServer, consumer: Consumer,
                                           web: WebServer) -> None:
    cli = Cli(notifying_server.url)
    (web.root / "web.raw").write_bytes(os.urandom(200_000))
    image_id = _image_id(_glance_without_stdin(
        cli, "image-create-via-import", "--name", "web", "--disk-format", "raw",
        "--container-format", "bare", "--import-method", "web-download",
        "--uri", f"{web.url}/web.raw"))
    received = consumer.take(9)
    assert [r.event_type for r in received] == [
        "image.create", "image.update", "task.create", "task.processing", "task.run",
        "image.upload", "image.activate", "image.update", "task.success"]
    assert received[1].payload["status"] == "importing"
    assert received[5].payload["size"] == 200_000
    assert {r.payload["id"] for r in received if r.event_type.startswith("image.")} == {image_id}
    assert len({r.payload["id"] for r in received if r.event_type.startswith("task.")}) == 1

    missing = _image_id(_glance_without_stdin(
        cli, "image-create-via-import", "--name", "missing", "--disk-format", "raw",
        "--container-format", "bare", "--import-method", "web-download",
        "--uri", f"{web.url}/missing.raw"))
    failed = consumer.take(6)
    assert [r.event_type for r in failed] == [
        "image.create", "image.update", "task.create", "task.processing", "task.run",
        "task.failure"]
    assert failed[0].payload["id"] == missing
    consumer.nothing_more()


def test_added_locations_are_notified(notifying_server: GlintServer, consumer: Consumer,
                                      web: WebServer) -> None:
    http = httpx.Client(base_url=notifying_server.url, timeout=60)
    (web.root / "located.raw").write_bytes(b"located" * 1000)
    for name, outcome in (("located.raw", "task.success"), ("gone.raw", "task.failure")):
        created = http.post("/v2/images", json={"disk_format": "raw",
                                                "container_format": "bare"})
        image_id = created.json()["id"]
        added = http.post(f"/v2/images/{image_id}/locations", json={"url": f"{web.url}/{name}"})
        assert added.status_code == 202, added.text
        types = consumer.types(4 if outcome == "task.success" else 3)
        if outcome == "task.success":
            assert types == ["image.create", "task.create", "image.update", "task.success"]
        else:
            assert types == ["image.create", "task.create", "task.failure"]
    consumer.nothing_more()


@pytest.mark.parametrize("bus", ["refused", "hung"])
def test_a_bus_that_is_down_costs_requests_nothing(tmp_path: Path, bus: str) -> None:
    with silent_listener() as hung_port:
        port = closed_port() if bus == "refused" else hung_port
        url = f"rabbit://guest:guest@127.0.0.1:{port}/"
        with glint_server(tmp_path, f"sqlite:///{tmp_path / 'glint.db'}", flavor="",
                          extra=_notifying("glint-outage", url)) as server:
            http = httpx.Client(base_url=server.url, timeout=60)
            slowest = 0.0
            for number in range(5):
                started = time.perf_counter()
                created = http.post("/v2/images", json={
                    "name": f"n{number}", "disk_format": "raw", "container_format": "bare"})
                assert created.status_code == 201, created.text
                image_id = created.json()["id"]
                uploaded = http.put(f"/v2/images/{image_id}/file", content=b"x" * 1024,
                                    headers={"Content-Type": "application/octet-stream"})
                assert uploaded.status_code == 204, uploaded.text
                assert http.delete(f"/v2/images/{image_id}").status_code == 204
                slowest = max(slowest, time.perf_counter() - started)
            assert slowest < REQUEST_BUDGET_SECONDS
            # What could not be sent is logged, with the count so far.
            deadline = time.monotonic() + 120
            while not re.search(r"notification image\.\w+ not sent \(\d+ not sent so far\)",
                                server.log.read_text()):
                assert time.monotonic() < deadline, server.log.read_text()[-3000:]
                time.sleep(0.5)
