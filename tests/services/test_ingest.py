"""The one ingest step (glint.services.ingest) as the import uses it: staged data
is hashed and inspected once, at stage time, and an import into several stores
hashes nothing again; data a plugin changed is hashed once, in the pass that
stores it; a copy that differs from the kept digests fails the import.

The services run in-process on a real database of each backend, with two real
filesystem stores. Hash passes are counted with an instrumented hashlib
(HashingStream's md5 objects count the bytes they are given), inspection with
an instrumented Detection.feed."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from glint.db import task_repositories as tasks_repo
from glint.domain.image import Image, ImageStatus
from glint.domain.task import TaskStatus
from glint.formats.detect import Detection
from glint.services.container import Services
from glint.settings import DatabaseSettings, ImportSettings, StoreSettings, embedded_settings
from glint.stores import hashing
from glint.stores.base import StoredData
from glint.stores.filesystem import FilesystemStore
from tests.conftest import BACKENDS
from tests.servers import database
from tests.services.conftest import built_services, caller, new_image

MIB = 1 << 20


@dataclass
class Counted:
    """Bytes given to md5 (one md5 per hash pass) and to the format inspectors."""

    hashed: int = 0
    inspected: int = 0


class _CountingMd5:
    def __init__(self, counted: Counted) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._counted = counted

    def update(self, data: bytes) -> None:
        self._counted.hashed += len(data)
        self._md5.update(data)

    def hexdigest(self) -> str:
        return self._md5.hexdigest()


class _CountingHashlib:
    """Stands for hashlib in glint.stores.hashing."""

    def __init__(self, counted: Counted) -> None:
        self._counted = counted

    def md5(self, **_: Any) -> _CountingMd5:
        return _CountingMd5(self._counted)

    def new(self, name: str) -> Any:
        return hashlib.new(name)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Counted:
    found = Counted()
    monkeypatch.setattr(hashing, "hashlib", _CountingHashlib(found))
    feed = Detection.feed

    def counting_feed(self: Detection, block: bytes) -> None:
        found.inspected += len(block)
        feed(self, block)

    monkeypatch.setattr(Detection, "feed", counting_feed)
    return found


def _settings(tmp_path: Path, url: str, plugins: tuple[str, ...] = ("no_op",)) -> Any:
    stores = StoreSettings(
        enabled_backends=(("one", "file"), ("two", "file")), default_backend="one",
        sections={name: {"filesystem_store_datadir": str(tmp_path / name)}
                  for name in ("one", "two")},
        filesystem_store_datadir=tmp_path / "images")
    return replace(embedded_settings(tmp_path), database=DatabaseSettings(url=url),
                   store=stores, imports=ImportSettings(image_import_plugins=plugins))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def plugins() -> tuple[str, ...]:
    """The import plugins (a test parametrizes it for others)."""
    return ("no_op",)


@pytest.fixture
def site(backend: str, plugins: tuple[str, ...], tmp_path: Path) -> Iterator[Services]:
    """The services with two filesystem stores, `one` and `two`."""
    with database(backend, tmp_path) as url, \
            built_services(url, tmp_path, _settings(tmp_path, url, plugins)) as built:
        yield built


async def _body(data: bytes) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), MIB):
        yield data[offset:offset + MIB]


async def _stage_and_import(site: Services, data: bytes) -> tuple[Image, str]:
    """Stage `data` on a new image and import it into both stores; the image and
    the task's status and message."""
    owner = caller()
    image = new_image(site, owner)
    await site.imports.stage(owner, image.id, _body(data), expected_size=None)
    request = site.imports.parse({"method": {"name": "glance-direct"}, "stores": ["one", "two"]})
    task = site.imports.start_import(owner, image.id, request)
    assert task is not None
    site.imports.launch(task.id)
    # Generous: the machine may be busy.
    for _ in range(2400):
        with site.db.reading() as session:
            found = tasks_repo.get_task(session, task.id)
        assert found is not None
        # The runner removes the staged data just after it records the outcome.
        if found.status in (TaskStatus.SUCCESS, TaskStatus.FAILURE) \
                and not _files(site.imports.staging.folder):
            return site.images.show(owner, image.id), f"{found.status}: {found.message}"
        await asyncio.sleep(0.05)
    raise AssertionError("the import did not end")


def _files(folder: Path) -> list[str]:
    return sorted(os.listdir(folder)) if folder.is_dir() else []


async def test_staged_data_is_hashed_once_for_any_number_of_stores(
        site: Services, counted: Counted, tmp_path: Path) -> None:
    data = os.urandom(3 * MIB + 17)
    image, outcome = await _stage_and_import(site, data)
    assert outcome.startswith("success"), outcome
    assert counted.hashed == len(data)
    assert counted.inspected == len(data)
    assert image.status == ImageStatus.ACTIVE and image.size == len(data)
    assert image.checksum == hashlib.md5(data).hexdigest()
    assert image.os_hash_value == hashlib.sha512(data).hexdigest()
    assert sorted(location.store for location in image.locations) == ["one", "two"]
    for name in ("one", "two"):
        assert (tmp_path / name / image.id).read_bytes() == data
    assert _files(tmp_path / "staging") == []


@pytest.mark.parametrize("plugins", [("image_decompression",)])
async def test_data_a_plugin_changed_is_hashed_once_where_it_is_stored(
        site: Services, counted: Counted, tmp_path: Path) -> None:
    content = os.urandom(2 * MIB) + bytes(2 * MIB)
    packed = gzip.compress(content, compresslevel=1)
    image, outcome = await _stage_and_import(site, packed)
    assert outcome.startswith("success"), outcome
    # The staged (compressed) stream once, the decompressed one once.
    assert counted.hashed == len(packed) + len(content)
    assert counted.inspected == len(packed) + len(content)
    assert image.size == len(content)
    assert image.os_hash_value == hashlib.sha512(content).hexdigest()
    for name in ("one", "two"):
        assert (tmp_path / name / image.id).read_bytes() == content


class _StagingSpoiler(FilesystemStore):
    """A real filesystem store that, once it has written its copy, replaces the
    staged file with other data (as a stray process might), so the next store's
    copy differs from the digests kept at stage time."""

    staging: Path

    async def write(self, image_id: str, chunks: AsyncIterator[bytes],
                    size_hint: int | None = None) -> StoredData:
        stored = await super().write(image_id, chunks, size_hint)
        self._spoil(image_id)
        return stored

    def can_adopt(self, path: Path) -> bool:
        return False  # this one copies; the next store adopts the spoiled file

    def _spoil(self, image_id: str) -> None:
        staged = self.staging / image_id
        spoiled = bytearray(staged.read_bytes())
        spoiled[0] ^= 0xFF
        replacement = staged.with_name(f"{image_id}.spoiled")
        replacement.write_bytes(bytes(spoiled))
        replacement.replace(staged)


async def test_a_copy_that_differs_from_the_kept_digests_fails_the_import(
        site: Services, tmp_path: Path) -> None:
    spoiler = _StagingSpoiler("one", tmp_path / "one")
    spoiler.staging = site.imports.staging.folder
    site.stores.stores["one"] = spoiler
    image, outcome = await _stage_and_import(site, os.urandom(MIB + 5))
    assert outcome.startswith("failure") and "does not match" in outcome, outcome
    assert image.status == ImageStatus.QUEUED and not image.locations
    # Neither copy is left: the second was never published, the first was removed.
    assert _files(tmp_path / "one") == [] and _files(tmp_path / "two") == []
