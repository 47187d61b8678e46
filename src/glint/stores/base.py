"""The store interface: stream in -> location and size; read a byte range; delete."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from glint.domain.image import Location

# Downloads are sent in chunks no larger than this.
READ_CHUNK_SIZE = 4 * 1024 * 1024


@dataclass(frozen=True)
class StoredData:
    location: Location
    size: int


class StoreError(Exception):
    """A store failed; drivers raise it (or a subclass) from their SDK's errors."""

    def __init__(self, store: str, message: str) -> None:
        super().__init__(f"store {store!r}: {message}")
        self.store = store
        self.message = message


class StoreFull(StoreError):
    """The store has no room left for the data."""


class DataNotFound(StoreError):
    """The location names data the store does not have."""


class Store(Protocol):
    """A place image data lives. Hashing and size limits are not a store's job."""

    name: str

    async def write(self, image_id: str, chunks: AsyncIterator[bytes]) -> StoredData:
        """Store all of `chunks` as the image's data, published atomically.

        On any error, including the iterator raising, nothing is left behind.
        """
        ...

    def read(
        self, location: Location, start: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        """Yield the bytes [start, start+length) (to the end when length is None)."""
        ...

    async def delete(self, location: Location) -> None:
        """Remove the data; deleting data that is already gone is not an error."""
        ...
