"""`glint replicate` between two `glint serve` (no auth), the target on every database."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from glint.client.images import ImageClient
from glint.replication import records
from tests.conftest import BACKENDS
from tests.replication.catalog import Spec, add_image, assert_same, host_port, replicate, seed
from tests.servers import GlintServer, database, glint_server

SUMMARY = re.compile(r"(\d+) created, (\d+) resumed, (\d+) updated, (\d+) unchanged, "
                     r"(\d+) skipped, (\d+) failed; (\d+) bytes copied")


def summary(output: str) -> dict[str, int]:
    found = SUMMARY.search(output)
    assert found, output
    names = ("created", "resumed", "updated", "unchanged", "skipped", "failed", "bytes")
    return dict(zip(names, map(int, found.groups()), strict=True))


@pytest.fixture
def source(tmp_path: Path) -> Iterator[GlintServer]:
    with glint_server(tmp_path / "source", f"sqlite:///{tmp_path / 'source.db'}",
                      flavor="") as running:
        yield running


def target_server(tmp_path: Path, backend: str) -> Iterator[GlintServer]:
    folder = tmp_path / "target"
    with database(backend, tmp_path) as url, glint_server(folder, url, flavor="") as running:
        yield running


@pytest.fixture(params=BACKENDS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GlintServer]:
    yield from target_server(tmp_path, request.param)


@pytest.fixture
def sqlite_target(tmp_path: Path) -> Iterator[GlintServer]:
    yield from target_server(tmp_path, "sqlite")


def test_livecopy_is_complete_then_incremental(source: GlintServer, target: GlintServer) -> None:
    with ImageClient(source.url) as left, ImageClient(target.url) as right:
        ids = seed(left, 12)
        first = summary(replicate("livecopy", "--workers", "3", host_port(source.url),
                                  host_port(target.url)).stdout)
        assert first["created"] == 12 and first["failed"] == 0 and first["skipped"] == 1
        assert_same(left, right, ids)
        compared = replicate("compare", host_port(source.url), host_port(target.url)).stdout
        assert compared.strip().endswith("0 differences: 0 missing, 0 differing, "
                                         "0 on the destination only"), compared

        second = summary(replicate("livecopy", source.url, target.url).stdout)
        assert (second["created"], second["updated"], second["bytes"]) == (0, 0, 0)
        assert second["unchanged"] == 12

        left.update(ids[5], [{"op": "replace", "path": "/note", "value": "changed"},
                             {"op": "add", "path": "/extra", "value": "new"}])
        left.update(ids[6], [{"op": "remove", "path": "/hw_disk_bus"}])
        new_id = add_image(left, Spec(40))
        differences = replicate("compare", source.url, target.url).stdout
        assert f"{ids[5]}: field note differs (source is changed, destination is n5)" \
            in differences
        assert f"{new_id}: entirely missing from the destination" in differences
        third = summary(replicate("livecopy", source.url, target.url).stdout)
        assert (third["created"], third["updated"], third["unchanged"]) == (1, 2, 10)
        assert third["bytes"] == Spec(40).size
        assert_same(left, right, [*ids, new_id])
        assert right.image(ids[6]) is not None and "hw_disk_bus" not in (right.image(ids[6]) or {})


def test_deleted_source_images_are_reported_and_deleted_with_the_flag(
        source: GlintServer, sqlite_target: GlintServer) -> None:
    with ImageClient(source.url) as left, ImageClient(sqlite_target.url) as right:
        ids = seed(left, 3)
        replicate("livecopy", source.url, sqlite_target.url)
        left.delete(ids[0])
        reported = replicate("livecopy", source.url, sqlite_target.url).stdout
        assert f"{ids[0]}: on the target but not on the source" in reported
        assert right.image(ids[0]) is not None
        assert f"{ids[0]}: on the destination only" in \
            replicate("compare", source.url, sqlite_target.url).stdout
        deleted = replicate("livecopy", "--delete-missing", source.url, sqlite_target.url).stdout
        assert f"{ids[0]}: deleted from the target" in deleted
        assert right.image(ids[0]) is None


def test_an_interrupted_copy_is_resumed(source: GlintServer, sqlite_target: GlintServer) -> None:
    with ImageClient(source.url) as left, ImageClient(sqlite_target.url) as right:
        image_id = add_image(left, Spec(8))
        # What a copy killed mid-upload leaves: the record under the same id, no data.
        right.create({"id": image_id, "name": "half", "disk_format": "raw",
                      "container_format": "bare"})
        done = summary(replicate("livecopy", source.url, sqlite_target.url).stdout)
        assert (done["resumed"], done["bytes"]) == (1, Spec(8).size)
        assert_same(left, right, [image_id])


def test_metaonly_updates_fields_and_creates_nothing(
        source: GlintServer, sqlite_target: GlintServer) -> None:
    with ImageClient(source.url) as left, ImageClient(sqlite_target.url) as right:
        ids = seed(left, 2)
        replicate("livecopy", source.url, sqlite_target.url)
        left.update(ids[0], [{"op": "replace", "path": "/name", "value": "renamed"}])
        new_id = add_image(left, Spec(9))
        done = summary(replicate("livecopy", "-m", source.url, sqlite_target.url).stdout)
        assert (done["created"], done["updated"], done["bytes"]) == (0, 1, 0)
        assert (right.image(ids[0]) or {})["name"] == "renamed"
        assert right.image(new_id) is None

        left.update(ids[1], [{"op": "replace", "path": "/note", "value": "not copied"},
                             {"op": "replace", "path": "/min_ram", "value": 512}])
        skipping = f"{records.DEFAULT_DONT_REPLICATE} note"
        done = summary(replicate("livecopy", "-m", "-D", skipping, source.url,
                                 sqlite_target.url).stdout)
        assert done["updated"] == 1
        assert ((right.image(ids[1]) or {})["note"], (right.image(ids[1]) or {})["min_ram"]) == \
            ("n1", 512)
        compared = replicate("compare", "--dontreplicate", skipping, source.url,
                             sqlite_target.url).stdout
        assert new_id in compared and "field note" not in compared


def test_dump_then_load(source: GlintServer, sqlite_target: GlintServer, tmp_path: Path) -> None:
    with ImageClient(source.url) as left, ImageClient(sqlite_target.url) as right:
        ids = seed(left, 6)
        folder = tmp_path / "dump"
        assert "7 dumped" in replicate("dump", host_port(source.url), str(folder)).stdout
        assert "0 dumped, 7 already there" in replicate("dump", source.url, str(folder)).stdout
        assert json.loads((folder / ids[2]).read_text())["visibility"] == "shared"
        assert not list(folder.glob("*.part"))
        loaded = summary(replicate("load", host_port(sqlite_target.url), str(folder)).stdout)
        assert (loaded["created"], loaded["failed"]) == (6, 0)
        assert_same(left, right, ids)
        again = summary(replicate("load", sqlite_target.url, str(folder)).stdout)
        assert (again["created"], again["unchanged"], again["bytes"]) == (0, 6, 0)


def test_a_bad_copy_is_an_error_and_is_deleted(
        source: GlintServer, sqlite_target: GlintServer, tmp_path: Path) -> None:
    with ImageClient(source.url) as left, ImageClient(sqlite_target.url) as right:
        image_id = add_image(left, Spec(1))
        folder = tmp_path / "dump"
        replicate("dump", source.url, str(folder))
        data = folder / f"{image_id}.img"
        corrupted = bytearray(data.read_bytes())
        corrupted[len(corrupted) // 2] ^= 0xFF
        data.write_bytes(bytes(corrupted))
        failed = replicate("load", sqlite_target.url, str(folder), check=False)
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert f"{image_id}: FAILED" in failed.stdout and "bad copy" in failed.stdout
        assert right.image(image_id) is None


def test_arguments_as_glance_replicator_takes_them(source: GlintServer) -> None:
    few = replicate("livecopy", source.url, check=False)
    assert (few.returncode, few.stderr.strip()) == (1, "ERROR: Too few arguments.")
    bad = replicate("size", "not a host:99999", check=False)
    assert bad.returncode == 1 and 'Port "99999" is not valid' in bad.stderr
    size = replicate("size", host_port(source.url)).stdout
    assert size.strip() == "Total size is 0 bytes (0.0 B) across 0 images"
    with ImageClient(source.url) as left:
        add_image(left, Spec(1))
    assert replicate("size", source.url).stdout.strip() == \
        f"Total size is {Spec(1).size} bytes ({Spec(1).size / 1024:.1f} KiB) across 1 images"


def test_an_id_taken_by_a_deleted_target_image_fails_clearly(
        source: GlintServer, sqlite_target: GlintServer) -> None:
    with ImageClient(source.url) as left, ImageClient(sqlite_target.url) as right:
        image_id = str(uuid.uuid4())
        right.create({"id": image_id, "disk_format": "raw", "container_format": "bare"})
        right.delete(image_id)
        left.create({"id": image_id, "disk_format": "raw", "container_format": "bare"})
        left.upload(image_id, [b"some data"], 9)
        failed = replicate("livecopy", source.url, sqlite_target.url, check=False)
        assert failed.returncode == 1
        assert f"{image_id}: FAILED:" in failed.stdout
        assert "a deleted image's id is never reused" in failed.stdout
        assert "0 created" in failed.stdout and "1 failed" in failed.stdout


def test_listing_pages_through_every_image_hidden_ones_too(source: GlintServer) -> None:
    with ImageClient(source.url) as left, ImageClient(source.url, page_size=2) as paging:
        ids = seed(left, 5)
        listed = [image["id"] for image in paging.images()]
        assert len(listed) == len(set(listed)) == 6
        assert set(ids) <= set(listed)
        assert any(image["os_hidden"] for image in paging.images())
