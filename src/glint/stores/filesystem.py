"""The filesystem store: one file per image under a data directory.

Writes go to a hidden temporary file in the same directory
(`.<image id>.<random>.partial`), are fsynced and then renamed into place, so
a crash at any moment leaves either no file or a complete one under the
image's name. What a crashed write left (its partial file, or a complete file
no image names yet) is removed by `remove_unfinished`, which crash recovery
calls for the writes of processes that died (glint.services.recovery): the
owner of a partial file is known from the database, which works across
nodes sharing the directory, where a pid in the file name would not.

With several data directories (`filesystem_store_datadirs = path:priority`)
new data goes to the directory of highest priority with room for it, the
one with most free space among equals, as in glance_store; a declared size
larger than every directory's free space is refused before any byte is read.

`filesystem_store_metadata_file` names a JSON file whose metadata is attached
to the location of every image written (for Nova to find the data on a shared
mount): one object, or a list of them for several mounts, each with string
`id` and `mountpoint`; a location gets the object whose mountpoint holds the
file, as in glance_store. The file is read once, at start.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import json
import logging
import os
import re
import sys
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from io import FileIO
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlparse

from glint.domain.image import Location
from glint.stores.base import (
    READ_CHUNK_SIZE,
    DataNotFound,
    FileSpan,
    InUse,
    StoredData,
    StoredImage,
    StoreError,
    StoreFull,
)
from glint.stores.listing import StoredImages, image_id_of
from glint.stores.options import BackendConfig, OptionError

T = TypeVar("T")
log = logging.getLogger(__name__)

# Older versions put the writer's pid before the random part.
_PARTIAL = re.compile(r"^\.(?P<image>[0-9a-f-]{36})\.(?:\d+\.)?[0-9a-f]{32}\.partial$")


@dataclass(frozen=True)
class DataDirectory:
    path: Path
    priority: int = 0


class FilesystemStore:
    """Image data as files in one or more directories (glance_store's `file` driver)."""

    def __init__(
        self, name: str, directory: Path | None = None, *,
        directories: list[DataDirectory] | None = None, file_perm: int = 0,
        chunk_size: int = 65536, metadata: list[dict[str, object]] | None = None,
    ) -> None:
        self.name = name
        given = list(directories or []) + ([DataDirectory(directory)] if directory else [])
        if not given:
            raise ValueError("a filesystem store needs a directory")
        self.directories = sorted(
            (DataDirectory(d.path.resolve(), d.priority) for d in given),
            key=lambda d: -d.priority)
        # The highest-priority directory (the only one, usually).
        self.directory = self.directories[0].path
        self.file_perm = file_perm
        self.chunk_size = chunk_size
        # filesystem_store_metadata_file: one entry per mount point.
        self.metadata = list(metadata or [])

    @classmethod
    def from_config(cls, config: BackendConfig) -> FilesystemStore:
        """The store glance_store's filesystem_store_* options describe; raises OptionError."""
        directories = [_parse_datadir(config, entry)
                       for entry in config.listing("filesystem_store_datadirs")]
        if not directories:
            directories = [DataDirectory(Path(config.required("filesystem_store_datadir")))]
        paths = [d.path.resolve() for d in directories]
        if len(set(paths)) != len(paths):
            raise OptionError(config.section, "filesystem_store_datadirs",
                              "a directory is listed twice")
        perm_text = config.text("filesystem_store_file_perm", "0") or "0"
        try:
            file_perm = int(perm_text, 8) if int(perm_text) > 0 else 0
        except ValueError:
            raise OptionError(config.section, "filesystem_store_file_perm",
                              f"expected octal digits like 640, got {perm_text!r}") from None
        metadata_file = config.text("filesystem_store_metadata_file")
        metadata = _read_metadata_file(config, Path(metadata_file)) if metadata_file else None
        return cls(config.name, directories=directories, file_perm=file_perm,
                   chunk_size=config.integer("filesystem_store_chunk_size", 65536, minimum=1),
                   metadata=metadata)

    def prepare(self) -> None:
        """Create the directories; StoreError if one cannot be made or written."""
        for data_directory in self.directories:
            directory = data_directory.path
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(self.name, f"cannot create {directory}: {exc.strerror}") from exc
            if not os.access(directory, os.W_OK):
                raise StoreError(self.name, f"{directory} is not writable")

    async def check(self) -> None:
        """Every data directory is there and writable; StoreError naming the first that is not."""
        for data_directory in self.directories:
            directory = data_directory.path
            usable = await asyncio.get_running_loop().run_in_executor(None, _usable, directory)
            if not usable:
                raise StoreError(self.name, f"{directory} is missing or not writable")

    def properties(self) -> dict[str, object]:
        return {"data_dir": str(self.directory), "chunk_size": self.chunk_size,
                "thin_provisioning": False}

    def accepts(self, url: str) -> bool:
        parsed = urlparse(url)
        if parsed.scheme != "file":
            return False
        parent = Path(unquote(parsed.path)).resolve().parent
        return any(parent == d.path for d in self.directories)

    def choose_directory(self, size: int | None) -> Path:
        """Where new data of `size` bytes goes; StoreFull when no directory has room."""
        if len(self.directories) == 1 and size is None:
            return self.directory
        needed = size or 0
        for priority in sorted({d.priority for d in self.directories}, reverse=True):
            candidates = [(_free_space(d.path), d.path) for d in self.directories
                          if d.priority == priority]
            fitting = [(free, path) for free, path in candidates if free >= needed]
            if fitting:
                return max(fitting, key=lambda pair: pair[0])[1]
        raise StoreFull(self.name, f"no data directory has room for {needed} bytes")

    def path_of(self, location: Location) -> Path:
        """The file behind a location, refusing anything outside the directories."""
        if not self.accepts(location.url):
            raise DataNotFound(self.name, f"location {location.url!r} is not in this store")
        return Path(unquote(urlparse(location.url).path)).resolve()

    async def size(self, location: Location) -> int:
        path = self.path_of(location)
        try:
            return (await asyncio.get_running_loop().run_in_executor(None, path.stat)).st_size
        except FileNotFoundError as exc:
            raise DataNotFound(self.name, f"no data at {location.url}") from exc
        except OSError as exc:
            raise StoreError(self.name, f"cannot stat {path}: {exc.strerror}") from exc

    async def write(self, image_id: str, chunks: AsyncIterator[bytes],
                    size_hint: int | None = None) -> StoredData:
        try:
            directory = self.choose_directory(size_hint)
        except OSError as exc:
            raise StoreError(self.name, f"cannot check free space: {exc.strerror}") from exc
        # Image ids are UUIDs; re-format to make path tricks impossible.
        final = directory / str(uuid.UUID(image_id))
        temporary = directory / f".{final.name}.{uuid.uuid4().hex}.partial"
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(1, "glint-file-write") as writer:
            fd = await self._disk(loop.run_in_executor(writer, _open_new, temporary))
            try:
                # Each block is written while the next one is received and hashed.
                previous: Future[None] | None = None
                async for block in chunks:
                    if previous is not None:
                        await self._disk(asyncio.wrap_future(previous))
                    previous = writer.submit(_write_all, fd, block)
                if previous is not None:
                    await self._disk(asyncio.wrap_future(previous))
                await self._disk(loop.run_in_executor(
                    writer, _publish, fd, temporary, final, self.file_perm))
            except BaseException:
                await asyncio.shield(loop.run_in_executor(writer, _discard, fd, temporary))
                raise
        url = final.as_uri()
        return StoredData(location=Location(url=url, store=self.name,
                                            metadata=self.metadata_for(final)))

    def can_adopt(self, path: Path) -> bool:
        try:
            source = path.stat()
            return self.choose_directory(source.st_size).stat().st_dev == source.st_dev
        except (OSError, StoreFull):
            return False

    async def adopt(self, image_id: str, path: Path) -> StoredData:
        """The file at `path` published as the image's data by a hard link to it:
        linked under a temporary name, fsynced, renamed into place, the directory
        fsynced, as `write` publishes."""
        loop = asyncio.get_running_loop()
        size = (await self._disk(loop.run_in_executor(None, path.stat))).st_size
        directory = self.choose_directory(size)
        final = directory / str(uuid.UUID(image_id))
        temporary = directory / f".{final.name}.{uuid.uuid4().hex}.partial"
        await self._disk(loop.run_in_executor(
            None, _link_in, path, temporary, final, self.file_perm))
        return StoredData(location=Location(url=final.as_uri(), store=self.name,
                                            metadata=self.metadata_for(final)))

    def metadata_for(self, path: Path) -> dict[str, object]:
        """The metadata file's entry whose mount point holds `path` ({} when none does)."""
        if not self.metadata:
            return {}
        for entry in self.metadata:
            mountpoint = str(entry["mountpoint"])
            if any(_under(path, Path(candidate))
                   for candidate in (mountpoint, os.path.realpath(mountpoint))):
                return dict(entry)
        log.error("store %s: %s is under none of the mount points of "
                  "filesystem_store_metadata_file; its location gets no metadata",
                  self.name, path)
        return {}

    async def _disk(self, operation: Awaitable[T]) -> T:
        """Await a disk operation, turning OS errors into store errors."""
        try:
            return await operation
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StoreFull(self.name, "no space left on the device") from exc
            raise StoreError(self.name, f"cannot write image data: {exc.strerror}") from exc

    async def open_span(self, location: Location, start: int = 0,
                        length: int | None = None) -> FileSpan:
        path = self.path_of(location)
        try:
            handle, size = await asyncio.get_running_loop().run_in_executor(
                None, _open_for_reading, path)
        except FileNotFoundError as exc:
            raise DataNotFound(self.name, f"no data at {location.url}") from exc
        except OSError as exc:
            raise StoreError(self.name, f"cannot read {path}: {exc.strerror}") from exc
        offset = min(start, size)
        end = size if length is None else min(size, offset + length)
        return FileSpan(handle, offset, end - offset, self.name, location.url)

    async def read(
        self, location: Location, start: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        chunks = read_span(await self.open_span(location, start, length))
        try:
            async for block in chunks:
                yield block
        finally:
            await chunks.aclose()

    async def delete(self, location: Location) -> None:
        path = self.path_of(location)
        try:
            await asyncio.get_running_loop().run_in_executor(None, _unlink, path)
        except OSError as exc:
            raise StoreError(self.name, f"cannot delete {path}: {exc.strerror}") from exc

    async def stored_images(self) -> AsyncIterator[StoredImage]:
        """Image files and partial files, in every data directory."""
        found = StoredImages()
        loop = asyncio.get_running_loop()
        for data_directory in self.directories:
            try:
                await loop.run_in_executor(None, self._list_into, data_directory.path, found)
            except OSError as exc:
                raise StoreError(self.name, f"cannot list {data_directory.path}: "
                                 f"{exc.strerror}") from exc
        for stored in found.images():
            yield stored

    def _list_into(self, directory: Path, found: StoredImages) -> None:
        with os.scandir(directory) as entries:
            for entry in entries:
                if not entry.is_file(follow_symlinks=False):
                    continue
                modified = datetime.fromtimestamp(entry.stat().st_mtime, UTC)
                partial = _PARTIAL.match(entry.name)
                if partial is not None:
                    found.leftover(partial["image"], entry.path, modified)
                elif (image_id := image_id_of(entry.name)) is not None:
                    location = Location(url=Path(entry.path).as_uri(), store=self.name)
                    found.data(image_id, location, modified)

    async def remove_unfinished(self, image_id: str, in_use: InUse) -> list[str]:
        name = str(uuid.UUID(image_id))
        loop = asyncio.get_running_loop()
        removed: list[str] = []
        try:
            for data_directory in self.directories:
                directory = data_directory.path
                partials = await loop.run_in_executor(None, _partials_of, directory, name)
                final = directory / name
                if await loop.run_in_executor(None, final.is_file) and not await in_use(
                        Location(url=final.as_uri(), store=self.name)):
                    partials.append(final)
                for path in partials:
                    await loop.run_in_executor(None, _unlink, path)
                    removed.append(str(path))
        except OSError as exc:
            raise StoreError(self.name, f"cannot remove unfinished data of image {name}: "
                             f"{exc.strerror}") from exc
        return removed


def _parse_datadir(config: BackendConfig, entry: str) -> DataDirectory:
    """`path` or `path:priority`, as glance_store reads filesystem_store_datadirs."""
    path, sep, priority = entry.rpartition(":")
    if not sep:
        return DataDirectory(Path(entry))
    try:
        return DataDirectory(Path(path), int(priority))
    except ValueError:
        raise OptionError(config.section, "filesystem_store_datadirs",
                          f"invalid priority {priority!r} in {entry!r}") from None


def _read_metadata_file(config: BackendConfig, path: Path) -> list[dict[str, object]]:
    """The entries of a filesystem_store_metadata_file; raises OptionError naming the key."""
    key = "filesystem_store_metadata_file"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise OptionError(config.section, key, f"cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise OptionError(config.section, key, f"{path} is not valid JSON: {exc}") from exc
    entries = [document] if isinstance(document, dict) else document
    if not isinstance(entries, list) or not entries:
        raise OptionError(config.section, key, f"{path} must hold an object or a list of them")
    for index, entry in enumerate(entries):
        where = f"{path} entry {index}"
        if not isinstance(entry, dict):
            raise OptionError(config.section, key, f"{where} is not an object")
        for name in ("id", "mountpoint"):
            if not isinstance(entry.get(name), str):
                raise OptionError(config.section, key, f"{where} needs a string {name!r}")
        problem = _metadata_problem(entry)
        if problem is not None:
            raise OptionError(config.section, key, f"{where}: {problem}")
    return entries


def _metadata_problem(value: object, name: str = "") -> str | None:
    """Why `value` cannot be location metadata (objects, lists and strings only), if it cannot."""
    if isinstance(value, dict):
        items: list[tuple[str, object]] = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, list):
        items = [(f"{name}[{index}]", v) for index, v in enumerate(value)]
    elif isinstance(value, str):
        return None
    else:
        return f"{name} is a {type(value).__name__}; only objects, lists and strings are allowed"
    for key, item in items:
        problem = _metadata_problem(item, key)
        if problem is not None:
            return problem
    return None


def _under(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


def _free_space(path: Path) -> int:
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def _open_for_reading(path: Path) -> tuple[FileIO, int]:
    handle = FileIO(path, "rb")
    try:
        return handle, os.fstat(handle.fileno()).st_size
    except OSError:
        handle.close()
        raise


async def read_span(span: FileSpan) -> AsyncGenerator[bytes, None]:
    """The bytes of `span` in chunks of at most READ_CHUNK_SIZE, each read (pread)
    in a thread while the one before is being sent; closes the span's file at
    the end. A file shorter than the span ends the chunks early; a read error
    raises StoreError."""
    loop = asyncio.get_running_loop()
    fd = span.file.fileno()
    position, end = span.offset, span.offset + span.length
    pending: asyncio.Future[bytes] | None = None
    try:
        if position < end:
            pending = loop.run_in_executor(None, os.pread, fd, min(READ_CHUNK_SIZE, end - position),
                                           position)
        while pending is not None:
            try:
                block = await pending
            except OSError as exc:
                raise StoreError(span.store, f"cannot read {span.file.name}: {exc.strerror}") from exc
            pending = None
            if not block:
                break
            position += len(block)
            if position < end:
                pending = loop.run_in_executor(None, os.pread, fd,
                                               min(READ_CHUNK_SIZE, end - position), position)
            yield block
    finally:
        # Never close the file under a read still running in a thread.
        if pending is not None:
            await asyncio.gather(pending, return_exceptions=True)
        span.file.close()


def _open_new(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)


def _write_all(fd: int, block: bytes) -> None:
    view = memoryview(block)
    while view:
        written = os.write(fd, view)
        view = view[written:]
    _start_writeback(fd, len(block))


def _load_sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """Linux's sync_file_range(2), to push written data to disk while more arrives,
    so the fsync before publishing has little left to wait for."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_SYNC_FILE_RANGE = _load_sync_file_range()
_SYNC_FILE_RANGE_WRITE = 2


def _start_writeback(fd: int, length: int) -> None:
    if _SYNC_FILE_RANGE is not None:
        end = os.lseek(fd, 0, os.SEEK_CUR)
        _SYNC_FILE_RANGE(fd, end - length, length, _SYNC_FILE_RANGE_WRITE)


def _publish(fd: int, temporary: Path, final: Path, file_perm: int) -> None:
    if file_perm:
        os.fchmod(fd, file_perm)
    os.fsync(fd)
    os.close(fd)
    os.replace(temporary, final)
    _fsync_directory(final.parent)


def _fsync_directory(path: Path) -> None:
    directory = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _link_in(source: Path, temporary: Path, final: Path, file_perm: int) -> None:
    os.link(source, temporary)
    try:
        fd = os.open(temporary, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if file_perm:
                os.fchmod(fd, file_perm)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(final.parent)


def _discard(fd: int, temporary: Path) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
    temporary.unlink(missing_ok=True)


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


def _usable(directory: Path) -> bool:
    return directory.is_dir() and os.access(directory, os.W_OK)


def _partials_of(directory: Path, name: str) -> list[Path]:
    """The partial files of writes of image `name` in `directory`."""
    found = []
    with os.scandir(directory) as entries:
        for entry in entries:
            match = _PARTIAL.match(entry.name)
            if match and match["image"] == name:
                found.append(Path(entry.path))
    return found
