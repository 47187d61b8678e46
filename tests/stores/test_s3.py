"""The s3 store against SeaweedFS: multipart, bucket handling, credentials, outages."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest

from glint.domain.image import Location
from glint.stores.base import StoreError, StoreUnreachable
from glint.stores.options import BackendConfig, OptionError
from glint.stores.s3 import S3Store
from tests.servers import free_port
from tests.stores.backends import S3Server
from tests.stores.conftest import MIB, chunks
from tests.stores.test_contract import read_all


def _store(server: S3Server, **options: object) -> S3Store:
    merged = server.options(**options)
    return S3Store.from_config(BackendConfig("cheap", "s3", "cheap",
                                             {k: str(v) for k, v in merged.items()}))


async def test_large_data_goes_up_in_parts(s3_server: S3Server) -> None:
    store = _store(s3_server, s3_store_large_object_size="5",
                   s3_store_large_object_chunk_size="5", s3_store_thread_pools="4")
    data = os.urandom(23 * MIB)
    stored = await store.write(str(uuid.uuid4()), chunks(*[data[i:i + MIB]
                                                           for i in range(0, len(data), MIB)]))
    client: Any = s3_server.client()
    bucket, key = stored.location.url.split("/", 3)[3].split("/", 1)
    head = client.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-5")  # five parts: 4 x 5 MiB + 3 MiB
    assert await read_all(store, stored.location, 10 * MIB - 1, 2) == data[10 * MIB - 1:10 * MIB + 1]
    await store.aclose()


async def test_small_data_is_one_put(s3_server: S3Server) -> None:
    store = _store(s3_server)
    stored = await store.write(str(uuid.uuid4()), chunks(b"small"))
    assert stored.location.url.startswith(f"s3://127.0.0.1:{s3_server.endpoint.rsplit(':', 1)[1]}/")
    assert await read_all(store, stored.location) == b"small"
    await store.aclose()


async def test_glance_style_urls_with_credentials_are_read(s3_server: S3Server) -> None:
    store = _store(s3_server)
    stored = await store.write(str(uuid.uuid4()), chunks(b"from glance"))
    host_and_path = stored.location.url.split("://", 1)[1]
    glance_url = f"s3://{s3_server.access_key}:{s3_server.secret_key}@{host_and_path}"
    assert await read_all(store, Location(url=glance_url, store="cheap")) == b"from glance"
    await store.aclose()


async def test_check_reports_a_missing_bucket_and_bad_credentials(s3_server: S3Server) -> None:
    missing = _store(s3_server, s3_store_create_bucket_on_put="false")
    with pytest.raises(StoreError) as raised:
        await missing.check()
    assert "does not exist" in raised.value.message and raised.value.store == "cheap"
    await _store(s3_server).check()  # created on the first put: fine
    wrong = _store(s3_server, s3_store_secret_key="wrong")
    with pytest.raises(StoreError) as raised:
        await wrong.write(str(uuid.uuid4()), chunks(b"x"))
    assert not isinstance(raised.value, StoreUnreachable)


async def test_unreachable_endpoint(s3_server: S3Server) -> None:
    store = _store(s3_server, s3_store_host=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(StoreUnreachable) as raised:
        await store.check()
    assert raised.value.store == "cheap"
    with pytest.raises(StoreUnreachable):
        await store.write(str(uuid.uuid4()), chunks(b"x"))


@pytest.mark.parametrize("options,key", [
    ({"s3_store_bucket_url_format": "sideways"}, "s3_store_bucket_url_format"),
    ({"s3_store_large_object_chunk_size": "4"}, "s3_store_large_object_chunk_size"),
    ({"s3_store_thread_pools": "0"}, "s3_store_thread_pools"),
    ({"s3_store_bucket": ""}, "s3_store_bucket"),
])
def test_bad_options_name_the_key(s3_server: S3Server, options: dict[str, str], key: str) -> None:
    with pytest.raises(OptionError) as raised:
        _store(s3_server, **options)
    assert raised.value.key == key
