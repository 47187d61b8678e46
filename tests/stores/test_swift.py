"""The swift store against a real all-in-one Swift: segments, containers, outages."""

from __future__ import annotations

import os
import uuid

import pytest

from glint.domain.image import Location
from glint.stores.base import StoreError, StoreUnreachable
from glint.stores.options import BackendConfig, OptionError
from glint.stores.swift import SwiftStore
from tests.servers import free_port
from tests.stores.backends import SwiftServer
from tests.stores.conftest import MIB, chunks
from tests.stores.test_contract import read_all


def _store(server: SwiftServer, **options: object) -> SwiftStore:
    merged = server.options(**options)
    return SwiftStore.from_config(BackendConfig("swifty", "swift", "swifty",
                                                {k: str(v) for k, v in merged.items()}))


async def test_large_data_becomes_a_static_large_object(swift_server: SwiftServer) -> None:
    from swiftclient.client import Connection

    store = _store(swift_server, swift_store_large_object_size="4",
                   swift_store_large_object_chunk_size="2")
    data = os.urandom(7 * MIB)
    stored = await store.write(str(uuid.uuid4()), chunks(data), size_hint=len(data))
    connection = Connection(authurl=swift_server.auth_address, user=swift_server.user,
                            key=swift_server.key)
    container = store.container
    head = connection.head_object(container, stored.location.url.rsplit("/", 1)[1])
    assert head["x-static-large-object"] == "True" and int(head["content-length"]) == len(data)
    assert len(connection.get_container(f"{container}_segments")[1]) == 4
    assert await read_all(store, stored.location, 2 * MIB - 2, 4) == data[2 * MIB - 2:2 * MIB + 2]
    await store.delete(stored.location)
    assert connection.get_container(f"{container}_segments")[1] == []
    small = await store.write(str(uuid.uuid4()), chunks(b"small"), size_hint=5)
    assert "x-static-large-object" not in connection.head_object(
        container, small.location.url.rsplit("/", 1)[1])
    await store.aclose()


async def test_glance_style_urls_with_credentials_are_read(swift_server: SwiftServer) -> None:
    store = _store(swift_server)
    stored = await store.write(str(uuid.uuid4()), chunks(b"from glance"))
    scheme, rest = stored.location.url.split("://", 1)
    glance_url = f"{scheme}://{swift_server.user}:{swift_server.key}@{rest}"
    assert await read_all(store, Location(url=glance_url, store="swifty")) == b"from glance"
    await store.aclose()


async def test_check_missing_container_and_unreachable_cluster(swift_server: SwiftServer) -> None:
    with pytest.raises(StoreError) as raised:
        await _store(swift_server, swift_store_create_container_on_put="false").check()
    assert "does not exist" in raised.value.message
    away = _store(swift_server,
                  swift_store_auth_address=f"http://127.0.0.1:{free_port()}/auth/v1.0")
    with pytest.raises(StoreUnreachable):
        await away.check()
    with pytest.raises(StoreUnreachable):
        await away.write(str(uuid.uuid4()), chunks(b"x"))


@pytest.mark.parametrize("options,key", [
    ({"swift_store_multi_tenant": "true"}, "swift_store_multi_tenant"),
    ({"swift_store_auth_version": "9"}, "swift_store_auth_version"),
    ({"swift_store_key": ""}, "swift_store_key"),
])
def test_bad_options_name_the_key(swift_server: SwiftServer, options: dict[str, str],
                                  key: str) -> None:
    with pytest.raises(OptionError) as raised:
        _store(swift_server, **options)
    assert raised.value.key == key
