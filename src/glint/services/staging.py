"""The staging area: data sent with PUT /stage or downloaded by web-download
and glance-download, kept in files named by image id until the import stores it.

The area is a filesystem store of its own (`store`, see
glint.stores.filesystem): data is written under a temporary name, fsynced
and renamed into place with the directory fsynced, so a staged file is
always complete; a failed write removes its temporary file, and a full disk
is StoreFull, which `ingest` answers with 413.

Staged data is hashed (and, for bare images, format-inspected) once, as it
is staged. What that found is kept beside the file (`.<image id>.digests`,
see `StagedDigests`) with the file's identity (size, modification time,
inode), so an import of unchanged data into any number of stores hashes
nothing again, and one of data changed since can tell.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path

from starlette.concurrency import run_in_threadpool

from glint.domain.digests import Digests
from glint.domain.image import Location
from glint.services.ingest import Ingested, IngestRules, ingest
from glint.settings import Settings
from glint.stores.filesystem import FilesystemStore

STAGING_STORE = "staging"


@dataclass(frozen=True)
class StagedDigests:
    """What hashing (and inspecting) the staged data found, and the file it was."""

    digests: Digests
    virtual_size: int | None
    # The disk_format the data was judged as; None: it was not inspected.
    inspected_as: str | None
    # (size, st_mtime_ns, st_ino) of the staged file they describe.
    identity: tuple[int, int, int]


class Staging:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.store = FilesystemStore(STAGING_STORE, folder)

    def path(self, image_id: str) -> Path:
        return self.store.directory / str(uuid.UUID(image_id))

    def location(self, image_id: str) -> Location:
        return Location(url=self.path(image_id).as_uri(), store=STAGING_STORE)

    def exists(self, image_id: str) -> bool:
        return self.path(image_id).is_file()

    async def take(self, image_id: str, chunks: AsyncIterator[bytes],
                   rules: IngestRules) -> Ingested:
        """Stage `chunks` as the image's data with `ingest` (see there for what it
        raises), and keep the digests and verdict it found with the staged file."""
        await run_in_threadpool(self.folder.mkdir, parents=True, exist_ok=True)
        ingested = await ingest(image_id, chunks, self.store, rules)
        if ingested.digests is not None:
            await run_in_threadpool(self.keep, image_id, ingested.digests,
                                    ingested.virtual_size,
                                    rules.formats.disk_format if rules.formats else None)
        return ingested

    def read(self, image_id: str) -> AsyncIterator[bytes]:
        """The staged data; DataNotFound (a StoreError) when there is none."""
        return self.store.read(self.location(image_id))

    def remove(self, image_id: str) -> None:
        """Remove the staged data and its kept digests."""
        self.path(image_id).unlink(missing_ok=True)
        self.forget(image_id)

    def remove_partials(self, image_id: str) -> list[Path]:
        """Remove the temporary files of unfinished writes of the image's staged data,
        and the outputs of import plugins (`<id>.converted`...), but not the staged
        data; call only while nothing writes them. Returns what was removed."""
        name = self.path(image_id).name
        if not self.folder.is_dir():
            return []
        found = [*self.folder.glob(f".{name}.*.partial"), *self.folder.glob(f".{name}.*.tmp"),
                 *self.folder.glob(f"{name}.*")]
        for path in found:
            path.unlink(missing_ok=True)
        return found

    # The digests kept with the staged data ----------------------------------------

    def _kept_path(self, image_id: str) -> Path:
        return self.path(image_id).with_name(f".{self.path(image_id).name}.digests")

    def keep(self, image_id: str, digests: Digests, virtual_size: int | None,
             inspected_as: str | None) -> StagedDigests:
        """Keep what the pass that wrote the staged file found, with the file's identity."""
        kept = StagedDigests(digests, virtual_size, inspected_as, self._identity(image_id))
        final = self._kept_path(image_id)
        temporary = final.with_name(f"{final.name}.{uuid.uuid4().hex}.tmp")
        try:
            temporary.write_text(json.dumps(asdict(kept)), encoding="utf-8")
            os.replace(temporary, final)
        finally:
            temporary.unlink(missing_ok=True)
        return kept

    def kept(self, image_id: str) -> StagedDigests | None:
        """The digests kept for the staged data (None: none kept, or unreadable)."""
        try:
            document = json.loads(self._kept_path(image_id).read_text(encoding="utf-8"))
            size, modified, inode = (int(value) for value in document["identity"])
            return StagedDigests(Digests(**document["digests"]), document["virtual_size"],
                                 document["inspected_as"], (size, modified, inode))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def unchanged(self, image_id: str, kept: StagedDigests) -> bool:
        """Whether the staged file is still the one `kept` describes."""
        try:
            return self._identity(image_id) == kept.identity
        except OSError:
            return False

    def forget(self, image_id: str) -> None:
        """Drop the kept digests (a plugin changed the data: the pass that stores it
        hashes it)."""
        self._kept_path(image_id).unlink(missing_ok=True)

    def _identity(self, image_id: str) -> tuple[int, int, int]:
        found = os.stat(self.path(image_id))
        return found.st_size, found.st_mtime_ns, found.st_ino


def staging_folder(settings: Settings) -> Path:
    """`node_staging_uri`'s folder, else "staging" beside the filesystem store's folder."""
    if settings.imports.staging_dir is not None:
        return settings.imports.staging_dir
    return settings.store.filesystem_store_datadir.parent / "staging"
