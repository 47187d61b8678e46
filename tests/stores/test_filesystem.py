"""The filesystem store against a real temporary directory."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from glint.domain.image import Location
from glint.stores.base import DataNotFound
from glint.stores.filesystem import FilesystemStore


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def failing() -> AsyncIterator[bytes]:
    yield b"partial data"
    raise ConnectionError("client went away")


@pytest.fixture
def store(tmp_path: Path) -> FilesystemStore:
    store = FilesystemStore("file", tmp_path / "images")
    store.prepare()
    return store


async def read_all(store: FilesystemStore, location: Location, start: int = 0,
                   length: int | None = None) -> bytes:
    return b"".join([b async for b in store.read(location, start, length)])


async def test_write_read_delete(store: FilesystemStore) -> None:
    image_id = str(uuid.uuid4())
    stored = await store.write(image_id, chunks(b"hello ", b"world"))
    assert stored.size == 11
    assert stored.location.store == "file"
    assert stored.location.url == (store.directory / image_id).as_uri()
    assert await read_all(store, stored.location) == b"hello world"
    assert await read_all(store, stored.location, 6) == b"world"
    assert await read_all(store, stored.location, 2, 3) == b"llo"
    await store.delete(stored.location)
    await store.delete(stored.location)  # already gone is fine
    with pytest.raises(DataNotFound):
        await read_all(store, stored.location)


async def test_failed_write_leaves_nothing(store: FilesystemStore) -> None:
    with pytest.raises(ConnectionError):
        await store.write(str(uuid.uuid4()), failing())
    assert os.listdir(store.directory) == []


async def test_locations_outside_the_directory_are_refused(store: FilesystemStore) -> None:
    for url in ["file:///etc/passwd", f"file://{store.directory}/../secret", "http://x/y"]:
        with pytest.raises(DataNotFound):
            await read_all(store, Location(url=url, store="file"))


async def test_ids_must_be_uuids(store: FilesystemStore) -> None:
    with pytest.raises(ValueError):
        await store.write("../../escape", chunks(b"x"))


def test_prepare_removes_partials_of_dead_processes(store: FilesystemStore) -> None:
    image_id = str(uuid.uuid4())
    dead = store.directory / f".{image_id}.999999999.{uuid.uuid4().hex}.partial"
    alive = store.directory / f".{image_id}.{os.getpid()}.{uuid.uuid4().hex}.partial"
    dead.write_bytes(b"x")
    alive.write_bytes(b"y")
    store.prepare()
    assert not dead.exists() and alive.exists()
