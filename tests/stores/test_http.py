"""The http store against nginx: redirects, errors, servers that ignore Range."""

from __future__ import annotations

import http.server
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from glint.domain.image import Location
from glint.stores.base import StoreError, StoreUnreachable, WritableStore
from glint.stores.http import HttpStore
from glint.stores.options import BackendConfig, OptionError
from tests.servers import free_port
from tests.stores.test_contract import read_all
from tests.web import WebServer


def _publish(server: WebServer, data: bytes) -> str:
    name = uuid.uuid4().hex
    (server.root / name).write_bytes(data)
    return name


def test_is_read_only() -> None:
    assert not isinstance(HttpStore("web"), WritableStore)


async def test_follows_redirects(web_server: WebServer) -> None:
    name = _publish(web_server, b"moved data")
    store = HttpStore("web")
    location = Location(url=f"{web_server.url}/redirect/{name}", store="web")
    assert await read_all(store, location, 6) == b"data"
    assert await store.size(location) == 10
    await store.aclose()


async def test_redirect_loop_is_a_store_error(web_server: WebServer) -> None:
    store = HttpStore("web")
    with pytest.raises(StoreError) as raised:
        await read_all(store, Location(url=f"{web_server.url}/loop", store="web"))
    assert "redirects" in raised.value.message and raised.value.store == "web"
    await store.aclose()


async def test_server_errors_and_unreachable_servers(web_server: WebServer) -> None:
    store = HttpStore("web")
    with pytest.raises(StoreUnreachable):
        await read_all(store, Location(url=f"{web_server.url}/broken", store="web"))
    with pytest.raises(StoreUnreachable):
        await read_all(store, Location(url=f"http://127.0.0.1:{free_port()}/x", store="web"))
    await store.aclose()


@pytest.fixture
def range_ignoring_server(tmp_path: Path) -> Iterator[str]:
    """Python's http.server, which answers Range requests with 200 and everything."""
    handler = http.server.SimpleHTTPRequestHandler

    class Quiet(handler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(tmp_path), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_servers_ignoring_ranges_still_give_the_right_bytes(
    range_ignoring_server: str, tmp_path: Path
) -> None:
    data = os.urandom(300_000)
    (tmp_path / "image").write_bytes(data)
    store = HttpStore("web")
    location = Location(url=f"{range_ignoring_server}/image", store="web")
    assert await read_all(store, location, 1000, 70_000) == data[1000:71_000]
    assert await read_all(store, location, 299_990) == data[299_990:]
    await store.aclose()


def test_options() -> None:
    config = BackendConfig("web", "http", "web", {
        "https_insecure": "false", "http_proxy_information": "http:http://proxy:3128"})
    assert HttpStore.from_config(config).name == "web"
    with pytest.raises(OptionError) as raised:
        HttpStore.from_config(BackendConfig("web", "http", "web",
                                            {"http_proxy_information": "nonsense"}))
    assert raised.value.key == "http_proxy_information"
