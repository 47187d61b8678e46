"""The stock `glance` client's location commands against Glint with show_multiple_locations."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Cli
from tests.servers import GlintServer, glint_server
from tests.web import WebServer, nginx


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    with nginx(tmp_path_factory.mktemp("nginx"), {}) as server:
        yield server


@pytest.fixture(scope="module")
def shown(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GlintServer]:
    folder = tmp_path_factory.mktemp("glint-locations-e2e")
    extra: dict[str, dict[str, object]] = {"DEFAULT": {"show_multiple_locations": "true"}}
    with glint_server(folder, f"sqlite:///{folder / 'glint.db'}", flavor="",
                      extra=extra) as running:
        yield running


def _published(web: WebServer, data: bytes) -> str:
    name = uuid.uuid4().hex
    (web.root / name).write_bytes(data)
    return f"{web.url}/{name}"


def _queued(server: GlintServer) -> str:
    # `openstack image create` without a file uploads zero bytes: create it queued here.
    response = httpx.post(f"{server.url}/v2/images",
                          json={"disk_format": "raw", "container_format": "bare"})
    return str(response.json()["id"])


def _image(server: GlintServer, image_id: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{server.url}/v2/images/{image_id}").json()
    return body


def test_glance_location_commands(shown: GlintServer, web: WebServer) -> None:
    cli = Cli(shown.url)
    data = os.urandom(4096)
    first, second = _published(web, data), _published(web, data)
    image_id = _queued(shown)
    cli.glance("location-add", "--url", first, "--metadata", '{"rack": "a"}',
               "--checksum", hashlib.md5(data).hexdigest(), "--hash-algo", "sha512",
               "--hash-value", hashlib.sha512(data).hexdigest(), image_id)
    image = _image(shown, image_id)
    assert image["status"] == "active" and image["size"] == len(data)
    assert image["os_hash_value"] == hashlib.sha512(data).hexdigest()
    cli.glance("location-add", "--url", second, image_id)
    cli.glance("location-update", "--url", first, "--metadata", '{"rack": "b"}', image_id)
    cli.glance("location-delete", "--url", second, image_id)
    assert _image(shown, image_id)["locations"] == [{"url": first, "metadata": {"rack": "b"}}]
    saved = httpx.get(f"{shown.url}/v2/images/{image_id}/file")
    assert saved.content == data


def test_glance_add_location(shown: GlintServer, web: WebServer) -> None:
    cli = Cli(shown.url)
    data = os.urandom(4096)
    url = _published(web, data)
    image_id = _queued(shown)
    validation = {"os_hash_algo": "sha512", "os_hash_value": hashlib.sha512(data).hexdigest()}
    cli.glance("add-location", "--url", url, "--validation-data", json.dumps(validation),
               image_id)
    image = _image(shown, image_id)
    assert image["status"] == "active" and image["checksum"] == hashlib.md5(data).hexdigest()
    assert image["locations"] == [{"url": url, "metadata": {}}]

