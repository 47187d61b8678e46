"""Checksums, multihash and size limits, applied once around any store.

`HashingStream` sits between the request body and a store. It regroups the
incoming chunks into blocks of about 2 MiB and feeds each block to md5 and to
the multihash algorithm on two threads of their own while the store writes
the same block, so the three run in parallel (hashlib releases the GIL on
large buffers) and the event loop only receives data. Memory stays bounded:
at most `MAX_BLOCKS_IN_FLIGHT` blocks are held at once, whatever the size of
the image.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from glint.domain.errors import InvalidInput, QuotaExceeded

# 2 MiB: large enough that handing a block to a thread costs next to nothing,
# small enough that the blocks in flight keep a worker's memory low.
BLOCK_SIZE = 2 * 1024 * 1024
MAX_BLOCKS_IN_FLIGHT = 2


class ImageTooLarge(QuotaExceeded):
    """The data passed the configured size cap."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"Image exceeds the size limit of {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class Digests:
    size: int
    checksum: str
    os_hash_algo: str
    os_hash_value: str


class HashingStream:
    """Wraps a chunk iterator; iterate `blocks()`, then read `digests()`."""

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        *,
        algorithm: str,
        size_cap: int,
        expected_size: int | None = None,
    ) -> None:
        self._chunks = chunks
        self._algorithm = algorithm
        self._size_cap = size_cap
        self._expected_size = expected_size
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._multihash = hashlib.new(algorithm)
        self._size = 0
        self._pending: list[tuple[Future[Any], Future[Any]]] = []
        self._finished = False

    async def blocks(self) -> AsyncIterator[bytes]:
        """Yield the data in blocks of about BLOCK_SIZE bytes, hashing each as it goes.

        Raises ImageTooLarge past the cap and InvalidInput when the length
        differs from `expected_size`.
        """
        with ThreadPoolExecutor(1, "glint-md5") as md5_thread, \
                ThreadPoolExecutor(1, "glint-hash") as hash_thread:
            try:
                async for block in self._regroup():
                    await self._limit_in_flight(MAX_BLOCKS_IN_FLIGHT - 1)
                    self._pending.append((
                        md5_thread.submit(self._md5.update, block),
                        hash_thread.submit(self._multihash.update, block),
                    ))
                    yield block
                await self._limit_in_flight(0)
            finally:
                for futures in self._pending:
                    for future in futures:
                        future.cancel()
        if self._expected_size is not None and self._size != self._expected_size:
            raise InvalidInput(
                f"The image size header says {self._expected_size} bytes but "
                f"{self._size} bytes were received"
            )
        self._finished = True

    async def _regroup(self) -> AsyncIterator[bytes]:
        parts: list[bytes] = []
        buffered = 0
        async for chunk in self._chunks:
            if not chunk:
                continue
            self._size += len(chunk)
            if self._size > self._size_cap:
                raise ImageTooLarge(self._size_cap)
            if self._expected_size is not None and self._size > self._expected_size:
                raise InvalidInput(
                    f"More data was received than the image size header's {self._expected_size} bytes"
                )
            parts.append(chunk)
            buffered += len(chunk)
            if buffered >= BLOCK_SIZE:
                yield parts[0] if len(parts) == 1 else b"".join(parts)
                parts, buffered = [], 0
        if parts:
            yield b"".join(parts)

    async def _limit_in_flight(self, allowed: int) -> None:
        while len(self._pending) > allowed:
            md5_done, hash_done = self._pending.pop(0)
            await asyncio.wrap_future(md5_done)
            await asyncio.wrap_future(hash_done)

    def digests(self) -> Digests:
        """The size and hashes of everything yielded; only after `blocks()` finished."""
        if not self._finished:
            raise RuntimeError("digests() called before the stream was fully read")
        return Digests(
            size=self._size,
            checksum=self._md5.hexdigest(),
            os_hash_algo=self._algorithm,
            os_hash_value=self._multihash.hexdigest(),
        )
