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
from typing import Any

from glint.domain.digests import Digests
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


class HashingStream:
    """Wraps a chunk iterator; iterate `blocks()`, then read `digests()`.

    With `algorithm` None nothing is hashed: the stream only counts, caps and
    checks the size (data whose digests are already known)."""

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        *,
        algorithm: str | None,
        size_cap: int,
        expected_size: int | None = None,
    ) -> None:
        self._chunks = chunks
        self._algorithm = algorithm
        self._size_cap = size_cap
        self._expected_size = expected_size
        self._md5 = hashlib.md5(usedforsecurity=False) if algorithm else None
        self._multihash = hashlib.new(algorithm) if algorithm else None
        self._size = 0
        self._pending: list[tuple[Future[Any], Future[Any]]] = []
        self._finished = False

    async def blocks(self) -> AsyncIterator[bytes]:
        """Yield the data in blocks of about BLOCK_SIZE bytes, hashing each as it goes.

        Raises ImageTooLarge past the cap and InvalidInput when the length
        differs from `expected_size`.
        """
        md5, multihash = self._md5, self._multihash
        # Threads start only when a block is submitted: none when nothing is hashed.
        with ThreadPoolExecutor(1, "glint-md5") as md5_thread, \
                ThreadPoolExecutor(1, "glint-hash") as hash_thread:
            try:
                async for block in self._regroup():
                    if md5 is not None and multihash is not None:
                        await self._limit_in_flight(MAX_BLOCKS_IN_FLIGHT - 1)
                        self._pending.append((
                            md5_thread.submit(md5.update, block),
                            hash_thread.submit(multihash.update, block),
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

    @property
    def size(self) -> int:
        """The number of bytes received so far."""
        return self._size

    def digests(self) -> Digests:
        """The size and hashes of everything yielded; only after `blocks()` finished,
        and only when the stream hashed (an `algorithm` was given)."""
        if not self._finished:
            raise RuntimeError("digests() called before the stream was fully read")
        if self._algorithm is None or self._md5 is None or self._multihash is None:
            raise RuntimeError("digests() called on a stream that hashed nothing")
        return Digests(
            size=self._size,
            checksum=self._md5.hexdigest(),
            os_hash_algo=self._algorithm,
            os_hash_value=self._multihash.hexdigest(),
        )
