"""Format inspection on upload, over real HTTP, with images made by qemu-img.

Every legitimate format is accepted with the virtual size qemu-img reports;
every image that could make qemu-img open host files is refused with 415,
leaving the image queued and no data in the store (Glance 33 leaves the
bytes behind and then fails the retry with 500: bug 1 of GLANCE-FEATURES f).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Caller
from tests.formats import crafted
from tests.servers import GlintServer, glint_server

MIB = 1 << 20


def _qemu_img() -> str:
    found = shutil.which("qemu-img")
    if found is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "qemu-utils"],
                       check=True, capture_output=True, env={**os.environ,
                                                            "DEBIAN_FRONTEND": "noninteractive"})
        found = shutil.which("qemu-img")
    assert found, "qemu-img is needed (Debian qemu-utils)"
    return found


@dataclass
class Corpus:
    folder: Path
    qemu_img: str

    def run(self, *args: str) -> str:
        return subprocess.run([self.qemu_img, *args], check=True, capture_output=True,
                              text=True, cwd=self.folder).stdout

    def create(self, name: str, fmt: str, size: str, *options: str) -> Path:
        self.run("create", "-q", "-f", fmt, *options, name, size)
        return self.folder / name

    def virtual_size(self, path: Path, fmt: str) -> int:
        info = json.loads(self.run("info", "--output", "json", "-f", fmt, str(path)))
        return int(info["virtual-size"])


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    folder = tmp_path_factory.mktemp("corpus")
    made = Corpus(folder, _qemu_img())
    (folder / "base.raw").write_bytes(b"secret" * 1000)
    (folder / "host-file").write_bytes(b"host data" * 100)
    return made


# (name, qemu-img format, Glance disk_format, size, create options)
LEGITIMATE = [
    ("v3.qcow2", "qcow2", "qcow2", "64M", ()),
    ("v2.qcow2", "qcow2", "qcow2", "10M", ("-o", "compat=0.10")),
    ("sparse.vmdk", "vmdk", "vmdk", "20M", ()),
    ("stream.vmdk", "vmdk", "vmdk", "20M", ("-o", "subformat=streamOptimized")),
    ("disk.vhd", "vpc", "vhd", "30M", ()),
    ("disk.vhdx", "vhdx", "vhdx", "40M", ()),
    ("disk.vdi", "vdi", "vdi", "50M", ()),
    ("disk.ploop", "parallels", "ploop", "60M", ()),
    ("disk.raw", "raw", "raw", "3M", ()),
]


def _upload(caller: Caller, disk_format: str, data: bytes) -> tuple[dict[str, object], int, str]:
    image = caller.create(disk_format=disk_format)
    response = caller.upload(image["id"], data)
    return image, response.status_code, response.text


def _store_files(server: GlintServer) -> set[str]:
    return set(os.listdir(server.folder / "images"))


@pytest.mark.parametrize(("name", "fmt", "disk_format", "size", "options"), LEGITIMATE)
def test_legitimate_images_get_qemu_img_virtual_size(
    corpus: Corpus, member: Caller, name: str, fmt: str, disk_format: str, size: str,
    options: tuple[str, ...],
) -> None:
    path = corpus.create(name, fmt, size, *options)
    image, status, text = _upload(member, disk_format, path.read_bytes())
    assert status == 204, text
    shown = member.http.get(f"/v2/images/{image['id']}").json()
    assert shown["status"] == "active"
    assert shown["virtual_size"] == corpus.virtual_size(path, fmt)


def test_bootable_iso_with_gpt_is_an_iso(member: Caller) -> None:
    data = bytearray(crafted.iso(64))
    data[:512] = crafted.gpt()[:512]
    image, status, text = _upload(member, "iso", bytes(data))
    assert status == 204, text
    assert member.http.get(f"/v2/images/{image['id']}").json()["virtual_size"] == 64 * 2048


def _unsafe_images(corpus: Corpus) -> dict[str, bytes]:
    backing = corpus.create("backing.qcow2", "qcow2", "10M", "-b", "base.raw", "-F", "raw")
    data_file = corpus.create("datafile.qcow2", "qcow2", "10M", "-o", "data_file=external.raw")
    flat = corpus.create("flat.vmdk", "vmdk", "10M", "-o", "subformat=monolithicFlat")
    split = corpus.create("split.vmdk", "vmdk", "10M", "-o", "subformat=twoGbMaxExtentSparse")
    qed = corpus.create("disk.qed", "qed", "10M")
    return {
        "qcow2 backing file": backing.read_bytes(),
        "qcow2 external data file": data_file.read_bytes(),
        "vmdk monolithicFlat": flat.read_bytes(),
        "vmdk twoGbMaxExtentSparse": split.read_bytes(),
        "vmdk extent naming a host path": crafted.vmdk_sparse(
            descriptor='createType="monolithicSparse"\nRW 2048 SPARSE "/etc/shadow"\n'),
        "qed": qed.read_bytes(),
        "luks 2": crafted.luks(2),
        "broken gpt": crafted.mbr([(0, 0xEE, b"\x00\x02\x00", 7)]),
    }


@pytest.mark.parametrize("disk_format", ["qcow2", "vmdk", "raw"])
def test_unsafe_images_are_refused_and_leave_nothing(
    corpus: Corpus, member: Caller, server: GlintServer, disk_format: str
) -> None:
    for label, data in _unsafe_images(corpus).items():
        before = _store_files(server)
        image, status, text = _upload(member, disk_format, data)
        assert status == 415, f"{label} as {disk_format}: {status} {text}"
        message = json.loads(text)["message"]
        assert "safety" in message or "does not match" in message, message
        shown = member.http.get(f"/v2/images/{image['id']}").json()
        assert (shown["status"], shown["size"], shown["checksum"]) == ("queued", None, None)
        assert _store_files(server) == before


def test_refused_upload_can_be_retried_with_good_data(
    corpus: Corpus, member: Caller, server: GlintServer
) -> None:
    image = member.create(disk_format="qcow2")
    bad = corpus.create("retry-bad.qcow2", "qcow2", "10M", "-b", "base.raw", "-F", "raw")
    assert member.upload(image["id"], bad.read_bytes()).status_code == 415
    good = corpus.create("retry-good.qcow2", "qcow2", "10M")
    assert member.upload(image["id"], good.read_bytes()).status_code == 204
    shown = member.http.get(f"/v2/images/{image['id']}").json()
    assert (shown["status"], shown["virtual_size"]) == ("active", 10 * MIB)


@pytest.mark.parametrize(("disk_format", "fmt", "name"), [
    ("vmdk", "qcow2", "mismatch.qcow2"),
    ("qcow2", "raw", "mismatch.raw"),
    ("vhdx", "vpc", "mismatch.vhd"),
])
def test_data_must_match_disk_format(corpus: Corpus, member: Caller, disk_format: str,
                                     fmt: str, name: str) -> None:
    path = corpus.create(name, fmt, "4M")
    image, status, text = _upload(member, disk_format, path.read_bytes())
    assert status == 415
    assert f"disk_format {disk_format} does not match" in json.loads(text)["message"]


def test_formats_glance_does_not_inspect_take_any_data(member: Caller) -> None:
    for disk_format in ("ami", "aki", "ari"):
        image, status, text = _upload(member, disk_format, b"\x7fELF" + bytes(5000))
        assert status == 204, text


def test_other_containers_are_not_inspected(member: Caller) -> None:
    image = member.create(disk_format="qcow2", container_format="ova")
    assert member.upload(image["id"], b"not a qcow2").status_code == 204
    assert member.http.get(f"/v2/images/{image['id']}").json()["virtual_size"] is None


@pytest.fixture(scope="module")
def lenient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Caller]:
    """A server with require_image_format_match off and mbr checks non-fatal."""
    folder = tmp_path_factory.mktemp("lenient")
    with glint_server(folder, f"sqlite:///{folder / 'glint.db'}", extra={
        "image_format": {"require_image_format_match": "false",
                         "gpt_safety_checks_nonfatal": "mbr"},
    }) as running:
        yield Caller(running.url, uuid.uuid4().hex, ("member", "reader"))


def test_mismatch_allowed_when_not_required_but_never_unsafe(
    corpus: Corpus, lenient: Caller
) -> None:
    mismatch = corpus.create("lenient.qcow2", "qcow2", "4M")
    image, status, text = _upload(lenient, "vmdk", mismatch.read_bytes())
    assert status == 204, text
    assert lenient.http.get(f"/v2/images/{image['id']}").json()["virtual_size"] is None
    backing = corpus.create("lenient-backing.qcow2", "qcow2", "4M", "-b", "base.raw", "-F", "raw")
    assert _upload(lenient, "vmdk", backing.read_bytes())[1] == 415
    bad_gpt = crafted.mbr([(0, 0xEE, b"\x00\x02\x00", 7)])
    assert _upload(lenient, "raw", bad_gpt)[1] == 204
