"""The format inspectors and the verdict, on images crafted byte by byte."""

from __future__ import annotations

import struct

import pytest

from glint.formats.detect import inspect_bytes
from glint.formats.verdict import FormatRejected, FormatRules, judge
from tests.formats import crafted

STRICT = FormatRules()
LENIENT = FormatRules(require_image_format_match=False)
BLOCK_SIZES = [7, 512, 4096, 4 << 20]


def verdict(data: bytes, disk_format: str, rules: FormatRules = STRICT, block_size: int = 4 << 20):
    return judge(inspect_bytes(data, block_size), disk_format, rules)


@pytest.mark.parametrize("block_size", BLOCK_SIZES)
@pytest.mark.parametrize(("disk_format", "data", "virtual_size"), [
    ("qcow2", crafted.qcow2(64 << 20), 64 << 20),
    ("qcow2", crafted.qcow2(5 << 20, version=2), 5 << 20),
    ("vmdk", crafted.vmdk_sparse(2048), 2048 * 512),
    ("vmdk", crafted.vmdk_sparse(4096, footer=True), 4096 * 512),
    ("vhd", crafted.vhd(32 << 20), 32 << 20),
    ("vhdx", crafted.vhdx(48 << 20), 48 << 20),
    ("vdi", crafted.vdi(16 << 20), 16 << 20),
    ("iso", crafted.iso(40), 40 * 2048),
    ("ploop", crafted.ploop(4096), 4096 * 512),
    ("raw", bytes(10000), 10000),
])
def test_detects_format_and_virtual_size(disk_format: str, data: bytes, virtual_size: int,
                                         block_size: int) -> None:
    result = verdict(data, disk_format, block_size=block_size)
    assert (result.detected, result.virtual_size) == (disk_format, virtual_size)


@pytest.mark.parametrize(("data", "check"), [
    (crafted.qcow2(backing=True), "backing_file"),
    (crafted.qcow2(features=1 << 2), "data_file"),
    (crafted.qcow2(features=1 << 4), "unknown_features"),
    (crafted.qcow2(version=1), "unknown_features"),
    (crafted.qed(), "banned"),
    (crafted.luks(version=2), "version"),
    (crafted.mbr([(0x33, 0x83, b"\x00\x01\x00", 2048)]), "mbr"),
    (crafted.mbr([(0, 0xEE, b"\x00\x02\x00", 1), (0, 0x83, b"\x00\x01\x00", 9)]), "mbr"),
    (crafted.mbr([(0, 0xEE, b"\x00\x02\x00", 7)]), "mbr"),
    (crafted.mbr([]), "mbr"),
    (crafted.vmdk_sparse(descriptor='createType="monolithicSparse"\nRW 8 SPARSE "/etc/passwd"\n'),
     "descriptor"),
    (crafted.vmdk_sparse(descriptor='createType="monolithicSparse"\n'), "descriptor"),
    (crafted.vmdk_sparse(descriptor='createType="monolithicSparse"\nRW 8 SPARSE "a"\n'
                                    'include /etc/passwd\n'), "descriptor"),
    (crafted.vmdk_text("monolithicFlat", 'RW 2048 FLAT "disk-flat.vmdk" 0'), "descriptor"),
    (crafted.vmdk_text("twoGbMaxExtentSparse", 'RW 2048 SPARSE "disk-s001.vmdk"'), "descriptor"),
    (crafted.vmdk_text("vmfs", 'RW 2048 VMFS "/dev/sda"'), "descriptor"),
])
@pytest.mark.parametrize("disk_format", ["raw", "qcow2", "vmdk", "gpt-as-raw"])
def test_unsafe_data_is_rejected_whatever_the_disk_format(data: bytes, check: str,
                                                          disk_format: str) -> None:
    disk_format = disk_format.replace("gpt-as-raw", "raw")
    for rules in (STRICT, LENIENT):
        with pytest.raises(FormatRejected) as caught:
            verdict(data, disk_format, rules)
        if caught.value.problems:
            assert check in {p.check for p in caught.value.problems}
        else:
            assert rules.require_image_format_match


def test_safety_problems_name_glance_checks() -> None:
    with pytest.raises(FormatRejected) as caught:
        verdict(crafted.qcow2(backing=True), "qcow2")
    assert [p.check for p in caught.value.problems] == ["backing_file"]
    assert "backing file" in caught.value.message


def test_vmdk_allowed_types_narrow_the_safe_ones() -> None:
    sparse = crafted.vmdk_sparse()
    detection = inspect_bytes(sparse, vmdk_allowed_types=frozenset({"streamOptimized"}))
    with pytest.raises(FormatRejected, match="create type monolithicsparse is not allowed"):
        judge(detection, "vmdk", STRICT)
    # Listing an unsafe type never allows it.
    text = crafted.vmdk_text("monolithicFlat", 'RW 2048 FLAT "disk-flat.vmdk" 0')
    detection = inspect_bytes(text, vmdk_allowed_types=frozenset({"monolithicFlat"}))
    with pytest.raises(FormatRejected):
        judge(detection, "vmdk", STRICT)


def test_broken_stream_optimized_footer_is_rejected() -> None:
    data = bytearray(crafted.vmdk_sparse(footer=True))
    data[-1] = 1
    with pytest.raises(FormatRejected, match="end-of-stream"):
        verdict(bytes(data), "vmdk")


@pytest.mark.parametrize(("data", "disk_format"), [
    (crafted.qcow2(), "vmdk"),
    (bytes(8192), "qcow2"),
    (crafted.vhd(), "vhdx"),
    (crafted.iso(), "qcow2"),
    (crafted.gpt(), "iso"),
])
def test_mismatch_is_rejected_unless_not_required(data: bytes, disk_format: str) -> None:
    with pytest.raises(FormatRejected, match="does not match"):
        verdict(data, disk_format)
    assert verdict(data, disk_format, LENIENT).virtual_size is None


@pytest.mark.parametrize("disk_format", ["ami", "aki", "ari", "ploop"])
def test_formats_glance_cannot_inspect_accept_unrecognised_data(disk_format: str) -> None:
    assert verdict(b"kernel" * 1000, disk_format).virtual_size is None


def test_raw_may_hold_a_safe_rich_format_with_its_byte_size() -> None:
    data = crafted.qcow2(64 << 20)
    result = verdict(data, "raw")
    assert (result.detected, result.virtual_size) == ("qcow2", len(data))


def test_gpt_disk_as_raw_and_bootable_iso() -> None:
    assert verdict(crafted.gpt(), "raw").detected == "gpt"
    hybrid = bytearray(crafted.iso())
    hybrid[:512] = crafted.gpt()[:512]
    result = verdict(bytes(hybrid), "iso")
    assert (result.detected, result.virtual_size) == ("iso", 40 * 2048)


def test_gpt_checks_can_be_made_nonfatal() -> None:
    bad = crafted.mbr([(0, 0xEE, b"\x00\x02\x00", 7)])
    assert verdict(bad, "raw", FormatRules(gpt_safety_checks_nonfatal=frozenset({"mbr"})))
    # Kernels and ramdisks may carry a broken MBR (that is still a mismatch, as in Glance).
    kernel = crafted.mbr([(0x33, 0x83, b"\x00\x01\x00", 1)])
    with pytest.raises(FormatRejected, match="does not match"):
        verdict(kernel, "aki")
    assert verdict(kernel, "aki", LENIENT).virtual_size is None


def test_fat_boot_sector_is_not_an_mbr() -> None:
    data = bytearray(crafted.mbr([]))
    data[0x10], data[0x15] = 2, 0xF8
    assert verdict(bytes(data), "raw").detected == "raw"


def test_empty_and_tiny_uploads_are_raw() -> None:
    assert verdict(b"", "raw").virtual_size is None
    assert verdict(b"QFI", "raw").detected == "raw"
    with pytest.raises(FormatRejected):
        verdict(b"QFI\xfb", "qcow2")


def test_truncated_vhdx_is_refused() -> None:
    # Cut before its metadata table: its virtual size is unknowable (Glance refuses it too).
    data = crafted.vhdx()[:300 * 1024]
    with pytest.raises(FormatRejected, match="vhdx image is truncated"):
        verdict(data, "vhdx")


def test_inspection_keeps_little_in_memory() -> None:
    detection = inspect_bytes(bytes(64 << 20), block_size=1 << 20)
    held = sum(len(r.data) for i in detection.inspectors for r in i.regions.values())
    assert held < 2 << 20


@pytest.mark.parametrize("block_size", [1, 7, 63, 64, 65, 4096])
def test_text_descriptor_is_found_whatever_the_first_block(block_size: int) -> None:
    # The descriptor starts at 0: blocks that passed before it was recognised count too.
    data = crafted.vmdk_text("monolithicFlat", 'RW 2048 FLAT "disk-flat.vmdk" 0')
    with pytest.raises(FormatRejected, match="create type monolithicflat is not allowed"):
        verdict(data, "raw", block_size=block_size)


@pytest.mark.parametrize(("data", "reason"), [
    (crafted.vmdk_sparse(version=7), "Unsupported VMDK version 7"),
    (crafted.vmdk_sparse(desc_sector=0), "VMDK descriptor is not where qemu expects it"),
    (crafted.vmdk_sparse()[:40], "VMDK header is truncated"),
    (crafted.vhd()[:300], "vhd image is truncated"),
    (crafted.luks()[:100], "luks image is truncated"),
    (crafted.vhdx()[:200 * 1024], "vhdx image is truncated"),
])
def test_broken_or_truncated_structure_keeps_its_format_and_is_refused(data: bytes,
                                                                      reason: str) -> None:
    for disk_format in ("raw", "vmdk", "vhd"):
        with pytest.raises(FormatRejected, match=reason) as caught:
            verdict(data, disk_format, LENIENT)
        assert [p.check for p in caught.value.problems] == ["structure"]


def test_vhdx_tables_must_follow_one_another() -> None:
    # A metadata region before the region table's end lies in data already streamed past.
    data = bytearray(crafted.vhdx())
    struct.pack_into("<Q", data, 192 * 1024 + 64, 4096)
    with pytest.raises(FormatRejected, match="before the region table's end"):
        verdict(bytes(data), "vhdx")


@pytest.mark.parametrize(("creator", "geometry", "current", "virtual_size"), [
    (b"qemu", (100, 4, 16), 1 << 30, 100 * 4 * 16 * 512),
    (b"win ", (100, 4, 16), (1 << 30) + 7, 1 << 30),
    (b"qemu", (65535, 16, 255), 1 << 30, 1 << 30),
])
def test_vhd_virtual_size_follows_qemu(creator: bytes, geometry: tuple[int, int, int],
                                       current: int, virtual_size: int) -> None:
    data = bytearray(crafted.vhd())
    data[28:32] = creator
    struct.pack_into(">QHBB", data, 48, current, *geometry)
    assert verdict(bytes(data), "vhd").virtual_size == virtual_size


def test_descriptor_cut_inside_its_create_type_is_still_a_vmdk() -> None:
    text = crafted.vmdk_text("monolithicFlat", 'RW 2048 FLAT "disk-flat.vmdk" 0')
    cut = text[:text.index(b"monolithicFlat") + 5]
    with pytest.raises(FormatRejected, match=r"create type \(none\) is not allowed"):
        verdict(cut, "raw")
