"""The filesystem store: one file per image under a data directory.

Writes go to a hidden temporary file in the same directory, are fsynced and
then renamed into place, so a crash at any moment leaves either no file or a
complete one under the image's name. Temporary files of a process that no
longer runs are removed at start.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlparse

from glint.domain.image import Location
from glint.stores.base import READ_CHUNK_SIZE, DataNotFound, StoredData, StoreError, StoreFull

T = TypeVar("T")

_PARTIAL = re.compile(r"^\.(?P<image>[0-9a-f-]{36})\.(?P<pid>\d+)\.[0-9a-f]{32}\.partial$")


class FilesystemStore:
    """Image data as files in `directory` (glance_store's `file` driver)."""

    def __init__(self, name: str, directory: Path) -> None:
        self.name = name
        self.directory = directory.resolve()

    def prepare(self) -> None:
        """Create the directory and drop partial files left by dead processes."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(self.name, f"cannot create {self.directory}: {exc.strerror}") from exc
        if not os.access(self.directory, os.W_OK):
            raise StoreError(self.name, f"{self.directory} is not writable")
        for entry in self.directory.iterdir():
            match = _PARTIAL.match(entry.name)
            if match and not _process_alive(int(match["pid"])):
                entry.unlink(missing_ok=True)

    def _path_for(self, image_id: str) -> Path:
        # Image ids are UUIDs; re-format to make path tricks impossible.
        return self.directory / str(uuid.UUID(image_id))

    def path_of(self, location: Location) -> Path:
        """The file behind a location, refusing anything outside the directory."""
        parsed = urlparse(location.url)
        path = Path(unquote(parsed.path)).resolve()
        if parsed.scheme != "file" or path.parent != self.directory:
            raise DataNotFound(self.name, f"location {location.url!r} is not in this store")
        return path

    async def write(self, image_id: str, chunks: AsyncIterator[bytes]) -> StoredData:
        final = self._path_for(image_id)
        temporary = self.directory / f".{final.name}.{os.getpid()}.{uuid.uuid4().hex}.partial"
        size = 0
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
                    size += len(block)
                if previous is not None:
                    await self._disk(asyncio.wrap_future(previous))
                await self._disk(loop.run_in_executor(writer, _publish, fd, temporary, final))
            except BaseException:
                await asyncio.shield(loop.run_in_executor(writer, _discard, fd, temporary))
                raise
        url = final.as_uri()
        return StoredData(location=Location(url=url, store=self.name), size=size)

    async def _disk(self, operation: Awaitable[T]) -> T:
        """Await a disk operation, turning OS errors into store errors."""
        try:
            return await operation
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StoreFull(self.name, "no space left on the device") from exc
            raise StoreError(self.name, f"cannot write image data: {exc.strerror}") from exc

    async def read(
        self, location: Location, start: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        path = self.path_of(location)
        loop = asyncio.get_running_loop()
        try:
            handle = await loop.run_in_executor(None, open, path, "rb", 0)
        except FileNotFoundError as exc:
            raise DataNotFound(self.name, f"no data at {location.url}") from exc
        except OSError as exc:
            raise StoreError(self.name, f"cannot read {path}: {exc.strerror}") from exc
        pending: asyncio.Future[bytes] | None = None
        try:
            # Read the next block in a thread while the current one is being sent.
            position, end = start, None if length is None else start + length
            pending = loop.run_in_executor(
                None, os.pread, handle.fileno(), _want(position, end), position)
            while True:
                try:
                    block = await pending
                except OSError as exc:
                    raise StoreError(self.name, f"cannot read {path}: {exc.strerror}") from exc
                if not block:
                    break
                position += len(block)
                more = end is None or position < end
                if more:
                    pending = loop.run_in_executor(None, os.pread, handle.fileno(),
                                                   _want(position, end), position)
                yield block
                if not more:
                    break
        finally:
            # Never close the file under a read still running in a thread.
            if pending is not None:
                await asyncio.gather(pending, return_exceptions=True)
            handle.close()

    async def delete(self, location: Location) -> None:
        path = self.path_of(location)
        try:
            await asyncio.get_running_loop().run_in_executor(None, _unlink, path)
        except OSError as exc:
            raise StoreError(self.name, f"cannot delete {path}: {exc.strerror}") from exc


def _want(position: int, end: int | None) -> int:
    return READ_CHUNK_SIZE if end is None else min(READ_CHUNK_SIZE, end - position)


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


def _publish(fd: int, temporary: Path, final: Path) -> None:
    os.fsync(fd)
    os.close(fd)
    os.replace(temporary, final)
    directory = os.open(final.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _discard(fd: int, temporary: Path) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
    temporary.unlink(missing_ok=True)


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
