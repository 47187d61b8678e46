"""`ingest` on its own, into a real filesystem store in a temporary folder:
whatever refuses the data (the format verdict, the expected digests, the
caller's last check, the size cap) refuses it before it is published, and
nothing is left behind."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from glint.domain.errors import InvalidImageData, StorageFull
from glint.domain.image import Location
from glint.formats.verdict import FormatRules
from glint.services.ingest import (
    DataMismatch,
    Expected,
    FormatCheck,
    IngestRules,
    Measured,
    ingest,
    ingest_file,
)
from glint.stores.filesystem import FilesystemStore
from glint.stores.hashing import ImageTooLarge

MIB = 1 << 20
RAW = FormatCheck("raw", frozenset({"monolithicSparse"}), FormatRules())
# Data claimed to be qcow2: random bytes are not.
QCOW2 = FormatCheck("qcow2", frozenset({"monolithicSparse"}), FormatRules())


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), 65536):
        yield data[offset:offset + 65536]


async def test_data_is_inspected_hashed_and_published(tmp_path: Path) -> None:
    store = FilesystemStore("one", tmp_path)
    data = os.urandom(3 * MIB + 1)
    ingested = await ingest(str(uuid.uuid4()), _chunks(data), store,
                            IngestRules(size_cap=1 << 40, algorithm="sha256", formats=RAW))
    assert ingested.size == len(data) and ingested.inspected
    assert ingested.digests is not None
    assert ingested.digests.os_hash_value == hashlib.sha256(data).hexdigest()
    assert Path(ingested.location.url.removeprefix("file://")).read_bytes() == data


@pytest.mark.parametrize("refusal", ["verdict", "expected", "before_publish", "cap"])
async def test_refused_data_is_never_published(tmp_path: Path, refusal: str) -> None:
    store = FilesystemStore("one", tmp_path)
    data = os.urandom(MIB)

    async def refuse() -> None:
        raise RuntimeError("the write is no longer ours")

    rules = {
        "verdict": IngestRules(size_cap=1 << 40, algorithm="sha512", formats=QCOW2),
        "expected": IngestRules(size_cap=1 << 40, algorithm="sha512",
                                expected=Expected(size=len(data), checksum="0" * 32)),
        "before_publish": IngestRules(size_cap=1 << 40, algorithm=None, before_publish=refuse),
        "cap": IngestRules(size_cap=MIB - 1, algorithm="sha512"),
    }[refusal]
    raised = {"verdict": InvalidImageData, "expected": DataMismatch,
              "before_publish": RuntimeError, "cap": ImageTooLarge}[refusal]
    with pytest.raises(raised):
        await ingest(str(uuid.uuid4()), _chunks(data), store, rules)
    assert os.listdir(tmp_path) == []


async def test_known_data_is_checked_by_its_size_only(tmp_path: Path) -> None:
    store = FilesystemStore("one", tmp_path)
    data = os.urandom(MIB)
    rules = IngestRules(size_cap=1 << 40, algorithm=None, expected=Expected(size=len(data) + 1))
    with pytest.raises(DataMismatch):
        await ingest(str(uuid.uuid4()), _chunks(data), store, rules)
    assert os.listdir(tmp_path) == []
    ingested = await ingest(str(uuid.uuid4()), _chunks(data), store,
                            IngestRules(size_cap=1 << 40, algorithm=None,
                                        expected=Expected(size=len(data))))
    assert ingested.digests is None and ingested.size == len(data)


async def test_a_full_store_is_storage_full(tmp_path: Path) -> None:
    store = FilesystemStore("one", tmp_path)
    with pytest.raises(StorageFull):
        await ingest(str(uuid.uuid4()), _chunks(b"x"), store,
                     IngestRules(size_cap=1 << 62, algorithm="sha512", declared_size=1 << 61))
    assert os.listdir(tmp_path) == []


async def test_measured_data_is_hashed_and_kept_nowhere() -> None:
    where = Location(url="http://example.test/disk", store="http")
    ingested = await ingest(str(uuid.uuid4()), _chunks(b"abc"), Measured(where),
                            IngestRules(size_cap=10, algorithm="sha1"))
    assert ingested.location == where and ingested.digests is not None
    assert ingested.digests.os_hash_value == hashlib.sha1(b"abc").hexdigest()


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with open(path, "rb") as handle:
        while block := handle.read(65536):
            yield block


def _staged(folder: Path, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / str(uuid.uuid4())
    path.write_bytes(data)
    return path


async def test_a_file_on_the_same_filesystem_is_adopted_not_copied(tmp_path: Path) -> None:
    store = FilesystemStore("one", tmp_path / "store")
    store.prepare()
    staged = _staged(tmp_path / "staging", os.urandom(2 * MIB))
    ingested = await ingest_file(staged.name, staged, _file_chunks(staged), store,
                                 IngestRules(size_cap=1 << 40, algorithm="sha512", formats=RAW))
    published = Path(ingested.location.url.removeprefix("file://"))
    assert published.stat().st_ino == staged.stat().st_ino  # a link, no second copy
    assert ingested.digests is not None
    assert ingested.digests.os_hash_value == hashlib.sha512(staged.read_bytes()).hexdigest()
    staged.unlink()  # the staging area lets go: the store's data stays
    assert published.stat().st_size == 2 * MIB
    assert [p.name for p in (tmp_path / "store").iterdir()] == [published.name]


async def test_a_refused_file_is_not_adopted(tmp_path: Path) -> None:
    store = FilesystemStore("one", tmp_path / "store")
    store.prepare()
    staged = _staged(tmp_path / "staging", os.urandom(MIB))
    with pytest.raises(InvalidImageData):
        await ingest_file(staged.name, staged, _file_chunks(staged), store,
                          IngestRules(size_cap=1 << 40, algorithm="sha512", formats=QCOW2))
    assert list((tmp_path / "store").iterdir()) == []


async def test_a_file_replaced_while_it_is_checked_is_not_published(tmp_path: Path) -> None:
    store = FilesystemStore("one", tmp_path / "store")
    store.prepare()
    staged = _staged(tmp_path / "staging", os.urandom(MIB))

    async def swapped() -> AsyncIterator[bytes]:
        async for block in _file_chunks(staged):
            yield block
        replacement = staged.with_name("other")
        replacement.write_bytes(os.urandom(MIB))
        replacement.replace(staged)

    with pytest.raises(DataMismatch, match="changed while it was stored"):
        await ingest_file(staged.name, staged, swapped(), store,
                          IngestRules(size_cap=1 << 40, algorithm="sha512"))
    assert list((tmp_path / "store").iterdir()) == []


async def test_a_file_elsewhere_is_copied(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.fail("the test needs /dev/shm on another filesystem than the temporary folder")
    staged = _staged(shm / f"glint-test-{uuid.uuid4().hex}", os.urandom(MIB))
    try:
        store = FilesystemStore("one", tmp_path / "store")
        store.prepare()
        ingested = await ingest_file(staged.name, staged, _file_chunks(staged), store,
                                     IngestRules(size_cap=1 << 40, algorithm="sha512"))
        published = Path(ingested.location.url.removeprefix("file://"))
        assert published.stat().st_ino != staged.stat().st_ino
        assert published.read_bytes() == staged.read_bytes()
    finally:
        staged.unlink()
        staged.parent.rmdir()
