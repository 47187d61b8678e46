"""The image cache in-process on SQLite: a hit is a span of the cache file (sent
by the zero-copy path, like the filesystem store's files), one fill per image,
and a fill whose disk is full leaves the download whole and nothing cached."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import anyio
import pytest

from glint.domain.cache import EntryState
from glint.domain.image import Image
from glint.services.container import Services
from glint.services.stores import OutgoingData
from glint.settings import CacheSettings, embedded_settings
from tests.services.conftest import built_services, caller, new_image

DATA = os.urandom(300_000)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    settings = replace(embedded_settings(tmp_path),
                       cache=CacheSettings(image_cache_dir=tmp_path / "cache"))
    with built_services(f"sqlite:///{tmp_path / 'glint.db'}", tmp_path, settings) as built:
        yield built


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 65536):
        yield data[start:start + 65536]
        # As a store's read does: the next chunk (or the end) is awaited, and a
        # cancelled request is cancelled there.
        await asyncio.sleep(0)


def _active(services: Services) -> Image:
    owner = caller()
    image = new_image(services, owner)
    return asyncio.run(services.data.upload(owner, image.id, _chunks(DATA),
                                            expected_size=len(DATA)))


async def _drain(data: OutgoingData) -> bytes:
    try:
        return b"".join([chunk async for chunk in data.chunks])
    finally:
        await data.aclose()


async def _download(services: Services, image: Image) -> bytes:
    cache = services.cache
    assert cache is not None
    data = await cache.open_hit(image, 0, None)
    if data is None:
        data = await services.placement.open(image.locations, 0, None)
        data = await cache.filled_while_sent(image, data)
    body = await _drain(data)
    await cache.settle()
    return body


def test_a_hit_is_a_span_of_the_cache_file(services: Services) -> None:
    image = _active(services)
    cache = services.cache
    assert cache is not None

    async def scenario() -> None:
        assert await cache.open_hit(image, 0, None) is None
        assert await _download(services, image) == DATA
        hit = await cache.open_hit(image, 10, 100)
        assert hit is not None and hit.span is not None
        assert Path(str(hit.span.file.name)) == cache.folder.path_of(image.id)
        assert (hit.span.offset, hit.span.length) == (10, 100)
        assert await _drain(hit) == DATA[10:110]
        await cache.settle()

    asyncio.run(scenario())
    entry = cache.entry(image.id)
    assert entry is not None and entry.hits == 1


def test_one_fill_per_image(services: Services) -> None:
    image = _active(services)
    cache = services.cache
    assert cache is not None
    first = cache.begin_fill(image)
    assert first is not None
    assert cache.begin_fill(image) is None
    cache.folder.abandon(first.file)
    second = cache.begin_fill(image)
    assert second is not None
    cache.folder.abandon(second.file)


def test_a_full_disk_sends_the_image_uncached(services: Services) -> None:
    image = _active(services)
    cache = services.cache
    assert cache is not None

    async def scenario() -> bytes:
        fill = cache.begin_fill(image)
        assert fill is not None
        # Writes now fail with ENOSPC, as on a full disk.
        os.close(fill.file.fd)
        fill.file.fd = os.open("/dev/full", os.O_WRONLY)
        chunks = aiter(cache._tee(fill, OutgoingData(_chunks(DATA))))
        body = await anext(chunks) + await anext(chunks)
        # Let go at the first failed write, while the rest is still being sent.
        await cache.settle()
        assert cache.entry(image.id) is None and cache.folder.incomplete_ids() == []
        body += b"".join([chunk async for chunk in chunks])
        await cache.settle()
        return body

    assert asyncio.run(scenario()) == DATA
    assert cache.entry(image.id) is None
    assert not cache.folder.path_of(image.id).exists()
    assert cache.folder.incomplete_ids() == []


def test_a_stream_closed_unread_releases_its_fill(services: Services) -> None:
    image = _active(services)
    cache = services.cache
    assert cache is not None

    async def scenario() -> None:
        data = await services.placement.open(image.locations, 0, None)
        teed = await cache.filled_while_sent(image, data)
        await teed.aclose()  # as a response that never sent its body
        await cache.settle()

    asyncio.run(scenario())
    assert cache.entry(image.id) is None
    assert cache.folder.incomplete_ids() == []
    again = cache.begin_fill(image)
    assert again is not None
    cache.folder.abandon(again.file)


async def _sent_until_cancelled(services: Services, image: Image, count: int) -> bytes:
    """A download whose request is cancelled (as Starlette cancels it, level-
    triggered, when the client leaves) once `count` bytes were handed over;
    the response's cleanup then runs in the cancelled scope too."""
    cache = services.cache
    assert cache is not None
    # The store's data in several chunks, so that a request can end mid-body.
    data = await cache.filled_while_sent(image, OutgoingData(_chunks(DATA)))
    received = b""
    with anyio.CancelScope() as scope:
        try:
            async for chunk in data.chunks:
                received += chunk
                if len(received) >= count:
                    scope.cancel()
        finally:
            await data.aclose()
    assert scope.cancelled_caught
    await cache.settle()
    return received


def test_a_request_cancelled_after_the_last_byte_still_fills(services: Services) -> None:
    image = _active(services)
    cache = services.cache
    assert cache is not None
    assert asyncio.run(_sent_until_cancelled(services, image, len(DATA))) == DATA
    entry = cache.entry(image.id)
    assert entry is not None and entry.state == EntryState.READY
    assert cache.folder.path_of(image.id).read_bytes() == DATA
    assert cache.folder.incomplete_ids() == []
    assert cache.is_served(image)


def test_a_request_cancelled_mid_body_leaves_nothing(services: Services) -> None:
    image = _active(services)
    cache = services.cache
    assert cache is not None
    assert asyncio.run(_sent_until_cancelled(services, image, 1)) == DATA[:65536]
    assert cache.entry(image.id) is None
    assert not cache.folder.path_of(image.id).exists()
    assert cache.folder.incomplete_ids() == []
    assert not cache.is_served(image)
