"""Make one image on the target equal to its source record: create and copy, or update.

Used by `livecopy` (data streamed from the source service) and `load` (data read
from a dump folder): both hand in an `open_data` that yields the chunks. Data goes
from one socket (or file) to the other a chunk at a time; the target computes the
size and hashes of what arrived and they must equal the source's, or the copy is
deleted and the image reported as failed.

Error tree (besides the client's ImageServiceError):

    ReplicationError     one image could not be made equal
        BadCopy          the data arrived with another size or hash than the source's
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import StrEnum

from glint.client.images import (
    ImageClient,
    ImageConflict,
    ImageRecord,
    ImageServiceError,
    Member,
)
from glint.replication import records

LOG = logging.getLogger(__name__)

DataOpener = Callable[[str], AbstractContextManager[Iterator[bytes]]]


class ReplicationError(Exception):
    """Image `image_id` could not be replicated, for `reason`."""

    def __init__(self, image_id: str, reason: str) -> None:
        super().__init__(f"{image_id}: {reason}")
        self.image_id = image_id
        self.reason = reason


class BadCopy(ReplicationError):
    """The target computed another size or hash than the source recorded."""


class Outcome(StrEnum):
    CREATED = "created"
    RESUMED = "resumed"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class SyncOptions:
    skipped: frozenset[str]
    metaonly: bool = False


@dataclass
class Counter:
    """Bytes moved, shared by worker threads."""

    value: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, amount: int) -> None:
        with self._lock:
            self.value += amount


def _counted(chunks: Iterator[bytes], moved: Counter, sent: list[int]) -> Iterator[bytes]:
    for chunk in chunks:
        sent[0] += len(chunk)
        moved.add(len(chunk))
        yield chunk


def _stream(target: ImageClient, source: ImageRecord, open_data: DataOpener,
            moved: Counter) -> None:
    image_id = source["id"]
    sent = [0]
    with open_data(image_id) as chunks:
        target.upload(image_id, _counted(chunks, moved, sent), source.get("size"))
    arrived = target.image(image_id)
    if arrived is None:
        raise ReplicationError(image_id, "the copy vanished from the target after its upload")
    mismatches = records.data_mismatches(source, arrived)
    if sent[0] != source.get("size", sent[0]):
        mismatches.append(records.FieldDifference("bytes read", source.get("size"), sent[0]))
    if mismatches:
        detail = ", ".join(f"{m.key} {m.source} on the source but {m.target} on arrival"
                           for m in mismatches)
        raise BadCopy(image_id, f"bad copy ({detail}); the copy was deleted")


def _discard(target: ImageClient, image_id: str) -> None:
    try:
        target.delete(image_id)
    except ImageServiceError as exc:
        LOG.error("%s: could not delete the failed copy: %s", image_id, exc)


def _finish(target: ImageClient, source: ImageRecord, options: SyncOptions) -> None:
    """What may only be set once the data is in: protection and deactivation."""
    if source.get("protected") and "protected" not in options.skipped:
        target.update(source["id"], [{"op": "replace", "path": "/protected", "value": True}])
    if source.get("status") == "deactivated":
        target.deactivate(source["id"])


def sync_members(target: ImageClient, image_id: str, wanted: list[Member]) -> bool:
    """Make the target's member list equal `wanted`; True when anything changed."""
    present = {m.member_id: m.status for m in target.members(image_id)}
    goal = {m.member_id: m.status for m in wanted}
    for member_id in present.keys() - goal.keys():
        target.remove_member(image_id, member_id)
    for member_id, status in goal.items():
        if member_id not in present:
            target.add_member(image_id, member_id)
            present[member_id] = "pending"
        if present[member_id] != status:
            target.set_member_status(image_id, member_id, status)
    return present != goal


def _create(target: ImageClient, source: ImageRecord, members: list[Member],
            open_data: DataOpener, options: SyncOptions, moved: Counter) -> Outcome:
    image_id = source["id"]
    try:
        target.create(records.creation_body(source, options.skipped))
    except ImageConflict as exc:
        raise ReplicationError(image_id, (
            "the id is taken on the target, yet this token cannot see the image there: use "
            "a token that sees every image (an admin's); a deleted image's id is never "
            f"reused ({exc.detail})")) from exc
    try:
        if source.get("visibility") == "shared":
            sync_members(target, image_id, members)
        _stream(target, source, open_data, moved)
    except BaseException:
        _discard(target, image_id)
        raise
    _finish(target, source, options)
    return Outcome.CREATED


def _update(target: ImageClient, source: ImageRecord, present: ImageRecord,
            members: list[Member], options: SyncOptions) -> Outcome:
    image_id = source["id"]
    operations = records.update_operations(source, present, options.skipped)
    changed = bool(operations)
    if operations:
        LOG.info("%s: metadata has changed (%s)", image_id,
                 ", ".join(op["path"].lstrip("/") for op in operations))
        target.update(image_id, operations)
    if source.get("visibility") == "shared":
        changed = sync_members(target, image_id, members) or changed
    status, current = source.get("status"), present.get("status")
    if status == "deactivated" and current == "active":
        target.deactivate(image_id)
        changed = True
    elif status == "active" and current == "deactivated":
        target.reactivate(image_id)
        changed = True
    return Outcome.UPDATED if changed else Outcome.UNCHANGED


def _resume(target: ImageClient, source: ImageRecord, members: list[Member],
            open_data: DataOpener, options: SyncOptions, moved: Counter) -> Outcome:
    """An earlier run created the image but its data never arrived: send it now."""
    image_id = source["id"]
    present = target.image(image_id) or {}
    operations = [op for op in records.update_operations(source, present, options.skipped)
                  if op["path"] != "/protected"]
    if operations:
        target.update(image_id, operations)
    if source.get("visibility") == "shared":
        sync_members(target, image_id, members)
    try:
        _stream(target, source, open_data, moved)
    except BaseException:
        _discard(target, image_id)
        raise
    _finish(target, source, options)
    return Outcome.RESUMED


def sync_image(target: ImageClient, source: ImageRecord, members: list[Member],
               open_data: DataOpener, options: SyncOptions, moved: Counter) -> Outcome:
    """Make image `source["id"]` on `target` equal `source` (its record and members).

    Missing images with data are created under the same id and their data streamed
    in and verified; an image an earlier run left without data gets its data; a
    present one gets only the fields that differ. With `options.metaonly` no data is
    sent and missing images are skipped. Raises ReplicationError, BadCopy or
    ImageServiceError (a failed copy is deleted from the target first).
    """
    image_id = source["id"]
    present = target.image(image_id)
    if present is None:
        if source.get("status") not in records.WITH_DATA or options.metaonly:
            return Outcome.SKIPPED
        LOG.info("%s is being synced", image_id)
        return _create(target, source, members, open_data, options, moved)
    if present.get("status") == "queued" and source.get("status") in records.WITH_DATA:
        if options.metaonly:
            return _update(target, source, present, members, options)
        LOG.info("%s: resuming, its data never arrived", image_id)
        return _resume(target, source, members, open_data, options, moved)
    return _update(target, source, present, members, options)
