"""The store interface, in small protocols.

Every store reads a byte range of a location (`Store`). Capabilities are
separate protocols a driver implements or not, checked with isinstance:
`WritableStore` (write and delete; a store without it is read-only, like
the http store), `SizedStore` (size of a location without reading it),
`DescribedStore` (the properties /v2/info/stores/detail shows) and
`CheckedStore` (a check at start). Hashing and size limits are never a
store's job: `stores/hashing.py` wraps the stream once, around any store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from glint.domain.image import Location

# Downloads are sent in chunks no larger than this: 2 MiB keeps a worker's memory
# flat (4 MiB measured ~5% faster but ~10 MB more per download).
READ_CHUNK_SIZE = 2 * 1024 * 1024


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


class StoreUnreachable(StoreError):
    """The store's server could not be reached, or answered with a server error."""


@runtime_checkable
class Store(Protocol):
    """A place image data can be read from."""

    name: str

    def read(
        self, location: Location, start: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        """Yield the bytes [start, start+length) (to the end when length is None),
        in chunks of at most READ_CHUNK_SIZE bytes.

        Raises DataNotFound when there is no data at the location, StoreError
        (or a subclass) for any other failure, also in the middle of the data.
        """
        ...

    def accepts(self, url: str) -> bool:
        """Whether `url` names data this store can read."""
        ...


@runtime_checkable
class WritableStore(Store, Protocol):
    """A store that takes new data and deletes it. Stores without it are read-only."""

    async def write(self, image_id: str, chunks: AsyncIterator[bytes],
                    size_hint: int | None = None) -> StoredData:
        """Store all of `chunks` as the image's data, published atomically.

        `size_hint` is the size the client declared, if any (the stream
        itself is checked against it elsewhere); a store may use it to pick
        a place or refuse early. On any error, including the iterator
        raising, nothing is left behind. Raises StoreFull when there is no
        room, StoreError for other failures.
        """
        ...

    async def delete(self, location: Location) -> None:
        """Remove the data; deleting data that is already gone is not an error."""
        ...


@runtime_checkable
class SizedStore(Protocol):
    """A store that can tell the size of a location's data without reading it."""

    async def size(self, location: Location) -> int:
        """The number of bytes at the location; DataNotFound when there are none."""
        ...


@runtime_checkable
class DescribedStore(Protocol):
    """A store with properties worth showing to admins (/v2/info/stores/detail)."""

    def properties(self) -> dict[str, object]:
        ...


@runtime_checkable
class CheckedStore(Protocol):
    """A store that can check, at start, that it is usable."""

    async def check(self) -> None:
        """Raise StoreError naming the problem when the store cannot be used."""
        ...


@runtime_checkable
class ClosableStore(Protocol):
    """A store holding connections or threads to release at shutdown."""

    async def aclose(self) -> None:
        ...
