"""The store interface, in small protocols.

Every store reads a byte range of a location (`Store`). Capabilities are
separate protocols a driver implements or not, checked with isinstance:
`WritableStore` (write and delete; a store without it is read-only, like
the http store), `SizedStore` (size of a location without reading it),
`DescribedStore` (the properties /v2/info/stores/detail shows),
`CheckedStore` (a check at start), `RecoverableStore` (removal of what a
write cut short by a crash left behind), `ListableStore` (what it holds, for
the orphan reaper) and `LocalFileStore` (data in a local file the server can
send without copying it). Hashing and size limits are
never a store's job: `stores/hashing.py` wraps the stream once, around any store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from io import FileIO
from pathlib import Path
from typing import Protocol, runtime_checkable

from glint.domain.image import Location

# Downloads are sent in chunks no larger than this: 2 MiB keeps a worker's memory
# flat (4 MiB measured ~5% faster but ~10 MB more per download).
READ_CHUNK_SIZE = 2 * 1024 * 1024


@dataclass(frozen=True)
class StoredData:
    """Where a store put an image's data. Its size is not here: the stream was
    counted once, on its way in (glint.stores.hashing, glint.services.ingest)."""

    location: Location


@dataclass
class FileSpan:
    """Bytes [offset, offset + length) of a local file open for reading. Whoever
    holds the span closes the file (`file.close()`)."""

    file: FileIO
    offset: int
    length: int
    store: str
    url: str


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


class DataBusy(StoreError):
    """Another client still holds the data open (possibly a dead one whose session the
    store has not timed out yet); removing it may work later."""


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
class AdoptingStore(Protocol):
    """A store that can take a complete local file as an image's data without
    copying it (a filesystem store on the same filesystem: a hard link)."""

    def can_adopt(self, path: Path) -> bool:
        """Whether `adopt` can take the file at `path` (checked beforehand, so a
        caller never does the work of checking the data for nothing)."""
        ...

    async def adopt(self, image_id: str, path: Path) -> StoredData:
        """Publish the file at `path` as the image's data (the file itself stays
        where it is too), durably and atomically; StoreError when it cannot."""
        ...


# Whether a live image names the data at a location (the caller asks its database).
InUse = Callable[[Location], Awaitable[bool]]


@runtime_checkable
class RecoverableStore(Protocol):
    """A writable store that can find and remove the data of writes that never ended."""

    async def remove_unfinished(self, image_id: str, in_use: InUse) -> list[str]:
        """Remove what writes of `image_id` left behind when their process died.

        That is the temporary data of every write of the image (partial files,
        multipart uploads, segments, temporary RBD images), and the image's
        published data too unless `in_use` says a live image names its
        location (a crash between publishing and the database commit leaves
        such data). Call it only when no write of the image runs. Returns a
        description of each thing removed; raises DataBusy while the store still
        sees a (dead) writer's session on the data, StoreError for other failures.
        """
        ...


@dataclass(frozen=True)
class StoredImage:
    """What a store holds under one image id: the image's published data (if
    any) and what writes of it left behind (partial files, unfinished uploads,
    segments), each described for a person to read."""

    image_id: str
    data: Location | None
    leftovers: tuple[str, ...]
    # The newest change to any of it, naive UTC.
    modified: datetime


@runtime_checkable
class ListableStore(Protocol):
    """A store that can list the image data it holds (the orphan reaper's view).

    Only what Glint names by image id is listed: data a location names in
    another form (added by a service or an admin) is not the store's to list."""

    def stored_images(self) -> AsyncIterator[StoredImage]:
        """Every image id the store holds data or leftovers of, in no set order.
        Raises StoreError, also in the middle of the listing."""
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
    """A store that can check that it is usable: at start, and for /healthcheck."""

    async def check(self) -> None:
        """Raise StoreError naming the problem when the store cannot be used."""
        ...


@runtime_checkable
class ClosableStore(Protocol):
    """A store holding connections or threads to release at shutdown."""

    async def aclose(self) -> None:
        ...


@runtime_checkable
class LocalFileStore(Store, Protocol):
    """A store whose data is in local files: a download can be sent from the
    file by the kernel (sendfile(2)) instead of being read and written."""

    async def open_span(self, location: Location, start: int = 0,
                        length: int | None = None) -> FileSpan:
        """The file behind `location`, open, with the bytes [start, start+length)
        (to the end when length is None) that exist. Raises DataNotFound when
        there is no file, StoreError when it cannot be opened."""
        ...
