"""glance-replicator's dump and load: a folder with one entry per image.

For image ID the folder holds `ID` (its record as JSON), `ID.img` (its data, for
images with data unless `--metaonly`) and `ID.members` (its members as JSON, for
shared images). The record is written last and every file is written under a
temporary name and renamed, so an interrupted dump is resumed by running it again
(an image whose record exists is done) and never leaves a half file under a final name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glint.client.images import ImageClient, ImageRecord, ImageServiceError, Member
from glint.replication import records
from glint.replication.live import CopyReport, copy_all, members_of
from glint.replication.sync import DataOpener, ReplicationError, SyncOptions

LOG = logging.getLogger(__name__)


@dataclass
class DumpReport:
    dumped: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    bytes_written: int = 0


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".part")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _hashers(image: ImageRecord) -> dict[str, Any]:
    hashers: dict[str, Any] = {"checksum": hashlib.md5(usedforsecurity=False)}
    algorithm = str(image.get("os_hash_algo"))
    if algorithm in hashlib.algorithms_available:
        hashers["os_hash_value"] = hashlib.new(algorithm)
    return hashers


def _dump_data(client: ImageClient, image: ImageRecord, path: Path, chunk_size: int) -> int:
    """Stream the data into `path` (via a temporary name), checking size and hashes."""
    partial = path.with_name(path.name + ".part")
    hashers = _hashers(image)
    written = 0
    try:
        with client.download(image["id"], chunk_size) as chunks, partial.open("wb") as output:
            for chunk in chunks:
                output.write(chunk)
                written += len(chunk)
                for hasher in hashers.values():
                    hasher.update(chunk)
        found = {"size": written, **{key: h.hexdigest() for key, h in hashers.items()}}
        bad = [key for key, value in found.items()
               if image.get(key) is not None and image.get(key) != value]
        if bad:
            raise ReplicationError(image["id"], f"downloaded data differs in {', '.join(bad)}")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return written


def dump(client: ImageClient, folder: Path, *, metaonly: bool, chunk_size: int) -> DumpReport:
    """Write every image of `client` not yet in `folder` into it (see the module docstring)."""
    report = DumpReport()
    folder.mkdir(parents=True, exist_ok=True)
    for image in client.images():
        image_id = image["id"]
        record_path = folder / image_id
        if record_path.exists():
            report.already.append(image_id)
            continue
        LOG.info("Storing %s (%s, %s bytes)", image_id, image.get("name"), image.get("size"))
        try:
            if image.get("status") in records.WITH_DATA and not metaonly:
                report.bytes_written += _dump_data(client, image, folder / f"{image_id}.img",
                                                   chunk_size)
            members = [{"member_id": m.member_id, "status": m.status}
                       for m in members_of(client, image)]
            if members:
                _write_atomically(folder / f"{image_id}.members", json.dumps(members))
            _write_atomically(record_path, json.dumps(image))
            report.dumped.append(image_id)
        except (ReplicationError, ImageServiceError, OSError) as exc:
            LOG.error("%s: %s", image_id, exc)
            report.failures[image_id] = str(exc)
    return report


def _is_image_id(name: str) -> bool:
    try:
        return str(uuid.UUID(name)) == name.lower()
    except ValueError:
        return False


def _dumped_records(folder: Path) -> Iterator[ImageRecord]:
    for entry in sorted(folder.iterdir()):
        if _is_image_id(entry.name):
            record: ImageRecord = json.loads(entry.read_text(encoding="utf-8"))
            yield record


def _dumped_members(folder: Path, image: ImageRecord) -> list[Member]:
    path = folder / f"{image['id']}.members"
    if not path.exists():
        return []
    return [Member(entry["member_id"], entry["status"])
            for entry in json.loads(path.read_text(encoding="utf-8"))]


def _file_reader(folder: Path, chunk_size: int) -> DataOpener:
    @contextmanager
    def open_data(image_id: str) -> Iterator[Iterator[bytes]]:
        with (folder / f"{image_id}.img").open("rb") as data:
            yield iter(lambda: data.read(chunk_size), b"")
    return open_data


def load(target: ImageClient, folder: Path, options: SyncOptions, *, chunk_size: int,
         workers: int = 1) -> CopyReport:
    """Make the target hold every image dumped in `folder` (see sync_image). An image
    whose data was not dumped is only updated if present, never created."""
    def options_for(image: ImageRecord) -> SyncOptions:
        if (folder / f"{image['id']}.img").exists():
            return options
        LOG.info("%s: the dump has no data for it: metadata only", image["id"])
        return SyncOptions(skipped=options.skipped, metaonly=True)

    return copy_all(target, _dumped_records(folder), lambda image: _dumped_members(folder, image),
                    _file_reader(folder, chunk_size), options_for, workers)
