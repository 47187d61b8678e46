"""How image data comes in, the one way: upload, stage, web-download,
glance-download, every import target store, copy-image and locations all call
`ingest`.

`ingest` streams the chunks into a sink (a store, or the staging area) and,
on the way, shows them to the format inspectors, hashes them (md5 and the
multihash, `stores/hashing.py`), holds them to the size cap, the declared
size and the quota reservation (glint.services.quotas). Once the last byte
is in, and before the sink publishes anything, the format verdict is made,
the data is compared with what it must be (the
digests kept when it was staged, or an image's own), and the caller's last
check runs (`before_publish`); any of them failing, like any error of the
sink or the source, leaves nothing behind. A full store is StorageFull (413)
and any other store failure StoreUnavailable (503), for every caller alike.

Each stream is inspected and hashed at most once: a caller that already
knows the digests (staged data, see `services/staging.py`) passes no
algorithm, and the sink's copy is then checked by its size.
"""

from __future__ import annotations

import logging
import os
from asyncio import to_thread
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from glint.domain.digests import Digests
from glint.domain.errors import InvalidImageData, StorageFull, StoreUnavailable
from glint.domain.image import Image, Location
from glint.formats.detect import Detection
from glint.formats.verdict import FormatRejected, FormatRules, judge
from glint.settings import FormatSettings
from glint.stores.base import AdoptingStore, StoredData, StoreError, StoreFull
from glint.stores.hashing import HashingStream

log = logging.getLogger(__name__)


class DataMismatch(Exception):
    """The data differs from what it must be (its kept or recorded size and hashes)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class QuotaMeter(Protocol):
    """Room reserved for the data: `granted` bytes, grown by `cover`."""

    granted: int

    async def cover(self, size: int) -> None:
        """Hold at least `size` bytes, or raise QuotaExceeded."""


class Sink(Protocol):
    """Where ingested data goes: any writable store (the staging area is one too)."""

    @property
    def name(self) -> str: ...

    async def write(self, image_id: str, chunks: AsyncIterator[bytes],
                    size_hint: int | None = None) -> StoredData: ...

    async def delete(self, location: Location) -> None: ...


@dataclass(frozen=True)
class Measured:
    """A sink that keeps nothing: for data that already lives at `location`
    (a location added to an image), to be hashed and checked only."""

    location: Location
    name: str = "measured"

    async def write(self, image_id: str, chunks: AsyncIterator[bytes],
                    size_hint: int | None = None) -> StoredData:
        async for _ in chunks:
            pass  # the stream itself counts and hashes what passes
        return StoredData(location=self.location)

    async def delete(self, location: Location) -> None:
        """Nothing was written, so there is nothing to remove."""


@dataclass(frozen=True)
class FormatCheck:
    """Inspect the stream and judge it as `disk_format` (glint.formats)."""

    disk_format: str
    vmdk_allowed_types: frozenset[str]
    rules: FormatRules


@dataclass(frozen=True)
class Expected:
    """What the data must be; None: not known, not compared."""

    size: int | None = None
    checksum: str | None = None
    os_hash_value: str | None = None

    @classmethod
    def of(cls, digests: Digests) -> Expected:
        return cls(digests.size, digests.checksum, digests.os_hash_value)


@dataclass(frozen=True)
class IngestRules:
    size_cap: int
    # The multihash algorithm; None: hash nothing (the digests are known already).
    algorithm: str | None
    # The size the client declared: more or less data is InvalidInput.
    declared_size: int | None = None
    formats: FormatCheck | None = None
    expected: Expected | None = None
    # The caller's last word before the data is published (raise to refuse it).
    before_publish: Callable[[], Awaitable[None]] | None = None
    # The write's quota reservation (glint.services.quotas); None: no quota applies.
    quota: QuotaMeter | None = None


@dataclass(frozen=True)
class Ingested:
    location: Location
    size: int
    # None when nothing was hashed (IngestRules.algorithm None).
    digests: Digests | None
    # The format verdict's virtual size (None: unknown, or not inspected).
    virtual_size: int | None
    inspected: bool


def format_check(image: Image, formats: FormatSettings) -> FormatCheck | None:
    """How an image's data is inspected: only bare images are, as in Glance."""
    if image.container_format != "bare":
        return None
    return judged_as(image.disk_format or "", formats)


def judged_as(disk_format: str, formats: FormatSettings) -> FormatCheck:
    """Inspection of data that must be `disk_format`, under the `[image_format]` options."""
    return FormatCheck(
        disk_format=disk_format,
        vmdk_allowed_types=frozenset(formats.vmdk_allowed_types),
        rules=FormatRules(
            require_image_format_match=formats.require_image_format_match,
            gpt_safety_checks_nonfatal=frozenset(formats.gpt_safety_checks_nonfatal),
        ),
    )


def verdict(detection: Detection, check: FormatCheck, image_id: str) -> int | None:
    """The verdict on inspected data: its virtual size, or InvalidImageData (415)."""
    try:
        return judge(detection, check.disk_format, check.rules).virtual_size
    except FormatRejected as exc:
        log.warning("data of image %s rejected: %s", image_id, exc.message)
        raise InvalidImageData(exc.message) from exc


async def ingest(image_id: str, chunks: AsyncIterator[bytes], sink: Sink,
                 rules: IngestRules) -> Ingested:
    """Stream `chunks` into `sink` as the image's data, published only if all checks pass.

    Raises ImageTooLarge (413) past the cap, QuotaExceeded (413) past the
    quota reservation that cannot grow, InvalidInput when the size differs
    from the declared one, InvalidImageData (415) on the format verdict,
    DataMismatch when the data is not what `rules.expected` says, StorageFull
    (413) when the sink has no room, StoreUnavailable (503) when it (or the
    source's store) fails, and whatever `before_publish` raises. On any error
    nothing is left in the sink.
    """
    run = _Run(image_id, rules)
    if rules.quota is not None:
        chunks = _metered(chunks, rules.quota)
    stream = HashingStream(run.inspected(chunks), algorithm=rules.algorithm,
                           size_cap=rules.size_cap, expected_size=rules.declared_size)
    try:
        stored = await sink.write(image_id, run.concluded(stream), size_hint=_size_hint(rules))
    except StoreFull as exc:
        raise StorageFull(f"Image storage is full: {exc.message}") from exc
    except StoreError as exc:
        log.error("data of image %s not stored in %s: %s", image_id, exc.store, exc.message)
        raise StoreUnavailable(f"Image storage failed: {exc.message}", exc.store) from exc
    return run.result(stored)


async def _metered(chunks: AsyncIterator[bytes], meter: QuotaMeter) -> AsyncIterator[bytes]:
    """The chunks unchanged, their running total held to the quota reservation:
    counted in memory, the reservation grown only when the total passes it."""
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > meter.granted:
            await meter.cover(total)
        yield chunk


async def ingest_file(image_id: str, path: Path, chunks: AsyncIterator[bytes], sink: Sink,
                      rules: IngestRules) -> Ingested:
    """`ingest` of data that is a complete local file (`chunks` reads it).

    A sink that can adopt the file (a filesystem store on the same
    filesystem) gets it without a copy: the data is read once for the checks
    (inspection, hashes, size, comparison, `before_publish`), then the file
    itself is published by the store. The file must not change meanwhile;
    if it did (another file now at `path`), nothing is published and
    DataMismatch is raised. Any other sink is written as `ingest` writes it.
    """
    if not isinstance(sink, AdoptingStore) or not await to_thread(sink.can_adopt, path):
        return await ingest(image_id, chunks, sink, rules)
    before = await to_thread(_identity, path)
    checked = await ingest(image_id, chunks, Measured(Location(url=path.as_uri(), store=sink.name)),
                           rules)
    try:
        stored = await sink.adopt(image_id, path)
    except StoreFull as exc:
        raise StorageFull(f"Image storage is full: {exc.message}") from exc
    except StoreError as exc:
        log.error("data of image %s not stored in %s: %s", image_id, exc.store, exc.message)
        raise StoreUnavailable(f"Image storage failed: {exc.message}", exc.store) from exc
    # Same size, time and inode before the checks and after the link: what was
    # checked is what the store now holds.
    if await to_thread(_identity, path) != before or before[0] != checked.size:
        await discard(sink, stored.location, image_id)
        raise DataMismatch(f"The data of image {image_id} changed while it was stored")
    return replace(checked, location=stored.location)


def _identity(path: Path) -> tuple[int, int, int]:
    found = os.stat(path)
    return found.st_size, found.st_mtime_ns, found.st_ino


def _size_hint(rules: IngestRules) -> int | None:
    """The size the sink may expect (to choose a place, or refuse early)."""
    if rules.declared_size is not None:
        return rules.declared_size
    return rules.expected.size if rules.expected is not None else None


async def discard(sink: Sink, location: Location, image_id: str) -> None:
    """Remove published data whose image did not take it; failures are logged."""
    try:
        await sink.delete(location)
    except StoreError as exc:
        log.error("data of image %s left at %s: %s", image_id, location.url, exc.message)


class _Run:
    """The state of one `ingest`: the inspectors, and what the end of the stream found."""

    def __init__(self, image_id: str, rules: IngestRules) -> None:
        self.image_id = image_id
        self.rules = rules
        self.detection = Detection(rules.formats.vmdk_allowed_types) if rules.formats else None
        self.digests: Digests | None = None
        self.size = 0
        self.virtual_size: int | None = None

    def inspected(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """The chunks unchanged, each shown to the inspectors (if any)."""
        if self.detection is None:
            return chunks
        return self._inspect(chunks, self.detection)

    @staticmethod
    async def _inspect(chunks: AsyncIterator[bytes],
                       detection: Detection) -> AsyncIterator[bytes]:
        async for chunk in chunks:
            detection.feed(chunk)
            yield chunk
        detection.finish()

    async def concluded(self, stream: HashingStream) -> AsyncIterator[bytes]:
        """The stream's blocks; after the last one, before the sink publishes,
        every check that needs all the data."""
        async for block in stream.blocks():
            yield block
        self.size = stream.size
        self.digests = stream.digests() if self.rules.algorithm else None
        if self.detection is not None and self.rules.formats is not None:
            self.virtual_size = verdict(self.detection, self.rules.formats, self.image_id)
        if self.rules.expected is not None:
            self._compare(self.rules.expected)
        if self.rules.before_publish is not None:
            await self.rules.before_publish()

    def _compare(self, expected: Expected) -> None:
        found = Expected(self.size, *(
            (self.digests.checksum, self.digests.os_hash_value) if self.digests else (None, None)))
        pairs = [(expected.size, found.size), (expected.checksum, found.checksum),
                 (expected.os_hash_value, found.os_hash_value)]
        if any(want is not None and got is not None and want != got for want, got in pairs):
            raise DataMismatch(f"The data of image {self.image_id} does not match its "
                               "recorded size and hashes")

    def result(self, stored: StoredData) -> Ingested:
        return Ingested(location=stored.location, size=self.size, digests=self.digests,
                        virtual_size=self.virtual_size, inspected=self.detection is not None)
