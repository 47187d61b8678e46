"""The store contract, run against every driver on its real server
(filesystem: a temporary folder; s3: SeaweedFS; http: nginx)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from glint.domain.image import Location
from glint.stores.base import (
    READ_CHUNK_SIZE,
    DataBusy,
    DataNotFound,
    RecoverableStore,
    SizedStore,
    Store,
    StoreError,
    WritableStore,
)
from tests.stores.conftest import MIB, Backend, chunks


async def read_all(store: Store, location: Location, start: int = 0,
                   length: int | None = None) -> bytes:
    return b"".join([block async for block in store.read(location, start, length)])


async def failing(data: bytes) -> AsyncIterator[bytes]:
    yield data
    raise ConnectionError("client went away")


def writable_store(backend: Backend) -> WritableStore:
    assert isinstance(backend.store, WritableStore)
    return backend.store


# Reading: every store ---------------------------------------------------------


async def test_reads_whole_data_and_ranges(backend: Backend) -> None:
    data = os.urandom(3 * MIB + 123)
    location = await backend.seed(data)
    store = backend.store
    assert await read_all(store, location) == data
    assert await read_all(store, location, 100) == data[100:]
    assert await read_all(store, location, 100, 200) == data[100:300]
    assert await read_all(store, location, len(data) - 1, 1) == data[-1:]
    assert await read_all(store, location, 0, 1) == data[:1]
    assert await read_all(store, location, 5, 0) == b""


async def test_chunks_are_bounded(backend: Backend) -> None:
    data = os.urandom(READ_CHUNK_SIZE + MIB)
    location = await backend.seed(data)
    sizes = [len(block) async for block in backend.store.read(location)]
    assert sum(sizes) == len(data) and max(sizes) <= READ_CHUNK_SIZE


async def test_size_without_reading(backend: Backend) -> None:
    assert isinstance(backend.store, SizedStore)
    location = await backend.seed(b"twelve bytes")
    assert await backend.store.size(location) == 12


async def test_missing_data(backend: Backend) -> None:
    location = await backend.seed(b"soon gone")
    if isinstance(backend.store, WritableStore):
        await backend.store.delete(location)
    else:
        missing = location.url.rsplit("/", 1)[0] + "/" + uuid.uuid4().hex
        location = Location(url=missing, store=location.store)
    with pytest.raises(DataNotFound):
        await read_all(backend.store, location)
    assert isinstance(backend.store, SizedStore)
    with pytest.raises(DataNotFound):
        await backend.store.size(location)


async def test_accepts_its_own_urls_only(backend: Backend) -> None:
    location = await backend.seed(b"x")
    assert backend.store.accepts(location.url)
    assert not backend.store.accepts(backend.foreign_url)
    with pytest.raises(StoreError):
        await read_all(backend.store, Location(url=backend.foreign_url, store=location.store))


async def test_empty_data(backend: Backend) -> None:
    location = await backend.seed(b"")
    assert await read_all(backend.store, location) == b""


# Writing: stores that take data ----------------------------------------------


async def test_write_read_delete(writable: Backend) -> None:
    store = writable_store(writable)
    image_id = str(uuid.uuid4())
    stored = await store.write(image_id, chunks(b"hello ", b"world"))
    assert await store.size(stored.location) == 11 and stored.location.store == store.name
    assert image_id in stored.location.url
    assert await read_all(store, stored.location) == b"hello world"
    await store.delete(stored.location)
    await store.delete(stored.location)  # already gone is fine
    assert writable.contents() == []


async def test_large_data_in_many_blocks(writable: Backend) -> None:
    store = writable_store(writable)
    blocks = [os.urandom(4 * MIB) for _ in range(4)] + [b"tail"]
    stored = await store.write(str(uuid.uuid4()), chunks(*blocks))
    data = b"".join(blocks)
    assert await store.size(stored.location) == len(data)
    assert await read_all(store, stored.location) == data
    assert await read_all(store, stored.location, 5 * MIB - 3, 7) == data[5 * MIB - 3:5 * MIB + 4]


@pytest.mark.parametrize("sent", [100, 13 * MIB])
async def test_failed_write_leaves_nothing(writable: Backend, sent: int) -> None:
    store = writable_store(writable)
    before = writable.contents()
    with pytest.raises(ConnectionError):
        await store.write(str(uuid.uuid4()), failing(os.urandom(sent)))
    assert writable.contents() == before


async def test_rewrite_after_failure(writable: Backend) -> None:
    store = writable_store(writable)
    image_id = str(uuid.uuid4())
    with pytest.raises(ConnectionError):
        await store.write(image_id, failing(b"partial"))
    stored = await store.write(image_id, chunks(b"complete"))
    assert await read_all(store, stored.location) == b"complete"


async def test_ids_must_be_uuids(writable: Backend) -> None:
    with pytest.raises(ValueError):
        await writable_store(writable).write("../../escape", chunks(b"x"))


# Recovery: what writes cut by a crash leave ------------------------------------

WRITER = """
import asyncio, json, os, sys
from glint.stores.options import BackendConfig
from glint.stores.registry import build_store

async def body():
    block = os.urandom(1 << 20)
    for _ in range(int(sys.argv[3])):
        yield block
    print("sent", flush=True)
    await asyncio.Event().wait()  # the client stalls; the process is killed meanwhile

async def main():
    name, kind, section, options = json.loads(sys.argv[1])
    await build_store(BackendConfig(name, kind, section, options)).write(sys.argv[2], body())

asyncio.run(main())
"""


def recoverable_store(backend: Backend) -> RecoverableStore:
    assert isinstance(backend.store, RecoverableStore)
    return backend.store


async def never_named(location: Location) -> bool:
    return False


async def test_write_of_a_killed_process_is_removed(writable: Backend) -> None:
    """A process killed in the middle of a write (parts or segments already sent,
    one in flight) leaves temporary data that `remove_unfinished` removes."""
    assert writable.config is not None
    before = writable.contents()
    image_id = str(uuid.uuid4())
    config = writable.config
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER,
         json.dumps([config.name, config.type, config.section, dict(config.options)]),
         image_id, "13"], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "sent"
        deadline = time.monotonic() + 30
        while writable.contents() == before:
            assert time.monotonic() < deadline, "the writer left no trace to clean"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)  # parts or segments in flight land
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert writable.contents() != before
    removed = await _remove_when_released(recoverable_store(writable), image_id)
    assert removed
    assert writable.contents() == before
    assert await recoverable_store(writable).remove_unfinished(image_id, never_named) == []


async def _remove_when_released(store: RecoverableStore, image_id: str) -> list[str]:
    """remove_unfinished, tried again while the store still sees the dead writer's
    session (Ceph keeps a dead client's watch on an RBD image for 30 s)."""
    deadline = time.monotonic() + 90
    while True:
        try:
            return await store.remove_unfinished(image_id, never_named)
        except DataBusy:
            assert time.monotonic() < deadline, "the dead writer's session never expired"
            await asyncio.sleep(2)


async def test_published_data_is_removed_unless_named(writable: Backend) -> None:
    store = writable_store(writable)
    before = writable.contents()
    other = await store.write(str(uuid.uuid4()), chunks(b"someone else's"))
    image_id = str(uuid.uuid4())
    data = os.urandom(13 * MIB)  # several parts or segments where stores cut data
    stored = await store.write(image_id, chunks(data[:7 * MIB], data[7 * MIB:]))
    asked: list[str] = []

    async def named(location: Location) -> bool:
        asked.append(location.url)
        return True

    assert await recoverable_store(writable).remove_unfinished(image_id, named) == []
    assert asked == [stored.location.url]
    assert await read_all(store, stored.location) == data
    assert await recoverable_store(writable).remove_unfinished(image_id, never_named)
    with pytest.raises(DataNotFound):
        await read_all(store, stored.location)
    assert await read_all(store, other.location) == b"someone else's"
    await store.delete(other.location)
    assert writable.contents() == before
