"""Locations under `user_storage_quota`: each location of an image's data counts
its size, so adding one past the quota answers 413 (as Glance does)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, Caller
from tests.servers import GlintServer, database, glint_server
from tests.web import WebServer, nginx

QUOTA = 10_000


@pytest.fixture(scope="module", params=BACKENDS)
def located(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[GlintServer, WebServer]]:
    folder = tmp_path_factory.mktemp(f"location-quota-{request.param}")
    with nginx(folder / "web") as web, database(request.param, folder) as url:
        extra: dict[str, dict[str, object]] = {
            "DEFAULT": {"show_multiple_locations": "true", "user_storage_quota": QUOTA},
            "import_filtering_opts": {"allowed_hosts": "127.0.0.1", "allowed_ports": web.port},
        }
        with glint_server(Path(folder) / "glint", url, extra=extra) as server:
            yield server, web


def _published(web: WebServer, data: bytes) -> str:
    name = uuid.uuid4().hex
    (web.root / name).write_bytes(data)
    return f"{web.url}/{name}"


def _add(caller: Caller, image_id: object, url: str) -> int:
    return caller.patch(image_id, [{"op": "add", "path": "/locations/-",
                                    "value": {"url": url, "metadata": {}}}]).status_code


def test_each_location_counts(located: tuple[GlintServer, WebServer]) -> None:
    server, web = located
    caller = Caller(server.url, uuid.uuid4().hex, ("member", "reader"))
    data = b"l" * 4000
    image = caller.create()
    assert _add(caller, image["id"], _published(web, data)) == 200
    assert _add(caller, image["id"], _published(web, data)) == 200
    refused = caller.patch(image["id"], [{"op": "add", "path": "/locations/-", "value": {
        "url": _published(web, data), "metadata": {}}}])
    assert refused.status_code == 413, refused.text
    assert "will exceed the limit" in refused.json()["message"]
    assert len(caller.http.get(f"/v2/images/{image['id']}").json()["locations"]) == 2
    # 8000 held: an upload of 2000 still fits, one more byte does not.
    other = caller.create()
    assert caller.upload(other["id"], b"u" * 2001).status_code == 413
    assert caller.upload(other["id"], b"u" * 2000).status_code == 204


def test_added_location_past_the_quota(located: tuple[GlintServer, WebServer]) -> None:
    """POST /v2/images/{id}/locations: the data it names must fit too."""
    server, web = located
    caller = Caller(server.url, uuid.uuid4().hex, ("member", "reader"))
    full = caller.create()
    assert caller.upload(full["id"], b"f" * (QUOTA - 100)).status_code == 204
    image = caller.create()
    refused = caller.http.post(f"/v2/images/{image['id']}/locations",
                               json={"url": _published(web, b"x" * 101)})
    assert refused.status_code == 413, refused.text
    assert caller.http.get(f"/v2/images/{image['id']}").json()["status"] == "queued"
    accepted = caller.http.post(f"/v2/images/{image['id']}/locations",
                                json={"url": _published(web, b"x" * 100)})
    assert accepted.status_code == 202, accepted.text
    assert caller.http.get(f"/v2/images/{image['id']}").json()["status"] == "active"
