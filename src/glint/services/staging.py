"""The staging area: data sent with PUT /stage or downloaded by web-download,
kept in files named by image id until the import stores it.

Files are written under a temporary name and renamed into place, so a
staged file is always complete; a failed write removes its temporary file.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.concurrency import run_in_threadpool

from glint.settings import Settings

READ_SIZE = 4 * 1024 * 1024


class Staging:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, image_id: str) -> Path:
        return self.folder / str(uuid.UUID(image_id))

    def exists(self, image_id: str) -> bool:
        return self.path(image_id).is_file()

    async def write(self, image_id: str, blocks: AsyncIterator[bytes]) -> int:
        """Store the blocks as the staged data of the image; returns its size."""
        await run_in_threadpool(self.folder.mkdir, parents=True, exist_ok=True)
        final = self.path(image_id)
        temporary = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
        handle = await run_in_threadpool(open, temporary, "wb")
        size = 0
        try:
            async for block in blocks:
                await run_in_threadpool(handle.write, block)
                size += len(block)
            await run_in_threadpool(handle.flush)
            await run_in_threadpool(os.fsync, handle.fileno())
            handle.close()
            await run_in_threadpool(os.replace, temporary, final)
        except BaseException:
            handle.close()
            temporary.unlink(missing_ok=True)
            raise
        return size

    async def read(self, image_id: str) -> AsyncIterator[bytes]:
        handle = await run_in_threadpool(open, self.path(image_id), "rb")
        try:
            while block := await run_in_threadpool(handle.read, READ_SIZE):
                yield block
        finally:
            handle.close()

    def remove(self, image_id: str) -> None:
        self.path(image_id).unlink(missing_ok=True)


def staging_folder(settings: Settings) -> Path:
    """`node_staging_uri`'s folder, else "staging" beside the filesystem store's folder."""
    if settings.imports.staging_dir is not None:
        return settings.imports.staging_dir
    return settings.store.filesystem_store_datadir.parent / "staging"
