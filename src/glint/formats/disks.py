"""Inspectors for the single-header disk formats: qcow2, qed, vhd, vhdx, vdi,
iso, gpt/mbr, luks and ploop (parallels). VMDK lives in `vmdk.py`.

Layouts come from the formats' public specifications (qemu's docs/interop
qcow2.txt, Microsoft's MS-VHDX and VHD specs, ISO 9660/ECMA-119, UEFI 2.10
chapter 5, the LUKS1 on-disk format) and match the rules of Glance 33's
inspector (oslo.utils 10.2 format_inspector).
"""

from __future__ import annotations

import struct
import uuid

from glint.formats.base import FormatError, Inspector, Region, SafetyProblem

KIB = 1024


class Qcow2Inspector(Inspector):
    """QEMU copy-on-write. Unsafe: a backing file, an external data file, any
    incompatible feature Glance does not know, a version other than 2 or 3."""

    name = "qcow2"
    MAGIC = b"QFI\xfb"
    # Incompatible feature bits Glance accepts: dirty (0), corrupt (1),
    # external data file (2, rejected by its own check), compression type (3).
    KNOWN_INCOMPATIBLE = 0b1111
    DATA_FILE_BIT = 1 << 2

    def __init__(self) -> None:
        super().__init__()
        self.add_region("header", Region(0, 512))

    def _field(self, fmt: str, offset: int) -> int:
        value: int = struct.unpack_from(fmt, self.region("header").data, offset)[0]
        return value

    @property
    def matches(self) -> bool:
        return self.has("header") and self.region("header").data[:4] == self.MAGIC

    @property
    def version(self) -> int:
        return self._field(">I", 4)

    @property
    def virtual_size(self) -> int:
        return self._field(">Q", 24) if self.matches else 0

    def safety_problems(self) -> list[SafetyProblem]:
        problems = []
        if self._field(">Q", 8) != 0:
            problems.append(SafetyProblem("backing_file", "Image has a backing file"))
        if self.version == 3:
            features = self._field(">Q", 72)
            if features & self.DATA_FILE_BIT:
                problems.append(SafetyProblem("data_file", "Image has data_file set"))
            if features & ~self.KNOWN_INCOMPATIBLE:
                problems.append(SafetyProblem("unknown_features", "Unknown QCOW2 features found"))
        elif self.version != 2:
            problems.append(
                SafetyProblem("unknown_features", f"Unsupported qcow2 version {self.version}")
            )
        return problems


class QedInspector(Inspector):
    """QEMU enhanced disk: recognised only to be refused, as Glance does."""

    name = "qed"

    def __init__(self) -> None:
        super().__init__()
        self.add_region("header", Region(0, 512))

    @property
    def matches(self) -> bool:
        return self.has("header") and self.region("header").data[:4] == b"QED\x00"

    def safety_problems(self) -> list[SafetyProblem]:
        return [SafetyProblem("banned", "This file format is not allowed")]


class VhdInspector(Inspector):
    """Microsoft VHD (qemu's "vpc"), dynamic or differencing: a copy of the
    footer opens the file. A fixed VHD (footer only at the end) reads as raw.

    The virtual size is the one qemu gives the guest: the disk geometry
    (cylinders x heads x sectors), except for the tools known to write the
    exact size in "current size" (Hyper-V, disk2vhd, XenServer, XenConverter,
    qemu with force_size) or when the geometry is the largest VHD allows.
    """

    name = "vhd"
    CURRENT_SIZE_CREATORS = (b"win ", b"qem2", b"d2v ", b"CTXS", b"tap\x00")
    MAX_GEOMETRY = 65535 * 16 * 255

    def __init__(self) -> None:
        super().__init__()
        self.add_region("footer", Region(0, 512))

    @property
    def matches(self) -> bool:
        return self.region("footer").data[:8] == b"conectix"

    @property
    def virtual_size(self) -> int:
        if not (self.has("footer") and self.matches):
            return 0
        footer = self.region("footer").data
        current_size, cylinders, heads, sectors = struct.unpack_from(">QHBB", footer, 48)
        geometry: int = cylinders * heads * sectors
        if bytes(footer[28:32]) in self.CURRENT_SIZE_CREATORS or geometry == self.MAX_GEOMETRY:
            return int(current_size) // 512 * 512
        return geometry * 512


def _guid(text: str) -> bytes:
    """A GUID as Microsoft formats store it (first three fields little-endian)."""
    return uuid.UUID(text).bytes_le


class VhdxInspector(Inspector):
    """Microsoft VHDX: identifier, region table at 192 KiB, metadata region,
    then the Virtual Disk Size item of the metadata table."""

    name = "vhdx"
    REGION_TABLE = 192 * KIB
    METADATA_REGION = _guid("8B7CA206-4790-4B9A-B8FE-575F050F886E")
    VIRTUAL_DISK_SIZE = _guid("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
    MAX_ENTRIES = 2047

    def __init__(self) -> None:
        super().__init__()
        self.add_region("ident", Region(0, 8))
        self.add_region("regions", Region(self.REGION_TABLE, 64 * KIB))

    @property
    def matches(self) -> bool:
        return self.region("ident").data[:8] == b"vhdxfile"

    def _inspect(self) -> None:
        if self.has("ident") and not self.matches:
            # Not VHDX: stop capturing the region table.
            self.regions["regions"].length = 0
            return
        if self.has("regions") and "metadata" not in self.regions:
            self._find_metadata_region()
        elif self.has("metadata") and "size" not in self.regions:
            self._find_size_item()

    def _find_metadata_region(self) -> None:
        table = self.region("regions").data
        signature, _checksum, count = struct.unpack_from("<4sII", table, 0)
        if signature != b"regi":
            raise FormatError("VHDX region table signature not found")
        if count > self.MAX_ENTRIES:
            raise FormatError(f"VHDX region count {count} is over {self.MAX_ENTRIES}")
        for index in range(count):
            entry = 16 + index * 32
            if table[entry:entry + 16] == self.METADATA_REGION:
                offset = struct.unpack_from("<Q", table, entry + 16)[0]
                if offset < self.REGION_TABLE + len(table):
                    # The spec puts regions at 1 MiB or beyond; one before the end of
                    # the table would lie in data that has already streamed past.
                    raise FormatError("VHDX metadata region lies before the region table's end")
                # Only the table (header and up to 2047 entries) is needed.
                self.add_region("metadata", Region(offset, 32 * (self.MAX_ENTRIES + 1),
                                                   min_length=32))
                return
        raise FormatError("VHDX has no metadata region")

    def _find_size_item(self) -> None:
        metadata = self.region("metadata")
        signature, _reserved, count = struct.unpack_from("<8sHH", metadata.data, 0)
        if signature != b"metadata":
            raise FormatError("VHDX metadata table signature not found")
        if count > self.MAX_ENTRIES:
            raise FormatError(f"VHDX metadata item count {count} is over {self.MAX_ENTRIES}")
        needed = 32 + count * 32
        if len(metadata.data) < needed:
            metadata.min_length = needed
            return
        metadata.length = needed
        for index in range(count):
            entry = 32 + index * 32
            if metadata.data[entry:entry + 16] == self.VIRTUAL_DISK_SIZE:
                item_offset = struct.unpack_from("<I", metadata.data, entry + 16)[0]
                if item_offset < needed:
                    # The spec puts items at 64 KiB or beyond, after the table.
                    raise FormatError("VHDX virtual disk size lies inside the metadata table")
                self.add_region("size", Region(metadata.offset + item_offset, 8))
                return
        raise FormatError("VHDX metadata has no virtual disk size")

    @property
    def virtual_size(self) -> int:
        if not self.has("size"):
            return 0
        size: int = struct.unpack("<Q", self.region("size").data)[0]
        return size


class VdiInspector(Inspector):
    """VirtualBox VDI: signature at 0x40, disk size at 0x170."""

    name = "vdi"
    SIGNATURE = 0xBEDA107F

    def __init__(self) -> None:
        super().__init__()
        self.add_region("header", Region(0, 512))

    @property
    def matches(self) -> bool:
        if not self.has("header"):
            return False
        return bool(struct.unpack_from("<I", self.region("header").data, 0x40)[0] == self.SIGNATURE)

    @property
    def virtual_size(self) -> int:
        if not self.matches:
            return 0
        size: int = struct.unpack_from("<Q", self.region("header").data, 0x170)[0]
        return size


class IsoInspector(Inspector):
    """ISO 9660 or UDF: a volume descriptor after the 32 KiB system area."""

    name = "iso"
    DESCRIPTOR = 32 * KIB

    def __init__(self) -> None:
        super().__init__()
        self.add_region("descriptor", Region(self.DESCRIPTOR, 2 * KIB))

    @property
    def matches(self) -> bool:
        return self.has("descriptor") and bytes(self.region("descriptor").data[1:6]) in (
            b"CD001", b"NSR02", b"NSR03"
        )

    @property
    def virtual_size(self) -> int:
        descriptor = self.region("descriptor").data
        # Only a primary volume descriptor (type 1) carries the volume size.
        if not self.matches or descriptor[0] != 1:
            return 0
        blocks: int = struct.unpack_from("<I", descriptor, 80)[0]
        block_size: int = struct.unpack_from("<H", descriptor, 128)[0]
        return blocks * block_size


class GptInspector(Inspector):
    """A partitioned disk: an MBR (maybe GPT's protective one). The data is
    the disk, so its virtual size is its length. Unsafe: a partition table
    that breaks the MBR/GPT rules (check "mbr")."""

    name = "gpt"
    TABLE = 446
    PROTECTIVE = 0xEE

    def __init__(self) -> None:
        super().__init__()
        self.add_region("mbr", Region(0, 512))

    @property
    def matches(self) -> bool:
        if not self.has("mbr"):
            return False
        sector = self.region("mbr").data
        # A FAT volume boot record carries the same signature; two FATs and a
        # fixed-disk media byte give it away.
        is_fat = sector[0x10] == 2 and sector[0x15] == 0xF8
        return sector[510:512] == b"\x55\xaa" and not is_fat

    def safety_problems(self) -> list[SafetyProblem]:
        sector = self.region("mbr").data
        used: list[int] = []
        protective = False
        for index in range(4):
            entry = sector[self.TABLE + 16 * index: self.TABLE + 16 * (index + 1)]
            boot, os_type = entry[0], entry[4]
            if boot not in (0x00, 0x80):
                return [SafetyProblem("mbr", f"MBR partition {index} has an invalid boot flag")]
            if os_type != 0:
                used.append(index)
            if os_type == self.PROTECTIVE:
                protective = True
                if bytes(entry[1:4]) != b"\x00\x02\x00":
                    return [SafetyProblem("mbr", "GPT protective MBR has an invalid start CHS")]
                if struct.unpack_from("<I", entry, 8)[0] != 1:
                    return [SafetyProblem("mbr", "GPT protective MBR has an invalid start LBA")]
        if protective and used != [0]:
            return [SafetyProblem("mbr", "GPT protective MBR defines other partitions")]
        if not used:
            return [SafetyProblem("mbr", "MBR defines no partitions")]
        return []


class LuksInspector(Inspector):
    """LUKS encrypted volume; only version 1 is accepted, as in Glance."""

    name = "luks"

    def __init__(self) -> None:
        super().__init__()
        self.add_region("header", Region(0, 592))

    @property
    def matches(self) -> bool:
        return self.region("header").data[:6] == b"LUKS\xba\xbe"

    @property
    def virtual_size(self) -> int:
        if not self.has("header"):
            return 0
        payload_sectors: int = struct.unpack_from(">I", self.region("header").data, 104)[0]
        return max(self.total - payload_sectors * 512, 0)

    def safety_problems(self) -> list[SafetyProblem]:
        version = struct.unpack_from(">H", self.region("header").data, 6)[0]
        if version != 1:
            return [SafetyProblem("version", f"LUKS version {version} is not supported")]
        return []


class PloopInspector(Inspector):
    """Virtuozzo ploop (qemu's "parallels"). Glance does not inspect ploop, so
    this only supplies the virtual size; it never causes a mismatch."""

    name = "ploop"
    glance_inspects = False
    MAGICS = (b"WithoutFreeSpace", b"WithouFreSpacExt")

    def __init__(self) -> None:
        super().__init__()
        self.add_region("header", Region(0, 64))

    @property
    def matches(self) -> bool:
        return self.has("header") and bytes(self.region("header").data[:16]) in self.MAGICS

    @property
    def virtual_size(self) -> int:
        if not self.matches:
            return 0
        sectors: int = struct.unpack_from("<Q", self.region("header").data, 36)[0]
        return sectors * 512
