"""Disk images made by the real tools, one per format and feature Glint knows.

qemu-img makes the virtual disks, sfdisk the partitioned ones and xorriso the
ISOs; each comes from Debian and is installed with apt-get when missing.
Images are kept small (a few MiB at most) so that thousands of mutations of
them can be inspected in CI.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Debian package of each tool.
TOOLS = {"qemu-img": "qemu-utils", "sfdisk": "fdisk", "xorriso": "xorriso"}
SECRET = ("--object", "secret,id=sec0,data=glint-test")
# The key derivation's time per key slot: short, the corpus is made on every run.
ITER_TIME = "100"


@dataclass(frozen=True)
class Recipe:
    """How to make one corpus image: `family` is the kind of structure (a qemu-img
    format, or iso/gpt/raw), `safe` whether Glance's rules accept it, `steps`
    are tool command lines run in the corpus folder, the last of which writes
    the file `name`."""

    name: str
    family: str
    safe: bool
    steps: tuple[tuple[str, ...], ...]


def _create(name: str, fmt: str, size: str, *options: str) -> tuple[str, ...]:
    return ("qemu-img", "create", "-q", "-f", fmt, *options, name, size)


def _convert(source: str, name: str, fmt: str, *options: str) -> tuple[str, ...]:
    return ("qemu-img", "convert", "-O", fmt, *options, source, name)


def _sfdisk(name: str, script: str) -> tuple[tuple[str, ...], ...]:
    return (("truncate", "-s", "2M", name), ("sh", "-c", f"printf '{script}' | sfdisk -q {name}"))


def _iso(name: str, *options: str) -> tuple[str, ...]:
    return ("xorriso", "-as", "mkisofs", "-quiet", "-V", "GLINT", *options, "-o", name, "tree")


def _safe(name: str, family: str, *steps: tuple[str, ...]) -> Recipe:
    return Recipe(name, family, True, steps)


def _unsafe(name: str, family: str, *steps: tuple[str, ...]) -> Recipe:
    return Recipe(name, family, False, steps)


RECIPES: tuple[Recipe, ...] = (
    _safe("zeros.raw", "raw", _create("zeros.raw", "raw", "1M")),
    _safe("data.raw", "raw", ("cp", "data.bin", "data.raw")),
    _safe("v3.qcow2", "qcow2", _create("v3.qcow2", "qcow2", "64M")),
    _safe("v2.qcow2", "qcow2", _create("v2.qcow2", "qcow2", "10M", "-o", "compat=0.10")),
    _safe("compressed.qcow2", "qcow2", _convert("data.bin", "compressed.qcow2", "qcow2", "-c")),
    _safe("zstd.qcow2", "qcow2", _convert("data.bin", "zstd.qcow2", "qcow2", "-c",
                                         "-o", "compression_type=zstd")),
    _safe("small-clusters.qcow2", "qcow2", _convert("data.bin", "small-clusters.qcow2", "qcow2",
                                                   "-o", "cluster_size=512")),
    _safe("lazy-refcounts.qcow2", "qcow2", _create("lazy-refcounts.qcow2", "qcow2", "8M",
                                                  "-o", "lazy_refcounts=on")),
    _unsafe("extended-l2.qcow2", "qcow2", _create("extended-l2.qcow2", "qcow2", "8M",
                                               "-o", "extended_l2=on")),
    _safe("preallocated.qcow2", "qcow2", _create("preallocated.qcow2", "qcow2", "2M",
                                                "-o", "preallocation=metadata")),
    _unsafe("backing-raw.qcow2", "qcow2", _create("backing-raw.qcow2", "qcow2", "1M",
                                               "-b", "data.raw", "-F", "raw")),
    _unsafe("backing-qcow2.qcow2", "qcow2", _create("backing-qcow2.qcow2", "qcow2", "64M",
                                                 "-b", "v3.qcow2", "-F", "qcow2")),
    _unsafe("data-file.qcow2", "qcow2", _create("data-file.qcow2", "qcow2", "4M",
                                             "-o", "data_file=data-file.ext")),
    _unsafe("data-file-raw.qcow2", "qcow2", _create("data-file-raw.qcow2", "qcow2", "4M",
                                                 "-o", "data_file=data-file-raw.ext,data_file_raw=on")),
    _safe("luks.qcow2", "qcow2", _create("luks.qcow2", "qcow2", "4M", *SECRET, "-o",
                                        f"encrypt.format=luks,encrypt.key-secret=sec0,"
                                        f"encrypt.iter-time={ITER_TIME}")),
    _safe("aes.qcow2", "qcow2", _create("aes.qcow2", "qcow2", "4M", *SECRET, "-o",
                                       "encrypt.format=aes,encrypt.key-secret=sec0")),
    _safe("sparse.vmdk", "vmdk", _create("sparse.vmdk", "vmdk", "20M")),
    _safe("sparse-data.vmdk", "vmdk", _convert("data.bin", "sparse-data.vmdk", "vmdk")),
    _safe("compat6.vmdk", "vmdk", _create("compat6.vmdk", "vmdk", "8M", "-o", "compat6=on")),
    _safe("zeroed-grain.vmdk", "vmdk", _create("zeroed-grain.vmdk", "vmdk", "8M",
                                              "-o", "zeroed_grain=on")),
    _safe("stream.vmdk", "vmdk", _create("stream.vmdk", "vmdk", "20M",
                                        "-o", "subformat=streamOptimized")),
    _safe("stream-data.vmdk", "vmdk", _convert("data.bin", "stream-data.vmdk", "vmdk",
                                              "-o", "subformat=streamOptimized")),
    _unsafe("flat.vmdk", "vmdk", _create("flat.vmdk", "vmdk", "2M", "-o", "subformat=monolithicFlat")),
    _unsafe("split-flat.vmdk", "vmdk", _create("split-flat.vmdk", "vmdk", "2M",
                                            "-o", "subformat=twoGbMaxExtentFlat")),
    _unsafe("split-sparse.vmdk", "vmdk", _create("split-sparse.vmdk", "vmdk", "2M",
                                              "-o", "subformat=twoGbMaxExtentSparse")),
    # An extent of the split image: a sparse header that carries no descriptor.
    _unsafe("split-sparse-s001.vmdk", "vmdk", ("test", "-f", "split-sparse-s001.vmdk")),
    _safe("dynamic.vhd", "vpc", _create("dynamic.vhd", "vpc", "30M")),
    _safe("force-size.vhd", "vpc", _create("force-size.vhd", "vpc", "30M", "-o", "force_size=on")),
    _safe("fixed.vhd", "vpc", _create("fixed.vhd", "vpc", "1M", "-o", "subformat=fixed")),
    _safe("dynamic.vhdx", "vhdx", _create("dynamic.vhdx", "vhdx", "40M",
                                         "-o", "log_size=1M,block_size=1M")),
    _safe("data.vhdx", "vhdx", _convert("data.bin", "data.vhdx", "vhdx",
                                       "-o", "log_size=1M,block_size=1M")),
    _safe("dynamic.vdi", "vdi", _create("dynamic.vdi", "vdi", "50M")),
    _safe("static.vdi", "vdi", _create("static.vdi", "vdi", "1M", "-o", "static=on")),
    _unsafe("disk.qed", "qed", _create("disk.qed", "qed", "10M")),
    _unsafe("backing.qed", "qed", _create("backing.qed", "qed", "1M", "-b", "data.raw", "-F", "raw")),
    _safe("disk.ploop", "parallels", _create("disk.ploop", "parallels", "60M")),
    _safe("data.ploop", "parallels", _convert("data.bin", "data.ploop", "parallels")),
    _safe("disk.luks", "luks", _create("disk.luks", "luks", "1M", *SECRET,
                                      "-o", f"key-secret=sec0,iter-time={ITER_TIME}")),
    _safe("plain.iso", "iso", _iso("plain.iso")),
    _safe("mbr-hybrid.iso", "iso", _iso("mbr-hybrid.iso", "-append_partition", "2", "0x0c",
                                       "data.bin")),
    _safe("gpt-hybrid.iso", "iso", _iso("gpt-hybrid.iso", "-appended_part_as_gpt",
                                       "-append_partition", "2", "0xef", "data.bin")),
    _safe("gpt.img", "gpt", *_sfdisk("gpt.img", "label: gpt\\n,,L\\n")),
    _safe("gpt-two.img", "gpt", *_sfdisk("gpt-two.img", "label: gpt\\n,1M,L\\n,,S\\n")),
    _safe("mbr.img", "gpt", *_sfdisk("mbr.img", "label: dos\\n,,L\\n")),
    _safe("mbr-boot.img", "gpt", *_sfdisk("mbr-boot.img", "label: dos\\n,1M,L,*\\n,,S\\n")),
)


@dataclass(frozen=True)
class CorpusImage:
    name: str
    family: str
    safe: bool
    path: Path
    data: bytes


@dataclass(frozen=True)
class QemuInfo:
    """What `qemu-img info` says, with its format named as Glance names it."""

    format: str
    virtual_size: int


QEMU_NAMES = {"vpc": "vhd", "parallels": "ploop"}


def ensure_tool(binary: str) -> str:
    """The path of `binary`, installed from Debian first when missing.

    Raises subprocess.CalledProcessError when apt-get cannot install it.
    """
    found = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/sbin")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", TOOLS[binary]]
    if subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True).returncode:
        subprocess.run(["apt-get", "update", "-q"], env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, check=True)
        subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                       check=True)
    found = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/sbin")
    assert found, f"{binary} is needed (Debian {TOOLS[binary]})"
    return found


def build(folder: Path) -> list[CorpusImage]:
    """Make every image of RECIPES in `folder` (with the tools installed)."""
    tools = {binary: ensure_tool(binary) for binary in TOOLS}
    env = {**os.environ, "PATH": os.pathsep.join(
        [str(Path(path).parent) for path in tools.values()] + [os.environ.get("PATH", "")])}
    # Incompressible but reproducible content for the images that hold data.
    (folder / "data.bin").write_bytes(random.Random(20260).randbytes(1 << 20))
    (folder / "tree").mkdir()
    (folder / "tree" / "readme.txt").write_text("Glint inspector corpus\n")
    images = []
    for recipe in RECIPES:
        for step in recipe.steps:
            _run(step, folder, env)
        path = folder / recipe.name
        images.append(CorpusImage(recipe.name, recipe.family, recipe.safe, path, path.read_bytes()))
    return images


def _run(step: tuple[str, ...], folder: Path, env: dict[str, str]) -> None:
    attempts = 10
    for attempt in range(attempts):
        done = subprocess.run(step, cwd=folder, env=env, capture_output=True, text=True)
        if done.returncode == 0:
            return
        # qemu's LUKS key-derivation benchmark sometimes measures no CPU time at all and
        # gives up (about one run in five here; a known qemu bug): retry.
        if "accurate CPU usage" not in done.stderr or attempt == attempts - 1:
            raise AssertionError(f"{' '.join(step)} failed: {done.stderr.strip()}")


def qemu_info(image: CorpusImage) -> QemuInfo | None:
    """`qemu-img info` of an image (format probed), or None when qemu-img cannot open it."""
    done = subprocess.run([ensure_tool("qemu-img"), "info", "--output=json", image.name],
                          cwd=image.path.parent, capture_output=True, text=True)
    if done.returncode != 0:
        return None
    info = json.loads(done.stdout)
    return QemuInfo(QEMU_NAMES.get(info["format"], info["format"]), int(info["virtual-size"]))
