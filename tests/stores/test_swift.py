"""The swift store against a real all-in-one Swift: segments, containers, outages, reference
files, and a second proxy that validates tokens with a real Keystone (auth version 3)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import httpx
import pytest

from glint.domain.image import Location
from glint.stores.base import StoreError, StoreUnreachable
from glint.stores.options import BackendConfig, OptionError
from glint.stores.swift import SwiftStore
from tests.keystone import Keystone
from tests.servers import free_port, glint_command, write_config
from tests.stores.backends import KeystoneSwift, SwiftServer
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


def _reference_store(server: SwiftServer, references: str, tmp_path: Path,
                     **options: object) -> SwiftStore:
    conf = tmp_path / "glance-swift.conf"
    conf.write_text(references)
    merged = server.options(**options)
    for key in ("swift_store_auth_address", "swift_store_user", "swift_store_key",
                "swift_store_auth_version"):
        del merged[key]
    merged["swift_store_config_file"] = conf
    return SwiftStore.from_config(BackendConfig("swifty", "swift", "swifty",
                                                {k: str(v) for k, v in merged.items()}))


async def test_config_file_reference_keeps_credentials_out_of_locations(
        swift_server: SwiftServer, tmp_path: Path) -> None:
    references = (f"[ref1]\nauth_address = http://127.0.0.1:1/nowhere\nuser = a:b\nkey = c\n"
                  f"[tempauth]\nauth_address = {swift_server.auth_address}\n"
                  f"user = '{swift_server.user}'\nkey = \"{swift_server.key}\"\n"
                  f"auth_version = 1\n"
                  f"[same]\nauth_address = {swift_server.auth_address}\n"
                  f"user = {swift_server.user}\nkey = {swift_server.key}\n")
    store = _reference_store(swift_server, references, tmp_path,
                             default_swift_reference="tempauth")
    await store.check()
    image_id = str(uuid.uuid4())
    stored = await store.write(image_id, chunks(b"by reference"))
    assert stored.location.url == f"swift+config://tempauth/{store.container}/{image_id}"
    assert swift_server.key not in stored.location.url
    assert await read_all(store, stored.location) == b"by reference"
    # glance_store's URL of another reference to the same account reads the same object.
    same = Location(url=stored.location.url.replace("//tempauth/", "//same/"), store="swifty")
    assert await read_all(store, same) == b"by reference"
    assert not store.accepts(stored.location.url.replace("//tempauth/", "//ref1/"))
    await store.delete(stored.location)
    await store.aclose()


@pytest.mark.parametrize("references,key", [
    ("[ref1]\nauth_address = http://x/\nuser = a:b\nkey = c\n", "default_swift_reference"),
    ("[other]\nauth_address = http://x/\nuser = a:b\n", "swift_store_config_file"),
    ("[other]\nauth_address = http://x/\nuser = 'a:b\nkey = c\n", "swift_store_config_file"),
])
def test_bad_reference_names_the_key(swift_server: SwiftServer, tmp_path: Path,
                                     references: str, key: str) -> None:
    with pytest.raises(OptionError) as raised:
        _reference_store(swift_server, references, tmp_path, default_swift_reference="other")
    assert raised.value.key == key


def _keystone_store(proxy: KeystoneSwift, **options: object) -> SwiftStore:
    merged = proxy.options(**options)
    return SwiftStore.from_config(BackendConfig("swifty", "swift", "swifty",
                                                {k: str(v) for k, v in merged.items()}))


@pytest.mark.keystone
async def test_keystone_v3_account_behind_authtoken(keystone_swift: KeystoneSwift,
                                                   keystone: Keystone) -> None:
    from swiftclient.client import Connection

    store = _keystone_store(keystone_swift, swift_store_large_object_size="1",
                            swift_store_large_object_chunk_size="1")
    await store.check()
    data = os.urandom(2 * MIB + 5)
    stored = await store.write(str(uuid.uuid4()), chunks(data))
    assert keystone_swift.password not in stored.location.url
    assert await read_all(store, stored.location, MIB - 1, 3) == data[MIB - 1:MIB + 2]
    # The data sits in the project's own account, reached with a Keystone token.
    token = keystone.token(keystone_swift.user, keystone_swift.password, keystone_swift.project)
    account = Connection(preauthurl=keystone_swift.storage_url, preauthtoken=token)
    head = account.head_object(store.container, stored.location.url.rsplit("/", 1)[1])
    assert int(head["content-length"]) == len(data)
    # The proxy checks tokens with Keystone: a made-up one is refused.
    refused = httpx.head(f"{keystone_swift.storage_url}/{store.container}",
                         headers={"X-Auth-Token": "not-a-token"})
    assert refused.status_code == 401
    await store.delete(stored.location)
    assert account.get_container(f"{store.container}_segments")[1] == []
    await store.aclose()


@pytest.mark.keystone
async def test_keystone_reference_with_v3_domains(keystone_swift: KeystoneSwift,
                                                  swift_server: SwiftServer,
                                                  tmp_path: Path) -> None:
    references = (f"[ref1]\nauth_address = {keystone_swift.auth_address}\n"
                  f"user = {keystone_swift.project}:{keystone_swift.user}\n"
                  f"key = {keystone_swift.password}\nauth_version = 3\n"
                  "user_domain_name = Default\nproject_domain_id = default\n")
    store = _reference_store(swift_server, references, tmp_path)
    stored = await store.write(str(uuid.uuid4()), chunks(b"keystone"), size_hint=8)
    assert stored.location.url.startswith("swift+config://ref1/")
    assert await read_all(store, stored.location) == b"keystone"
    await store.delete(stored.location)
    await store.aclose()
    wrong = _reference_store(swift_server, references.replace("Default", "nodomain"),
                             tmp_path)
    with pytest.raises(StoreError) as raised:
        await wrong.check()
    assert not isinstance(raised.value, StoreUnreachable), raised.value


@pytest.mark.keystone
async def test_wrong_keystone_password_is_a_store_error(keystone_swift: KeystoneSwift) -> None:
    store = _keystone_store(keystone_swift, swift_store_key="wrong")
    with pytest.raises(StoreError) as raised:
        await store.check()
    assert not isinstance(raised.value, StoreUnreachable), raised.value
    assert "Unauthorized" in raised.value.message
    await store.aclose()
    away = _keystone_store(keystone_swift,
                           swift_store_auth_address=f"http://127.0.0.1:{free_port()}/v3")
    with pytest.raises(StoreUnreachable):
        await away.check()
    await away.aclose()


def test_glint_serve_refuses_multi_tenant(swift_server: SwiftServer, tmp_path: Path) -> None:
    options = swift_server.options(swift_store_multi_tenant="True")
    config = write_config(tmp_path / "glance-api.conf", {
        "DEFAULT": {"bind_port": free_port()},
        "database": {"connection": f"sqlite:///{tmp_path / 'glint.db'}"},
        "glance_store": {"stores": "swift", "default_store": "swift", **options},
    })
    glint_command("db", "sync", "--config-file", str(config))
    started = glint_command("serve", "--config-file", str(config), check=False)
    assert started.returncode == 2
    assert "[glance_store] swift_store_multi_tenant" in started.stderr, started.stderr
