"""glance-replicator's service-to-service commands: size, compare and livecopy."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from glint.client.images import ImageClient, ImageRecord, ImageServiceError, Member
from glint.replication import records
from glint.replication.sync import (
    Counter,
    DataOpener,
    Outcome,
    ReplicationError,
    SyncOptions,
    sync_image,
)

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class SizeReport:
    total_bytes: int
    images: int


@dataclass
class ComparisonReport:
    """Lines describing each difference, and the ids by kind of difference."""

    lines: list[str] = field(default_factory=list)
    differing: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    extra: set[str] = field(default_factory=set)

    @property
    def count(self) -> int:
        return len(self.differing) + len(self.missing)


@dataclass
class CopyReport:
    """What a livecopy or load did, image id by outcome."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    extra: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    bytes_copied: int = 0
    seconds: float = 0.0

    def ids(self, outcome: Outcome) -> list[str]:
        return sorted(image_id for image_id, done in self.outcomes.items() if done == outcome)


def size(client: ImageClient) -> SizeReport:
    """The bytes a dump of the active images would take, and how many there are."""
    total = count = 0
    for image in client.images():
        if image.get("status") == "active":
            total += int(image.get("size") or 0)
            count += 1
    return SizeReport(total, count)


def members_of(client: ImageClient, image: ImageRecord) -> list[Member]:
    """The image's members; only shared images can have any."""
    return client.members(image["id"]) if image.get("visibility") == "shared" else []


def compare(source: ImageClient, target: ImageClient, skipped: frozenset[str]) -> ComparisonReport:
    """Every field, tag and member that differs, every image with data missing from the
    target, and every image on the target that the source does not have."""
    report = ComparisonReport()
    seen: set[str] = set()
    for image in source.images():
        image_id = image["id"]
        seen.add(image_id)
        present = target.image(image_id)
        if present is None:
            if image.get("status") in records.WITH_DATA:
                report.lines.append(f"{image_id}: entirely missing from the destination")
                report.missing.add(image_id)
            continue
        found = records.differences(image, present, skipped)
        if image.get("visibility") == "shared" or present.get("visibility") == "shared":
            found += records.member_differences(members_of(source, image),
                                                members_of(target, present))
        for difference in found:
            report.lines.append(f"{image_id}: field {difference.key} differs (source is "
                                f"{difference.source}, destination is {difference.target})")
            report.differing.add(image_id)
    for image in target.images():
        if image["id"] not in seen:
            report.extra.add(image["id"])
            report.lines.append(f"{image['id']}: on the destination only (deleted from the "
                                "source, or never there)")
    return report


def copy_all(target: ImageClient, sources: Iterable[ImageRecord],
             members: Callable[[ImageRecord], list[Member]], open_data: DataOpener,
             options: Callable[[ImageRecord], SyncOptions], workers: int) -> CopyReport:
    """sync_image for every record of `sources`, `workers` images at a time, with the
    options `options` gives for each."""
    report = CopyReport()
    moved = Counter()
    started = time.monotonic()

    def one(image: ImageRecord) -> None:
        image_id = image["id"]
        LOG.info("Considering %s (%s, %s bytes)", image_id, image.get("name"), image.get("size"))
        try:
            report.outcomes[image_id] = sync_image(target, image, members(image), open_data,
                                                   options(image), moved)
        except (ReplicationError, ImageServiceError, OSError) as exc:
            LOG.error("%s: %s", image_id, exc)
            report.failures[image_id] = str(exc)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for _ in pool.map(one, sources):
            pass
    report.bytes_copied = moved.value
    report.seconds = time.monotonic() - started
    return report


def _downloads(source: ImageClient, chunk_size: int) -> DataOpener:
    def open_data(image_id: str) -> AbstractContextManager[Iterator[bytes]]:
        return source.download(image_id, chunk_size)
    return open_data


def livecopy(source: ImageClient, target: ImageClient, options: SyncOptions, *,
             chunk_size: int, workers: int = 1, delete_extra: bool = False) -> CopyReport:
    """Make the target hold every image of the source (see sync_image), then report the
    target's images the source lacks; with `delete_extra` delete them."""
    seen: list[str] = []

    def listed() -> Iterator[ImageRecord]:
        for image in source.images():
            seen.append(image["id"])
            yield image

    report = copy_all(target, listed(), lambda image: members_of(source, image),
                      _downloads(source, chunk_size), lambda _: options, workers)
    known = set(seen)
    report.extra = [image["id"] for image in target.images() if image["id"] not in known]
    for image_id in report.extra:
        LOG.warning("%s: on the target but not on the source", image_id)
        if delete_extra:
            _delete_extra(target, image_id, report)
    return report


def _delete_extra(target: ImageClient, image_id: str, report: CopyReport) -> None:
    try:
        present = target.image(image_id)
        if present is not None and present.get("protected"):
            target.update(image_id, [{"op": "replace", "path": "/protected", "value": False}])
        target.delete(image_id)
        report.deleted.append(image_id)
    except ImageServiceError as exc:
        report.failures[image_id] = f"could not delete: {exc}"
