"""The s3 store against SeaweedFS: multipart, bucket handling, credentials, outages."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
import uuid
from collections.abc import AsyncIterator
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


def _etag_parts(server: S3Server, url: str) -> int:
    """How many parts S3 says the object was uploaded in (1: a single PUT)."""
    client: Any = server.client()
    bucket, key = url.split("/", 3)[3].split("/", 1)
    etag = client.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
    return int(etag.rpartition("-")[2]) if "-" in etag else 1


async def _random_blocks(total: int, block: int, digest: Any) -> AsyncIterator[bytes]:
    """`total` random bytes made as they are asked for, so the test itself holds one block."""
    for offset in range(0, total, block):
        data = os.urandom(min(block, total - offset))
        digest.update(data)
        yield data


@pytest.mark.parametrize("declared", [False, True], ids=["unsized", "sized"])
async def test_large_upload_holds_about_one_part(s3_server: S3Server, declared: bool) -> None:
    # A large-object size far above the data: the old driver held all 48 MiB before its PUT.
    store = _store(s3_server, s3_store_large_object_size="1024",
                   s3_store_large_object_chunk_size="5", s3_store_thread_pools="2")
    total = 48 * MIB
    sent = hashlib.sha256()
    tracemalloc.start()
    try:
        stored = await store.write(str(uuid.uuid4()), _random_blocks(total, MIB, sent),
                                   size_hint=total if declared else None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Held at most: two parts in flight, the part filling, a block, and for a moment
    # the part a worker thread has just sent: about 22 MiB, whatever the image's size.
    assert peak < 5 * 5 * MIB, f"peak {peak / MIB:.1f} MiB"
    assert await store.size(stored.location) == total
    assert _etag_parts(s3_server, stored.location.url) == 10  # 9 x 5 MiB + 3 MiB
    received = hashlib.sha256()
    async for block in store.read(stored.location):
        received.update(block)
    assert received.digest() == sent.digest()
    await store.aclose()


@pytest.mark.parametrize("length,parts", [
    (0, 1), (5 * MIB - 1, 1), (5 * MIB, 1), (5 * MIB + 1, 2), (10 * MIB, 2),
])
async def test_data_within_one_part_is_one_put(s3_server: S3Server, length: int,
                                               parts: int) -> None:
    store = _store(s3_server, s3_store_large_object_chunk_size="5")
    data = os.urandom(length)
    stored = await store.write(str(uuid.uuid4()),
                               chunks(*[data[i:i + 3 * MIB] for i in range(0, length, 3 * MIB)]))
    assert _etag_parts(s3_server, stored.location.url) == parts
    assert await read_all(store, stored.location) == data
    await store.aclose()


async def test_large_object_size_below_a_part_means_multipart(s3_server: S3Server) -> None:
    store = _store(s3_server, s3_store_large_object_size="0",
                   s3_store_large_object_chunk_size="5")
    stored = await store.write(str(uuid.uuid4()), chunks(b"tiny"))
    assert _etag_parts(s3_server, stored.location.url) == 1
    assert await store.size(stored.location) == 4 and await read_all(store, stored.location) == b"tiny"
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
