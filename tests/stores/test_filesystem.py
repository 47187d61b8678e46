"""The filesystem store against a real temporary directory."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from glint.domain.image import Location
from glint.stores.base import DataNotFound, StoreFull
from glint.stores.filesystem import FilesystemStore
from glint.stores.options import BackendConfig, OptionError
from tests.servers import GLINT, free_port, glint_command, write_config


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def failing() -> AsyncIterator[bytes]:
    yield b"partial data"
    raise ConnectionError("client went away")


@pytest.fixture
def store(tmp_path: Path) -> FilesystemStore:
    store = FilesystemStore("file", tmp_path / "images")
    store.prepare()
    return store


async def read_all(store: FilesystemStore, location: Location, start: int = 0,
                   length: int | None = None) -> bytes:
    return b"".join([b async for b in store.read(location, start, length)])


async def test_write_read_delete(store: FilesystemStore) -> None:
    image_id = str(uuid.uuid4())
    stored = await store.write(image_id, chunks(b"hello ", b"world"))
    assert await store.size(stored.location) == 11
    assert stored.location.store == "file"
    assert stored.location.url == (store.directory / image_id).as_uri()
    assert await read_all(store, stored.location) == b"hello world"
    assert await read_all(store, stored.location, 6) == b"world"
    assert await read_all(store, stored.location, 2, 3) == b"llo"
    await store.delete(stored.location)
    await store.delete(stored.location)  # already gone is fine
    with pytest.raises(DataNotFound):
        await read_all(store, stored.location)


async def test_failed_write_leaves_nothing(store: FilesystemStore) -> None:
    with pytest.raises(ConnectionError):
        await store.write(str(uuid.uuid4()), failing())
    assert os.listdir(store.directory) == []


async def test_locations_outside_the_directory_are_refused(store: FilesystemStore) -> None:
    for url in ["file:///etc/passwd", f"file://{store.directory}/../secret", "http://x/y"]:
        with pytest.raises(DataNotFound):
            await read_all(store, Location(url=url, store="file"))


async def test_ids_must_be_uuids(store: FilesystemStore) -> None:
    with pytest.raises(ValueError):
        await store.write("../../escape", chunks(b"x"))


def test_prepare_leaves_partial_files_alone(store: FilesystemStore) -> None:
    """Another node sharing the directory may be writing them: crash recovery, which
    knows from the database whose writes died, removes them (remove_unfinished)."""
    partial = store.directory / f".{uuid.uuid4()}.{uuid.uuid4().hex}.partial"
    partial.write_bytes(b"x")
    store.prepare()
    assert partial.exists()


async def test_unfinished_writes_of_one_image_are_removed_in_every_directory(
        tmp_path: Path) -> None:
    store = FilesystemStore.from_config(_config(
        filesystem_store_datadirs=f"{tmp_path / 'a'}:2,{tmp_path / 'b'}:1"))
    store.prepare()
    image_id, other = str(uuid.uuid4()), str(uuid.uuid4())
    left = [tmp_path / "a" / f".{image_id}.{uuid.uuid4().hex}.partial",
            tmp_path / "b" / f".{image_id}.4242.{uuid.uuid4().hex}.partial",  # older naming
            tmp_path / "b" / image_id]
    kept = [tmp_path / "a" / f".{other}.{uuid.uuid4().hex}.partial", tmp_path / "a" / other]
    for path in left + kept:
        path.write_bytes(b"x")

    async def never(location: Location) -> bool:
        return False

    removed = await store.remove_unfinished(image_id, never)
    assert sorted(removed) == sorted(str(path) for path in left)
    assert all(path.exists() for path in kept) and not any(path.exists() for path in left)


def _config(**options: str) -> BackendConfig:
    return BackendConfig("fast", "file", "fast", options)


async def test_highest_priority_directory_takes_new_data(tmp_path: Path) -> None:
    low, high = tmp_path / "low", tmp_path / "high"
    store = FilesystemStore.from_config(_config(
        filesystem_store_datadirs=f"{low}:100\n{high}:200"))
    store.prepare()
    stored = await store.write(str(uuid.uuid4()), chunks(b"data"))
    assert Path(urlparse(stored.location.url).path).parent == high.resolve()
    # Data in any of the directories is readable.
    old = low / str(uuid.uuid4())
    old.write_bytes(b"older")
    assert await read_all(store, Location(url=old.as_uri(), store="fast")) == b"older"


async def test_declared_size_beyond_free_space_is_refused_before_reading(tmp_path: Path) -> None:
    store = FilesystemStore.from_config(_config(filesystem_store_datadir=str(tmp_path / "d")))
    store.prepare()
    read = []

    async def body() -> AsyncIterator[bytes]:
        read.append(1)
        yield b"x"

    with pytest.raises(StoreFull):
        await store.write(str(uuid.uuid4()), body(), size_hint=1 << 62)
    assert read == [] and os.listdir(tmp_path / "d") == []


@pytest.mark.parametrize("perm,mode", [("640", 0o640), ("644", 0o644), ("0", 0o640)])
async def test_file_perm(tmp_path: Path, perm: str, mode: int) -> None:
    store = FilesystemStore.from_config(_config(filesystem_store_datadir=str(tmp_path),
                                                filesystem_store_file_perm=perm))
    stored = await store.write(str(uuid.uuid4()), chunks(b"x"))
    assert stat.S_IMODE(os.stat(urlparse(stored.location.url).path).st_mode) == mode


@pytest.mark.parametrize("options,key", [
    ({"filesystem_store_datadirs": "/a:high"}, "filesystem_store_datadirs"),
    ({"filesystem_store_datadirs": "/a:1\n/a:2"}, "filesystem_store_datadirs"),
    ({"filesystem_store_datadir": "/a", "filesystem_store_file_perm": "rw"},
     "filesystem_store_file_perm"),
])
def test_bad_options_name_the_key(options: dict[str, str], key: str) -> None:
    with pytest.raises(OptionError) as raised:
        FilesystemStore.from_config(_config(**options))
    assert raised.value.key == key and str(raised.value).startswith(f"[fast] {key}:")


def _metadata_file(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "metadata.json"
    path.write_text(json.dumps(document))
    return path


async def test_metadata_file_object_is_attached_to_new_locations(tmp_path: Path) -> None:
    entry = {"id": "nfs-1", "mountpoint": str(tmp_path / "images"), "share": "filer:/images"}
    store = FilesystemStore.from_config(_config(
        filesystem_store_datadir=str(tmp_path / "images"),
        filesystem_store_metadata_file=str(_metadata_file(tmp_path, entry))))
    store.prepare()
    stored = await store.write(str(uuid.uuid4()), chunks(b"data"))
    assert stored.location.metadata == entry


async def test_metadata_file_list_gives_each_mount_its_entry(tmp_path: Path) -> None:
    low, high = tmp_path / "low", tmp_path / "high"
    entries = [{"id": "low", "mountpoint": str(low)}, {"id": "high", "mountpoint": f"{high}/"}]
    store = FilesystemStore.from_config(_config(
        filesystem_store_datadirs=f"{low}:100\n{high}:200",
        filesystem_store_metadata_file=str(_metadata_file(tmp_path, entries))))
    store.prepare()
    stored = await store.write(str(uuid.uuid4()), chunks(b"data"))
    assert stored.location.metadata == {"id": "high", "mountpoint": f"{high}/"}
    assert store.metadata_for(low.resolve() / "x") == {"id": "low", "mountpoint": str(low)}
    # A mount point is a folder, not a prefix of a name: /…/low is not /…/lower.
    assert store.metadata_for(tmp_path.resolve() / "lower" / "x") == {}


async def test_metadata_file_without_a_matching_mount_gives_no_metadata(tmp_path: Path) -> None:
    store = FilesystemStore.from_config(_config(
        filesystem_store_datadir=str(tmp_path / "images"),
        filesystem_store_metadata_file=str(_metadata_file(
            tmp_path, {"id": "elsewhere", "mountpoint": "/mnt/elsewhere"}))))
    store.prepare()
    stored = await store.write(str(uuid.uuid4()), chunks(b"data"))
    assert stored.location.metadata == {}


@pytest.mark.parametrize("document", [
    "not json {",
    json.dumps([]),
    json.dumps("a string"),
    json.dumps({"mountpoint": "/srv"}),
    json.dumps({"id": 10, "mountpoint": "/srv"}),
    json.dumps([{"id": "a", "mountpoint": "/srv"}, "b"]),
    json.dumps({"id": "a", "mountpoint": "/srv", "size": 10}),
    json.dumps({"id": "a", "mountpoint": "/srv", "tags": ["x", None]}),
])
def test_bad_metadata_file_names_the_key(tmp_path: Path, document: str) -> None:
    path = tmp_path / "metadata.json"
    path.write_text(document)
    with pytest.raises(OptionError) as raised:
        FilesystemStore.from_config(_config(filesystem_store_datadir=str(tmp_path / "d"),
                                            filesystem_store_metadata_file=str(path)))
    assert raised.value.key == "filesystem_store_metadata_file"


def test_missing_metadata_file_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(OptionError) as raised:
        FilesystemStore.from_config(_config(
            filesystem_store_datadir=str(tmp_path / "d"),
            filesystem_store_metadata_file=str(tmp_path / "missing.json")))
    assert str(raised.value).startswith("[fast] filesystem_store_metadata_file: cannot read")


def test_serve_refuses_a_bad_metadata_file(tmp_path: Path) -> None:
    (tmp_path / "metadata.json").write_text(json.dumps({"id": "a"}))
    config = write_config(tmp_path / "glance-api.conf", {
        "DEFAULT": {"bind_host": "127.0.0.1", "bind_port": free_port()},
        "database": {"connection": f"sqlite:///{tmp_path / 'glint.db'}"},
        "glance_store": {"filesystem_store_datadir": tmp_path / "images",
                         "filesystem_store_metadata_file": tmp_path / "metadata.json"},
    })
    glint_command("db", "sync", "--config-file", str(config))
    done = subprocess.run([str(GLINT), "serve", "--config-file", str(config)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, done.stderr
    assert "[glance_store] filesystem_store_metadata_file" in errors[0]
    assert "mountpoint" in errors[0]
