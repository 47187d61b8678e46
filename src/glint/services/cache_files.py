"""The image cache's files on one node's disk.

`<dir>/<image_id>` holds a complete, verified entry. A fill writes
`<dir>/incomplete/<image_id>` under an exclusive flock(2) and renames it into
place only once the whole image arrived and matched its digest, so a crash
never leaves a servable partial entry; the lock tells a fill in progress
(in any process of the node) from the leftover of a dead one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from dataclasses import dataclass
from io import FileIO
from pathlib import Path

INCOMPLETE = "incomplete"
READ_CHUNK = 4 * 1024 * 1024


def signature_of(stat: os.stat_result) -> str:
    """Identifies one version of a file: inode, size, modification and change
    times. Writing to the file (a flipped byte) changes it, even when the
    modification time is put back afterwards (that changes the change time)."""
    return f"{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}"


@dataclass
class FillFile:
    """An incomplete entry being written, locked by this process."""

    image_id: str
    path: Path
    fd: int
    written: int = 0

    def write(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:
            done = os.write(self.fd, view)
            view = view[done:]
        self.written += len(chunk)

    def digest(self, algorithm: str) -> str:
        """The hash of what was written, read back from the file."""
        hasher = hashlib.new(algorithm)
        offset = 0
        while block := os.pread(self.fd, READ_CHUNK, offset):
            hasher.update(block)
            offset += len(block)
        return hasher.hexdigest()


class CacheFolder:
    """Paths and file operations of one node's cache folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.incomplete = root / INCOMPLETE

    def prepare(self) -> None:
        self.incomplete.mkdir(parents=True, exist_ok=True)

    def path_of(self, image_id: str) -> Path:
        return self.root / image_id

    def open_entry(self, image_id: str) -> tuple[FileIO, str] | None:
        """The complete entry's file, open, with its signature; None when absent."""
        try:
            handle = FileIO(self.path_of(image_id), "r")
        except OSError:
            return None
        return handle, signature_of(os.fstat(handle.fileno()))

    def start_fill(self, image_id: str) -> FillFile | None:
        """The incomplete file for `image_id`, locked and emptied; None when
        another fill holds it (or it cannot be made)."""
        path = self.incomplete / image_id
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.ftruncate(fd, 0)
        except OSError:
            os.close(fd)
            return None
        return FillFile(image_id, path, fd)

    def publish(self, fill: FillFile) -> str:
        """Flush the fill to disk and rename it into place; returns its signature.
        The lock goes with the descriptor, closed here."""
        try:
            os.fdatasync(fill.fd)
            target = self.path_of(fill.image_id)
            os.rename(fill.path, target)
            return signature_of(os.fstat(fill.fd))
        finally:
            os.close(fill.fd)

    def abandon(self, fill: FillFile) -> None:
        """Remove an incomplete fill (unlinked before the lock is released)."""
        with contextlib.suppress(OSError):
            os.unlink(fill.path)
        os.close(fill.fd)

    def remove(self, image_id: str) -> int:
        """Delete a complete entry's file; the bytes it held (0 when absent)."""
        path = self.path_of(image_id)
        try:
            size = path.stat().st_size
            path.unlink()
        except OSError:
            return 0
        return size

    def remove_dead_fill(self, image_id: str) -> bool:
        """Delete an incomplete file no live fill holds; True when removed, or
        when there is neither it nor a complete file (a fill that is publishing
        has renamed it into place: not dead)."""
        path = self.incomplete / image_id
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return not self.path_of(image_id).exists()
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)
        return True

    def complete_ids(self) -> list[str]:
        """Image ids with a complete file in the folder."""
        try:
            return sorted(p.name for p in self.root.iterdir() if p.is_file())
        except OSError:
            return []

    def incomplete_ids(self) -> list[str]:
        try:
            return sorted(p.name for p in self.incomplete.iterdir() if p.is_file())
        except OSError:
            return []

    def verify(self, image_id: str, algorithm: str, value: str, size: int,
               signature: str | None) -> bool:
        """Whether the complete file is the one recorded and hashes to `value`."""
        found = self.open_entry(image_id)
        if found is None:
            return False
        handle, current = found
        with handle:
            if current != signature or os.fstat(handle.fileno()).st_size != size:
                return False
            hasher = hashlib.new(algorithm)
            while block := handle.read(READ_CHUNK):
                hasher.update(block)
        return hasher.hexdigest() == value
