from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator

import pytest

from glint.domain.errors import InvalidInput
from glint.stores.hashing import BLOCK_SIZE, HashingStream, ImageTooLarge


async def chunks(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), size):
        yield data[offset:offset + size]


async def drain(stream: HashingStream) -> bytes:
    return b"".join([block async for block in stream.blocks()])


async def test_hashes_and_size_match_hashlib() -> None:
    data = os.urandom(3 * BLOCK_SIZE + 12345)
    stream = HashingStream(chunks(data), algorithm="sha512", size_cap=1 << 40)
    assert await drain(stream) == data
    digests = stream.digests()
    assert digests.size == len(data)
    assert digests.checksum == hashlib.md5(data).hexdigest()
    assert digests.os_hash_value == hashlib.sha512(data).hexdigest()
    assert digests.os_hash_algo == "sha512"


async def test_blocks_are_regrouped_to_block_size() -> None:
    data = os.urandom(2 * BLOCK_SIZE + 1)
    stream = HashingStream(chunks(data, 1000), algorithm="sha256", size_cap=1 << 40)
    sizes = [len(block) async for block in stream.blocks()]
    assert all(size >= BLOCK_SIZE for size in sizes[:-1]) and sum(sizes) == len(data)


async def test_empty_stream() -> None:
    stream = HashingStream(chunks(b""), algorithm="sha512", size_cap=10)
    assert await drain(stream) == b""
    assert stream.digests().checksum == hashlib.md5(b"").hexdigest()


async def test_size_cap() -> None:
    stream = HashingStream(chunks(b"x" * 11, 3), algorithm="sha512", size_cap=10)
    with pytest.raises(ImageTooLarge):
        await drain(stream)


@pytest.mark.parametrize("data", [b"abc", b"abcdef"])
async def test_expected_size_mismatch(data: bytes) -> None:
    stream = HashingStream(chunks(data, 1), algorithm="sha512", size_cap=100, expected_size=4)
    with pytest.raises(InvalidInput):
        await drain(stream)


async def test_digests_before_the_end_is_an_error() -> None:
    stream = HashingStream(chunks(b"abc"), algorithm="sha512", size_cap=100)
    with pytest.raises(RuntimeError):
        stream.digests()


async def test_without_an_algorithm_it_counts_and_caps_but_hashes_nothing() -> None:
    data = os.urandom(BLOCK_SIZE + 7)
    stream = HashingStream(chunks(data), algorithm=None, size_cap=1 << 40)
    assert await drain(stream) == data and stream.size == len(data)
    with pytest.raises(RuntimeError, match="hashed nothing"):
        stream.digests()
    capped = HashingStream(chunks(b"x" * 11, 3), algorithm=None, size_cap=10)
    with pytest.raises(ImageTooLarge):
        await drain(capped)
